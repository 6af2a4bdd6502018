// Listening to a signal in the browser: the `listen` requests on the dashboard's WebSocket,
// the server's answers, the audio packets (binary frames, audio_packet.js) handed to the
// player, and the latency from the antenna to the speaker. The bar that shows and changes it
// all is listen_bar.js; the passband on the spectrum is drawn and dragged in spectrum.js.
//
// Requests and answers: every `listen` and `unlisten` gets one answer, `listening` or an error
// with a listen code. Audio frames are played only while no request waits for its answer:
// frames that come before the answer to the newest request are the replaced listener's (the
// server answers before the new listener's first frame). Requests go at most one per
// MIN_SEND_GAP_MS, the newest wanted settings each time, so dragging a control cannot reach the
// server's message rate limit (which closes the connection).
//
// Audio graph: player -> GainNode (volume, mute) -> AnalyserNode (tests) -> speakers. The
// player is an AudioWorklet (listen-worklet.js: jitter buffer, resampling) where the browser
// has one; a page that is not a secure context (plain http from another host) has none, and
// gets listen_sources.js instead. The AudioContext is made in the click that starts listening
// (browsers start audio only from a user gesture) and suspended a while after a stop.
//
// Latency, antenna to speaker: each packet says when the antenna received its first sample.
// The player reports, every 0.1 s, the antenna time of the sample it renders at a context time;
// getOutputTimestamp() says when the device plays a context time, on the performance clock,
// which is mapped to Date.now() at that moment (not through performance.timeOrigin, which
// drifts from the wall clock over a long session). Latency = play time - antenna time: the
// server's processing, the network, the jitter buffer and the sound card's output all count.
// It compares the server's clock with the browser's, so it assumes both keep true time (NTP;
// on loopback they are the same clock).

import { decodeSamples, parsePacket } from "./audio_packet.js";
import { sendJson } from "./connection.js";
import { str } from "./format.js";
import { sourcesPlayer } from "./listen_sources.js";
import { markDirty, S } from "./state.js";

export const MODES = ["am", "nfm", "wfm", "usb", "lsb", "cw"];
/** The server's passband per mode, Hz from the frequency (dsp::demod::Mode::default_passband). */
export const DEFAULT_PASSBAND = { am: [-5000, 5000], nfm: [-6000, 6000], wfm: [-100000, 100000], usb: [300, 2700], lsb: [-2700, -300], cw: [-200, 200] };
/** How far from the frequency a passband edge may go, Hz: 45 % of the mode's channel rate
 * (dsp::demod::MAX_EDGE_FRACTION); the server refuses more. */
const EDGE_LIMIT_HZ = { am: 5400, nfm: 10800, wfm: 108000, usb: 5400, lsb: 5400, cw: 5400 };
/** The CW beat pitch (dsp::demod::DEFAULT_CW_BFO_HZ): CW edges are limited after this shift. */
const CW_BFO_HZ = 700;
const MIN_PASSBAND_HZ = 50;
/** Tuning step per mode, Hz: ↑ ↓ in the frequency entry; what is listened to is snapped to a tenth. */
export const TUNE_STEP_HZ = { am: 1000, nfm: 1000, wfm: 10000, usb: 100, lsb: 100, cw: 100 };
/** Squelch levels the server takes, dBFS. */
export const SQUELCH_RANGE = [-200, 0];
/** Requests go at most this often, ms (server.client_messages_per_s is 20 by default). */
const MIN_SEND_GAP_MS = 250;
/** Lost packets up to this many are replaced by silence of their length; a longer hole is skipped. */
const MAX_GAP_FILL = 12;
/** After a stop the AudioContext is suspended (no audio thread running for nothing), ms. */
const SUSPEND_AFTER_MS = 2000;
/** Chunks held while the player's module loads (a few ms normally), at most. */
const MAX_EARLY_CHUNKS = 100;
const LISTEN_CODES = new Set(["listen_refused", "forbidden_audio", "too_many_listeners", "not_listening"]);
const VOLUME_KEY = "sdrhub.listen";

const freshStats = () => ({
  packets: 0,
  lost: 0, // packets missing from the sequence
  lastSeq: null,
  badPackets: 0,
  powerDbfs: null, // channel power of the newest packet
  squelchOpen: null,
  netMs: null, // the newest packet's last sample: its age when it arrived
  latencyMs: null, // antenna to speaker
  bufferMs: null, // the player's jitter buffer
  targetMs: null,
  outputMs: null, // rendered to heard: the audio stack and the sound card
  underruns: 0,
  droppedMs: 0,
});

/** The listening state (listen_bar.js shows it, window.sdrhub.listen() copies it). */
export const L = {
  state: "idle", // idle, starting (asked, or retuning), playing, waiting (no connection), stopped, error
  want: null, // what is asked: {receiver, frequency_hz, mode, passband_hz ([lo, hi] or null: the mode's), squelch_dbfs}
  signalId: null, // the live signal listened to, when it was chosen as one
  report: null, // the server's `listening` data for the newest request
  message: "", // why it stopped: the server's refusal, or why the listener ended
  pending: 0, // requests sent on this connection and not yet answered
  onServer: false, // whether the server may hold a listener of ours (then stop sends unlisten)
  drag: null, // a passband being dragged on the spectrum, [lo, hi] Hz
  squelchDbfs: null, // the squelch for the next listen too (null: open)
  volume: 0.8,
  muted: false,
  stats: freshStats(),
  recording: false, // a recording asked for and not finished
  recorded: null, // the last `recorded` (its files), or {error} when refused
};

const A = { ctx: null, gain: null, analyser: null, player: null, suspendTimer: 0 };
let sendTimer = 0;
let lastSendAt = -Infinity;

export const isActive = () => L.state === "starting" || L.state === "playing" || L.state === "waiting";

/** A signal narrower than this is a carrier or Morse, Hz: the detector measures a bare carrier
 * about one and a half of its bins wide (some 400 Hz at 1 MS/s), and voice is 2.5 kHz or more. */
const CARRIER_MAX_HZ = 1000;
/** The airband (AM voice), Hz. */
const AIRBAND_HZ = [108e6, 137e6];
/** Below this, voice is mostly AM (broadcast, aeronautical HF), Hz. */
const HF_TOP_HZ = 30e6;

/** The mode to hear a signal in, from its width (and frequency): CW for a carrier, wide FM over
 * 100 kHz, AM in the airband and on HF, narrow FM otherwise (the usual voice of VHF and UHF). */
export function modeFor(bandwidthHz, frequencyHz = null) {
  if (typeof bandwidthHz === "number" && bandwidthHz < CARRIER_MAX_HZ) return "cw";
  if (bandwidthHz > 100e3) return "wfm";
  if (frequencyHz !== null && (frequencyHz < HF_TOP_HZ || (frequencyHz >= AIRBAND_HZ[0] && frequencyHz <= AIRBAND_HZ[1]))) return "am";
  return "nfm";
}

/** The passband asked for (or being dragged), Hz from the frequency. */
export const passbandOf = () => (L.drag || (L.want && L.want.passband_hz) || DEFAULT_PASSBAND[L.want ? L.want.mode : "nfm"]).slice();

/** NFM channels sit on a 6.25 kHz raster (12.5 and 25 kHz plans alike); a frequency within
 * CHANNEL_SNAP_HZ of a channel is taken as that channel, Hz. */
const CHANNEL_HZ = 6250;
const CHANNEL_SNAP_HZ = 1000;

/** `hz` on a tenth of the mode's tuning step (a detected frequency's last digits are noise), or
 * in NFM on the channel it is close to. */
function snap(hz, mode) {
  const channel = Math.round(hz / CHANNEL_HZ) * CHANNEL_HZ;
  if (mode === "nfm" && Math.abs(hz - channel) <= CHANNEL_SNAP_HZ) return channel;
  const step = TUNE_STEP_HZ[mode] / 10;
  return Math.round(hz / step) * step;
}

/** Whether signal `id` is what is listened to. */
export const isListeningTo = (id) => isActive() && L.signalId === id;

// ---------------------------------------------------------------- starting and changing

/** Listens to a live signal on its best receiver (where it is strongest), at its frequency, in
 * the mode its width suggests; `rx` instead of the best receiver. Call it from a user gesture. */
export function listenToSignal(s, rx = null) {
  const receiver = rx || s.websdr_id || s.receivers[0] || S.spectrumRx;
  if (!receiver || s.frequency_hz === null) return;
  const mode = modeFor(s.bandwidth_hz, s.frequency_hz);
  start({ receiver, frequency_hz: snap(s.frequency_hz, mode), mode, passband_hz: null, squelch_dbfs: L.squelchDbfs }, s.signal_id);
}

/** Listens to `hz` on receiver `rx` in `mode` (default: the mode listened in, else NFM). Call
 * it from a user gesture. */
export function listenAt(rx, hz, mode = null) {
  const m = mode || (L.want ? L.want.mode : "nfm");
  const keep = L.want && L.want.mode === m && L.want.receiver === rx ? L.want.passband_hz : null;
  start({ receiver: rx, frequency_hz: snap(hz, m), mode: m, passband_hz: keep, squelch_dbfs: L.squelchDbfs }, null);
}

function start(want, signalId) {
  if (!ensureAudio()) {
    L.want = want;
    endWith("error", "This browser cannot play audio (it has no Web Audio).");
    return;
  }
  const retuning = isActive();
  L.want = want;
  L.signalId = signalId ?? signalNear(want.receiver, want.frequency_hz);
  L.message = "";
  L.drag = null;
  if (!retuning) L.stats = freshStats();
  requestListen();
}

/** Changes what is listened to ({frequency_hz, mode, passband_hz, receiver}): a new `listen`
 * (starting again when stopped). A new mode brings its own passband unless one is given. */
export function retune(changes) {
  if (!L.want) return;
  const w = { ...L.want, ...changes, squelch_dbfs: L.squelchDbfs };
  if (changes.mode && changes.mode !== L.want.mode && !("passband_hz" in changes)) w.passband_hz = null;
  start(w, w.frequency_hz === L.want.frequency_hz && w.receiver === L.want.receiver ? L.signalId : null);
}

/** Sets the squelch (null: open); while listening, asks for it at once. */
export function setSquelch(dbfs) {
  L.squelchDbfs = dbfs;
  if (L.want) L.want = { ...L.want, squelch_dbfs: dbfs };
  if (isActive()) requestListen();
  markDirty("listen");
}

/** Moves one edge of the passband while it is dragged on the spectrum (`offsetHz` from the
 * frequency), within what the server takes; commitPassband() asks for it. */
export function dragEdge(which, offsetHz) {
  if (!L.want) return;
  const [lo, hi] = passbandOf();
  const shift = L.want.mode === "cw" ? CW_BFO_HZ : 0;
  const lim = EDGE_LIMIT_HZ[L.want.mode];
  const v = Math.round(Math.max(-lim - shift, Math.min(lim - shift, offsetHz)) / 10) * 10;
  L.drag = which === "lo" ? [Math.min(v, hi - MIN_PASSBAND_HZ), hi] : [lo, Math.max(v, lo + MIN_PASSBAND_HZ)];
  markDirty("spectrum", "listen-stats");
}

/** Asks for the dragged passband. */
export function commitPassband() {
  if (!L.drag) return;
  const pb = L.drag;
  L.drag = null;
  retune({ passband_hz: pb });
}

/** The passband `[lo, hi]` checked against what the server takes; null if it would refuse it. */
export function validPassband(mode, lo, hi) {
  const shift = mode === "cw" ? CW_BFO_HZ : 0;
  const lim = EDGE_LIMIT_HZ[mode];
  const ok = (x) => Number.isFinite(x) && Math.abs(x + shift) <= lim;
  return ok(lo) && ok(hi) && hi - lo >= MIN_PASSBAND_HZ ? [lo, hi] : null;
}

/** Stops listening (the server's listener too). */
export function stopListening() {
  if (!isActive()) return;
  clearTimeout(sendTimer);
  sendTimer = 0;
  if (L.onServer && sendJson({ event: "unlisten", data: {} })) L.pending++;
  L.onServer = false;
  // The server finishes a recording with the listener and says so (`recorded`).
  endWith("stopped", "");
}

/** Starts recording what is heard (the channel IQ as SigMF, the audio as WAV), or finishes it. */
export function toggleRecording() {
  if (L.recording) {
    sendJson({ event: "record_stop", data: {} });
  } else if (L.state === "playing") {
    const data = L.signalId ? { signal_id: L.signalId } : {};
    if (sendJson({ event: "record", data })) {
      L.recording = true;
      L.recorded = null;
    }
  }
  markDirty("listen");
}

/** The server's `recorded`: a recording finished (asked, or by unlisten or a retune). */
export function onRecorded(d) {
  L.recording = false;
  L.recorded = d;
  markDirty("listen");
}

/** An error event: true when it answers record or record_stop (the bar shows it). */
export function onRecordError(d) {
  if (str(d.code) !== "record_refused") return false;
  L.recording = false;
  L.recorded = { error: str(d.message) || "refused" };
  markDirty("listen");
  return true;
}

/** Hides the bar (after a stop). */
export function dismiss() {
  stopListening();
  L.state = "idle";
  markDirty("listen", "spectrum");
}

function endWith(state, message) {
  L.state = state;
  L.message = message;
  L.drag = null;
  if (A.player) A.player.stop();
  clearTimeout(A.suspendTimer);
  A.suspendTimer = setTimeout(() => {
    if (!isActive() && A.ctx && A.ctx.state === "running") A.ctx.suspend().catch(() => {});
  }, SUSPEND_AFTER_MS);
  markDirty("listen", "spectrum");
}

/** The live signal on `rx` whose band holds `hz` (within 500 Hz of a narrow one), if any. */
function signalNear(rx, hz) {
  if (!S.signals) return null;
  for (const s of S.signals.values()) {
    if (s.frequency_hz === null || !(s.receivers.includes(rx) || s.websdr_id === rx)) continue;
    if (Math.abs(s.frequency_hz - hz) <= Math.max((s.bandwidth_hz || 0) / 2, 500)) return s.signal_id;
  }
  return null;
}

function requestListen() {
  L.state = "starting";
  markDirty("listen", "spectrum");
  if (sendTimer) return; // the newest L.want goes when it fires
  const wait = lastSendAt + MIN_SEND_GAP_MS - performance.now();
  if (wait > 0) {
    sendTimer = setTimeout(() => {
      sendTimer = 0;
      if (isActive()) requestListen();
    }, wait);
    return;
  }
  lastSendAt = performance.now();
  const w = L.want;
  const data = { receiver: w.receiver, frequency_hz: Math.round(w.frequency_hz), mode: w.mode, passband_hz: w.passband_hz, squelch_dbfs: w.squelch_dbfs };
  if (sendJson({ event: "listen", data })) {
    L.pending++;
    L.onServer = true;
  } else {
    L.state = "waiting"; // asked again when the connection opens
  }
}

// ---------------------------------------------------------------- from the server

/** The server's `listening`: the answer to a request, or (with `ended`) the listener ended. */
export function onListening(d) {
  if (str(d.ended)) {
    L.onServer = false;
    if (isActive() && L.pending === 0) endWith("stopped", d.ended);
    return;
  }
  L.pending = Math.max(0, L.pending - 1);
  // An answer to a request replaced since, or to unlisten.
  if (L.pending > 0 || !d.active || !isActive()) return;
  L.report = d;
  L.state = "playing";
  L.stats.lastSeq = null;
  const rate = d.sample_rate_hz > 0 ? d.sample_rate_hz : 12000;
  if (A.player) A.player.start(rate);
  markDirty("listen", "spectrum");
}

/** An error event: true when it answers a listen request (then the bar shows it). */
export function onListenError(d) {
  const code = str(d.code);
  const isListen = LISTEN_CODES.has(code) || (code === "bad_message" && /^(un)?listen\b/.test(str(d.message) || ""));
  if (!isListen) return false;
  L.pending = Math.max(0, L.pending - 1);
  if (code === "not_listening" || L.pending > 0 || !isActive()) return true;
  L.onServer = false;
  endWith("error", str(d.message) || code);
  return true;
}

/** A binary frame: one audio packet. */
export function onAudio(buf) {
  if (L.state !== "playing" || L.pending > 0 || !A.player) return; // a replaced listener's
  const p = parsePacket(buf);
  const st = L.stats;
  if (!p) {
    st.badPackets++;
    return;
  }
  const rate = L.report.sample_rate_hz;
  if (st.lastSeq !== null) {
    if (p.seq <= st.lastSeq) return;
    const gap = p.seq - st.lastSeq - 1;
    if (gap > 0) {
      st.lost += gap;
      const n = gap * (L.report.packet_samples || p.count);
      if (gap <= MAX_GAP_FILL) A.player.push(new Float32Array(n), p.timeMs - (n / rate) * 1000);
    }
  }
  st.lastSeq = p.seq;
  st.packets++;
  st.powerDbfs = p.powerDbfs;
  st.squelchOpen = p.squelchOpen;
  st.netMs = Date.now() - (p.timeMs + (p.count / rate) * 1000);
  A.player.push(decodeSamples(p), p.timeMs);
}

/** The WebSocket opened: a listener of the lost connection is asked for again. */
export function connectionOpened() {
  L.pending = 0;
  L.onServer = false;
  if (isActive()) requestListen();
}

/** The WebSocket closed: the server's listener is gone with it. */
export function connectionLost() {
  L.pending = 0;
  L.onServer = false;
  clearTimeout(sendTimer);
  sendTimer = 0;
  if (!isActive()) return;
  L.state = "waiting";
  markDirty("listen");
}

// ---------------------------------------------------------------- audio

/** The AudioContext and its graph, made on the first call (from a user gesture) and resumed
 * on the next ones; false when there is no Web Audio to be had. */
function ensureAudio() {
  clearTimeout(A.suspendTimer);
  if (A.ctx) {
    if (A.ctx.state === "suspended") A.ctx.resume().catch(() => {});
    return true;
  }
  const Ctx = window.AudioContext || window.webkitAudioContext;
  let ctx;
  try {
    ctx = new Ctx({ latencyHint: "interactive" });
  } catch (_) {
    return false; // no Web Audio (or none left: browsers cap the contexts of a page)
  }
  ctx.resume().catch(() => {}); // within the gesture
  A.ctx = ctx;
  A.gain = ctx.createGain();
  A.analyser = ctx.createAnalyser();
  A.analyser.fftSize = 2048;
  A.gain.connect(A.analyser);
  A.analyser.connect(ctx.destination);
  loadVolume();
  applyVolume();
  A.player = ctx.audioWorklet ? workletPlayer(ctx, A.gain) : sourcesPlayer(ctx, A.gain, onPlayerStats);
  return true;
}

/** The AudioWorklet player: messages to it wait while its module loads. */
function workletPlayer(ctx, output) {
  let node = null;
  const early = [];
  const post = (m, transfer = []) => {
    if (node) node.port.postMessage(m, transfer);
    else if (m.type !== "chunk" || early.length < MAX_EARLY_CHUNKS) early.push([m, transfer]);
  };
  ctx.audioWorklet
    .addModule(new URL("./listen-worklet.js", import.meta.url).href)
    .then(() => {
      node = new AudioWorkletNode(ctx, "sdrhub-listen", { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1] });
      node.port.onmessage = (ev) => onPlayerStats(ev.data);
      node.connect(output);
      for (const [m, t] of early.splice(0)) node.port.postMessage(m, t);
    })
    .catch((e) => endWith("error", `The audio player did not load: ${e && e.message ? e.message : e}`));
  return {
    kind: "worklet",
    start: (rate) => post({ type: "start", rate }),
    push: (samples, t0) => post({ type: "chunk", samples, t0 }, [samples.buffer]),
    stop: () => post({ type: "stop" }),
  };
}

/** When the sample the context renders at `ctxTime` leaves the speaker, epoch ms. */
function playAtMs(ctxTime) {
  const ctx = A.ctx;
  const wallNow = Date.now();
  const ts = typeof ctx.getOutputTimestamp === "function" ? ctx.getOutputTimestamp() : null;
  if (ts && ts.performanceTime > 0 && ts.contextTime > 0) return wallNow + (ts.performanceTime - performance.now()) + (ctxTime - ts.contextTime) * 1000;
  // Without it: what is rendered but not yet played, plus the output's own latency.
  return wallNow + (ctxTime - ctx.currentTime) * 1000 + ((ctx.outputLatency || 0) + (ctx.baseLatency || 0)) * 1000;
}

/** The player's report (every 0.1 s): buffer, underruns, and the antenna time it renders. */
function onPlayerStats(m) {
  if (!m || m.type !== "stats" || !A.ctx) return;
  const st = L.stats;
  st.bufferMs = m.depthS * 1000;
  st.targetMs = m.targetS * 1000;
  st.underruns = m.underruns;
  st.droppedMs = m.droppedS * 1000;
  st.outputMs = playAtMs(A.ctx.currentTime) - Date.now();
  if (L.state === "playing" && typeof m.headMs === "number") st.latencyMs = playAtMs(m.ctxTime) - m.headMs;
  markDirty("listen-stats");
}

function applyVolume() {
  if (!A.gain) return;
  // Loudness follows the square of the gain's slider position more evenly than the gain itself.
  const g = L.muted ? 0 : L.volume * L.volume;
  A.gain.gain.setTargetAtTime(g, A.ctx.currentTime, 0.015);
}

function loadVolume() {
  try {
    const v = JSON.parse(localStorage.getItem(VOLUME_KEY) || "null");
    if (v && typeof v.volume === "number" && v.volume >= 0 && v.volume <= 1) L.volume = v.volume;
    if (v && typeof v.muted === "boolean") L.muted = v.muted;
  } catch (_) {
    /* no storage: the defaults */
  }
}

/** Volume 0..1 and mute, kept for the next visit. */
export function setVolume(volume, muted) {
  L.volume = Math.max(0, Math.min(1, volume));
  L.muted = muted;
  applyVolume();
  try {
    localStorage.setItem(VOLUME_KEY, JSON.stringify({ volume: L.volume, muted: L.muted }));
  } catch (_) {
    /* not kept */
  }
  markDirty("listen");
}

/** Where the passband is drawn: receiver, frequency and edges (Hz); null when not listening. */
export function listenBand() {
  if (!isActive() || !L.want) return null;
  const [lo, hi] = passbandOf();
  return { rx: L.want.receiver, hz: L.want.frequency_hz, lo: L.want.frequency_hz + lo, hi: L.want.frequency_hz + hi, dragging: L.drag !== null };
}

/** What is listened to and how it goes (for the test hook): a copy. */
export function listenView() {
  const w = L.want;
  return {
    state: L.state,
    receiver: w ? w.receiver : null,
    frequencyHz: w ? w.frequency_hz : null,
    mode: w ? w.mode : null,
    passbandHz: w ? passbandOf() : null,
    squelchDbfs: L.squelchDbfs,
    signalId: L.signalId,
    message: L.message,
    pending: L.pending,
    sampleRateHz: L.report ? L.report.sample_rate_hz : null,
    ...L.stats,
    volume: L.volume,
    muted: L.muted,
    player: A.player ? A.player.kind : null,
    contextRateHz: A.ctx ? A.ctx.sampleRate : null,
    contextState: A.ctx ? A.ctx.state : null,
  };
}

/** The AnalyserNode after the volume (null before the first listen): for tests to read what plays. */
export const analyserNode = () => A.analyser;
