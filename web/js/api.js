// REST calls to the hub: the one place that adds the access token (a bearer header, from
// `#token=`), bounds each request with a timeout, and turns a refusal into an Error carrying
// the server's own words. The REST fallback polling and the History view both go through it.
//
// The server's error bodies are JSON: `{"code", "message"}` (the history endpoints add
// `error`, the same text; a validation failure may list `problems`). Anything else (a proxy's
// HTML page, a timeout, a dropped connection) still becomes a sentence naming the request.

import { TOKEN } from "./config.js";

/** A failed REST call: `status` (0 when there was no HTTP answer), the server's `code` and text. */
export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** The server's reason, from a refusal's body (JSON or short text), or null. */
async function reasonOf(r) {
  let text = "";
  try {
    text = await r.text();
  } catch (_) {
    return { message: null, code: null };
  }
  try {
    const b = JSON.parse(text);
    if (b && typeof b === "object") {
      const problems = Array.isArray(b.problems) ? b.problems.filter((p) => typeof p === "string") : [];
      const message = [b.message || b.error, ...problems].filter((m) => typeof m === "string" && m).join("; ");
      return { message: message || null, code: typeof b.code === "string" ? b.code : null };
    }
  } catch (_) {
    /* not JSON */
  }
  const plain = text.trim();
  return { message: plain && plain.length <= 300 && !plain.startsWith("<") ? plain : null, code: null };
}

/**
 * Calls `path` (with `params`, an object whose null/undefined/"" values are left out) and
 * returns the parsed JSON answer (null for 204). Throws an ApiError on any failure.
 */
export async function apiCall(path, { method = "GET", params = null, body = undefined, timeoutMs = 4000 } = {}) {
  const url = new URL(path, window.location.origin);
  if (params) {
    for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") url.searchParams.set(k, String(v));
  }
  const what = `${method} ${url.pathname}`;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), timeoutMs);
  const headers = { Accept: "application/json" };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  try {
    let r;
    try {
      r = await fetch(url.pathname + url.search, {
        method,
        headers,
        signal: ctl.signal,
        cache: "no-store",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      const why = ctl.signal.aborted ? `no answer within ${Math.round(timeoutMs / 1000)} s` : "server unreachable";
      throw new ApiError(`${what}: ${why}`, 0, null);
    }
    if (!r.ok) {
      const { message, code } = await reasonOf(r);
      throw new ApiError(`${what}: HTTP ${r.status}${message ? ` — ${message}` : ""}`, r.status, code);
    }
    if (r.status === 204) return null;
    try {
      return await r.json();
    } catch (_) {
      throw new ApiError(`${what}: the answer is not JSON`, r.status, null);
    }
  } finally {
    clearTimeout(timer);
  }
}

/** GET `path` (the polling fallback's short timeout unless told). */
export const getJson = (path, params = null, timeoutMs = 4000) => apiCall(path, { params, timeoutMs });
