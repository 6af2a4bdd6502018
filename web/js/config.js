// The dashboard's settings: fixed limits, and the few query parameters that tests and
// debugging may change (the defaults are what users get):
//   ?ws=ws://host:port/path  WebSocket URL override. Must be ws:/wss: on the page's own
//                            host name; a banner says so while it is active.
//   ?backoff_ms=N            base reconnect delay (default 1000). The cap stays 30x the
//                            base (default 30 s) and the connect timeout 10x (min 2 s).
//   ?poll_ms=N               REST polling interval in fallback mode (default 5000).
//   ?ping_ms=N               ping interval (default 20000).
// Read once when the page loads; nothing changes them afterwards.

const params = new URLSearchParams(window.location.search);

/** Reads a numeric query parameter, falling back to `def` when absent or out of range. */
function numParam(name, def, min, max) {
  const raw = params.get(name);
  if (raw === null || raw.trim() === "") return def;
  const v = Number(raw);
  return Number.isFinite(v) && v >= min && v <= max ? v : def;
}

export const defaultWsUrl =
  (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/updates";

/** What the debug banner lists: every query parameter that changed a default. */
export const overrides = [];
let wsUrl = defaultWsUrl;
const wsParam = params.get("ws");
if (wsParam !== null) {
  let ok = false;
  try {
    const u = new URL(wsParam);
    // Only the page's own host: a link must not be able to point the dashboard at a
    // stranger's server and have it display their data as ours.
    ok = (u.protocol === "ws:" || u.protocol === "wss:") && u.hostname === window.location.hostname;
    if (ok) wsUrl = u.href;
  } catch (_) {
    ok = false;
  }
  overrides.push(ok ? `WebSocket URL overridden: ${wsUrl}` : `Ignored invalid ?ws= override (must be ws:/wss: on ${window.location.hostname})`);
}

// With [auth] on, open the page as /#token=<token>: the fragment never reaches the server's
// logs; the token goes to the WebSocket as a subprotocol and to REST as a bearer header.
export const TOKEN = new URLSearchParams(window.location.hash.replace(/^#/, "")).get("token") || params.get("token") || null;

const BACKOFF_BASE_MS = numParam("backoff_ms", 1000, 10, 60000);
export const CFG = Object.freeze({
  wsUrl,
  backoffBaseMs: BACKOFF_BASE_MS,
  // 1 s doubling to 30 s by default; scaled with the base so tests can run fast.
  backoffCapMs: BACKOFF_BASE_MS * 30,
  connectTimeoutMs: Math.max(2000, BACKOFF_BASE_MS * 10),
  failuresBeforePolling: 5,
  pollMs: numParam("poll_ms", 5000, 100, 600000),
  pingMs: numParam("ping_ms", 20000, 200, 600000),
  restTimeoutMs: 4000,
  minFrameMs: 200, // at most 5 renders per second
  maxLocalizations: 100,
  maxSignalRows: 300,
  // Consecutive failed REST rounds before the badge says Disconnected: one failed round is
  // often just the server restarting.
  pollFailuresBeforeDisconnected: 3,
  waterfallRows: 240, // 60 s at the default 4 frames/s
  maxTiles: 64,
});
for (const k of ["backoff_ms", "poll_ms", "ping_ms"]) {
  if (params.has(k)) overrides.push(`${k}=${params.get(k)}`);
}
