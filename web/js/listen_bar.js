// The listening bar (at the foot of the window while listening): what is heard (frequency,
// mode, receiver) and its controls (frequency entry, mode, passband, volume and mute, squelch,
// stop), the channel power against the squelch, and how the audio is doing (latency from the
// antenna to the speaker, jitter buffer, lost packets). listen.js does the listening.

import { $, setAttr, setText } from "./dom.js";
import { DASH } from "./format.js";
import { DEFAULT_PASSBAND, dismiss, isActive, L, listenView, passbandOf, retune, setSquelch, setVolume, stopListening, toggleRecording, TUNE_STEP_HZ, validPassband } from "./listen.js";
import { TOKEN } from "./config.js";
import { receiverName } from "./state.js";
import { parseFreq } from "./spectrum_view.js";

/** The squelch slider's lowest position: no squelch. */
const SQUELCH_OFF = -150;

const STATUS = {
  starting: "Tuning…",
  playing: "Listening",
  waiting: "Waiting for the connection…",
  stopped: "Stopped",
  error: "Not listening",
};

const fmtMs = (ms) => (ms === null || !Number.isFinite(ms) ? DASH : `${Math.round(ms)} ms`);

/** Sets an input's value unless the user is typing in it. */
function setValue(input, value) {
  if (document.activeElement !== input && input.value !== value) input.value = value;
}

/** Redraws the bar: its state and settings (`all`), or only the numbers that change every 0.1 s. */
export function renderListen(all) {
  const bar = $("listen-bar");
  setAttr(bar, "hidden", L.state === "idle" ? "" : null);
  setAttr(bar, "data-state", L.state);
  if (L.state === "idle") return;
  const v = listenView();
  const active = isActive();
  if (all) {
    const status = L.message ? `${STATUS[L.state]}: ${L.message}` : STATUS[L.state];
    setText($("listen-status"), status);
    $("listen-status").classList.toggle("listen-error", L.state === "error");
    setText($("listen-what"), v.frequencyHz === null ? "" : `${(v.frequencyHz / 1e6).toFixed(6)} MHz · ${v.mode.toUpperCase()} · ${receiverName(v.receiver)}${v.signalId ? ` · ${v.signalId}` : ""}`);
    setValue($("listen-freq"), v.frequencyHz === null ? "" : (v.frequencyHz / 1e6).toFixed(6));
    setValue($("listen-mode"), v.mode || "nfm");
    const sq = $("listen-squelch");
    setValue(sq, String(v.squelchDbfs === null ? SQUELCH_OFF : v.squelchDbfs));
    setText($("listen-squelch-value"), v.squelchDbfs === null ? "off" : `${v.squelchDbfs} dBFS`);
    setValue($("listen-volume"), String(Math.round(v.volume * 100)));
    const mute = $("listen-mute");
    setAttr(mute, "aria-pressed", v.muted ? "true" : "false");
    setText(mute, v.muted ? "Unmute" : "Mute");
    renderRecording();
    setAttr($("listen-stop"), "hidden", active ? null : "");
    setAttr($("listen-again"), "hidden", active ? "" : null);
    setAttr($("listen-close"), "hidden", active ? "" : null);
  }
  if (v.passbandHz) {
    setValue($("listen-pb-lo"), String(v.passbandHz[0]));
    setValue($("listen-pb-hi"), String(v.passbandHz[1]));
    setAttr($("listen-pb-reset"), "disabled", L.want && L.want.passband_hz === null && !L.drag ? "" : null);
  }
  const playing = L.state === "playing";
  const power = $("listen-power");
  const p = playing ? v.powerDbfs : null;
  power.value = p === null ? power.min : Math.max(power.min, Math.min(power.max, p));
  const sqTxt = !playing || v.squelchOpen === null ? "" : v.squelchDbfs === null ? "" : v.squelchOpen ? " · squelch open" : " · squelch closed";
  setText($("listen-power-text"), p === null ? DASH : `${p.toFixed(1)} dBFS${sqTxt}`);
  setAttr(bar, "data-squelch", !playing || v.squelchDbfs === null ? null : v.squelchOpen ? "open" : "closed");
  const lat = $("listen-latency");
  const latency = playing ? v.latencyMs : null;
  setText(lat, fmtMs(latency));
  setAttr(lat, "data-latency-ms", latency === null ? null : String(Math.round(latency)));
  setAttr(lat, "title", latency === null ? null : `antenna to speaker: the newest packet was ${fmtMs(v.netMs)} old on arrival; jitter buffer ${fmtMs(v.bufferMs)} (target ${fmtMs(v.targetMs)}); output ${fmtMs(v.outputMs)}`);
  setText($("listen-buffer"), playing ? fmtMs(v.bufferMs) : DASH);
  setAttr($("listen-buffer"), "title", `${v.underruns} underrun${v.underruns === 1 ? "" : "s"}, ${fmtMs(v.droppedMs)} dropped (buffer too deep)`);
  setText($("listen-lost"), String(v.lost));
  setAttr($("listen-lost"), "title", `packets lost in transit, of ${v.packets + v.lost}`);
}

/** The record button and the last recording's files. */
function renderRecording() {
  const button = $("listen-record");
  setAttr(button, "aria-pressed", L.recording ? "true" : "false");
  setText(button, L.recording ? "Stop recording" : "Record");
  setAttr(button, "disabled", L.recording || L.state === "playing" ? null : "");
  const out = $("listen-recorded");
  out.replaceChildren();
  const r = L.recorded;
  if (L.recording) {
    setText(out, "recording the channel (SigMF) and the audio (WAV)…");
  } else if (r && r.error) {
    setText(out, `not recorded: ${r.error}`);
  } else if (r) {
    out.append(`${r.seconds.toFixed(1)} s recorded${r.signal_id ? ` of ${r.signal_id}` : ""}`);
    // It stopped on its own: the length limit, or the recordings' space is full.
    if (r.stopped) out.append(` (stopped: ${r.stopped})`);
    out.append(": ");
    const links = [["WAV", r.wav], ["SigMF meta", r.sigmf_meta], ["SigMF data", r.sigmf_data]];
    if (r.history) links.push(["History", r.history]);
    links.forEach(([label, href], i) => {
      const a = document.createElement("a");
      // A link cannot carry the Authorization header: the token goes in the query.
      a.href = TOKEN ? `${href}?token=${encodeURIComponent(TOKEN)}` : href;
      a.download = "";
      a.textContent = label;
      a.dataset.testid = `listen-recorded-${label.toLowerCase().replace(" ", "-")}`;
      out.append(a);
      if (i < links.length - 1) out.append(" · ");
    });
  }
}

/** The mode's passband edges as typed, asked for when the server would take them. */
function passbandFromInputs() {
  if (!L.want) return;
  const lo = Number($("listen-pb-lo").value), hi = Number($("listen-pb-hi").value);
  const pb = validPassband(L.want.mode, lo, hi);
  for (const id of ["listen-pb-lo", "listen-pb-hi"]) setAttr($(id), "aria-invalid", pb ? null : "true");
  if (pb && (pb[0] !== passbandOf()[0] || pb[1] !== passbandOf()[1])) retune({ passband_hz: pb });
}

/** The bar's controls. */
export function wireListen() {
  $("listen-freq-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $("listen-freq");
    const hz = parseFreq(input.value);
    setAttr(input, "aria-invalid", hz === null ? "true" : null);
    if (hz !== null && L.want) retune({ frequency_hz: hz });
  });
  $("listen-freq").addEventListener("keydown", (ev) => {
    if (!L.want || (ev.key !== "ArrowUp" && ev.key !== "ArrowDown")) return;
    ev.preventDefault();
    const step = TUNE_STEP_HZ[L.want.mode] * (ev.shiftKey ? 10 : 1);
    const hz = Math.round(L.want.frequency_hz / step) * step + (ev.key === "ArrowUp" ? step : -step);
    ev.target.value = (hz / 1e6).toFixed(6);
    retune({ frequency_hz: hz });
  });
  $("listen-mode").addEventListener("change", (ev) => {
    if (L.want && ev.target.value in DEFAULT_PASSBAND) retune({ mode: ev.target.value });
  });
  for (const id of ["listen-pb-lo", "listen-pb-hi"]) $(id).addEventListener("change", passbandFromInputs);
  $("listen-pb-reset").addEventListener("click", () => retune({ passband_hz: null }));
  $("listen-volume").addEventListener("input", (ev) => setVolume(Number(ev.target.value) / 100, L.muted));
  $("listen-mute").addEventListener("click", () => setVolume(L.volume, !L.muted));
  const squelch = $("listen-squelch");
  squelch.addEventListener("input", () => {
    const v = Number(squelch.value);
    setText($("listen-squelch-value"), v <= SQUELCH_OFF ? "off" : `${v} dBFS`);
  });
  // Asked for on release (or each key step), not while the thumb moves.
  squelch.addEventListener("change", () => {
    const v = Number(squelch.value);
    setSquelch(v <= SQUELCH_OFF ? null : v);
  });
  // Each of Stop and Listen again hides itself: the keyboard user goes to the other.
  $("listen-stop").addEventListener("click", () => {
    stopListening();
    renderListen(true);
    $("listen-again").focus();
  });
  $("listen-again").addEventListener("click", () => {
    retune({});
    renderListen(true);
    $("listen-stop").focus();
  });
  $("listen-close").addEventListener("click", dismiss);
  $("listen-record").addEventListener("click", toggleRecording);
}
