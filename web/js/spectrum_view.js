// What the spectrum panel shows and how: the frequencies in view (wheel zoom about the
// pointer, drag to pan, double-click for the full span, the frequency entry, + − Full), the
// level axis (auto with hysteresis, or a fixed range), the trace options (averaging, peak
// hold) and the waterfall's time span. One view for the panel: switching receivers keeps it
// when the new receiver covers it, else shows the new receiver's full span.
//
// The auto level axis moves only when it must: it widens at once when the trace comes within
// a few dB of an edge, and narrows only after the levels have stayed far inside it for a few
// seconds, in 5 dB steps. So a steady band keeps a still axis, and a 0.3 s burst widens it
// once instead of making it jump with every frame.

import { $, setAttr, setText } from "./dom.js";
import { levelsDb } from "./frame.js";
import { markDirty, receiverName, S } from "./state.js";

/** Narrowest view, in bins: zooming further would only enlarge one bin. */
const MIN_VIEW_BINS = 8;
/** Wheel zoom: the factor per pixel of wheel travel (as the map's). */
const WHEEL_ZOOM = 0.0015;
/** Pointer travel (CSS px) under which a press is a click, not a drag. */
const DRAG_PX = 4;
/** Auto levels: dB under the noise (median) and over the strongest level, when (re)set. */
const FLOOR_MARGIN_DB = 15;
const PEAK_MARGIN_DB = 10;
/** ... widened when the floor or the peak comes closer than this to an edge, dB. */
const EDGE_DB = 3;
/** ... narrowed when an edge is further than this from the levels for SHRINK_MS. */
const SHRINK_DB = 25;
const SHRINK_MS = 10000;
/** ... never narrower than this, dB (pure noise must not fill the height). */
const MIN_SPAN_DB = 30;
const STEP_DB = 5;

/** The view: `lo`/`hi` (Hz; null = the full span), levels, trace options, waterfall span. */
export const V = {
  lo: null,
  hi: null,
  yMode: "auto", // "auto" or "fixed"
  yLo: null, // the levels shown, dBFS (auto: decided with hysteresis; fixed: the inputs)
  yHi: null,
  fixedLo: -120,
  fixedHi: -30,
  lowSince: null, // since when the auto axis has been too wide at the bottom / top (ms)
  highSince: null,
  avgN: 1, // frames averaged (exponential, in power); 1: off
  peakHold: false,
  spanS: 300, // seconds of waterfall shown
};

/** The frequencies a frame covers, Hz. */
export const fullSpan = (f) => ({ lo: f.start, hi: f.start + f.bins * f.binHz });

/** Sets the view to [lo, hi] within the frame's span (the full span when it covers it all). */
function setView(f, lo, hi) {
  const full = fullSpan(f);
  const width = Math.max(hi - lo, MIN_VIEW_BINS * f.binHz);
  if (width >= full.hi - full.lo) {
    V.lo = V.hi = null;
  } else {
    const l = Math.min(Math.max(lo, full.lo), full.hi - width);
    V.lo = l;
    V.hi = l + width;
  }
  markDirty("spectrum");
}

/** The frequencies shown of frame `f`, Hz (the view kept within the frame's span). */
export function shownSpan(f) {
  const full = fullSpan(f);
  if (V.lo === null || V.hi <= full.lo || V.lo >= full.hi) return full;
  const width = Math.min(V.hi - V.lo, full.hi - full.lo);
  const lo = Math.min(Math.max(V.lo, full.lo), full.hi - width);
  return { lo, hi: lo + width };
}

/** Zooms by `factor` (< 1 narrows) keeping `hz` where it is on the plot. */
export function zoomAt(f, hz, factor) {
  const s = shownSpan(f);
  setView(f, hz - (hz - s.lo) * factor, hz + (s.hi - hz) * factor);
}

/** Moves the view by `dHz`. */
export function panBy(f, dHz) {
  const s = shownSpan(f);
  setView(f, s.lo + dHz, s.hi + dHz);
}

/** Centres the view on `hz`: the current width when zoomed, else a quarter of the span (or
 * `width` when given). */
export function centreOn(f, hz, width = null) {
  const s = shownSpan(f);
  const full = fullSpan(f);
  const w = width ?? (V.lo === null ? (full.hi - full.lo) / 4 : s.hi - s.lo);
  setView(f, hz - w / 2, hz + w / 2);
}

/** The full span again. */
export function resetView() {
  V.lo = V.hi = null;
  markDirty("spectrum");
}

/** A frequency typed by the user, Hz: "145.35" (MHz), "145350 kHz", "145.35M", "145350000 Hz". */
export function parseFreq(text) {
  const m = /^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(hz|k|khz|m|mhz|g|ghz)?\s*$/i.exec(text || "");
  if (!m) return null;
  const v = Number(m[1]);
  const unit = (m[2] || "mhz").toLowerCase()[0];
  const hz = v * ({ h: 1, k: 1e3, m: 1e6, g: 1e9 }[unit]);
  return Number.isFinite(hz) && hz > 0 ? hz : null;
}

// ---------------------------------------------------------------- traces

/** Folds a new frame into its receiver's average and peak hold (restarted when the bins change). */
export function updateTraces(sp, f, restarted) {
  const db = levelsDb(f);
  if (restarted || !sp.avg || sp.avg.length !== f.bins) {
    sp.avg = Float32Array.from(db, (x) => 10 ** (x / 10));
    sp.peak = db.slice();
    return;
  }
  const a = 1 / V.avgN;
  for (let i = 0; i < f.bins; i++) {
    sp.avg[i] += a * (10 ** (db[i] / 10) - sp.avg[i]);
    if (db[i] > sp.peak[i]) sp.peak[i] = db[i];
  }
}

/** The traces to draw of a receiver's spectrum, dB per bin: `live` (averaged when averaging
 * is on) and `peak` (null when peak hold is off). */
export function traces(sp) {
  const f = sp.last;
  const live = V.avgN > 1 && sp.avg && sp.avg.length === f.bins ? Float32Array.from(sp.avg, (p) => 10 * Math.log10(Math.max(p, 1e-30))) : levelsDb(f);
  const peak = V.peakHold && sp.peak && sp.peak.length === f.bins ? sp.peak : null;
  return { live, peak };
}

/** Restarts every receiver's peak hold from its latest frame (and its average where that is
 * higher: an average of levels never over the peak then stays under it, so the peak trace is
 * never under the one it holds). */
function clearPeaks() {
  for (const sp of S.spectra.values()) {
    if (!sp.last) continue;
    const peak = levelsDb(sp.last);
    if (sp.avg && sp.avg.length === peak.length) for (let i = 0; i < peak.length; i++) peak[i] = Math.max(peak[i], 10 * Math.log10(Math.max(sp.avg[i], 1e-30)));
    sp.peak = peak;
  }
}

// ---------------------------------------------------------------- levels

const floorTo = (x) => Math.floor(x / STEP_DB) * STEP_DB;
const ceilTo = (x) => Math.ceil(x / STEP_DB) * STEP_DB;

/** The level axis for traces whose noise (median) is `floor` and strongest level `peak`, dB, at `now` (ms). */
export function levelAxis(floor, peak, now) {
  if (V.yMode === "fixed") {
    V.yLo = V.fixedLo;
    V.yHi = V.fixedHi;
    return { lo: V.yLo, hi: V.yHi };
  }
  if (V.yLo === null || !Number.isFinite(V.yLo)) {
    V.yLo = floorTo(floor - FLOOR_MARGIN_DB);
    V.yHi = Math.max(ceilTo(peak + PEAK_MARGIN_DB), V.yLo + MIN_SPAN_DB);
    V.lowSince = V.highSince = null;
    return { lo: V.yLo, hi: V.yHi };
  }
  if (floor - EDGE_DB < V.yLo) V.yLo = floorTo(floor - FLOOR_MARGIN_DB);
  if (peak + EDGE_DB > V.yHi) V.yHi = ceilTo(peak + PEAK_MARGIN_DB);
  // Narrow only after the levels have stayed far inside for a while.
  if (floor - V.yLo > SHRINK_DB) {
    V.lowSince ??= now;
    if (now - V.lowSince >= SHRINK_MS) {
      V.yLo = floorTo(floor - FLOOR_MARGIN_DB);
      V.lowSince = null;
    }
  } else V.lowSince = null;
  if (V.yHi - peak > SHRINK_DB) {
    V.highSince ??= now;
    if (now - V.highSince >= SHRINK_MS) {
      V.yHi = ceilTo(peak + PEAK_MARGIN_DB);
      V.highSince = null;
    }
  } else V.highSince = null;
  if (V.yHi - V.yLo < MIN_SPAN_DB) V.yHi = V.yLo + MIN_SPAN_DB;
  return { lo: V.yLo, hi: V.yHi };
}

/** Starts the auto axis afresh (another receiver, another view). */
export function resetLevels() {
  V.yLo = V.yHi = null;
}

// ---------------------------------------------------------------- receivers

/** Shows receiver `rx` in the panel (the user's choice from now on); with `hz`, centred on it. */
export function showReceiver(rx, hz = null) {
  if (S.spectrumRx !== rx) resetLevels();
  S.spectrumRx = rx;
  S.spectrumChosen = true;
  const sp = S.spectra.get(rx);
  if (hz !== null && sp && sp.last) centreOn(sp.last, hz);
  else if (hz !== null) S.pendingCentre = hz; // centred when its first frame arrives
  markDirty("spectrum");
}

/** The receiver to show `hz`: the one shown when it covers it, else the first that does. */
function receiverFor(hz) {
  const covers = (id) => {
    const sp = S.spectra.get(id);
    if (!sp || !sp.last) return false;
    const s = fullSpan(sp.last);
    return hz >= s.lo && hz <= s.hi;
  };
  if (S.spectrumRx !== null && covers(S.spectrumRx)) return S.spectrumRx;
  return [...S.spectra.keys()].find(covers) ?? null;
}

// ---------------------------------------------------------------- wiring

/** Wheel zooms about the pointer, dragging pans, double-click shows the full span; `geometry()`
 * gives the frame shown and the plot's left edge and width (CSS px). A drag is not a click:
 * `dragged()` says whether the last press moved. */
export function wireZoomPan(canvas, geometry) {
  const hzAt = (g, clientX) => {
    const r = canvas.getBoundingClientRect();
    const s = shownSpan(g.f);
    return s.lo + ((clientX - r.left - g.x0) / g.w) * (s.hi - s.lo);
  };
  canvas.addEventListener("wheel", (ev) => {
    const g = geometry();
    if (!g) return;
    ev.preventDefault();
    zoomAt(g.f, hzAt(g, ev.clientX), Math.exp(ev.deltaY * WHEEL_ZOOM));
  }, { passive: false });
  let drag = null;
  canvas.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0 || !geometry()) return;
    drag = { x: ev.clientX, start: ev.clientX, id: ev.pointerId, moved: false };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", (ev) => {
    const g = geometry();
    if (!drag || ev.pointerId !== drag.id || !g) return;
    if (!drag.moved && Math.abs(ev.clientX - drag.start) < DRAG_PX) return;
    drag.moved = true;
    canvas.classList.add("dragging");
    const s = shownSpan(g.f);
    panBy(g.f, (-(ev.clientX - drag.x) / g.w) * (s.hi - s.lo));
    drag.x = ev.clientX;
  });
  const end = (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    canvas.dataset.dragged = drag.moved ? "1" : "";
    drag = null;
    canvas.classList.remove("dragging");
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("dblclick", () => resetView());
}

/** Whether the press that made this click was a drag (then it selects nothing). */
export const dragged = (canvas) => canvas.dataset.dragged === "1";

/** Zoom and pan by keyboard on a focused plot: + − zoom, Shift+← → pan, 0 full span. */
export function zoomKey(ev, f) {
  const s = shownSpan(f);
  const mid = (s.lo + s.hi) / 2;
  if (ev.key === "+" || ev.key === "=") zoomAt(f, mid, 0.5);
  else if (ev.key === "-" || ev.key === "_") zoomAt(f, mid, 2);
  else if (ev.key === "0" || ev.key === "Home") resetView();
  else if (ev.shiftKey && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) panBy(f, (ev.key === "ArrowLeft" ? -0.2 : 0.2) * (s.hi - s.lo));
  else return false;
  ev.preventDefault();
  return true;
}

const shownFrame = () => {
  const sp = S.spectrumRx === null ? null : S.spectra.get(S.spectrumRx);
  return sp && sp.last ? sp.last : null;
};

/** Centres the view on the frequency typed in the entry, switching to a receiver that covers it. */
function goToEntry() {
  const input = $("spectrum-freq");
  const note = $("spectrum-freq-note");
  const hz = parseFreq(input.value);
  if (hz === null) {
    setText(note, "Type a frequency in MHz (145.35), or with a unit (145350 kHz).");
    setAttr(input, "aria-invalid", "true");
    return;
  }
  const rx = receiverFor(hz);
  if (rx === null) {
    setText(note, `No receiver covers ${(hz / 1e6).toFixed(6)} MHz.`);
    setAttr(input, "aria-invalid", "true");
    return;
  }
  setText(note, rx === S.spectrumRx ? "" : `Shown on ${receiverName(rx)}, which covers it.`);
  setAttr(input, "aria-invalid", null);
  showReceiver(rx, hz);
}

/** The panel's controls: receiver, frequency entry, zoom buttons, averaging, peak hold,
 * level axis and waterfall span. */
export function wireSpectrumControls() {
  $("spectrum-rx").addEventListener("change", (ev) => showReceiver(ev.target.value));
  $("spectrum-freq-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    goToEntry();
  });
  const atCentre = (factor) => {
    const f = shownFrame();
    if (!f) return;
    const s = shownSpan(f);
    zoomAt(f, (s.lo + s.hi) / 2, factor);
  };
  $("spectrum-zoom-in").addEventListener("click", () => atCentre(0.5));
  $("spectrum-zoom-out").addEventListener("click", () => atCentre(2));
  $("spectrum-full").addEventListener("click", resetView);
  $("spectrum-avg").addEventListener("change", (ev) => {
    V.avgN = Math.max(1, Number(ev.target.value) || 1);
    markDirty("spectrum");
  });
  $("spectrum-peak").addEventListener("change", (ev) => {
    V.peakHold = ev.target.checked;
    if (V.peakHold) clearPeaks();
    setAttr($("spectrum-peak-clear"), "hidden", V.peakHold ? null : "");
    markDirty("spectrum");
  });
  $("spectrum-peak-clear").addEventListener("click", () => {
    clearPeaks();
    markDirty("spectrum");
  });
  const fixedInputs = [$("spectrum-ymin"), $("spectrum-ymax")];
  $("spectrum-ymode").addEventListener("change", (ev) => {
    V.yMode = ev.target.value === "fixed" ? "fixed" : "auto";
    if (V.yMode === "fixed" && V.yLo !== null) {
      // Fixed starts where auto was, so the plot does not jump.
      [V.fixedLo, V.fixedHi] = [V.yLo, V.yHi];
      fixedInputs[0].value = String(V.fixedLo);
      fixedInputs[1].value = String(V.fixedHi);
    }
    if (V.yMode === "auto") resetLevels();
    for (const i of fixedInputs) setAttr(i.parentElement, "hidden", V.yMode === "fixed" ? null : "");
    markDirty("spectrum");
  });
  for (const i of fixedInputs) {
    i.addEventListener("change", () => {
      const lo = Number(fixedInputs[0].value), hi = Number(fixedInputs[1].value);
      const ok = fixedInputs[0].value !== "" && fixedInputs[1].value !== "" && Number.isFinite(lo) && Number.isFinite(hi) && hi > lo;
      for (const x of fixedInputs) setAttr(x, "aria-invalid", ok ? null : "true");
      if (!ok) return;
      V.fixedLo = lo;
      V.fixedHi = hi;
      markDirty("spectrum");
    });
  }
  $("spectrum-span").addEventListener("change", (ev) => {
    V.spanS = Math.max(10, Number(ev.target.value) || 300);
    markDirty("spectrum");
  });
}
