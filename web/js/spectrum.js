// The live spectrum and waterfall of one receiver at a time, from the opt-in `spectrum:frame`
// stream (connection.js subscribes to it after every connect), with the active signals marked
// on both plots; clicking a mark or stepping with the arrow keys selects the signal.
// Listening (listen.js): Shift+click listens there (to the signal under the pointer, if any),
// and while listening a click tunes; the passband is shaded on the spectrum, its edges drag.
//
// What is shown (zoom, pan, levels, averaging, peak hold, the waterfall's span) is decided in
// spectrum_view.js; the waterfall's rows (live, and the server's recent history) and their
// drawing are in waterfall.js. Both plots share the frequencies and the level axis.

import { selectSignal } from "./details.js";
import { $, el, setAttr, setText } from "./dom.js";
import { decodeFrame, sameBins } from "./frame.js";
import { cssColors, fitCanvas, fmtMHz, niceStep } from "./plot.js";
import { shownSignal } from "./data.js";
import { commitPassband, dragEdge, isActive, listenAt, listenBand, listenToSignal } from "./listen.js";
import { BADGE_TEXT, markDirty, receiverName, S } from "./state.js";
import { centreOn, dragged, fullSpan, levelAxis, shownSpan, traces, updateTraces, V, wireZoomPan, zoomKey } from "./spectrum_view.js";
import { addRow, coveredS, drawWaterfall, loadHistory } from "./waterfall.js";

const PLOT = { padL: 52, padR: 12, padT: 18, padB: 22, labelRows: 30 };
/** A passband edge takes the pointer this close, CSS px; a band narrower than MIN_BAND_PX
 * has no draggable edges (a click there tunes instead). */
const EDGE_PX = 6;
const MIN_BAND_PX = 10;
const LISTEN_FILL = "rgba(63,207,106,.16)";
const LISTEN_LINE = "#3fcf6a";
let plotHits = []; // signal bands on the visible plots: {id, x0, x1, xc}
let drawn = null; // what the last render drew (for the hover readout and the test hook)

/** A receiver's spectrum state: its newest frame, waterfall rows, average and peak hold. */
function newSpectrum() {
  return { last: null, rows: [], historyRows: 0, total: 0, avg: null, peak: null };
}

/** Adds one frame (as sent) to its receiver's spectrum and waterfall; a malformed one counts as a bad message. */
export function onFrame(d) {
  const f = decodeFrame(d);
  if (!f) {
    S.badMessages++;
    return;
  }
  S.frames++;
  let sp = S.spectra.get(f.rx);
  if (!sp) {
    sp = newSpectrum();
    S.spectra.set(f.rx, sp);
  }
  const prev = sp.last;
  sp.last = f;
  // A retuned receiver (or a new rate or bin count) restarts its average and peak hold.
  updateTraces(sp, f, !prev || !sameBins(prev, f));
  const rate = S.dashConfig && S.dashConfig.frames ? S.dashConfig.frames.rateHz : null;
  const gap = prev && prev.t !== null && f.t !== null && f.t > prev.t ? Math.min(f.t - prev.t, 2000) : 250;
  addRow(sp, f, rate > 0 ? 1000 / rate : gap);
  sp.total++;
  if (!S.spectrumChosen) S.spectrumRx = preferredReceiver() ?? S.spectrumRx ?? f.rx;
  if (S.pendingCentre !== null && f.rx === S.spectrumRx) {
    centreOn(f, S.pendingCentre);
    S.pendingCentre = null;
  }
  markDirty("spectrum");
}

/** Until the user picks one: the first receiver (in the server's order) that sends frames. */
function preferredReceiver() {
  const listed = (S.websdrs || []).find((w) => S.spectra.has(w.id));
  return listed ? listed.id : null;
}

/** Signals inside the shown span, by frequency. */
function signalsIn(span) {
  if (!S.signals) return [];
  return [...S.signals.values()]
    .filter((s) => s.frequency_hz !== null && s.frequency_hz >= span.lo && s.frequency_hz <= span.hi && shownSignal(s))
    .sort((a, b) => a.frequency_hz - b.frequency_hz);
}

function spectrumOptions() {
  const sel = $("spectrum-rx");
  const ids = (S.websdrs || []).map((w) => w.id);
  for (const id of S.spectra.keys()) if (!ids.includes(id)) ids.push(id);
  const want = ids.map((id) => `${id}\u0000${receiverName(id)}`).join("\u0001");
  if (sel.dataset.opts !== want) {
    sel.replaceChildren(...ids.map((id) => {
      const o = el("option", null, receiverName(id) === id ? id : `${receiverName(id)} (${id})`);
      o.value = id;
      return o;
    }));
    sel.dataset.opts = want;
  }
  if (S.spectrumRx !== null && sel.value !== S.spectrumRx) sel.value = S.spectrumRx;
  sel.disabled = ids.length === 0;
}

/** The median of `a[i0..i1]`. */
function median(a, i0, i1) {
  const s = Array.from(a.subarray(i0, i1 + 1)).sort((x, y) => x - y);
  return s.length ? s[s.length >> 1] : 0;
}

/** A duration for the time axis: "45 s", "2 min", "1.5 min". */
const fmtAgo = (ms) => (ms < 90e3 ? `${Math.round(ms / 1000)} s` : `${+(ms / 60e3).toFixed(1)} min`);

export function renderSpectrum() {
  spectrumOptions();
  const status = $("spectrum-status");
  const plots = $("spectrum-plots");
  const rx = S.spectrumRx;
  const sp = rx === null ? null : S.spectra.get(rx);
  const f = sp ? sp.last : null;
  if (rx !== null && !S.waterfallHistory.has(rx)) loadHistory(rx, newSpectrum);
  let msg = "";
  if (S.spectrumForbidden) msg = "Your access token does not include spectrum frames (spectrum:frame).";
  else if (S.dashConfig && S.dashConfig.frames && !S.dashConfig.frames.enabled) msg = "Spectrum frames are off on this server ([spectrum_frames] in its configuration).";
  else if (!f) msg = S.connection === "connected" ? `Waiting for spectrum frames${rx ? ` from ${receiverName(rx)}` : ""}…` : "The live spectrum needs the WebSocket connection.";
  else if (S.connection !== "connected") msg = `Live spectrum paused (${BADGE_TEXT[S.connection] || S.connection}); showing the last frames.`;
  setText(status, msg);
  setAttr(status, "hidden", msg ? null : "");
  status.className = f ? "spectrum-note" : "empty";
  setAttr(plots, "hidden", f ? null : "");
  if (!f) {
    plotHits = [];
    drawn = null;
    return;
  }
  const c = cssColors();
  const span = shownSpan(f);
  const full = fullSpan(f);
  const width = span.hi - span.lo;
  const sigs = signalsIn(span);
  const { live, peak } = traces(sp);
  // The bins in view (one beyond each edge, so the trace reaches the plot's edges).
  const i0 = Math.max(0, Math.floor((span.lo - f.start) / f.binHz) - 1);
  const i1 = Math.min(f.bins - 1, Math.ceil((span.hi - f.start) / f.binHz));
  let strongest = -Infinity;
  for (let i = i0; i <= i1; i++) strongest = Math.max(strongest, live[i], peak ? peak[i] : -Infinity);
  const levels = levelAxis(median(live, i0, i1), strongest, Date.now());
  /** Each signal's band on the plot (at least 3 px wide), in CSS px. */
  const bandsOf = (x) =>
    sigs.map((s) => {
      const half = Math.max((s.bandwidth_hz || 0) / 2, 0);
      let x0 = x(s.frequency_hz - half), x1 = x(s.frequency_hz + half);
      if (x1 - x0 < 3) [x0, x1] = [x(s.frequency_hz) - 1.5, x(s.frequency_hz) + 1.5];
      return { id: s.signal_id, name: s.known ? s.known.name : null, x0, x1, xc: x(s.frequency_hz) };
    });

  // -- spectrum
  const sc = $("spectrum");
  const { ctx, w, h } = fitCanvas(sc);
  const top = PLOT.labelRows; // room for two rows of signal labels
  const pw = w - PLOT.padL - PLOT.padR, ph = h - top - PLOT.padB;
  const x = (hz) => PLOT.padL + ((hz - span.lo) / width) * pw;
  const ydb = (db) => top + (1 - (Math.min(levels.hi, Math.max(levels.lo, db)) - levels.lo) / (levels.hi - levels.lo)) * ph;
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, w, h);
  ctx.font = c.font;
  ctx.lineWidth = 1;
  // dB grid
  const dbStep = niceStep((levels.hi - levels.lo) / 4);
  ctx.strokeStyle = c.grid;
  ctx.fillStyle = c.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.beginPath();
  for (let db = Math.ceil(levels.lo / dbStep) * dbStep; db <= levels.hi; db += dbStep) {
    const y = Math.round(ydb(db)) + 0.5;
    ctx.moveTo(PLOT.padL, y);
    ctx.lineTo(w - PLOT.padR, y);
    ctx.fillText(`${Math.round(db)}`, PLOT.padL - 6, y);
  }
  // frequency grid
  const fStep = niceStep(width / Math.max(2, Math.floor(pw / 110)));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let hz = Math.ceil(span.lo / fStep) * fStep; hz <= span.hi; hz += fStep) {
    const xx = Math.round(x(hz)) + 0.5;
    ctx.moveTo(xx, top);
    ctx.lineTo(xx, h - PLOT.padB);
    ctx.fillText(fmtMHz(hz, fStep), xx, h - PLOT.padB + 5);
  }
  ctx.stroke();
  ctx.save();
  ctx.translate(12, top + ph / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText("dBFS", 0, 0);
  ctx.restore();
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  ctx.fillText("MHz", 4, h - PLOT.padB + 5);
  // signal bands under the trace
  const hits = bandsOf(x);
  for (const hit of hits) {
    const isSel = hit.id === S.selected;
    ctx.fillStyle = isSel ? "rgba(255,210,74,.28)" : "rgba(182,156,255,.18)";
    ctx.fillRect(hit.x0, top, hit.x1 - hit.x0, ph);
  }
  const band = listenBand();
  const heard = band && band.rx === rx ? band : null;
  if (heard) drawPassband(ctx, heard, x, { x: PLOT.padL, y: top, w: pw, h: ph });
  // traces: peak hold under the live (or averaged) one
  ctx.save();
  ctx.beginPath();
  ctx.rect(PLOT.padL, top, pw, ph);
  ctx.clip();
  const path = (levelsOf) => {
    ctx.beginPath();
    for (let i = i0; i <= i1; i++) {
      const xx = x(f.start + (i + 0.5) * f.binHz);
      const yy = ydb(levelsOf[i]);
      if (i === i0) ctx.moveTo(xx, yy);
      else ctx.lineTo(xx, yy);
    }
  };
  if (peak) {
    path(peak);
    ctx.strokeStyle = "rgba(255,150,80,.9)";
    ctx.lineWidth = 1;
    ctx.stroke();
  }
  path(live);
  ctx.strokeStyle = c.trace;
  ctx.lineWidth = 1.25;
  ctx.stroke();
  ctx.lineTo(x(f.start + (i1 + 0.5) * f.binHz), h - PLOT.padB);
  ctx.lineTo(x(f.start + (i0 + 0.5) * f.binHz), h - PLOT.padB);
  ctx.closePath();
  ctx.fillStyle = "rgba(92,179,255,.12)";
  ctx.fill();
  ctx.restore();
  // signal labels (a known signal's name, else its id), left to right on two rows; one that
  // fits on neither is left out (the selected one never is)
  ctx.font = c.font;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const rowEnd = [-Infinity, -Infinity];
  for (const hit of hits) {
    const label = hit.name ? (hit.name.length > 24 ? `${hit.name.slice(0, 23)}…` : hit.name) : hit.id;
    const tw = ctx.measureText(label).width;
    const row = hit.xc - tw / 2 > rowEnd[0] + 4 ? 0 : hit.xc - tw / 2 > rowEnd[1] + 4 ? 1 : hit.id === S.selected ? 0 : -1;
    if (row < 0) continue;
    rowEnd[row] = hit.xc + tw / 2;
    ctx.fillStyle = hit.id === S.selected ? c.sel : c.sig;
    ctx.fillText(label, Math.min(w - tw / 2 - 2, Math.max(tw / 2 + 2, hit.xc)), 3 + row * 13);
  }
  const opts = [V.avgN > 1 ? `average of ${V.avgN}` : "", peak ? "peak hold" : "", V.lo !== null ? `zoom ×${(full.hi - full.lo) / width < 10 ? ((full.hi - full.lo) / width).toFixed(1) : Math.round((full.hi - full.lo) / width)}` : ""].filter(Boolean);
  if (opts.length) {
    ctx.textAlign = "right";
    ctx.fillStyle = c.text;
    ctx.fillText(opts.join(" · "), w - PLOT.padR, top + 3);
  }

  // -- waterfall
  const wc = $("waterfall");
  const W2 = fitCanvas(wc);
  const g = W2.ctx;
  const ph2 = W2.h - PLOT.padT - 6;
  g.fillStyle = c.bg;
  g.fillRect(0, 0, W2.w, W2.h);
  const spanMs = V.spanS * 1000;
  const wf = drawWaterfall(g, sp, { x: PLOT.padL, y: PLOT.padT, w: pw, h: ph2 }, span, levels, spanMs, c.bg);
  g.font = c.font;
  g.fillStyle = c.text;
  g.textAlign = "right";
  g.textBaseline = "top";
  g.fillText("now", PLOT.padL - 6, PLOT.padT);
  g.textBaseline = "middle";
  g.fillText(`−${fmtAgo(spanMs / 2)}`, PLOT.padL - 6, PLOT.padT + ph2 / 2);
  g.textBaseline = "bottom";
  g.fillText(`−${fmtAgo(spanMs)}`, PLOT.padL - 6, PLOT.padT + ph2);
  g.textAlign = "left";
  g.fillText(`${sp.rows.length} rows${sp.historyRows ? ` (${sp.historyRows} from before this page)` : ""} · ${receiverName(rx)}`, PLOT.padL, PLOT.padT - 4);
  for (const hit of hits) {
    const isSel = hit.id === S.selected;
    g.strokeStyle = isSel ? c.sel : "rgba(230,237,243,.55)";
    g.lineWidth = isSel ? 2 : 1;
    g.setLineDash(isSel ? [] : [3, 4]);
    g.beginPath();
    g.moveTo(Math.round(hit.xc) + 0.5, PLOT.padT);
    g.lineTo(Math.round(hit.xc) + 0.5, PLOT.padT + ph2);
    g.stroke();
    // a tick above the waterfall, clickable like the band
    g.setLineDash([]);
    g.fillStyle = isSel ? c.sel : c.sig;
    g.beginPath();
    g.moveTo(hit.xc - 5, PLOT.padT - 8);
    g.lineTo(hit.xc + 5, PLOT.padT - 8);
    g.lineTo(hit.xc, PLOT.padT - 1);
    g.closePath();
    g.fill();
  }
  g.setLineDash([]);
  if (heard) {
    // Above the waterfall, the passband as a bar (what is heard of each row under it).
    const x0 = Math.max(PLOT.padL, x(heard.lo)), x1 = Math.min(PLOT.padL + pw, x(heard.hi));
    g.fillStyle = LISTEN_LINE;
    if (x1 >= x0) g.fillRect(x0, PLOT.padT - 4, Math.max(2, x1 - x0), 3);
  }
  plotHits = hits;
  drawn = { rx, span, full, levels: { ...levels }, i0, i1, live, peak, f, pw, heard, waterfall: { ...wf, y: PLOT.padT, h: ph2 } };

  const range = `${fmtMHz(span.lo, fStep)} to ${fmtMHz(span.hi, fStep)} MHz`;
  const selTxt = S.selected && hits.some((x2) => x2.id === S.selected) ? `, ${S.selected} selected` : "";
  const names = sigs.map((s) => `${s.signal_id}${s.known ? ` (${s.known.name})` : ""} at ${(s.frequency_hz / 1e6).toFixed(4)} MHz`).join(", ");
  setAttr(sc, "aria-label", `Spectrum of ${receiverName(rx)}, ${range}, levels ${Math.round(levels.lo)} to ${Math.round(levels.hi)} dBFS; ${sigs.length} signal${sigs.length === 1 ? "" : "s"} marked${names ? `: ${names}` : ""}${selTxt}.`);
  setAttr(wc, "aria-label", `Waterfall of ${receiverName(rx)}, ${range}, the last ${fmtAgo(spanMs)} (${wf.rows} rows), newest at the top${selTxt}.`);
  setAttr(sc, "data-span-hz", `${Math.round(span.lo)},${Math.round(span.hi)}`);
}

/** The listened passband on the spectrum: shaded, its edges with handles, the frequency dashed. */
function drawPassband(ctx, band, x, area) {
  const x0 = x(band.lo), x1 = x(band.hi), xc = x(band.hz);
  ctx.save();
  ctx.beginPath();
  ctx.rect(area.x, area.y - 6, area.w, area.h + 6);
  ctx.clip();
  ctx.fillStyle = LISTEN_FILL;
  ctx.fillRect(x0, area.y, x1 - x0, area.h);
  ctx.strokeStyle = LISTEN_LINE;
  ctx.fillStyle = LISTEN_LINE;
  ctx.lineWidth = band.dragging ? 2 : 1.5;
  ctx.beginPath();
  for (const e of [x0, x1]) {
    ctx.moveTo(Math.round(e) + 0.5, area.y);
    ctx.lineTo(Math.round(e) + 0.5, area.y + area.h);
  }
  ctx.stroke();
  if (x1 - x0 >= MIN_BAND_PX) for (const e of [x0, x1]) ctx.fillRect(e - 3, area.y - 6, 6, 10); // the handles
  ctx.setLineDash([4, 3]);
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(Math.round(xc) + 0.5, area.y);
  ctx.lineTo(Math.round(xc) + 0.5, area.y + area.h);
  ctx.stroke();
  ctx.restore();
}

/** The frequency under a pointer x (CSS px) on the plots as last drawn; null outside the plot. */
function hzAt(px) {
  if (!drawn || px < PLOT.padL || px > PLOT.padL + drawn.pw) return null;
  return drawn.span.lo + ((px - PLOT.padL) / drawn.pw) * (drawn.span.hi - drawn.span.lo);
}

/** The passband edge ("lo" or "hi") under a pointer x on the spectrum, or null. */
function edgeAt(px) {
  const band = listenBand();
  if (!drawn || !band || band.rx !== drawn.rx) return null;
  const xOf = (hz) => PLOT.padL + ((hz - drawn.span.lo) / (drawn.span.hi - drawn.span.lo)) * drawn.pw;
  const x0 = xOf(band.lo), x1 = xOf(band.hi);
  if (x1 - x0 < MIN_BAND_PX) return null;
  const d0 = Math.abs(px - x0), d1 = Math.abs(px - x1);
  if (Math.min(d0, d1) > EDGE_PX) return null;
  return d0 <= d1 ? "lo" : "hi";
}

/** Dragging a passband edge on the spectrum: the band follows, the new one is asked for on
 * release. Wired before the pan, which a press on an edge does not start. */
function wirePassband(canvas) {
  let edge = null;
  const px = (ev) => ev.clientX - canvas.getBoundingClientRect().left;
  canvas.addEventListener("pointerdown", (ev) => {
    const which = ev.button === 0 ? edgeAt(px(ev)) : null;
    if (which === null) return;
    ev.stopImmediatePropagation();
    edge = { which, id: ev.pointerId };
    canvas.setPointerCapture(ev.pointerId);
  });
  canvas.addEventListener("pointermove", (ev) => {
    if (!edge || ev.pointerId !== edge.id) return;
    ev.stopImmediatePropagation();
    const band = listenBand();
    const hz = drawn ? drawn.span.lo + ((px(ev) - PLOT.padL) / drawn.pw) * (drawn.span.hi - drawn.span.lo) : null;
    if (band && hz !== null) dragEdge(edge.which, hz - band.hz);
  });
  const end = (ev) => {
    if (!edge || ev.pointerId !== edge.id) return;
    ev.stopImmediatePropagation();
    edge = null;
    canvas.dataset.dragged = "1"; // the click that follows does not tune
    commitPassband();
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
}

/** Listens at a pointer x on the shown receiver: to the signal `id` under it, else to that
 * frequency. False when x is off the plot. */
function tuneAt(px, id) {
  const hz = hzAt(px);
  if (hz === null) return false;
  const s = id !== null && S.signals ? S.signals.get(id) : null;
  if (s) listenToSignal(s, drawn.rx);
  else listenAt(drawn.rx, hz);
  return true;
}

/** The signal under a pointer x on a plot: the band containing it, else the nearest marker within 8 px. */
function signalAt(px) {
  let best = null;
  let bestD = Infinity;
  for (const h of plotHits) {
    const inside = px >= h.x0 - 2 && px <= h.x1 + 2;
    const d = Math.abs(px - h.xc);
    if ((inside || d <= 8) && d < bestD) {
      best = h.id;
      bestD = d;
    }
  }
  return best;
}

/** The frame shown and where its plot area is (CSS px), for the pointer handlers. */
function geometryOf(canvas) {
  const sp = S.spectrumRx === null ? null : S.spectra.get(S.spectrumRx);
  if (!sp || !sp.last) return null;
  return { f: sp.last, x0: PLOT.padL, w: canvas.getBoundingClientRect().width - PLOT.padL - PLOT.padR };
}

/** Pointer and keyboard on a plot: click selects, hover reads out, wheel and drag zoom and
 * pan, double-click shows the full span; ← → step, Esc clears, + − 0 and Shift+← → zoom and pan. */
export function wirePlot(canvas) {
  if (canvas.id === "spectrum") wirePassband(canvas);
  wireZoomPan(canvas, () => geometryOf(canvas));
  canvas.addEventListener("click", (ev) => {
    // The second click of a double-click (the full span) does not undo the first's selection.
    if (dragged(canvas) || ev.detail > 1) return;
    const r = canvas.getBoundingClientRect();
    const id = signalAt(ev.clientX - r.left);
    // Shift+click listens; while listening, any click tunes.
    const tuned = (ev.shiftKey || isActive()) && tuneAt(ev.clientX - r.left, id);
    if (id !== null) selectSignal(id, { fromSpectrum: true, keep: tuned });
  });
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = ev.clientX - r.left;
    const pw = r.width - PLOT.padL - PLOT.padR;
    const ro = $("spectrum-readout");
    if (!drawn || drawn.rx !== S.spectrumRx || px < PLOT.padL || px > PLOT.padL + pw) {
      setText(ro, "");
      canvas.style.cursor = "";
      return;
    }
    const f = drawn.f;
    const hz = drawn.span.lo + ((px - PLOT.padL) / pw) * (drawn.span.hi - drawn.span.lo);
    const i = Math.min(f.bins - 1, Math.max(0, Math.floor((hz - f.start) / f.binHz)));
    const id = signalAt(px);
    canvas.style.cursor = canvas.id === "spectrum" && edgeAt(px) ? "ew-resize" : id === null ? "crosshair" : "pointer";
    const known = id === null ? null : plotHits.find((h) => h.id === id).name;
    const peakTxt = drawn.peak ? ` (peak ${drawn.peak[i].toFixed(1)})` : "";
    // On the waterfall, also when the row under the pointer was received.
    const wf = drawn.waterfall;
    const py = ev.clientY - r.top;
    const ago = canvas.id === "waterfall" && py >= wf.y && py <= wf.y + wf.h ? ((py - wf.y) / wf.h) * (wf.top - wf.bottom) : null;
    const timeTxt = ago === null ? "" : ` · ${new Date(wf.top - ago).toLocaleTimeString([], { hour12: false })} (−${Math.round(ago / 1000)} s)`;
    setText(ro, `${(hz / 1e6).toFixed(6)} MHz · ${drawn.live[i].toFixed(1)} dBFS${peakTxt}${id === null ? "" : ` · ${id}`}${known ? ` (${known})` : ""}${timeTxt}`);
  });
  canvas.addEventListener("mouseleave", () => setText($("spectrum-readout"), ""));
  canvas.addEventListener("keydown", (ev) => {
    const g = geometryOf(canvas);
    if (g && zoomKey(ev, g.f)) return;
    const ids = plotHits.map((h) => h.id);
    if (ev.key === "Escape") {
      if (S.selected !== null) selectSignal(S.selected);
      ev.preventDefault();
      return;
    }
    if ((ev.key === "l" || ev.key === "L") && !ev.ctrlKey && !ev.metaKey && !ev.altKey) {
      // Listen: to the selected signal, else to the middle of the view.
      const s = S.selected !== null && S.signals ? S.signals.get(S.selected) : null;
      if (s) listenToSignal(s);
      else if (drawn) listenAt(drawn.rx, (drawn.span.lo + drawn.span.hi) / 2);
      ev.preventDefault();
      return;
    }
    if ((ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") || ids.length === 0) return;
    ev.preventDefault();
    const at = ids.indexOf(S.selected);
    const next = ev.key === "ArrowRight" ? (at < 0 ? 0 : Math.min(ids.length - 1, at + 1)) : at < 0 ? ids.length - 1 : Math.max(0, at - 1);
    selectSignal(ids[next], { keep: true, fromSpectrum: true });
  });
}

/** The signals marked on the plots (for the test hook): id and x in CSS px from the left edge. */
export function plotSignals() {
  return plotHits.map((h) => ({ id: h.id, x: h.xc, name: h.name }));
}

/** What the spectrum panel shows (for the test hook): receiver, frequencies (shown and full),
 * level axis, options, the traces in view (dB per bin), the listened passband and the
 * waterfall's rows. */
export function spectrumView() {
  const sp = S.spectrumRx === null ? null : S.spectra.get(S.spectrumRx);
  const d = drawn;
  return {
    receiver: S.spectrumRx,
    // The view as it is now (the next render draws it); the rest as last drawn.
    span: sp && sp.last ? shownSpan(sp.last) : null,
    full: sp && sp.last ? fullSpan(sp.last) : null,
    levels: d ? { ...d.levels } : null,
    levelMode: V.yMode,
    averaging: V.avgN,
    peakHold: V.peakHold,
    live: d ? Array.from(d.live.subarray(d.i0, d.i1 + 1)) : [],
    peak: d && d.peak ? Array.from(d.peak.subarray(d.i0, d.i1 + 1)) : null,
    // The listened passband as drawn (Hz): frequency, edges.
    passband: d && d.heard ? { hz: d.heard.hz, lo: d.heard.lo, hi: d.heard.hi } : null,
    waterfall: {
      spanS: V.spanS,
      rows: sp ? sp.rows.length : 0,
      historyRows: sp ? sp.historyRows : 0,
      coveredS: coveredS(sp),
      maxGapS: sp ? sp.rows.reduce((g, r, i, a) => (i ? Math.max(g, (r.t - a[i - 1].t - a[i - 1].dur) / 1000) : 0), 0) : 0,
      drawnRows: d ? d.waterfall.rows : 0,
      history: S.spectrumRx === null ? null : S.waterfallHistory.get(S.spectrumRx) ?? null,
    },
  };
}
