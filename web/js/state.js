// The dashboard's state: one object, `S`, that every module reads and changes, and the
// render scheduler. Whoever changes S marks the parts of the page it affects dirty; main.js
// draws them at most a few times per second (CFG.minFrameMs), so a burst of events costs
// one render, not one per event.

import { CFG } from "./config.js";

export const S = {
  connection: "connecting",
  history: ["connecting"],
  failures: 0, // consecutive failed WebSocket attempts
  attempts: 0, // total WebSocket attempts
  everConnected: false,
  polling: false,
  pollOk: null, // null: no poll finished yet in this polling period
  pollFailures: 0, // consecutive failed REST rounds
  nextAttemptAt: null,
  lastClose: null,
  lastSeq: null,
  lastUpdateAt: null, // client ms of the newest data (WebSocket or REST)
  lastUpdateVia: null,
  lastMsgAt: null,
  lastDataAt: null, // client ms of the last event other than pong (freshness.js)
  stale: false, // connected, but no event for longer than freshness.js allows
  staleForS: null, // whole seconds without an event, while stale
  latencyMs: null,
  clockOffsetMs: null, // server clock minus client clock
  health: null,
  systemInfo: null,
  websdrs: null, // array, null until the server sends one
  signals: null, // Map signal_id -> signal, null until the server sends a list
  alerts: null, // Map alert_id -> active alert (raised or acknowledged)
  ackErrors: new Map(), // alert_id -> why the server refused its acknowledgement
  offAir: new Map(), // signal_id -> a lost signal, kept a while to say when it was last heard
  locs: null, // Map signal_id -> localization
  selected: null,
  subscriptions: null,
  lastError: null,
  messages: 0,
  badMessages: 0,
  renders: 0,
  resyncs: 0,
  dashConfig: null, // GET /api/v1/dashboard-config, null until it answers
  spectra: new Map(), // receiver id -> spectrum state (last frame, waterfall rows, average, peak)
  spectrumRx: null, // receiver shown in the spectrum panel
  spectrumChosen: false, // the user picked it (then we never switch on our own)
  pendingCentre: null, // Hz to centre on when the chosen receiver's first frame arrives
  waterfallHistory: new Map(), // receiver id -> the server's recent waterfall: "loading", "loaded N", "failed: ..."
  spectrumForbidden: false, // the token does not allow spectrum:frame
  frames: 0,
  sort: { key: "frequency", dir: "ascending" },
  filter: "", // the signals filter's text, lower case (filter.js parses it)
  minSnr: null, // the signals filter's minimum SNR, dB (null: none)
  filterRx: "", // the signals filter's receiver id ("": any)
  filteredOut: 0, // signals the filter hides
  showIgnored: false, // show live signals whose known entry is a lockout (`ignore`)
  view: "live", // "live" or "history" (the tabs under the header)
  shownSignals: 0,
  tiles: { requested: 0, loaded: 0, failed: 0 },
};

/** The connection states (S.connection, kept in order in S.history) and their badge text. */
export const BADGE_TEXT = {
  connecting: "Connecting",
  connected: "Connected",
  reconnecting: "Reconnecting",
  polling: "Polling (REST fallback)",
  disconnected: "Disconnected",
};

/** A receiver's display name (its id until the server has sent a name). */
export function receiverName(id) {
  if (S.websdrs) {
    const r = S.websdrs.find((w) => w.id === id);
    if (r && r.name) return r.name;
  }
  return id;
}

/** "Now" on the server's clock, so ages do not depend on the viewer's clock being right. */
export const serverNow = () => Date.now() + (S.clockOffsetMs || 0);

/** Records that data (WebSocket or REST) just arrived. */
export function touchData(via) {
  S.lastUpdateAt = Date.now();
  S.lastUpdateVia = via;
}

// ---------------------------------------------------------------- rendering scheduler
const dirty = new Set();
let renderQueued = false;
let lastRender = 0;
let draw = null; // main.js's render(parts), set once by onRender before anything is marked

/** Sets what a render does with the set of dirty parts. */
export function onRender(fn) {
  draw = fn;
}

/** Marks parts of the page ("conn", "signals", "spectrum", ... or "all") for the next render. */
export function markDirty(...parts) {
  for (const p of parts) dirty.add(p);
  if (renderQueued) return;
  renderQueued = true;
  const wait = Math.max(0, CFG.minFrameMs - (performance.now() - lastRender));
  setTimeout(() => requestAnimationFrame(render), wait);
}

function render() {
  renderQueued = false;
  lastRender = performance.now();
  S.renders++;
  const d = new Set(dirty);
  dirty.clear();
  draw(d);
}
