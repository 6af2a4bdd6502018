// Pure helpers: checking what the server sent (num, str, parseTime) and formatting it for
// the page. No state, no DOM.

/** A finite number, or null (anything else the server might send). */
export const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
/** A non-empty string, or null. */
export const str = (v) => (typeof v === "string" && v !== "" ? v : null);
/** What a cell shows for a value the server did not report. */
export const DASH = "—";

/** Parses RFC 3339 (any number of fractional digits) to epoch ms, or null. */
export function parseTime(v) {
  if (typeof v !== "string") return null;
  const t = Date.parse(v.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isFinite(t) ? t : null;
}

export function fmtDuration(ms) {
  if (ms === null || !Number.isFinite(ms)) return DASH;
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${String(s % 60).padStart(2, "0")} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, "0")} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}
export const fmtFixed = (v, d) => (num(v) === null ? DASH : v.toFixed(d));
export const fmtInt = (v) => (num(v) === null ? DASH : Math.round(v).toLocaleString("en-US"));
export const fmtClock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
export const fmtIso = (t) => (t === null ? "" : new Date(t).toISOString());
export const mhz = (hz) => (num(hz) === null ? null : hz / 1e6);
/** A status the stylesheet has a colour for (`st-<status>`), else "unknown". */
export const knownStatus = (s) => (["healthy", "degraded", "unhealthy", "online", "offline"].includes(s) ? s : "unknown");
