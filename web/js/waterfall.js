// The waterfall: each receiver's recent rows, the live frames and, from before the page
// opened, the rows the server kept (GET /api/v1/spectrum/{receiver}/waterfall, asked when a
// receiver is first shown, and again after a reconnect to fill the time the page missed),
// drawn on a time axis (newest at the top) for the frequencies the spectrum shows and on its
// level axis, so the two plots read alike.
//
// Every row keeps its own frequencies and scale, so rows from before a retune stay where they
// were. A screen pixel covering several rows or bins shows the strongest of them, so a short
// burst stays visible however far the plot is zoomed out.

import { getJson } from "./api.js";
import { decodeFrame, sameBins } from "./frame.js";
import { LUT } from "./plot.js";
import { markDirty, S } from "./state.js";

/** The spans the selector offers, s; rows older than the longest are dropped. */
export const SPANS_S = [30, 60, 120, 300, 600];
const KEEP_MS = SPANS_S[SPANS_S.length - 1] * 1000;
/** Rows kept per receiver at most (10 min at 8 frames/s): bounds memory whatever the rate. */
const MAX_ROWS = 4800;

/** Adds a row (a decoded frame lasting `dur` ms) to a receiver's waterfall, newest last. */
export function addRow(sp, row, dur) {
  row.dur = dur;
  sp.rows.push(row);
  const newest = row.t ?? 0;
  let drop = 0;
  while (drop < sp.rows.length - 1 && (sp.rows.length - drop > MAX_ROWS || (sp.rows[drop].t ?? 0) + sp.rows[drop].dur < newest - KEEP_MS)) drop++;
  if (drop) {
    sp.historyRows = Math.max(0, sp.historyRows - drop);
    sp.rows.splice(0, drop);
  }
}

/** Merges the server's rows (oldest first, each `rowMs` long) into a receiver's rows: a row
 * whose start no row already covers goes in, cut where the next one starts. Returns how many. */
function mergeRows(sp, fetched, rowMs) {
  const existing = sp.rows;
  const out = [];
  let i = 0;
  let added = 0;
  for (const r of fetched) {
    while (i < existing.length && (existing[i].t ?? 0) <= r.t) out.push(existing[i++]);
    const prev = out[out.length - 1];
    if (prev && (prev.t ?? 0) + prev.dur > r.t) continue; // that time is already shown
    const next = existing[i];
    r.dur = Math.min(rowMs, next ? (next.t ?? 0) - r.t : rowMs);
    if (r.dur <= 0) continue;
    out.push(r);
    added++;
  }
  while (i < existing.length) out.push(existing[i++]);
  sp.rows = out;
  sp.historyRows += added;
  return added;
}

/** Reads the server's recent waterfall again for every receiver when next shown (after a
 * reconnect: its rows fill the time the page missed). */
export function forgetHistory() {
  S.waterfallHistory.clear();
}

/** Asks the server for the recent waterfall of `rx` (when the server keeps one and the token
 * allows frames), and puts its rows where the page has none. */
export async function loadHistory(rx, newSpectrum) {
  const frames = S.dashConfig && S.dashConfig.frames;
  if (S.waterfallHistory.has(rx) || S.spectrumForbidden || !frames || !frames.enabled || !(frames.historyS > 0)) return;
  S.waterfallHistory.set(rx, "loading");
  let body;
  try {
    body = await getJson(`/api/v1/spectrum/${encodeURIComponent(rx)}/waterfall`, null, 10000);
  } catch (e) {
    S.waterfallHistory.set(rx, `failed: ${e.message}`);
    return;
  }
  const rowMs = (typeof body.row_s === "number" && body.row_s > 0 ? body.row_s : 1) * 1000;
  const rows = (Array.isArray(body.rows) ? body.rows : []).map(decodeFrame).filter((r) => r && r.rx === rx && r.t !== null);
  let sp = S.spectra.get(rx);
  if (!sp && rows.length) {
    sp = newSpectrum(rows[rows.length - 1]);
    S.spectra.set(rx, sp);
  }
  if (sp) {
    mergeRows(sp, rows, rowMs);
    if (!sp.last && sp.rows.length) sp.last = sp.rows[sp.rows.length - 1];
  }
  S.waterfallHistory.set(rx, `loaded ${rows.length}`);
  markDirty("spectrum");
}

// Scratch reused between draws (one waterfall on the page).
let acc = new Float32Array(0);
let col = new Float32Array(0);
let binDb = new Float32Array(0);
let img = null;
const off = document.createElement("canvas");

/** Fills `colDb` with the strongest of `levels` (dB per bin of geometry `r`) under each of `w`
 * columns spanning [lo, hi) Hz; -Infinity where there is no bin. */
function columns(r, levels, lo, hi, w, colDb) {
  const hzPerPx = (hi - lo) / w;
  for (let c = 0; c < w; c++) {
    const f0 = lo + c * hzPerPx;
    let i0 = Math.floor((f0 - r.start) / r.binHz);
    let i1 = Math.ceil((f0 + hzPerPx - r.start) / r.binHz) - 1;
    if (i1 < i0) i1 = i0;
    if (i1 < 0 || i0 >= r.bins) {
      colDb[c] = -Infinity;
      continue;
    }
    i0 = Math.max(0, i0);
    i1 = Math.min(r.bins - 1, i1);
    let v = -Infinity;
    for (let i = i0; i <= i1; i++) if (levels[i] > v) v = levels[i];
    colDb[c] = v;
  }
}

/** Row `r`'s levels in dB, or their maximum with what `into` holds (`merge`). */
function rowDb(r, into, merge) {
  const k = (r.dbMax - r.dbMin) / 255;
  for (let i = 0; i < r.bins; i++) {
    const v = r.dbMin + r.levels[i] * k;
    into[i] = merge && into[i] > v ? into[i] : v;
  }
}

/**
 * Draws receiver `sp`'s rows into `area` ({x, y, w, h}, CSS px) of context `g`: frequencies
 * `span` ({lo, hi}, Hz) across, the last `spanMs` down (the newest row at the top), colours over
 * `levels` ({lo, hi}, dB). Returns what was drawn: {rows, top (ms), bottom (ms)}.
 *
 * Rows that fall in one screen row are first combined bin by bin (when they share their bins),
 * so the cost per row is its bins, not the plot's width: ten minutes of rows stay cheap.
 */
export function drawWaterfall(g, sp, area, span, levels, spanMs, bg) {
  const w = Math.max(1, Math.round(area.w)), h = Math.max(1, Math.round(area.h));
  if (acc.length !== w * h) acc = new Float32Array(w * h);
  if (col.length !== w) col = new Float32Array(w);
  acc.fill(-Infinity);
  const newest = sp.rows[sp.rows.length - 1];
  const top = newest ? (newest.t ?? 0) + newest.dur : 0;
  const msPerPx = spanMs / h;
  /** Puts `col` into screen rows y0..y1. */
  const paint = (y0, y1) => {
    for (let y = y0; y <= y1; y++) {
      const base = y * w;
      for (let c = 0; c < w; c++) if (col[c] > acc[base + c]) acc[base + c] = col[c];
    }
  };
  let pending = null; // {y, r}: rows of screen row y combined in binDb, with r's bins
  const flush = () => {
    if (!pending) return;
    columns(pending.r, binDb, span.lo, span.hi, w, col);
    paint(pending.y, pending.y);
    pending = null;
  };
  let drawn = 0;
  for (let n = sp.rows.length - 1; n >= 0; n--) {
    const r = sp.rows[n];
    const t = r.t ?? 0;
    if (t + r.dur <= top - spanMs) break;
    const y0 = Math.max(0, Math.floor((top - t - r.dur) / msPerPx));
    const y1 = Math.min(h - 1, Math.max(y0, Math.ceil((top - t) / msPerPx) - 1));
    if (y0 >= h) continue;
    drawn++;
    if (binDb.length < r.bins) binDb = new Float32Array(r.bins);
    if (y0 === y1 && pending && pending.y === y0 && sameBins(pending.r, r)) {
      rowDb(r, binDb, true);
      continue;
    }
    flush();
    rowDb(r, binDb, false);
    if (y0 === y1) {
      pending = { y: y0, r };
      continue;
    }
    columns(r, binDb, span.lo, span.hi, w, col);
    paint(y0, y1);
  }
  flush();
  if (!img || img.width !== w || img.height !== h) img = new ImageData(w, h);
  const px = img.data;
  const bgRgb = [1, 3, 5].map((i) => parseInt(bg.slice(i, i + 2), 16) || 0);
  const scale = 255 / (levels.hi - levels.lo);
  for (let i = 0; i < w * h; i++) {
    const v = acc[i];
    if (v === -Infinity) {
      px[i * 4] = bgRgb[0];
      px[i * 4 + 1] = bgRgb[1];
      px[i * 4 + 2] = bgRgb[2];
      px[i * 4 + 3] = 255;
      continue;
    }
    const b = Math.max(0, Math.min(255, Math.round((v - levels.lo) * scale))) * 4;
    px[i * 4] = LUT[b];
    px[i * 4 + 1] = LUT[b + 1];
    px[i * 4 + 2] = LUT[b + 2];
    px[i * 4 + 3] = 255;
  }
  if (off.width !== w || off.height !== h) {
    off.width = w;
    off.height = h;
  }
  off.getContext("2d").putImageData(img, 0, 0);
  g.imageSmoothingEnabled = false;
  g.drawImage(off, area.x, area.y, area.w, area.h);
  return { rows: drawn, top, bottom: top - spanMs };
}

/** Seconds of time the receiver's rows cover (oldest start to newest end). */
export function coveredS(sp) {
  if (!sp || !sp.rows.length) return 0;
  const a = sp.rows[0], b = sp.rows[sp.rows.length - 1];
  return ((b.t ?? 0) + b.dur - (a.t ?? 0)) / 1000;
}
