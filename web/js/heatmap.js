// The occupancy heatmap of the History view: one receiver, the last hour, 24 hours or 7 days,
// from `GET /api/v1/history/occupancy` (a matrix of minutes x frequency cells: the share of
// the minute's spectra in which the cell was over the CFAR threshold, and its highest power).
//
// x is frequency, y is time (newest at the top, like the waterfall), colour the share on a
// square-root viridis scale (so a channel busy 1 % of the time still shows). The matrix has
// more cells than the canvas has pixels: each pixel shows the busiest cell under it
// (a 1 kHz carrier stays a line at any width), averaged over the minutes under it. Minutes
// without data stay the plot's background, so "nothing recorded" never reads as "quiet".
//
// Ranges longer than a day are fetched a day per request, newest first, and folded in as they
// arrive: a day of a 1 024-cell receiver is 1.5 M cells, a quarter of what the server answers
// at most (history::occupancy::MATRIX_CELLS_MAX), and one day's JSON is parsed at a time.

import { getJson } from "./api.js";
import { $, setAttr, setText } from "./dom.js";
import { num, parseTime } from "./format.js";
import { cssColors, fitCanvas, fmtLocal, fmtTick, freqAxis, LUT, niceStep, niceTimeStep, timeTicks } from "./plot.js";
import { receiverName, serverNow } from "./state.js";

/** The ranges offered, ms. */
export const RANGES = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
const RANGE_TEXT = { "1h": "last hour", "24h": "last 24 h", "7d": "last 7 days" };
/** One request covers at most a day (see the module header). */
const CHUNK_MS = 86400e3;
/** History answers can be large (a day of occupancy is megabytes of JSON): allow time. */
const OCCUPANCY_TIMEOUT_MS = 60000;
const MINUTE_MS = 60e3;
/**
 * A frequency whose pixel column is over the threshold this share of the time, on average
 * over the minutes with data, is listed as a line (`data-lines-mhz`, the hook, the label).
 */
export const LINE_SHARE = 0.05;
const PLOT = { padL: 78, padR: 14, padT: 10, padB: 26 };

const O = {
  receiver: null,
  range: "24h",
  from: 0,
  to: 0,
  gen: 0, // bumped by every load; an answer of an older load is dropped
  chunks: [], // packed matrices, newest first
  loading: false,
  done: false,
  error: null,
  lines: [],
  version: 0, // bumped when chunks change, so the raster is recomputed
  raster: null, // {key, mean (Float32Array share 0..255 or -1), pwD, phD}
  view: null, // the last drawn geometry, for the pointer
};

/** A matrix from the server, checked and packed: shares 0..255 (-1: not covered), max power in 0.01 dB. */
function pack(m) {
  const bad = (why) => new Error(`the occupancy answer is malformed: ${why}`);
  if (!m || typeof m !== "object") throw bad("not an object");
  const freqs = m.frequencies_hz, minutes = m.minutes, occ = m.occupancy, pow = m.max_power_dbfs;
  if (!Array.isArray(freqs) || !freqs.every((f) => num(f) !== null)) throw bad("frequencies_hz");
  if (!Array.isArray(minutes) || !Array.isArray(occ) || occ.length !== minutes.length) throw bad("minutes and occupancy differ in length");
  const cols = freqs.length, rows = minutes.length;
  const cellHz = num(m.cell_hz);
  if (cols > 0 && !(cellHz > 0)) throw bad("cell_hz");
  const times = new Float64Array(rows);
  const share = new Int16Array(rows * cols);
  const power = new Int16Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const t = parseTime(minutes[r]);
    const row = occ[r];
    const prow = Array.isArray(pow) ? pow[r] : null;
    if (t === null || !Array.isArray(row) || row.length !== cols) throw bad(`row ${r}`);
    times[r] = t;
    for (let c = 0; c < cols; c++) {
      const v = row[c];
      share[r * cols + c] = v === null ? -1 : Math.max(0, Math.min(255, Math.round(v * 255)));
      const p = prow ? prow[c] : null;
      power[r * cols + c] = typeof p === "number" ? Math.max(-32767, Math.min(32767, Math.round(p * 100))) : -32768;
    }
  }
  return { cellHz, freqs: Float64Array.from(freqs), times, share, power, rows, cols };
}

/** Loads the current receiver and range (dropping what an earlier load is still fetching). */
export async function loadOccupancy(receiver, range) {
  if (receiver !== undefined) O.receiver = receiver;
  if (range !== undefined) O.range = range;
  const gen = ++O.gen;
  O.to = serverNow();
  O.from = O.to - RANGES[O.range];
  O.chunks = [];
  O.version++;
  O.error = null;
  O.done = false;
  O.loading = O.receiver !== null;
  renderStatus();
  drawHeatmap();
  if (O.receiver === null) return;
  const parts = Math.ceil((O.to - O.from) / CHUNK_MS);
  try {
    for (let i = 0, t1 = O.to; t1 > O.from; i++, t1 -= CHUNK_MS) {
      if (parts > 1) setStatus(`Loading day ${i + 1} of ${parts}…`);
      const t0 = Math.max(O.from, t1 - CHUNK_MS);
      const m = await getJson("/api/v1/history/occupancy", { receiver: O.receiver, from: new Date(t0).toISOString(), to: new Date(t1).toISOString() }, OCCUPANCY_TIMEOUT_MS);
      if (gen !== O.gen) return;
      const p = pack(m);
      if (p.rows > 0 && p.cols > 0) O.chunks.push(p);
      O.version++;
      drawHeatmap();
    }
  } catch (err) {
    if (gen !== O.gen) return;
    O.error = `Could not load the occupancy: ${err.message}`;
  }
  O.loading = false;
  O.done = O.error === null;
  renderStatus();
  drawHeatmap();
}

function setStatus(text, isError = false) {
  const p = $("occ-status");
  setText(p, text);
  p.classList.toggle("error", isError);
}

function renderStatus() {
  if (O.error) return setStatus(O.error, true);
  if (O.receiver === null) return setStatus("No receiver to show (the server has not listed any yet).");
  if (O.loading) return setStatus(`Loading the occupancy of ${receiverName(O.receiver)}…`);
  const minutes = O.chunks.reduce((n, c) => n + c.rows, 0);
  if (minutes === 0) {
    return setStatus(`No occupancy recorded for ${receiverName(O.receiver)} in the ${RANGE_TEXT[O.range]}. A minute is stored when it ends.`);
  }
  const c0 = O.chunks[0];
  const lines = O.lines.length ? ` Busy: ${O.lines.map((l) => (l.center_hz / 1e6).toFixed(4)).join(", ")} MHz.` : "";
  setStatus(`${receiverName(O.receiver)}, ${RANGE_TEXT[O.range]}: ${minutes} minute${minutes === 1 ? "" : "s"} with data, cells of ${(c0.cellHz / 1e3).toFixed(c0.cellHz < 1e3 ? 3 : 1)} kHz.${lines}`);
}

/** The frequency span of the loaded matrices (cell edges), or null. */
function span() {
  let lo = Infinity, hi = -Infinity;
  for (const c of O.chunks) {
    lo = Math.min(lo, c.freqs[0] - c.cellHz / 2);
    hi = Math.max(hi, c.freqs[c.cols - 1] + c.cellHz / 2);
  }
  return hi > lo ? { lo, hi } : null;
}

/** Per device pixel: the mean over its minutes of the busiest cell under it (0..255), -1 without data. */
function computeRaster(pwD, phD, f) {
  const key = `${pwD}x${phD}:${O.version}`;
  if (O.raster && O.raster.key === key) return O.raster;
  const n = pwD * phD;
  const sum = new Float32Array(n);
  const cnt = new Uint16Array(n);
  const rowMax = new Float32Array(pwD);
  const tSpan = O.to - O.from;
  const fSpan = f.hi - f.lo;
  for (const ch of O.chunks) {
    const xa = new Int32Array(ch.cols), xb = new Int32Array(ch.cols);
    for (let c = 0; c < ch.cols; c++) {
      const a = Math.floor(((ch.freqs[c] - ch.cellHz / 2 - f.lo) / fSpan) * pwD);
      const b = Math.ceil(((ch.freqs[c] + ch.cellHz / 2 - f.lo) / fSpan) * pwD) - 1;
      xa[c] = Math.max(0, Math.min(pwD - 1, a));
      xb[c] = Math.max(xa[c], Math.min(pwD - 1, b));
    }
    for (let r = 0; r < ch.rows; r++) {
      const t = ch.times[r];
      const yTop = ((O.to - (t + MINUTE_MS)) / tSpan) * phD;
      const yBot = ((O.to - t) / tSpan) * phD;
      if (yBot <= 0 || yTop >= phD) continue;
      const y0 = Math.max(0, Math.floor(yTop));
      const y1 = Math.min(phD - 1, Math.max(y0, Math.ceil(yBot) - 1));
      rowMax.fill(-1);
      const base = r * ch.cols;
      for (let c = 0; c < ch.cols; c++) {
        const v = ch.share[base + c];
        if (v < 0) continue;
        for (let x = xa[c]; x <= xb[c]; x++) if (v > rowMax[x]) rowMax[x] = v;
      }
      for (let y = y0; y <= y1; y++) {
        const o = y * pwD;
        for (let x = 0; x < pwD; x++) {
          if (rowMax[x] < 0) continue;
          sum[o + x] += rowMax[x];
          cnt[o + x]++;
        }
      }
    }
  }
  const mean = new Float32Array(n);
  for (let i = 0; i < n; i++) mean[i] = cnt[i] ? sum[i] / cnt[i] : -1;
  O.raster = { key, mean, pwD, phD };
  O.lines = findLines(O.raster, f);
  return O.raster;
}

/** Runs of pixel columns busy at least LINE_SHARE of the time (rows with data), as frequencies. */
function findLines(R, f) {
  const { mean, pwD, phD } = R;
  const col = new Float64Array(pwD);
  for (let x = 0; x < pwD; x++) {
    let s = 0, k = 0;
    for (let y = 0; y < phD; y++) {
      const v = mean[y * pwD + x];
      if (v >= 0) {
        s += v;
        k++;
      }
    }
    col[x] = k ? s / k / 255 : 0;
  }
  const hzOf = (x) => f.lo + ((x + 0.5) / pwD) * (f.hi - f.lo);
  const lines = [];
  for (let x = 0; x < pwD; x++) {
    if (col[x] < LINE_SHARE) continue;
    let w = 0, wx = 0, peak = 0;
    const start = x;
    for (; x < pwD && col[x] >= LINE_SHARE; x++) {
      w += col[x];
      wx += col[x] * x;
      peak = Math.max(peak, col[x]);
    }
    lines.push({ lo_hz: hzOf(start) - (f.hi - f.lo) / pwD / 2, hi_hz: hzOf(x - 1) + (f.hi - f.lo) / pwD / 2, center_hz: hzOf(wx / w), share: peak });
  }
  return lines;
}

const hexRgb = (h) => (/^#[0-9a-f]{6}$/i.test(h) ? [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)) : [14, 20, 27]);

/** Draws the heatmap (nothing to do while the canvas is hidden). */
export function drawHeatmap() {
  const canvas = $("heatmap");
  if (!canvas.offsetParent) return;
  const c = cssColors();
  const { ctx, w, h } = fitCanvas(canvas);
  const dpr = canvas.width / w;
  const pw = w - PLOT.padL - PLOT.padR, ph = h - PLOT.padT - PLOT.padB;
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, w, h);
  ctx.font = c.font;
  const f = span();
  if (!f) {
    O.lines = [];
    O.view = null;
    ctx.fillStyle = c.text;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(O.loading ? "loading…" : O.error ? "no data (see above)" : "no occupancy recorded in this range", w / 2, h / 2);
    publish();
    renderStatus();
    return;
  }
  const pwD = Math.max(1, Math.round(pw * dpr)), phD = Math.max(1, Math.round(ph * dpr));
  const R = computeRaster(pwD, phD, f);
  const img = ctx.createImageData(pwD, phD);
  const bg = hexRgb(c.bg);
  for (let i = 0; i < R.mean.length; i++) {
    const v = R.mean[i];
    const o = i * 4;
    if (v < 0) {
      img.data[o] = bg[0];
      img.data[o + 1] = bg[1];
      img.data[o + 2] = bg[2];
    } else {
      const li = Math.round(Math.sqrt(v / 255) * 255) * 4;
      img.data[o] = LUT[li];
      img.data[o + 1] = LUT[li + 1];
      img.data[o + 2] = LUT[li + 2];
    }
    img.data[o + 3] = 255;
  }
  ctx.putImageData(img, Math.round(PLOT.padL * dpr), Math.round(PLOT.padT * dpr));
  ctx.strokeStyle = c.grid;
  ctx.strokeRect(PLOT.padL - 0.5, PLOT.padT - 0.5, pw + 1, ph + 1);

  // frequency axis
  const axis = freqAxis(f.hi - f.lo);
  const fStep = niceStep((f.hi - f.lo) / Math.max(2, Math.floor(pw / 110)));
  const x = (hz) => PLOT.padL + ((hz - f.lo) / (f.hi - f.lo)) * pw;
  ctx.fillStyle = c.text;
  ctx.strokeStyle = c.text;
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.beginPath();
  for (let hz = Math.ceil(f.lo / fStep) * fStep; hz <= f.hi; hz += fStep) {
    const xx = Math.round(x(hz)) + 0.5;
    ctx.moveTo(xx, h - PLOT.padB);
    ctx.lineTo(xx, h - PLOT.padB + 4);
    const label = axis.label(hz, fStep);
    const half = ctx.measureText(label).width / 2;
    ctx.fillText(label, Math.min(w - half - 2, xx), h - PLOT.padB + 6);
  }
  // time axis: local time, newest at the top
  const tSpan = O.to - O.from;
  const y = (t) => PLOT.padT + ((O.to - t) / tSpan) * ph;
  const tStep = niceTimeStep(tSpan / Math.max(2, Math.floor(ph / 40)));
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of timeTicks(O.from, O.to, tStep)) {
    const yy = Math.round(y(t)) + 0.5;
    ctx.moveTo(PLOT.padL - 4, yy);
    ctx.lineTo(PLOT.padL, yy);
    ctx.fillText(fmtTick(t), PLOT.padL - 6, yy);
  }
  ctx.stroke();
  ctx.textAlign = "left";
  ctx.textBaseline = "top";
  ctx.fillText(axis.unit, 4, h - PLOT.padB + 6);
  O.view = { f, pw, ph };
  publish();
  renderStatus();
}

/** What the drawing shows, on the canvas's attributes (for assistive technology and tests). */
function publish() {
  const canvas = $("heatmap");
  const mhz = O.lines.map((l) => (l.center_hz / 1e6).toFixed(4));
  setAttr(canvas, "data-lines-mhz", mhz.join(" "));
  setAttr(canvas, "data-receiver", O.receiver);
  setAttr(canvas, "data-range", O.range);
  setAttr(canvas, "data-state", O.error ? "error" : O.loading ? "loading" : O.done ? "done" : "idle");
  const f = span();
  const band = f ? `, ${(f.lo / 1e6).toFixed(3)} to ${(f.hi / 1e6).toFixed(3)} MHz` : "";
  setAttr(canvas, "aria-label", `Occupancy heatmap of ${O.receiver ? receiverName(O.receiver) : "no receiver"}, ${RANGE_TEXT[O.range]}${band}; ${mhz.length ? `busy at ${mhz.join(", ")} MHz` : "no busy frequency"}.`);
}

/** The stored cell at time `t` and frequency `hz`: {share 0..1, power dBFS or null, minute}, or null. */
function cellAt(t, hz) {
  for (const ch of O.chunks) {
    let lo = 0, hi = ch.rows - 1;
    if (ch.rows === 0 || t < ch.times[0] || t >= ch.times[hi] + MINUTE_MS) continue;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ch.times[mid] <= t) lo = mid;
      else hi = mid - 1;
    }
    if (t >= ch.times[lo] + MINUTE_MS) return null;
    const col = Math.round((hz - ch.freqs[0]) / ch.cellHz);
    if (col < 0 || col >= ch.cols) return null;
    const i = lo * ch.cols + col;
    if (ch.share[i] < 0) return null;
    return { share: ch.share[i] / 255, power: ch.power[i] === -32768 ? null : ch.power[i] / 100, minute: ch.times[lo], hz: ch.freqs[col] };
  }
  return null;
}

/** The frequency and time under a pointer x, y (CSS px in the canvas), or null. */
function pointAt(px, py) {
  const v = O.view;
  if (!v || px < PLOT.padL || px > PLOT.padL + v.pw || py < PLOT.padT || py > PLOT.padT + v.ph) return null;
  return { hz: v.f.lo + ((px - PLOT.padL) / v.pw) * (v.f.hi - v.f.lo), t: O.to - ((py - PLOT.padT) / v.ph) * (O.to - O.from) };
}

/** Hover reads out the cell; a click hands its frequency to `onPick` (the search form). */
export function wireHeatmap(onPick) {
  const canvas = $("heatmap");
  const where = (ev) => {
    const r = canvas.getBoundingClientRect();
    return pointAt(ev.clientX - r.left, ev.clientY - r.top);
  };
  canvas.addEventListener("mousemove", (ev) => {
    const p = where(ev);
    if (!p) return setText($("occ-readout"), "");
    const cell = cellAt(p.t, p.hz);
    const what = cell
      ? `${(cell.hz / 1e6).toFixed(4)} MHz · ${fmtLocal(cell.minute).slice(0, 16)} · busy ${Math.round(cell.share * 100)} %${cell.power === null ? "" : ` · max ${cell.power.toFixed(1)} dBFS/bin`}`
      : `${(p.hz / 1e6).toFixed(4)} MHz · ${fmtLocal(p.t).slice(0, 16)} · no data`;
    setText($("occ-readout"), what);
  });
  canvas.addEventListener("mouseleave", () => setText($("occ-readout"), ""));
  canvas.addEventListener("click", (ev) => {
    const p = where(ev);
    if (p) onPick(p.hz, O.range);
  });
  drawLegend();
}

/** The colour bar: share 0 to 100 % on the square-root scale, with ticks. */
function drawLegend() {
  const lc = $("heat-legend");
  const ctx = lc.getContext("2d");
  for (let x = 0; x < lc.width; x++) {
    const li = Math.round((x / (lc.width - 1)) * 255) * 4;
    ctx.fillStyle = `rgb(${LUT[li]},${LUT[li + 1]},${LUT[li + 2]})`;
    ctx.fillRect(x, 0, 1, lc.height);
  }
  setText($("heat-legend-ticks"), "0 → 1 → 10 → 50 → 100 % busy (√ scale)");
}

/** What the heatmap shows, for the test hook. */
export function heatmapState() {
  return {
    receiver: O.receiver,
    range: O.range,
    from: new Date(O.from).toISOString(),
    to: new Date(O.to).toISOString(),
    loading: O.loading,
    done: O.done,
    error: O.error,
    minutes: O.chunks.reduce((n, c) => n + c.rows, 0),
    columns: O.chunks.length ? O.chunks[0].cols : 0,
    lines: O.lines.map((l) => ({ ...l })),
    // the plot area in CSS px from the canvas's top left, and the frequencies of its edges
    plot: O.view ? { x: PLOT.padL, y: PLOT.padT, w: O.view.pw, h: O.view.ph, f_lo: O.view.f.lo, f_hi: O.view.f.hi } : null,
  };
}

/** The receiver and range shown. */
export const heatmapSelection = () => ({ receiver: O.receiver, range: O.range });
