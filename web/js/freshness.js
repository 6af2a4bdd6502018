// Freshness: whether what the page shows is still live. An open WebSocket is not enough: a
// frozen or overloaded server keeps the TCP connection open and sends nothing, so the page
// calls its data stale when no event has come for STALE_INTERVALS times the interval the
// server says to expect (spectrum frames while a receiver streams, else the health and status
// reports; from GET /api/v1/dashboard-config), and live again with the next event.

import { markDirty, S } from "./state.js";

/** Expected intervals without an event before the data is called stale (one late event is jitter). */
const STALE_INTERVALS = 3;
/** Shortest threshold, ms: timers and rendering in a busy tab jitter by a few hundred ms. */
const MIN_STALE_MS = 1000;
/** The server's default `status_interval_s`, until /api/v1/dashboard-config has answered. */
const DEFAULT_INTERVAL_MS = 5000;

/** How often news is expected while connected, ms. */
export function expectedIntervalMs() {
  const c = S.dashConfig;
  const streaming = (S.websdrs || []).some((w) => w.status === "online" || w.status === "degraded");
  if (c && c.frames && c.frames.enabled && !S.spectrumForbidden && streaming && c.frames.rateHz > 0) {
    return 1000 / c.frames.rateHz;
  }
  const periodic = c ? [c.healthIntervalS, c.statusIntervalS].filter((s) => typeof s === "number" && s > 0) : [];
  return periodic.length ? Math.min(...periodic) * 1000 : DEFAULT_INTERVAL_MS;
}

/** Silence after which the data is stale, ms. */
export const staleAfterMs = () => Math.max(MIN_STALE_MS, STALE_INTERVALS * expectedIntervalMs());

/** Re-evaluates S.stale and S.staleForS (called several times a second); marks the badge dirty on change. */
export function checkFreshness() {
  const live = S.connection === "connected" && S.lastDataAt !== null;
  const silentMs = live ? Date.now() - S.lastDataAt : 0;
  const stale = live && silentMs > staleAfterMs();
  const forS = stale ? Math.floor(silentMs / 1000) : null;
  if (stale !== S.stale || forS !== S.staleForS) {
    S.stale = stale;
    S.staleForS = forS;
    markDirty("conn");
  }
}
