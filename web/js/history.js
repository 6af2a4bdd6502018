// The History view (the "History" tab; `#view=history` opens the page on it): the occupancy
// heatmap (heatmap.js), a search over the signal log (`GET /api/v1/history/signals`, paged by
// `next_cursor`), and one stored signal (`GET /api/v1/history/signals/{id}`): its summary,
// its power per receiver over time (timeline.js), its fixes on a map (map.js's drawer) and the
// form that names it (known.js).
//
// Everything here comes from the server when asked; nothing is invented while it loads, and
// every failure is said in the panel it belongs to (`.status-line.error`).

import { getJson } from "./api.js";
import { normKnown, normLoc } from "./data.js";
import { $, el, setAttr, setText } from "./dom.js";
import { DASH, fmtDuration, fmtFixed, fmtInt, num, parseTime, str } from "./format.js";
import { drawHeatmap, heatmapSelection, heatmapState, loadOccupancy, RANGES, wireHeatmap } from "./heatmap.js";
import { showNameForm, wireNameForm } from "./known.js";
import { createMap, drawMap, placedReceivers } from "./map.js";
import { fmtLocal } from "./plot.js";
import { markDirty, receiverName, S, serverNow } from "./state.js";
import { drawTimeline, setObservations, timelineState } from "./timeline.js";

/** Signals per page of results. */
const PAGE = 50;
/** A page or a signal's detail may take a while on a big database. */
const QUERY_TIMEOUT_MS = 20000;
/** Fixes drawn on the map at most (the newest): thousands of ellipses hide each other anyway. */
const MAX_FIXES_DRAWN = 200;
/** A heatmap click searches this far either side of the frequency, Hz. */
const PICK_HALF_WIDTH_HZ = 10e3;

const H = {
  opened: false,
  query: null, // {params, what} of the results shown
  results: [],
  cursor: null,
  searching: false,
  searchGen: 0,
  error: null,
  selected: null, // history id of the signal shown
  detail: null, // {signal, observations, fixes, truncated}
  detailGen: 0,
  fixSel: null,
};
let fixMap = null;

/** A stored track, checked (null when it has no id). */
function normTrack(d) {
  if (!d || typeof d !== "object" || num(d.id) === null) return null;
  return {
    id: d.id,
    signal_id: str(d.signal_id) || "",
    first_seen: parseTime(d.first_seen),
    last_seen: parseTime(d.last_seen),
    frequency_hz: num(d.frequency_hz),
    bandwidth_hz: num(d.bandwidth_hz),
    peak_snr_db: num(d.peak_snr_db),
    mean_snr_db: num(d.mean_snr_db),
    peak_power_dbfs: num(d.peak_power_dbfs),
    mean_power_dbfs: num(d.mean_power_dbfs),
    reports: num(d.reports),
    best_receiver: str(d.best_receiver),
    receivers: Array.isArray(d.receivers) ? d.receivers.filter((r) => typeof r === "string") : [],
    lost: d.lost === true,
    known: normKnown(d.known),
  };
}

function status(id, text, isError = false) {
  const p = $(id);
  setText(p, text);
  p.classList.toggle("error", isError);
}

// ---------------------------------------------------------------- the view
/** Shows the Live or the History view, and says so in the URL's fragment (keeping `token=`). */
export function showView(view) {
  S.view = view === "history" ? "history" : "live";
  const hist = S.view === "history";
  setAttr($("live"), "hidden", hist ? "" : null);
  setAttr($("history"), "hidden", hist ? null : "");
  for (const b of document.querySelectorAll(".view-tab")) setAttr(b, "aria-pressed", b.dataset.view === S.view ? "true" : "false");
  const frag = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  if (hist) frag.set("view", "history");
  else frag.delete("view");
  const hash = frag.toString();
  window.history.replaceState(null, "", hash ? `#${hash}` : window.location.pathname + window.location.search);
  if (hist && !H.opened) {
    H.opened = true;
    renderHistory();
    search(false);
  }
  if (hist) requestAnimationFrame(redrawHistory);
  else markDirty("all"); // the live panels skipped their renders meanwhile
}

/** Redraws the canvases and the map (after a resize, or when the view appears). */
export function redrawHistory() {
  if (S.view !== "history") return;
  drawHeatmap();
  if (H.detail) {
    drawTimeline();
    drawFixes();
  }
}

function receiverOptions(select, withAny) {
  const ids = (S.websdrs || []).map((w) => w.id);
  const want = ids.map((id) => `${id}\u0000${receiverName(id)}`).join("\u0001");
  if (select.dataset.opts === want) return;
  const keep = select.value;
  const opts = ids.map((id) => {
    const o = el("option", null, receiverName(id) === id ? id : `${receiverName(id)} (${id})`);
    o.value = id;
    return o;
  });
  if (withAny) {
    const any = el("option", null, "any");
    any.value = "";
    opts.unshift(any);
  }
  select.replaceChildren(...opts);
  select.dataset.opts = want;
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

/** Keeps the receiver lists current; starts the heatmap once there is a receiver. */
export function renderHistory() {
  if (!H.opened) return;
  receiverOptions($("occ-rx"), false);
  receiverOptions($("q-rx"), true);
  const sel = heatmapSelection();
  if (sel.receiver === null && $("occ-rx").value) loadOccupancy($("occ-rx").value, sel.range);
  else if (sel.receiver === null) drawHeatmap();
}

function setRange(range) {
  for (const b of document.querySelectorAll("[data-range]")) setAttr(b, "aria-pressed", b.dataset.range === range ? "true" : "false");
  loadOccupancy($("occ-rx").value || null, range);
}

// ---------------------------------------------------------------- search
/** The search form as query parameters, or the first problem with it (naming the field). */
function readQuery() {
  const unit = $("q-unit").value === "kHz" ? 1e3 : 1e6;
  const freq = (id, label) => {
    const raw = $(id).value.trim().replace(",", ".");
    if (raw === "") return { hz: null };
    const v = Number(raw);
    return Number.isFinite(v) && v >= 0 ? { hz: v * unit } : { problem: `${label}: “${$(id).value}” is not a frequency in ${$("q-unit").value}.` };
  };
  const lo = freq("q-fmin", "Frequency from"), hi = freq("q-fmax", "Frequency to");
  if (lo.problem || hi.problem) return { problem: lo.problem || hi.problem };
  if (lo.hz !== null && hi.hz !== null && lo.hz > hi.hz) return { problem: "Frequency: “from” is above “to”." };
  const preset = $("q-range").value;
  let from = null, to = null;
  if (RANGES[preset]) from = serverNow() - RANGES[preset];
  else if (preset === "custom") {
    const f = $("q-from").value, t = $("q-to").value;
    from = f ? new Date(f).getTime() : null;
    to = t ? new Date(t).getTime() : null;
    if (Number.isNaN(from) || Number.isNaN(to)) return { problem: "Time: not a date and time." };
    if (from !== null && to !== null && from > to) return { problem: "Time: “from” is after “to”." };
  }
  const iso = (t) => (t === null ? null : new Date(t).toISOString());
  const receiver = $("q-rx").value || null;
  const band = lo.hz === null && hi.hz === null ? "any frequency" : `${lo.hz === null ? "…" : (lo.hz / 1e6).toFixed(4)}–${hi.hz === null ? "…" : (hi.hz / 1e6).toFixed(4)} MHz`;
  const what = `${band}, ${$("q-range").selectedOptions[0].textContent}${receiver ? `, heard by ${receiverName(receiver)}` : ""}`;
  return { params: { from: iso(from), to: iso(to), freq_min: lo.hz, freq_max: hi.hz, receiver, limit: PAGE }, what };
}

/** Runs the form's search (a new one), or fetches the next page of the current one (`more`). */
export async function search(more) {
  let q = H.query;
  if (!more) {
    q = readQuery();
    if (q.problem) {
      status("search-status", q.problem, true);
      return;
    }
  }
  if (!q || (more && !H.cursor)) return;
  const gen = ++H.searchGen;
  H.searching = true;
  H.error = null;
  status("search-status", more ? "Loading more…" : `Searching ${q.what}…`);
  setAttr($("search-more"), "hidden", "");
  try {
    const page = await getJson("/api/v1/history/signals", { ...q.params, cursor: more ? H.cursor : null }, QUERY_TIMEOUT_MS);
    if (gen !== H.searchGen) return;
    if (!page || !Array.isArray(page.signals)) throw new Error("GET /api/v1/history/signals: the answer has no signals list");
    const got = page.signals.map(normTrack).filter(Boolean);
    H.query = q;
    H.results = more ? [...H.results, ...got] : got;
    H.cursor = str(page.next_cursor);
  } catch (err) {
    if (gen !== H.searchGen) return;
    H.error = `Search failed: ${err.message}`;
  }
  H.searching = false;
  renderResults();
}

const shownResult = (r) => $("q-ignored").checked || !(r.known && r.known.ignore);

function renderResults() {
  const shown = H.results.filter(shownResult);
  const hidden = H.results.length - shown.length;
  if (H.error) status("search-status", H.error, true);
  else if (H.query) {
    const n = H.results.length;
    const more = H.cursor ? " · more available" : "";
    const hid = hidden ? ` (${hidden} ignored hidden)` : "";
    status("search-status", n === 0 ? `No signal heard: ${H.query.what}.` : `${n} signal${n === 1 ? "" : "s"}${hid}: ${H.query.what}${more}.`);
  }
  setAttr($("search-more"), "hidden", H.cursor && !H.error ? null : "");
  const tbody = $("history-body");
  tbody.replaceChildren(...shown.map(resultRow));
  if (shown.length === 0 && H.query && !H.error) {
    const tr = el("tr", "empty-row");
    const td = el("td", null, H.results.length ? "only ignored signals match (tick “show ignored”)" : "no signal matches");
    td.colSpan = 8;
    tr.append(td);
    tbody.append(tr);
  }
}

function resultRow(r) {
  const tr = el("tr", "selectable");
  tr.dataset.testid = "history-row";
  tr.dataset.key = String(r.id);
  if (r.frequency_hz !== null) tr.dataset.frequencyHz = String(r.frequency_hz);
  const sel = H.selected === r.id;
  tr.classList.toggle("selected", sel);
  const td = (cls, text) => el("td", cls, text);
  const first = td();
  const btn = el("button", "sel-btn", `#${r.id}`);
  btn.type = "button";
  setAttr(btn, "aria-pressed", sel ? "true" : "false");
  setAttr(btn, "aria-label", `Stored signal ${r.id}${r.frequency_hz === null ? "" : `, ${(r.frequency_hz / 1e6).toFixed(4)} MHz`}: show its timeline`);
  btn.addEventListener("click", (ev) => {
    ev.stopPropagation();
    openSignal(r.id);
  });
  first.append(btn, el("span", "sub", r.signal_id));
  if (r.known) {
    // Its name under its ids, as in the live table; tags (and "ignored") in the tooltip.
    const k = el("span", `known${r.known.ignore ? " ignored" : ""}`, r.known.name);
    const about = [r.known.ignore ? "ignored" : "", ...r.known.tags].filter(Boolean).join(", ");
    setAttr(k, "title", about || null);
    first.append(k);
  }
  // The time of its last report, not of the last time it was heard: a steady signal is
  // reported again only when it changes (or is lost), so for one still on it can be long ago.
  const sameDay = r.first_seen !== null && r.last_seen !== null && fmtLocal(r.first_seen).slice(0, 10) === fmtLocal(r.last_seen).slice(0, 10);
  const lastReport = td(null, r.last_seen === null ? DASH : sameDay ? fmtLocal(r.last_seen).slice(11) : fmtLocal(r.last_seen));
  setAttr(lastReport, "title", r.last_seen === null ? null : `${new Date(r.last_seen).toISOString()}${r.lost ? " (lost)" : ""}`);
  const rx = td("num", String(r.receivers.length));
  setAttr(rx, "title", r.receivers.map(receiverName).join(", ") || null);
  const firstSeen = td(null, r.first_seen === null ? DASH : fmtLocal(r.first_seen));
  setAttr(firstSeen, "title", r.first_seen === null ? null : new Date(r.first_seen).toISOString());
  tr.append(
    first,
    td("num", r.frequency_hz === null ? DASH : (r.frequency_hz / 1e6).toFixed(4)),
    td("num", r.bandwidth_hz === null ? DASH : (r.bandwidth_hz / 1e3).toFixed(1)),
    firstSeen,
    lastReport,
    td("num", fmtFixed(r.peak_snr_db, 1)),
    td("num", fmtFixed(r.mean_power_dbfs, 1)),
    rx,
  );
  tr.addEventListener("click", () => openSignal(r.id));
  return tr;
}

/** A heatmap click: the log around that frequency, over the heatmap's range and receiver. */
function pick(hz, range) {
  const unit = $("q-unit").value === "kHz" ? 1e3 : 1e6;
  const digits = unit === 1e6 ? 4 : 1;
  $("q-fmin").value = ((hz - PICK_HALF_WIDTH_HZ) / unit).toFixed(digits);
  $("q-fmax").value = ((hz + PICK_HALF_WIDTH_HZ) / unit).toFixed(digits);
  $("q-range").value = range;
  setAttr($("q-custom"), "hidden", "");
  $("q-rx").value = heatmapSelection().receiver || "";
  search(false);
}

// ---------------------------------------------------------------- one stored signal
/** Reads one stored signal and shows it (its timeline, fixes and name form). */
export async function openSignal(id, keepStatus = false) {
  const gen = ++H.detailGen;
  H.selected = id;
  renderResults();
  status("track-status", `Loading signal ${id}…`);
  try {
    const d = await getJson(`/api/v1/history/signals/${encodeURIComponent(id)}`, null, QUERY_TIMEOUT_MS);
    if (gen !== H.detailGen) return;
    const signal = normTrack(d && d.signal);
    if (!signal) throw new Error(`GET /api/v1/history/signals/${id}: the answer has no signal`);
    const fixes = (Array.isArray(d.localizations) ? d.localizations : [])
      .filter((l) => l && typeof l === "object")
      .map((l) => ({ ...normLoc(l), id: num(l.id) }))
      .filter((l) => l.id !== null && l.latitude !== null && l.longitude !== null);
    H.detail = { signal, observations: Array.isArray(d.observations) ? d.observations : [], fixes, truncated: d.truncated === true };
    H.fixSel = fixes.length ? String(fixes[fixes.length - 1].id) : null;
    status("track-status", H.detail.truncated ? "Only the newest observations and fixes are shown (this signal has more)." : "");
    renderDetail();
    showNameForm(signal, keepStatus);
  } catch (err) {
    if (gen !== H.detailGen) return;
    status("track-status", `Could not read signal ${id}: ${err.message}`, true);
  }
}

function kv(dl, label, value) {
  dl.append(el("dt", null, label), el("dd", null, value));
}

function renderDetail() {
  const { signal: s, fixes } = H.detail;
  const box = $("track");
  const title = el("h3", "details-title", `#${s.id}${s.known ? ` · ${s.known.name}` : ""}`);
  const dl = el("dl", "kv");
  dl.dataset.testid = "track-summary";
  kv(dl, "Live id", s.signal_id || DASH);
  if (s.known) kv(dl, "Known as", `${s.known.name}${s.known.tags.length ? ` · tags: ${s.known.tags.join(", ")}` : ""}${s.known.ignore ? " · ignored" : ""}`);
  kv(dl, "Frequency", s.frequency_hz === null ? DASH : `${(s.frequency_hz / 1e6).toFixed(6)} MHz`);
  kv(dl, "Bandwidth", s.bandwidth_hz === null ? DASH : s.bandwidth_hz < 1000 ? `${s.bandwidth_hz.toFixed(0)} Hz` : `${(s.bandwidth_hz / 1e3).toFixed(2)} kHz`);
  kv(dl, "Reported", s.first_seen === null ? DASH : `first ${fmtLocal(s.first_seen)}, last ${s.last_seen === null ? DASH : fmtLocal(s.last_seen)}${s.lost ? " (lost)" : ""}`);
  // How long it was heard: its observation windows (kept while it is heard), not its reports
  // (sent only when it changes).
  const span = observedSpan(H.detail.observations);
  kv(dl, "Observed", span ? `${fmtLocal(span.from)} to ${fmtLocal(span.to)} (${fmtDuration(span.to - span.from)})` : "no observation windows stored");
  kv(dl, "SNR", `peak ${fmtFixed(s.peak_snr_db, 1)} dB, mean ${fmtFixed(s.mean_snr_db, 1)} dB`);
  kv(dl, "Power", `peak ${fmtFixed(s.peak_power_dbfs, 1)} dBFS, mean ${fmtFixed(s.mean_power_dbfs, 1)} dBFS`);
  kv(dl, `Heard by (${s.receivers.length})`, s.receivers.map(receiverName).join(", ") || DASH);
  kv(dl, "Reports", fmtInt(s.reports));
  box.replaceChildren(title, dl);
  setAttr($("track-body"), "hidden", null);
  setAttr($("fixes-empty"), "hidden", fixes.length ? "" : null);
  setAttr($("fixes-fig"), "hidden", fixes.length ? null : "");
  setObservations(H.detail.observations);
  drawTimeline();
  drawFixes();
}

/** The first start and last stop of observation windows, or null. */
function observedSpan(list) {
  let from = Infinity, to = -Infinity;
  for (const o of list) {
    const a = parseTime(o && o.start), b = parseTime(o && o.stop);
    if (a !== null) from = Math.min(from, a);
    if (b !== null) to = Math.max(to, b);
  }
  return to >= from ? { from, to } : null;
}

/** The signal's fixes (the newest MAX_FIXES_DRAWN) and the receivers on the history map. */
function drawFixes() {
  if (!H.detail || H.detail.fixes.length === 0 || S.view !== "history") return;
  if (!fixMap) {
    fixMap = createMap($("history-map"), {
      clipId: "history-map-clip",
      estimateTestId: "history-fix",
      onSelect: (key) => {
        H.fixSel = key;
        drawFixes();
      },
    });
  }
  const all = H.detail.fixes;
  const fixes = all.slice(-MAX_FIXES_DRAWN).reverse(); // newest first, as the live map orders them
  const txs = fixes.map((l) => {
    const when = l.timestamp === null ? "time unknown" : fmtLocal(l.timestamp);
    const u = l.uncertainty_m === null ? "uncertainty not reported" : `±${fmtInt(l.uncertainty_m)} m (68 %)`;
    const method = l.method === "tdoa" ? "TDOA" : l.method === "power" ? "power (coarse)" : l.method || "?";
    return {
      ...l,
      key: String(l.id),
      active: true,
      lines: [`${when} · ${method}`, u],
      aria: `Fix ${l.id} at ${when} by ${method}, ${l.latitude.toFixed(5)}, ${l.longitude.toFixed(5)}, ${u}`,
    };
  });
  const sel = fixes.find((l) => String(l.id) === H.fixSel);
  const extra = `${all.length} fix${all.length === 1 ? "" : "es"}${all.length > fixes.length ? ` (the newest ${fixes.length} drawn)` : ""}${sel ? `; highlighted: ${sel.timestamp === null ? sel.id : fmtLocal(sel.timestamp)}` : ""}.`;
  drawMap(fixMap, { rxs: placedReceivers(), txs, selected: H.fixSel, noteEl: $("history-map-note"), extra });
}

// ---------------------------------------------------------------- wiring
/** Wires the tabs, the forms and the plots; opens the History view when the URL asks for it. */
export function initHistory() {
  for (const b of document.querySelectorAll(".view-tab")) b.addEventListener("click", () => showView(b.dataset.view));
  $("occ-rx").addEventListener("change", () => loadOccupancy($("occ-rx").value, heatmapSelection().range));
  for (const b of document.querySelectorAll("[data-range]")) b.addEventListener("click", () => setRange(b.dataset.range));
  $("occ-refresh").addEventListener("click", () => loadOccupancy($("occ-rx").value || null, heatmapSelection().range));
  wireHeatmap(pick);
  $("q-range").addEventListener("change", () => setAttr($("q-custom"), "hidden", $("q-range").value === "custom" ? null : ""));
  $("search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    search(false);
  });
  $("search-more").addEventListener("click", () => search(true));
  $("q-ignored").addEventListener("change", renderResults);
  wireNameForm(() => {
    // The names changed: read the signal and the current results again (the server decides
    // which name each signal carries).
    if (H.selected !== null) openSignal(H.selected, true);
    if (H.query) search(false);
  });
  if (window.ResizeObserver) {
    for (const id of ["heatmap", "timeline"]) {
      let lastW = 0;
      new ResizeObserver((entries) => {
        const w = Math.round(entries[0].contentRect.width);
        if (w !== lastW && w > 0) {
          lastW = w;
          redrawHistory();
        }
      }).observe($(id));
    }
  }
  const frag = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  if (frag.get("view") === "history") showView("history");
}

/** What the History view shows, for the test hook (copies). */
export function historyState() {
  return {
    view: S.view,
    heatmap: heatmapState(),
    search: {
      query: H.query ? { ...H.query.params } : null,
      searching: H.searching,
      error: H.error,
      results: H.results.map((r) => ({
        id: r.id,
        signal_id: r.signal_id,
        frequency_hz: r.frequency_hz,
        heard_ms: r.first_seen === null || r.last_seen === null ? null : r.last_seen - r.first_seen,
        known: r.known ? { ...r.known } : null,
      })),
      shown: H.results.filter(shownResult).length,
      nextCursor: H.cursor,
    },
    selected: H.selected,
    detail: H.detail
      ? { id: H.detail.signal.id, frequency_hz: H.detail.signal.frequency_hz, known: H.detail.signal.known, observations: H.detail.observations.length, fixes: H.detail.fixes.length }
      : null,
    timeline: timelineState(),
  };
}
