// The connection to the hub: one WebSocket (token from `#token=` as a subprotocol, resumed
// with `?since=<last seq>` after the first connect), pings for latency and half-open
// detection, reconnects with full-jitter exponential backoff, and REST polling as a fallback
// after CFG.failuresBeforePolling failed attempts (the WebSocket is still retried meanwhile).
// It owns the socket and its timers; the rest of the page sees only S.connection, and sends
// through sendJson (listen.js). Binary frames are audio packets: they go to listen.js.

import { getJson } from "./api.js";
import { CFG, TOKEN } from "./config.js";
import { setHealth, setLocs, setSignals, setWebsdrs } from "./data.js";
import { applyEvent } from "./events.js";
import { num, parseTime, str } from "./format.js";
import { checkFreshness } from "./freshness.js";
import { connectionLost, connectionOpened, onAudio } from "./listen.js";
import { markDirty, S, touchData } from "./state.js";
import { forgetHistory } from "./waterfall.js";

/** Replies the session makes itself, numbered with the seq of the message before them. */
const OUTSIDE_SEQUENCE = new Set(["pong", "listening", "recorded"]);

let ws = null;
let wsOpened = false;
let connSeq = null; // last seq on the current connection
let connectTimer = 0;
let reconnectTimer = 0;
let pingTimer = 0;
let pingSentAt = null;
let pollTimer = 0;
let pollGen = 0;

/** Whether the WebSocket is open (the "online" event retries only when it is not). */
export const isOpen = () => wsOpened;
/** Whether a WebSocket is connecting right now (no backoff timer running). */
export const attemptInProgress = () => Boolean(ws && !wsOpened);

/** Sends `msg` as JSON on the open WebSocket; false when there is none (or it failed). */
export function sendJson(msg) {
  if (!ws || !wsOpened || ws.readyState !== WebSocket.OPEN) return false;
  try {
    ws.send(JSON.stringify(msg));
    return true;
  } catch (_) {
    return false; // the close handler follows
  }
}

function deriveConnection() {
  if (ws && wsOpened && ws.readyState === WebSocket.OPEN) return "connected";
  if (S.polling) return S.pollFailures >= CFG.pollFailuresBeforeDisconnected ? "disconnected" : "polling";
  if (S.failures > 0 || S.everConnected) return "reconnecting";
  return "connecting";
}

function updateConnection() {
  const c = deriveConnection();
  if (c !== S.connection) {
    S.connection = c;
    S.history.push(c);
    if (S.history.length > 100) S.history.shift();
  }
  checkFreshness(); // only "connected" can be stale
  markDirty("conn");
}

// ---------------------------------------------------------------- WebSocket
function clearTimer(t) {
  if (t) clearTimeout(t);
  return 0;
}

function detach(sock) {
  sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
  try {
    sock.close();
  } catch (_) {
    /* already closed */
  }
}

const CLOSE_CODES = {
  1000: "normal",
  1001: "server going away",
  1006: "connection lost",
  1008: "policy violation",
  1009: "message too big",
  1011: "server error",
  1013: "server busy, try again later",
};

/** Opens a new WebSocket (dropping the current one, if any). */
export function connect() {
  reconnectTimer = clearTimer(reconnectTimer);
  S.nextAttemptAt = null;
  if (ws) {
    detach(ws);
    ws = null;
  }
  wsOpened = false;
  connSeq = null;
  S.attempts++;
  let sock;
  try {
    sock = TOKEN ? new WebSocket(resumeUrl(), ["sdrhub", `bearer.${TOKEN}`]) : new WebSocket(resumeUrl());
  } catch (err) {
    S.lastClose = `cannot open: ${err && err.message ? err.message : err}`;
    onFailure();
    return;
  }
  sock.binaryType = "arraybuffer"; // audio packets
  ws = sock;
  connectTimer = clearTimer(connectTimer);
  connectTimer = setTimeout(() => {
    if (ws === sock && !wsOpened) {
      S.lastClose = "connect timed out";
      detach(sock);
      ws = null;
      onFailure();
    }
  }, CFG.connectTimeoutMs);

  sock.onopen = () => {
    if (ws !== sock) return;
    connectTimer = clearTimer(connectTimer);
    wsOpened = true;
    if (S.everConnected) forgetHistory(); // the server's waterfall fills what was missed
    S.everConnected = true;
    S.lastMsgAt = Date.now();
    S.lastDataAt = Date.now(); // the snapshot follows: the silence is counted from here
    S.lastClose = null;
    stopPolling();
    startPing();
    subscribeFrames(sock);
    if (S.dashConfig === null) loadDashboardConfig();
    connectionOpened(); // a listener of a lost connection is asked for again
    updateConnection();
  };
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    if (typeof ev.data !== "string") {
      S.lastMsgAt = Date.now(); // proves the connection, like a pong
      onAudio(ev.data);
      return;
    }
    onMessage(ev.data);
  };
  sock.onerror = () => {
    /* a close event always follows; handled there */
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    const reason = ev.reason ? ` “${ev.reason}”` : "";
    S.lastClose = `code ${ev.code}${CLOSE_CODES[ev.code] ? ` (${CLOSE_CODES[ev.code]})` : ""}${reason}`;
    ws = null;
    onFailure();
  };
  updateConnection();
}

// spectrum:frame is opt-in: the connection starts with the default topics (so ?since= resumes
// them), then asks for frames. A token without them answers forbidden_topic, which only
// hides the waterfall.
function subscribeFrames(sock) {
  if (S.spectrumForbidden) return;
  try {
    sock.send(JSON.stringify({ event: "subscribe", data: { events: ["spectrum:frame"] } }));
  } catch (_) {
    /* the close handler follows */
  }
}

// After the first connection, reconnect with ?since=<last seq>: the server replays what was
// missed (or sends a resync with a fresh state when it no longer holds it).
function resumeUrl() {
  if (S.lastSeq === null) return CFG.wsUrl;
  try {
    const u = new URL(CFG.wsUrl);
    u.searchParams.set("since", String(S.lastSeq));
    return u.href;
  } catch (_) {
    return CFG.wsUrl;
  }
}

function onMessage(raw) {
  let msg;
  try {
    msg = JSON.parse(raw);
  } catch (_) {
    S.badMessages++;
    return;
  }
  if (!msg || typeof msg !== "object" || typeof msg.event !== "string") {
    S.badMessages++;
    return;
  }
  if (num(msg.seq) !== null && !OUTSIDE_SEQUENCE.has(msg.event)) {
    // seq strictly increases; a repeat or an older one is a duplicate. A pong, a listening
    // and a recorded repeat the seq of the message before them (the server answers pings,
    // listen and record requests outside its event sequence).
    if (connSeq !== null && msg.seq <= connSeq) return;
    connSeq = msg.seq;
    S.lastSeq = msg.seq;
  }
  S.messages++;
  S.lastMsgAt = Date.now();
  // The connection is proven by a message, not by the handshake alone: only now does
  // the backoff start over, so a server that accepts and drops at once still backs off.
  S.failures = 0;
  if (msg.event === "pong") {
    onPong(msg.data); // proves the connection, not that data flows: freshness ignores it
    return;
  }
  S.lastDataAt = S.lastMsgAt;
  if (S.stale) checkFreshness(); // live again at once, not at the next check
  applyEvent(msg.event, msg.data, parseTime(msg.timestamp));
}

/** Latency (the first ping since the last pong) and the server's clock from its pong. */
function onPong(data) {
  const d = data && typeof data === "object" ? data : {};
  if (pingSentAt !== null) {
    const now = Date.now();
    S.latencyMs = now - pingSentAt;
    const st = parseTime(d.server_time);
    if (st !== null) S.clockOffsetMs = st - (pingSentAt + S.latencyMs / 2);
    pingSentAt = null;
  }
  markDirty("conn");
}

function backoffDelay(failures) {
  const exp = Math.min(CFG.backoffCapMs, CFG.backoffBaseMs * 2 ** Math.min(30, failures - 1));
  return Math.random() * exp; // full jitter
}

function onFailure() {
  connectTimer = clearTimer(connectTimer);
  stopPing();
  connectionLost();
  wsOpened = false;
  S.latencyMs = null; // a dead connection has no latency
  S.failures++;
  if (S.failures >= CFG.failuresBeforePolling) startPolling();
  const delay = backoffDelay(S.failures);
  S.nextAttemptAt = Date.now() + delay;
  reconnectTimer = clearTimer(reconnectTimer);
  reconnectTimer = setTimeout(connect, delay);
  updateConnection();
}

/** Retry now: a new attempt at once, the backoff started over. */
export function retryNow() {
  S.failures = 0;
  S.lastClose = null;
  connect();
}

function startPing() {
  stopPing();
  const tick = () => {
    if (!ws || !wsOpened) return;
    const silentFor = Date.now() - (S.lastMsgAt || 0);
    if (silentFor > CFG.pingMs * 2 + 5000) {
      // A half-open connection: nothing (not even pong) for two ping periods.
      S.lastClose = `no data for ${Math.round(silentFor / 1000)} s`;
      const sock = ws;
      ws = null;
      detach(sock);
      onFailure();
      return;
    }
    try {
      ws.send(JSON.stringify({ event: "ping", data: {} }));
      if (pingSentAt === null) pingSentAt = Date.now();
    } catch (_) {
      /* close handler will follow */
    }
    pingTimer = setTimeout(tick, CFG.pingMs);
  };
  pingTimer = setTimeout(tick, 300); // first latency reading shortly after connect
}

function stopPing() {
  pingTimer = clearTimer(pingTimer);
  pingSentAt = null;
}

// ---------------------------------------------------------------- REST fallback
const fetchJson = (path) => getJson(path, null, CFG.restTimeoutMs);

function startPolling() {
  if (S.polling) return;
  S.polling = true;
  S.pollOk = null;
  S.pollFailures = 0;
  const gen = ++pollGen;
  const round = async () => {
    const res = await Promise.allSettled([
      fetchJson("/api/v1/system/status"),
      fetchJson("/api/v1/websdrs"),
      fetchJson("/api/v1/signals"),
      fetchJson("/api/v1/localizations"),
    ]);
    if (gen !== pollGen) return; // the WebSocket came back meanwhile: its data is newer
    const [sys, sdrs, sigs, locs] = res.map((r) => (r.status === "fulfilled" && r.value && typeof r.value === "object" ? r.value : null));
    if (sys) {
      setHealth(sys);
      S.systemInfo = { version: sys.version, uptime_s: sys.uptime_s };
    }
    if (sdrs) setWebsdrs(sdrs.websdrs);
    if (sigs) setSignals(sigs.signals);
    if (locs) setLocs(locs.localizations);
    const ok = Boolean(sys || sdrs || sigs || locs);
    S.pollOk = ok;
    S.pollFailures = ok ? 0 : S.pollFailures + 1;
    if (ok) touchData("rest");
    updateConnection();
    pollTimer = setTimeout(round, CFG.pollMs);
  };
  round();
}

function stopPolling() {
  if (!S.polling) return;
  S.polling = false;
  S.pollOk = null;
  S.pollFailures = 0;
  pollGen++;
  pollTimer = clearTimer(pollTimer);
}

/** GET /api/v1/dashboard-config once: map tiles and whether spectrum frames are on. */
export async function loadDashboardConfig() {
  if (loadDashboardConfig.busy || S.dashConfig !== null) return;
  loadDashboardConfig.busy = true;
  try {
    const c = await fetchJson("/api/v1/dashboard-config");
    const url = str(c.map_tiles_url);
    const frames = c.spectrum_frames && typeof c.spectrum_frames === "object" ? c.spectrum_frames : null;
    S.dashConfig = {
      tilesUrl: url && /^https?:\/\//.test(url) && ["{z}", "{x}", "{y}"].every((p) => url.includes(p)) ? url : null,
      attribution: str(c.map_tiles_attribution),
      frames: frames ? { enabled: frames.enabled !== false && (num(frames.rate_hz) ?? 1) > 0, rateHz: num(frames.rate_hz), historyS: num(frames.history_s), rowS: num(frames.history_row_s) } : null,
      healthIntervalS: num(c.health_interval_s),
      statusIntervalS: num(c.status_interval_s),
    };
    markDirty("map", "spectrum");
  } catch (_) {
    /* asked again on the next WebSocket open */
  } finally {
    loadDashboardConfig.busy = false;
  }
}
