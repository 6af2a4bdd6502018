// The listening player where the browser has no AudioWorklet (it exists only in secure
// contexts: a dashboard served over plain http from another host has none). Each packet is an
// AudioBuffer at the stream's rate (the browser resamples it), played by its own
// AudioBufferSourceNode, scheduled back to back on the context's clock.
//
// The same jitter buffer as listen-worklet.js, with what scheduling allows: playing starts
// TARGET_S after the first packet (and after an underrun, which raises the target by
// UNDERRUN_STEP_S); a packet that would start more than MAX_S ahead is dropped (scheduled audio
// cannot be taken back). The same reports, every STATS_MS, on the main thread.

const TARGET_S = 0.12;
const MAX_S = 0.5;
const UNDERRUN_STEP_S = 0.02;
const MAX_TARGET_S = 0.3;
/** Scheduling this close to the context's time would start late: an underrun. */
const LATE_S = 0.005;
const STATS_MS = 100;

/** A player on `ctx` into `output`; `onStats` gets the worklet's report ({type: "stats", ...}). */
export function sourcesPlayer(ctx, output, onStats) {
  let rate = 12000;
  let target = TARGET_S;
  let next = null; // context time the next packet starts at; null: not playing
  let queue = []; // scheduled packets {at, dur, t0, src}, oldest first
  let underruns = 0;
  let droppedS = 0;

  const stopAll = () => {
    for (const q of queue) {
      try {
        q.src.stop();
      } catch (_) {
        /* already ended */
      }
    }
    queue = [];
    next = null;
  };

  setInterval(() => {
    const now = ctx.currentTime;
    while (queue.length && queue[0].at + queue[0].dur <= now) queue.shift();
    const head = queue.length && queue[0].at <= now ? queue[0].t0 + (now - queue[0].at) * 1000 : null;
    onStats({ type: "stats", ctxTime: now, headMs: head, depthS: next === null ? 0 : Math.max(0, next - now), targetS: target, underruns, droppedS, playing: head !== null });
  }, STATS_MS);

  return {
    kind: "sources",
    start(r) {
      stopAll();
      rate = r;
      target = TARGET_S;
      underruns = 0;
      droppedS = 0;
    },
    push(samples, t0) {
      if (samples.length === 0) return;
      const now = ctx.currentTime;
      const dur = samples.length / rate;
      if (next !== null && next < now + LATE_S) {
        underruns++;
        target = Math.min(MAX_TARGET_S, target + UNDERRUN_STEP_S);
        next = null;
      }
      if (next === null) next = now + target;
      if (next - now > MAX_S) {
        droppedS += dur;
        return;
      }
      const buf = ctx.createBuffer(1, samples.length, rate);
      buf.copyToChannel(samples, 0);
      const src = ctx.createBufferSource();
      src.buffer = buf;
      src.connect(output);
      src.start(next);
      queue.push({ at: next, dur, t0, src });
      next += dur;
    },
    stop: stopAll,
  };
}
