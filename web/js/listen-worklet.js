// The listening player, an AudioWorkletProcessor ("sdrhub-listen") on the browser's audio
// thread: a jitter buffer of the decoded audio (listen.js posts it, packet by packet, with the
// antenna time of each packet's first sample), resampled from the stream's rate (12 or 48 kHz)
// to the AudioContext's by linear interpolation.
//
// Jitter buffer: playing starts (and starts again after an underrun) once `target` seconds are
// buffered. An underrun plays silence, and raises the target by UNDERRUN_STEP_S (up to
// MAX_TARGET_S): a network that stutters gets a deeper buffer. More than MAX_S buffered (a
// burst after a stall) drops the oldest audio down to the target. In between, the playback
// rate leans up to RATE_TRIM above or below the stream's, so the buffer settles at the target
// whatever the drift between the receiver's clock and the sound card's.
//
// Messages in: {type: "start", rate, target?} (a new stream: the buffer empties),
// {type: "chunk", samples (Float32Array), t0 (antenna ms of samples[0])}, {type: "stop"}.
// Out, every STATS_S: {type: "stats", ctxTime, headMs (antenna ms of the sample rendered at
// ctxTime; null while silent), depthS, targetS, underruns, droppedS, playing}.

/** Source samples held at most (a power of two): over MAX_S at 48 kHz, with room. */
const RING = 1 << 16;
const MASK = RING - 1;
const TARGET_S = 0.12;
const MAX_S = 0.5;
const UNDERRUN_STEP_S = 0.02;
const MAX_TARGET_S = 0.3;
/** Largest playback rate change (a fraction): 0.5 % is 9 cents of pitch, not heard in speech. */
const RATE_TRIM = 0.005;
/** Time constant of the buffer depth the rate trim follows, s (longer than a packet's jitter). */
const DEPTH_TAU_S = 2;
const STATS_S = 0.1;

class ListenPlayer extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(RING);
    this.chunks = []; // {start (absolute sample index), n, t0 (antenna ms)}, oldest first
    this.reset(12000, TARGET_S);
    this.underruns = 0;
    this.droppedS = 0;
    this.sinceStats = 0;
    this.port.onmessage = (ev) => this.onMessage(ev.data);
  }

  reset(rate, target) {
    this.rate = rate;
    this.target = target;
    this.written = 0; // source samples written, in all
    this.read = 0; // the next source sample to play (fractional), absolute
    this.chunks.length = 0;
    this.playing = false;
    this.avgDepth = target;
    this.headMs = null;
  }

  onMessage(m) {
    if (!m || typeof m !== "object") return;
    if (m.type === "start") {
      this.reset(m.rate > 0 ? m.rate : 12000, m.target > 0 ? Math.min(m.target, MAX_TARGET_S) : TARGET_S);
      this.underruns = 0;
      this.droppedS = 0;
    } else if (m.type === "stop") {
      this.reset(this.rate, this.target);
    } else if (m.type === "chunk" && m.samples instanceof Float32Array) {
      this.push(m.samples, m.t0);
    }
  }

  push(samples, t0) {
    const n = Math.min(samples.length, RING >> 1);
    for (let i = 0; i < n; i++) this.ring[(this.written + i) & MASK] = samples[i];
    this.chunks.push({ start: this.written, n, t0 });
    this.written += n;
    const maxN = MAX_S * this.rate;
    if (this.written - this.read > maxN) {
      // A burst after a stall: drop the oldest, down to the target.
      const to = this.written - this.target * this.rate;
      this.droppedS += (to - this.read) / this.rate;
      this.read = to;
      this.avgDepth = this.target;
    }
    this.forget();
  }

  /** Drops the chunks played in full. */
  forget() {
    const c = this.chunks;
    let k = 0;
    while (k < c.length - 1 && c[k].start + c[k].n <= Math.floor(this.read)) k++;
    if (k) c.splice(0, k);
  }

  /** The antenna time of source position `pos`, ms (null when no chunk holds it). */
  timeAt(pos) {
    const i = Math.floor(pos);
    for (const c of this.chunks) if (i >= c.start && i < c.start + c.n) return c.t0 + ((pos - c.start) / this.rate) * 1000;
    return null;
  }

  process(_inputs, outputs) {
    const out = outputs[0];
    const ch = out[0];
    const frames = ch.length;
    const quantumS = frames / sampleRate;
    const depthS = (this.written - this.read) / this.rate;
    let step = this.rate / sampleRate;
    if (!this.playing && depthS >= this.target) this.playing = true;
    // Two source samples beyond the last one read, for the interpolation.
    if (this.playing && this.written - this.read < frames * step * (1 + RATE_TRIM) + 2) {
      this.playing = false;
      this.underruns++;
      this.target = Math.min(MAX_TARGET_S, this.target + UNDERRUN_STEP_S);
    }
    if (this.playing) {
      this.avgDepth += (depthS - this.avgDepth) * Math.min(1, quantumS / DEPTH_TAU_S);
      const lean = Math.max(-RATE_TRIM, Math.min(RATE_TRIM, (RATE_TRIM * (this.avgDepth - this.target)) / this.target));
      step *= 1 + lean;
      this.headMs = this.timeAt(this.read);
      const ring = this.ring;
      let pos = this.read;
      for (let i = 0; i < frames; i++) {
        const k = Math.floor(pos);
        const a = ring[k & MASK];
        ch[i] = a + (ring[(k + 1) & MASK] - a) * (pos - k);
        pos += step;
      }
      this.read = pos;
      this.forget();
    } else {
      ch.fill(0);
      this.headMs = null;
    }
    for (let c = 1; c < out.length; c++) out[c].set(ch);
    this.sinceStats += quantumS;
    if (this.sinceStats >= STATS_S) {
      this.sinceStats = 0;
      this.port.postMessage({
        type: "stats",
        ctxTime: currentTime,
        headMs: this.headMs,
        depthS: (this.written - this.read) / this.rate,
        targetS: this.target,
        underruns: this.underruns,
        droppedS: this.droppedS,
        playing: this.playing,
      });
    }
    return true;
  }
}

registerProcessor("sdrhub-listen", ListenPlayer);
