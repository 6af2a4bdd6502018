// The page's header and footer: the connection badge and what it is waiting for, overall
// status, latency, last update, and the banner that says when debug settings are active.

import { CFG, defaultWsUrl, overrides } from "./config.js";
import { attemptInProgress } from "./connection.js";
import { expectedIntervalMs } from "./freshness.js";
import { $, setAttr, setText } from "./dom.js";
import { DASH, fmtClock, fmtDuration, knownStatus, num, str } from "./format.js";
import { BADGE_TEXT, S } from "./state.js";

/** The dashed banner listing the query parameters that changed a default (none: hidden). */
export function showDebugBanner() {
  if (overrides.length) {
    const b = $("debug-banner");
    const foreign = CFG.wsUrl !== defaultWsUrl ? " Live data does not come from this page's default endpoint." : "";
    b.textContent = `Debug settings active — ${overrides.join(" · ")}.${foreign}`;
    b.hidden = false;
  }
}

/** The badge's state: the connection's, or "stale" when connected but silent (freshness.js). */
const badgeState = () => (S.connection === "connected" && S.stale ? "stale" : S.connection);

const fmtInterval = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(ms < 10000 ? 1 : 0)} s`);

export function renderConnection() {
  const badge = $("badge");
  const c = badgeState();
  setAttr(badge, "data-state", c);
  badge.className = `badge badge-${c}`;
  setText($("badge-text"), c === "stale" ? `Stale: nothing for ${S.staleForS} s` : BADGE_TEXT[c] || c);
  const retry = $("retry");
  setAttr(retry, "hidden", c === "connected" ? "" : null);
  document.body.classList.toggle("is-stale", c !== "connected" && c !== "polling" && S.lastUpdateAt !== null);
  renderConnDetail();
}

/** The line under the badge: why not connected, and what happens next (refreshed every second). */
export function renderConnDetail() {
  const c = badgeState();
  let t = "";
  if (c === "connected") {
    t = "";
  } else if (c === "stale") {
    t = `connected, but nothing has arrived for ${S.staleForS} s (news is expected every ${fmtInterval(expectedIntervalMs())}): the server may be frozen or overloaded · showing data from ${fmtClock(S.lastDataAt)}`;
  } else {
    const parts = [];
    if (S.nextAttemptAt !== null) {
      const secs = Math.max(0, (S.nextAttemptAt - Date.now()) / 1000);
      parts.push(`next WebSocket attempt in ${secs.toFixed(secs < 10 ? 1 : 0)} s`);
    } else if (attemptInProgress()) {
      parts.push("WebSocket attempt in progress");
    }
    if (S.failures > 0) parts.push(`${S.failures} failed attempt${S.failures === 1 ? "" : "s"}`);
    if (S.lastClose) parts.push(`last close: ${S.lastClose}`);
    if (S.polling) parts.push(`REST polling every ${CFG.pollMs / 1000} s${S.pollOk === false ? " — server unreachable" : ""}`);
    if (c !== "polling" && S.lastUpdateAt !== null) parts.push(`showing data from ${fmtClock(S.lastUpdateAt)}, may be out of date`);
    t = parts.join(" · ");
  }
  setText($("conn-detail"), t);
}

/** Overall status, latency, last update and seq in the header; server version in the footer. */
export function renderMeta() {
  const h = S.health;
  const overall = $("overall");
  if (h && S.stale) {
    // A frozen server's last word is not its current health.
    setText(overall, "unknown (stale)");
    overall.className = "st st-unknown";
    setAttr(overall, "title", `last reported: ${h.status || "unknown"}`);
  } else {
    const st = h ? knownStatus(h.status) : null;
    setText(overall, h ? h.status || "unknown" : DASH);
    overall.className = st ? `st st-${st}` : "";
    setAttr(overall, "title", null);
  }
  setText($("latency"), S.latencyMs === null ? DASH : `${Math.round(S.latencyMs)} ms`);
  setText(
    $("last-update"),
    S.lastUpdateAt === null ? "no data yet" : `${fmtClock(S.lastUpdateAt)} (${fmtDuration(Date.now() - S.lastUpdateAt)} ago${S.lastUpdateVia === "rest" ? ", REST" : ""})`,
  );
  setText($("last-seq"), S.lastSeq === null ? DASH : String(S.lastSeq));
  const info = S.systemInfo;
  const footer = [`sdrhub dashboard`];
  if (info && str(info.version)) footer.push(`server ${info.version}`);
  if (info && num(info.uptime_s) !== null) footer.push(`uptime ${fmtDuration(info.uptime_s * 1000)}`);
  footer.push(`WebSocket ${CFG.wsUrl}`);
  setText($("footer-info"), footer.join(" · "));
}
