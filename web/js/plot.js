// Canvas helpers shared by the plots (spectrum and waterfall, occupancy heatmap, signal
// timeline): the colour map, the theme's colours, sizing at the device pixel ratio, and
// "nice" axis steps and labels for frequency and time. No state beyond the colours read once.

const VIRIDIS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725"];

/** Viridis as 256 RGBA entries (index 0..255 -> 4 bytes), for ImageData. */
export const LUT = (() => {
  const rgb = VIRIDIS.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
  const lut = new Uint8ClampedArray(256 * 4);
  for (let v = 0; v < 256; v++) {
    const t = (v / 255) * (rgb.length - 1);
    const i = Math.min(rgb.length - 2, Math.floor(t));
    const f = t - i;
    for (let c = 0; c < 3; c++) lut[v * 4 + c] = rgb[i][c] + (rgb[i + 1][c] - rgb[i][c]) * f;
    lut[v * 4 + 3] = 255;
  }
  return lut;
})();

/** The CSS colour of LUT entry `v`. */
export const lutColor = (v) => `rgb(${LUT[v * 4]},${LUT[v * 4 + 1]},${LUT[v * 4 + 2]})`;

let colors = null; // CSS custom properties, read once

/** The theme's plot colours and font (from the stylesheet's custom properties). */
export function cssColors() {
  if (colors) return colors;
  const cs = getComputedStyle(document.documentElement);
  const v = (name, def) => (cs.getPropertyValue(name) || "").trim() || def;
  colors = {
    bg: v("--plot-bg", "#0e141b"), grid: v("--plot-grid", "#243042"), text: v("--muted", "#9aa8b6"),
    trace: v("--accent", "#5cb3ff"), sig: v("--info", "#b69cff"), sel: v("--sel", "#ffd24a"),
    font: `11px ${v("--sans", "sans-serif")}`,
  };
  return colors;
}

/** Sizes a canvas to its CSS box at the device pixel ratio; returns its context in CSS px. */
export function fitCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(120, Math.round(c.clientWidth || 600));
  const h = Math.max(60, Math.round(c.clientHeight || 200));
  if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
  }
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return { ctx, w, h };
}

/** 1, 2 or 5 times a power of ten, at least `x`'s leading digit. */
export function niceStep(x) {
  const p = 10 ** Math.floor(Math.log10(x));
  const f = x / p;
  return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * p;
}

/** `hz` in MHz with as many decimals as a grid of `stepHz` needs. */
export const fmtMHz = (hz, stepHz) => (hz / 1e6).toFixed(Math.max(0, Math.min(6, Math.ceil(-Math.log10(stepHz / 1e6)))));

/** A frequency axis: spans of 200 kHz and more in MHz, narrower ones in kHz (as the tables do). */
export function freqAxis(spanHz) {
  if (spanHz >= 200e3) return { unit: "MHz", label: (hz, step) => fmtMHz(hz, step) };
  return { unit: "kHz", label: (hz, step) => (hz / 1e3).toFixed(Math.max(0, Math.min(3, Math.ceil(-Math.log10(step / 1e3))))) };
}

const MINUTE = 60e3;
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map((m) => m * MINUTE);

/** A time grid step (a round number of minutes, hours or a day) of at least `ms`. */
export const niceTimeStep = (ms) => TIME_STEPS.find((s) => s >= ms) || TIME_STEPS[TIME_STEPS.length - 1];

const pad2 = (n) => String(n).padStart(2, "0");

/** A time tick in the viewer's local time: "HH:MM", or the date at local midnight. */
export function fmtTick(ms) {
  const d = new Date(ms);
  if (d.getHours() === 0 && d.getMinutes() === 0) return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
}

/**
 * The ticks of a local-time grid of `step` ms in [t0, t1]: steps of a day or less are aligned
 * to local midnight, so "06:00" ticks fall on 06:00 wherever the viewer is.
 */
export function timeTicks(t0, t1, step) {
  const midnight = new Date(t0);
  midnight.setHours(0, 0, 0, 0);
  const base = midnight.getTime();
  const ticks = [];
  for (let t = base + Math.ceil((t0 - base) / step) * step; t <= t1; t += step) ticks.push(t);
  return ticks;
}

/** Local date and time to the second, "YYYY-MM-DD HH:MM:SS". */
export function fmtLocal(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
