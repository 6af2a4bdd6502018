// The selected signal: selecting (from the spectrum, the tables or the map), announcing it,
// bringing it into the spectrum, and the details panel with its position estimate.

import { $, el, renderAges, setAttr, setText } from "./dom.js";
import { DASH, fmtFixed, fmtInt, fmtIso } from "./format.js";
import { isListeningTo, listenToSignal, modeFor, stopListening } from "./listen.js";
import { showReceiver } from "./spectrum_view.js";
import { markDirty, receiverName, S } from "./state.js";

/** Selects a signal (or clears the selection when it is already selected, unless `keep`). */
export function selectSignal(id, opts = {}) {
  S.selected = S.selected === id && !opts.keep ? null : id;
  if (S.selected !== null && !opts.fromSpectrum) followSignal(S.selected);
  announceSelection();
  markDirty("selection");
}

// What the panel shows, as JSON: an unchanged key skips the rebuild (and keeps focus).
let detailsKey = "";

function kv(dl, label, value, ageT) {
  const dt = el("dt", null, label);
  const dd = el("dd");
  if (ageT !== undefined) {
    dd.dataset.t = ageT === null ? "" : String(ageT);
    dd.dataset.suffix = " ago";
    setAttr(dd, "title", ageT === null ? null : fmtIso(ageT));
  } else if (Array.isArray(value)) {
    const ul = el("ul", "plain");
    for (const v of value) ul.append(el("li", null, v));
    dd.append(ul);
  } else dd.textContent = value;
  dl.append(dt, dd);
}

/** A copy button and an OpenStreetMap link for a position. */
function positionTools(lat, lon) {
  const text = `${lat.toFixed(6)}, ${lon.toFixed(6)}`;
  const copy = el("button", "btn btn-small", "Copy");
  copy.type = "button";
  copy.dataset.testid = "copy-position";
  setAttr(copy, "aria-label", `Copy the coordinates ${text}`);
  const said = el("span", "copied");
  setAttr(said, "role", "status");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      setText(said, " copied");
    } catch (e) {
      // No clipboard (an insecure origin, a refused permission): the text is selectable.
      setText(said, ` copy refused by the browser (${e.message}); select the text instead`);
    }
  });
  const osm = el("a", null, "OpenStreetMap");
  osm.href = `https://www.openstreetmap.org/?mlat=${lat.toFixed(6)}&mlon=${lon.toFixed(6)}#map=15/${lat.toFixed(6)}/${lon.toFixed(6)}`;
  osm.target = "_blank";
  osm.rel = "noopener noreferrer";
  osm.dataset.testid = "osm-link";
  return [copy, " ", osm, said];
}

/** The selected signal: its measurements and its position estimate (either may be missing). */
export function renderDetails() {
  const id = S.selected;
  setAttr($("clear-selection"), "hidden", id === null ? "" : null);
  const s = id !== null ? (S.signals && S.signals.get(id)) || S.offAir.get(id) || null : null;
  const l = id !== null && S.locs ? S.locs.get(id) || null : null;
  const key = JSON.stringify([id, s && { ...s, timestamp: 0 }, l, (S.websdrs || []).map((w) => [w.id, w.name]), isListeningTo(id)]);
  if (key === detailsKey) return;
  detailsKey = key;
  const box = $("details");
  if (id === null) {
    box.replaceChildren(el("p", "empty", "Select a signal in the spectrum, the signals table or the map."));
    return;
  }
  const parts = [];
  const head = el("h3", "details-title", id);
  // The listen toggle on the title's line (the panel keeps its height).
  if (s && !s.off_air && s.frequency_hz !== null) {
    const line = el("div", "details-head");
    line.append(head, listenButton(s));
    parts.push(line);
  } else parts.push(head);
  if (!s && !l) {
    parts.push(el("p", "empty", "This signal is no longer active and has no position estimate."));
    box.replaceChildren(...parts);
    return;
  }
  const rxLabel = (r) => (receiverName(r) === r ? r : `${receiverName(r)} (${r})`);
  if (s) {
    const dl = el("dl", "kv");
    dl.dataset.testid = "details-signal";
    if (s.known) {
      const tags = s.known.tags.length ? ` · tags: ${s.known.tags.join(", ")}` : "";
      kv(dl, "Known as", `${s.known.name}${tags}${s.known.ignore ? " · ignored (hidden unless shown)" : ""}`);
    }
    if (!s.known && s.name) kv(dl, "Name", `${s.name} (configured transmitter)`);
    if (s.novel) kv(dl, "Novel", "nothing heard near this frequency in the recent history");
    kv(dl, "Frequency", s.frequency_hz === null ? DASH : `${(s.frequency_hz / 1e6).toFixed(6)} MHz`);
    kv(dl, "Bandwidth", s.bandwidth_hz === null ? DASH : s.bandwidth_hz < 1000 ? `${s.bandwidth_hz.toFixed(0)} Hz` : `${(s.bandwidth_hz / 1e3).toFixed(2)} kHz`);
    kv(dl, "SNR (per bin)", s.snr_db === null ? DASH : `${s.snr_db.toFixed(1)} dB`);
    kv(dl, "Power", s.power_dbfs === null ? DASH : `${s.power_dbfs.toFixed(1)} dBFS (peak bin ${fmtFixed(s.peak_power_dbfs, 1)} dBFS)`);
    kv(dl, "Best receiver", s.websdr_id ? rxLabel(s.websdr_id) : DASH);
    kv(dl, `Heard by (${s.receivers.length})`, s.receivers.length ? s.receivers.map(rxLabel) : DASH);
    if (s.emitter_id) {
      const n = s.activations;
      const times = n === null ? "" : ` · ${n === 1 ? "first transmission" : `transmission ${n}`}`;
      const duty = s.duty_cycle === null || n === 1 ? "" : ` · on air ${Math.round(s.duty_cycle * 100)} % of the time since first heard`;
      kv(dl, "Emitter", `${s.emitter_id}${times}${duty}`);
      kv(dl, "First heard", null, s.first_heard ?? s.first_seen);
    }
    kv(dl, s.emitter_id ? "This transmission since" : "First seen", null, s.first_seen);
    if (s.off_air) kv(dl, "Last heard", null, s.last_heard);
    else kv(dl, "Last heard", "on air");
    parts.push(dl);
  } else {
    parts.push(el("p", "empty", "No longer active; its last position estimate:"));
  }
  const h = el("h4", "details-sub", "Position estimate");
  parts.push(h);
  if (!l) {
    parts.push(el("p", "empty", "No position estimate yet (it needs at least three receivers hearing the signal)."));
  } else {
    const dl = el("dl", "kv");
    dl.dataset.testid = "details-localization";
    const method = l.method === "tdoa" ? "TDOA (time differences of arrival)" : l.method === "power" ? "Power (received signal strength): coarse, the path-loss model's error dominates" : l.method || DASH;
    kv(dl, "Method", method);
    if (l.note) kv(dl, "Note", l.note);
    kv(dl, "Position", l.latitude === null || l.longitude === null ? DASH : `${l.latitude.toFixed(5)}, ${l.longitude.toFixed(5)}`);
    if (l.latitude !== null && l.longitude !== null) dl.lastChild.append(" ", ...positionTools(l.latitude, l.longitude));
    kv(dl, "Uncertainty", l.uncertainty_m === null ? DASH : `±${fmtInt(l.uncertainty_m)} m (68 % radius)`);
    if (l.ellipse) kv(dl, "68 % ellipse", `${fmtInt(l.ellipse.a)} × ${fmtInt(l.ellipse.b)} m, major axis ${Math.round(l.ellipse.deg)}° from North`);
    kv(dl, "Confidence", l.confidence === null ? DASH : `${Math.round(l.confidence * 100)} % (fit p-value)`);
    if (l.gdop !== null) kv(dl, "GDOP", l.gdop.toFixed(2));
    const used = l.receivers.map((r, i) => (l.method === "tdoa" && i === 0 ? `${rxLabel(r)} — reference` : rxLabel(r)));
    kv(dl, `Receivers used (${l.receivers.length})`, used.length ? used : DASH);
    if (l.excluded.length) kv(dl, "Left out", l.excluded);
    kv(dl, "Estimated", null, l.timestamp);
    parts.push(dl);
  }
  // The rebuild must not drop the keyboard user's place on the listen toggle.
  const onListen = document.activeElement && document.activeElement.dataset && document.activeElement.dataset.testid === "details-listen";
  box.replaceChildren(...parts);
  if (onListen) box.querySelector('[data-testid="details-listen"]')?.focus();
  renderAges();
}

/** Listen to the signal (on its best receiver, in the mode its width suggests), or stop. */
function listenButton(s) {
  const hearing = isListeningTo(s.signal_id);
  const b = el("button", "btn btn-small listen-details", hearing ? "■ Stop listening" : `▶ Listen (${modeFor(s.bandwidth_hz, s.frequency_hz).toUpperCase()})`);
  b.type = "button";
  b.dataset.testid = "details-listen";
  setAttr(b, "aria-pressed", hearing ? "true" : "false");
  b.addEventListener("click", () => {
    if (isListeningTo(s.signal_id)) stopListening();
    else listenToSignal((S.signals && S.signals.get(s.signal_id)) || s); // its newest report
  });
  return b;
}

/** Tells screen readers what was selected (a polite live region). */
function announceSelection() {
  const id = S.selected;
  let t = "Selection cleared.";
  if (id !== null) {
    const s = S.signals && S.signals.get(id);
    const l = S.locs && S.locs.get(id);
    t = `${id} selected${s && s.frequency_hz !== null ? `, ${(s.frequency_hz / 1e6).toFixed(4)} MHz` : ""}${l ? ", position estimate shown" : ", no position estimate yet"}.`;
  }
  setText($("selection-live"), t);
}

/** Shows a selected signal in the spectrum: on its best receiver (where it is strongest),
 * centred on its frequency. */
function followSignal(id) {
  const s = S.signals && S.signals.get(id);
  if (!s || s.frequency_hz === null) return;
  const rx = s.websdr_id && S.spectra.has(s.websdr_id) ? s.websdr_id : S.spectrumRx;
  if (rx !== null) showReceiver(rx, s.frequency_hz);
}
