// A stored signal's timeline: its power at each receiver over time, one line per receiver
// (the mean of each observation window, `history.observation_s` long) over a faint band from
// the window's minimum to its maximum, with a legend. A gap longer than three windows breaks
// the line: the receiver did not hear the signal then.

import { $, el, setAttr } from "./dom.js";
import { num, parseTime } from "./format.js";
import { cssColors, fitCanvas, fmtTick, niceStep, niceTimeStep, timeTicks } from "./plot.js";
import { receiverName } from "./state.js";

/** Distinct on the dark plot, and from each other (8 before they repeat). */
export const LINE_COLORS = ["#5cb3ff", "#ffd24a", "#3fcf6a", "#ff6b61", "#b69cff", "#ff9f43", "#4dd0c8", "#f78fb3"];
const PLOT = { padL: 46, padR: 12, padT: 10, padB: 24 };

let drawn = []; // [{receiver, color, points}] of the last draw, for the hook
let series = []; // the observations grouped by receiver

/** Groups observation summaries by receiver (malformed ones are dropped), oldest first. */
export function setObservations(list) {
  const by = new Map();
  for (const o of Array.isArray(list) ? list : []) {
    if (!o || typeof o.receiver !== "string") continue;
    const t0 = parseTime(o.start), t1 = parseTime(o.stop);
    const mean = num(o.power_mean_dbfs), lo = num(o.power_min_dbfs), hi = num(o.power_max_dbfs);
    if (t0 === null || t1 === null || mean === null) continue;
    if (!by.has(o.receiver)) by.set(o.receiver, []);
    by.get(o.receiver).push({ t0, t1, mean, lo: lo ?? mean, hi: hi ?? mean });
  }
  series = [...by.entries()]
    .sort(([a], [b]) => a.localeCompare(b, "en", { numeric: true }))
    .map(([receiver, pts], i) => ({ receiver, color: LINE_COLORS[i % LINE_COLORS.length], points: pts.sort((a, b) => a.t0 - b.t0) }));
  renderLegend();
}

function renderLegend() {
  const ul = $("timeline-legend");
  ul.replaceChildren(
    ...series.map((s) => {
      const li = el("li");
      const sw = el("span", "sw");
      sw.style.background = s.color;
      const name = receiverName(s.receiver);
      li.append(sw, el("span", null, `${name === s.receiver ? name : `${name} (${s.receiver})`} · ${s.points.length} window${s.points.length === 1 ? "" : "s"}`));
      li.dataset.receiver = s.receiver;
      return li;
    }),
  );
}

/** Draws the chart (nothing while it is hidden). */
export function drawTimeline() {
  const canvas = $("timeline");
  if (!canvas.offsetParent) return;
  const c = cssColors();
  const { ctx, w, h } = fitCanvas(canvas);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, w, h);
  ctx.font = c.font;
  drawn = [];
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) {
    ctx.fillStyle = c.text;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("no observations stored for this signal", w / 2, h / 2);
    publish(canvas);
    return;
  }
  let t0 = Math.min(...all.map((p) => p.t0)), t1 = Math.max(...all.map((p) => p.t1));
  if (t1 - t0 < 10e3) [t0, t1] = [t0 - 5e3, t1 + 5e3];
  let lo = Math.min(...all.map((p) => p.lo)), hi = Math.max(...all.map((p) => p.hi));
  if (hi - lo < 6) [lo, hi] = [(lo + hi) / 2 - 3, (lo + hi) / 2 + 3];
  const padDb = (hi - lo) * 0.08;
  lo -= padDb;
  hi += padDb;
  const pw = w - PLOT.padL - PLOT.padR, ph = h - PLOT.padT - PLOT.padB;
  const x = (t) => PLOT.padL + ((t - t0) / (t1 - t0)) * pw;
  const y = (db) => PLOT.padT + (1 - (db - lo) / (hi - lo)) * ph;

  // grid: dBFS left, local time below
  ctx.strokeStyle = c.grid;
  ctx.fillStyle = c.text;
  ctx.lineWidth = 1;
  ctx.beginPath();
  const dbStep = niceStep((hi - lo) / 4);
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (let db = Math.ceil(lo / dbStep) * dbStep; db <= hi; db += dbStep) {
    const yy = Math.round(y(db)) + 0.5;
    ctx.moveTo(PLOT.padL, yy);
    ctx.lineTo(w - PLOT.padR, yy);
    ctx.fillText(`${Math.round(db)}`, PLOT.padL - 6, yy);
  }
  const tStep = niceTimeStep((t1 - t0) / Math.max(2, Math.floor(pw / 90)));
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of timeTicks(t0, t1, tStep)) {
    const xx = Math.round(x(t)) + 0.5;
    ctx.moveTo(xx, PLOT.padT);
    ctx.lineTo(xx, h - PLOT.padB);
    const label = fmtTick(t);
    const half = ctx.measureText(label).width / 2;
    ctx.fillText(label, Math.min(w - half - 2, Math.max(half + 2, xx)), h - PLOT.padB + 5);
  }
  ctx.stroke();
  ctx.save();
  ctx.translate(11, PLOT.padT + ph / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText("dBFS", 0, 0);
  ctx.restore();

  ctx.save();
  ctx.beginPath();
  ctx.rect(PLOT.padL, PLOT.padT, pw, ph);
  ctx.clip();
  for (const s of series) {
    const runs = splitRuns(s.points);
    // min..max band
    ctx.globalAlpha = 0.1;
    ctx.fillStyle = s.color;
    for (const run of runs) {
      ctx.beginPath();
      run.forEach((p, i) => (i === 0 ? ctx.moveTo(x((p.t0 + p.t1) / 2), y(p.hi)) : ctx.lineTo(x((p.t0 + p.t1) / 2), y(p.hi))));
      for (let i = run.length - 1; i >= 0; i--) ctx.lineTo(x((run[i].t0 + run[i].t1) / 2), y(run[i].lo));
      ctx.closePath();
      ctx.fill();
    }
    // the mean, a line (a lone window is a dot)
    ctx.globalAlpha = 1;
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    for (const run of runs) {
      if (run.length === 1) {
        ctx.beginPath();
        ctx.arc(x((run[0].t0 + run[0].t1) / 2), y(run[0].mean), 2.5, 0, 2 * Math.PI);
        ctx.fillStyle = s.color;
        ctx.fill();
        continue;
      }
      ctx.beginPath();
      run.forEach((p, i) => (i === 0 ? ctx.moveTo(x((p.t0 + p.t1) / 2), y(p.mean)) : ctx.lineTo(x((p.t0 + p.t1) / 2), y(p.mean))));
      ctx.stroke();
    }
    drawn.push({ receiver: s.receiver, color: s.color, points: s.points.length, runs: runs.length });
  }
  ctx.restore();
  publish(canvas);
}

/** Consecutive windows, split where a gap is longer than three windows. */
function splitRuns(points) {
  const runs = [];
  let run = [];
  for (const p of points) {
    const prev = run[run.length - 1];
    if (prev && p.t0 - prev.t1 > 3 * Math.max(1000, prev.t1 - prev.t0)) {
      runs.push(run);
      run = [];
    }
    run.push(p);
  }
  if (run.length) runs.push(run);
  return runs;
}

function publish(canvas) {
  setAttr(canvas, "data-receivers", drawn.map((d) => d.receiver).join(" "));
  const names = drawn.map((d) => receiverName(d.receiver)).join(", ");
  setAttr(canvas, "aria-label", drawn.length ? `Power per receiver over time: ${drawn.length} receiver${drawn.length === 1 ? "" : "s"} (${names}).` : "Power per receiver over time: no observations stored.");
}

/** What the chart drew, for the test hook: per receiver its colour and number of windows. */
export const timelineState = () => drawn.map((d) => ({ ...d }));
