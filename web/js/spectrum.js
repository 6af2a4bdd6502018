// The live spectrum and waterfall of one receiver at a time, from the opt-in `spectrum:frame`
// stream (connection.js subscribes to it after every connect), with the active signals marked
// on both plots; clicking a mark or stepping with the arrow keys selects the signal.
//
// Frames: `bins` bytes, byte b = level db_min + b / 255 * (db_max - db_min), bin i covering
// [start_hz + i * bin_hz, start_hz + (i + 1) * bin_hz). Each receiver keeps a ring of rows in
// an off-screen canvas one pixel per bin and per frame; the visible canvases are redrawn from
// it at most once per render frame.

import { CFG } from "./config.js";
import { selectSignal } from "./details.js";
import { $, el, setAttr, setText } from "./dom.js";
import { num, parseTime } from "./format.js";
import { cssColors, fitCanvas, fmtMHz, LUT, niceStep } from "./plot.js";
import { shownSignal } from "./data.js";
import { BADGE_TEXT, markDirty, receiverName, S } from "./state.js";

const PLOT = { padL: 52, padR: 12, padT: 18, padB: 22, labelRows: 30 };
let plotHits = []; // signal bands on the visible plots: {id, x0, x1, xc}

function decodeFrame(d) {
  const bins = num(d.bins);
  if (d.encoding !== "u8-base64" || typeof d.data !== "string" || typeof d.receiver_id !== "string") return null;
  if (bins === null || !Number.isInteger(bins) || bins < 1 || bins > 65536) return null;
  const start = num(d.start_hz), binHz = num(d.bin_hz), dbMin = num(d.db_min), dbMax = num(d.db_max);
  if (start === null || binHz === null || binHz <= 0 || dbMin === null || dbMax === null || !(dbMax > dbMin)) return null;
  let raw;
  try {
    raw = atob(d.data);
  } catch (_) {
    return null;
  }
  if (raw.length !== bins) return null;
  const levels = new Uint8Array(bins);
  for (let i = 0; i < bins; i++) levels[i] = raw.charCodeAt(i);
  return { rx: d.receiver_id, t: parseTime(d.timestamp), center: num(d.center_frequency_hz), start, binHz, bins, dbMin, dbMax, levels };
}

function newSpectrum(f) {
  const canvas = document.createElement("canvas");
  canvas.width = f.bins;
  canvas.height = CFG.waterfallRows;
  const ctx = canvas.getContext("2d");
  return { bins: f.bins, start: f.start, binHz: f.binHz, canvas, ctx, row: ctx.createImageData(f.bins, 1), head: 0, rows: 0, total: 0, times: new Array(CFG.waterfallRows).fill(null), last: null };
}

/** Adds one frame (as sent) to its receiver's waterfall; a malformed one counts as a bad message. */
export function onFrame(d) {
  const f = decodeFrame(d);
  if (!f) {
    S.badMessages++;
    return;
  }
  S.frames++;
  let sp = S.spectra.get(f.rx);
  // A retuned receiver (or a new rate or bin count) starts a new waterfall.
  if (!sp || sp.bins !== f.bins || Math.abs(sp.start - f.start) > f.binHz / 2 || Math.abs(sp.binHz - f.binHz) > 1e-6 * f.binHz) {
    sp = newSpectrum(f);
    S.spectra.set(f.rx, sp);
  }
  sp.last = f;
  const H = CFG.waterfallRows;
  sp.head = (sp.head + H - 1) % H; // newest row on top
  const px = sp.row.data;
  for (let i = 0; i < f.bins; i++) px.set(LUT.subarray(f.levels[i] * 4, f.levels[i] * 4 + 4), i * 4);
  sp.ctx.putImageData(sp.row, 0, sp.head);
  sp.times[sp.head] = f.t;
  sp.rows = Math.min(H, sp.rows + 1);
  sp.total++;
  if (!S.spectrumChosen) S.spectrumRx = preferredReceiver() ?? S.spectrumRx ?? f.rx;
  markDirty("spectrum");
}

/** Until the user picks one: the first receiver (in the server's order) that sends frames. */
function preferredReceiver() {
  const listed = (S.websdrs || []).find((w) => S.spectra.has(w.id));
  return listed ? listed.id : null;
}

/** Signals inside the frame's span, by frequency. */
function signalsIn(f) {
  if (!S.signals || !f) return [];
  const end = f.start + f.bins * f.binHz;
  return [...S.signals.values()]
    .filter((s) => s.frequency_hz !== null && s.frequency_hz >= f.start && s.frequency_hz <= end && shownSignal(s))
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

export function renderSpectrum() {
  spectrumOptions();
  const status = $("spectrum-status");
  const plots = $("spectrum-plots");
  const rx = S.spectrumRx;
  const sp = rx === null ? null : S.spectra.get(rx);
  const f = sp ? sp.last : null;
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
    return;
  }
  const c = cssColors();
  const sigs = signalsIn(f);
  const span = f.bins * f.binHz;
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
  const x = (hz) => PLOT.padL + ((hz - f.start) / span) * pw;
  const yb = (b) => top + (1 - b / 255) * ph;
  const ydb = (db) => yb(((db - f.dbMin) / (f.dbMax - f.dbMin)) * 255);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, w, h);
  ctx.font = c.font;
  ctx.lineWidth = 1;
  // dB grid
  const dbStep = niceStep((f.dbMax - f.dbMin) / 4);
  ctx.strokeStyle = c.grid;
  ctx.fillStyle = c.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  ctx.beginPath();
  for (let db = Math.ceil(f.dbMin / dbStep) * dbStep; db <= f.dbMax; db += dbStep) {
    const y = Math.round(ydb(db)) + 0.5;
    ctx.moveTo(PLOT.padL, y);
    ctx.lineTo(w - PLOT.padR, y);
    ctx.fillText(`${Math.round(db)}`, PLOT.padL - 6, y);
  }
  // frequency grid
  const fStep = niceStep(span / Math.max(2, Math.floor(pw / 110)));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let hz = Math.ceil(f.start / fStep) * fStep; hz <= f.start + span; hz += fStep) {
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
  // trace
  ctx.save();
  ctx.beginPath();
  ctx.rect(PLOT.padL, top, pw, ph);
  ctx.clip();
  ctx.beginPath();
  for (let i = 0; i < f.bins; i++) {
    const xx = x(f.start + (i + 0.5) * f.binHz);
    const yy = yb(f.levels[i]);
    if (i === 0) ctx.moveTo(xx, yy);
    else ctx.lineTo(xx, yy);
  }
  ctx.strokeStyle = c.trace;
  ctx.lineWidth = 1.25;
  ctx.stroke();
  ctx.lineTo(x(f.start + span), h - PLOT.padB);
  ctx.lineTo(PLOT.padL, h - PLOT.padB);
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

  // -- waterfall
  const wc = $("waterfall");
  const W2 = fitCanvas(wc);
  const g = W2.ctx;
  const ph2 = W2.h - PLOT.padT - 6;
  g.fillStyle = c.bg;
  g.fillRect(0, 0, W2.w, W2.h);
  const H = CFG.waterfallRows;
  const rowPx = ph2 / H;
  g.imageSmoothingEnabled = true;
  // Ring rows from the head (newest) to the end, then from 0 to the head.
  const first = H - sp.head;
  g.drawImage(sp.canvas, 0, sp.head, sp.bins, first, PLOT.padL, PLOT.padT, pw, first * rowPx);
  if (sp.head > 0) g.drawImage(sp.canvas, 0, 0, sp.bins, sp.head, PLOT.padL, PLOT.padT + first * rowPx, pw, sp.head * rowPx);
  g.font = c.font;
  g.fillStyle = c.text;
  g.textAlign = "right";
  g.textBaseline = "top";
  g.fillText("now", PLOT.padL - 6, PLOT.padT);
  const newest = sp.times[sp.head];
  const oldestIdx = (sp.head + sp.rows - 1) % H;
  const oldest = sp.times[oldestIdx];
  if (newest !== null && oldest !== null && sp.rows * rowPx > 26) {
    const yOld = PLOT.padT + sp.rows * rowPx;
    g.textBaseline = "bottom";
    g.fillText(`−${Math.round((newest - oldest) / 1000)} s`, PLOT.padL - 6, Math.min(W2.h - 2, yOld));
  }
  g.textAlign = "left";
  g.textBaseline = "bottom";
  g.fillText(`${sp.rows} rows · ${receiverName(rx)}`, PLOT.padL, PLOT.padT - 4);
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
  plotHits = hits;

  const range = `${fmtMHz(f.start, fStep)} to ${fmtMHz(f.start + span, fStep)} MHz`;
  const selTxt = S.selected && hits.some((x2) => x2.id === S.selected) ? `, ${S.selected} selected` : "";
  const names = sigs.map((s) => `${s.signal_id}${s.known ? ` (${s.known.name})` : ""} at ${(s.frequency_hz / 1e6).toFixed(4)} MHz`).join(", ");
  setAttr(sc, "aria-label", `Spectrum of ${receiverName(rx)}, ${range}, levels ${Math.round(f.dbMin)} to ${Math.round(f.dbMax)} dBFS; ${sigs.length} signal${sigs.length === 1 ? "" : "s"} marked${names ? `: ${names}` : ""}${selTxt}.`);
  setAttr(wc, "aria-label", `Waterfall of ${receiverName(rx)}, ${range}, the last ${sp.rows} frames, newest at the top${selTxt}.`);
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

/** Pointer and keyboard on a plot: click selects, hover reads out, ← → step, Esc clears. */
export function wirePlot(canvas) {
  canvas.addEventListener("click", (ev) => {
    const r = canvas.getBoundingClientRect();
    const id = signalAt(ev.clientX - r.left);
    if (id !== null) selectSignal(id, { fromSpectrum: true });
  });
  canvas.addEventListener("mousemove", (ev) => {
    const r = canvas.getBoundingClientRect();
    const px = ev.clientX - r.left;
    const sp = S.spectrumRx === null ? null : S.spectra.get(S.spectrumRx);
    const f = sp && sp.last;
    const pw = r.width - PLOT.padL - PLOT.padR;
    const ro = $("spectrum-readout");
    if (!f || px < PLOT.padL || px > PLOT.padL + pw) {
      setText(ro, "");
      canvas.style.cursor = "";
      return;
    }
    const i = Math.min(f.bins - 1, Math.max(0, Math.floor(((px - PLOT.padL) / pw) * f.bins)));
    const hz = f.start + (i + 0.5) * f.binHz;
    const db = f.dbMin + (f.levels[i] / 255) * (f.dbMax - f.dbMin);
    const id = signalAt(px);
    canvas.style.cursor = id === null ? "crosshair" : "pointer";
    const known = id === null ? null : plotHits.find((h) => h.id === id).name;
    setText(ro, `${(hz / 1e6).toFixed(4)} MHz · ${db.toFixed(1)} dBFS${id === null ? "" : ` · ${id}`}${known ? ` (${known})` : ""}`);
  });
  canvas.addEventListener("mouseleave", () => setText($("spectrum-readout"), ""));
  canvas.addEventListener("keydown", (ev) => {
    const ids = plotHits.map((h) => h.id);
    if (ev.key === "Escape") {
      if (S.selected !== null) selectSignal(S.selected);
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
