// One `spectrum:frame` payload, checked and decoded (the live frames and the rows of the
// server's recent waterfall have the same shape).
//
// Frames: `bins` bytes, byte b = level db_min + b / 255 * (db_max - db_min), bin i covering
// [start_hz + i * bin_hz, start_hz + (i + 1) * bin_hz). Each frame has its own scale.

import { num, parseTime } from "./format.js";

/** A frame as sent, decoded: {rx, t (ms), center, start, binHz, bins, dbMin, dbMax, levels}; null if malformed. */
export function decodeFrame(d) {
  if (!d || typeof d !== "object") return null;
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

/** Bin i's level in dB. */
export const binDb = (f, i) => f.dbMin + (f.levels[i] / 255) * (f.dbMax - f.dbMin);

/** The frame's levels in dB, as a new Float32Array. */
export function levelsDb(f) {
  const out = new Float32Array(f.bins);
  const k = (f.dbMax - f.dbMin) / 255;
  for (let i = 0; i < f.bins; i++) out[i] = f.dbMin + f.levels[i] * k;
  return out;
}

/** Whether two frames cover the same bins (same count, start and width). */
export const sameBins = (a, b) => a.bins === b.bins && Math.abs(a.start - b.start) <= b.binHz / 2 && Math.abs(a.binHz - b.binHz) <= 1e-6 * b.binHz;
