// sdrhub dashboard: one WebSocket to the hub, REST polling as a fallback, and a
// render loop that touches the DOM at most a few times per second.
//
// Query parameters (for tests and debugging only; the defaults are what users get):
//   ?ws=ws://host:port/path  WebSocket URL override. Must be ws:/wss: on the page's own
//                            host name; a banner says so while it is active.
//   ?backoff_ms=N            base reconnect delay (default 1000). The cap stays 30x the
//                            base (default 30 s) and the connect timeout 10x (min 2 s).
//   ?poll_ms=N               REST polling interval in fallback mode (default 5000).
//   ?ping_ms=N               ping interval (default 20000).
"use strict";

(() => {
  // ---------------------------------------------------------------- config
  const params = new URLSearchParams(window.location.search);

  /** Reads a numeric query parameter, falling back to `def` when absent or out of range. */
  function numParam(name, def, min, max) {
    const raw = params.get(name);
    if (raw === null || raw.trim() === "") return def;
    const v = Number(raw);
    return Number.isFinite(v) && v >= min && v <= max ? v : def;
  }

  const defaultWsUrl =
    (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/ws/updates";

  const overrides = [];
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
  const TOKEN = new URLSearchParams(window.location.hash.replace(/^#/, "")).get("token") || params.get("token") || null;

  const BACKOFF_BASE_MS = numParam("backoff_ms", 1000, 10, 60000);
  const CFG = Object.freeze({
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
  });
  for (const k of ["backoff_ms", "poll_ms", "ping_ms"]) {
    if (params.has(k)) overrides.push(`${k}=${params.get(k)}`);
  }

  // ---------------------------------------------------------------- state
  const S = {
    connection: "connecting",
    history: ["connecting"],
    failures: 0, // consecutive failed WebSocket attempts
    attempts: 0, // total WebSocket attempts
    everConnected: false,
    polling: false,
    pollOk: null, // null: no poll finished yet in this polling period
    nextAttemptAt: null,
    lastClose: null,
    lastSeq: null,
    lastUpdateAt: null, // client ms of the newest data (WebSocket or REST)
    lastUpdateVia: null,
    lastMsgAt: null,
    latencyMs: null,
    clockOffsetMs: null, // server clock minus client clock
    health: null,
    systemInfo: null,
    websdrs: null, // array, null until the server sends one
    signals: null, // Map signal_id -> signal, null until the server sends a list
    locs: null, // Map signal_id -> localization
    selected: null,
    subscriptions: null,
    lastError: null,
    messages: 0,
    badMessages: 0,
    renders: 0,
  };

  let ws = null;
  let wsOpened = false;
  let connSeq = null; // last seq on the current connection
  let connectTimer = 0;
  let reconnectTimer = 0;
  let pingTimer = 0;
  let pingSentAt = null;
  let pollTimer = 0;
  let pollGen = 0;

  // ---------------------------------------------------------------- helpers
  const $ = (id) => document.getElementById(id);
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
  const str = (v) => (typeof v === "string" && v !== "" ? v : null);
  const DASH = "—";

  /** Parses RFC 3339 (any number of fractional digits) to epoch ms, or null. */
  function parseTime(v) {
    if (typeof v !== "string") return null;
    const t = Date.parse(v.replace(/(\.\d{3})\d+/, "$1"));
    return Number.isFinite(t) ? t : null;
  }

  /** "Now" on the server's clock, so ages do not depend on the viewer's clock being right. */
  const serverNow = () => Date.now() + (S.clockOffsetMs || 0);

  function fmtDuration(ms) {
    if (ms === null || !Number.isFinite(ms)) return DASH;
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} m ${String(s % 60).padStart(2, "0")} s`;
    const h = Math.floor(m / 60);
    if (h < 48) return `${h} h ${String(m % 60).padStart(2, "0")} m`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }
  const ageOf = (t) => (t === null ? null : serverNow() - t);
  const fmtAgo = (t) => (t === null ? DASH : `${fmtDuration(ageOf(t))} ago`);
  const fmtFixed = (v, d) => (num(v) === null ? DASH : v.toFixed(d));
  const fmtInt = (v) => (num(v) === null ? DASH : Math.round(v).toLocaleString("en-US"));
  const fmtClock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
  const fmtIso = (t) => (t === null ? "" : new Date(t).toISOString());
  const mhz = (hz) => (num(hz) === null ? null : hz / 1e6);

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }
  function setAttr(el, name, value) {
    if (value === null || value === undefined) {
      if (el.hasAttribute(name)) el.removeAttribute(name);
    } else if (el.getAttribute(name) !== String(value)) {
      el.setAttribute(name, value);
    }
  }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const SVGNS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, attrs[k]);
    return e;
  }
  const knownStatus = (s) => (["healthy", "degraded", "unhealthy", "online", "offline"].includes(s) ? s : "unknown");

  function receiverName(id) {
    if (S.websdrs) {
      const r = S.websdrs.find((w) => w.id === id);
      if (r && r.name) return r.name;
    }
    return id;
  }

  // ---------------------------------------------------------------- rendering scheduler
  const dirty = new Set();
  let renderQueued = false;
  let lastRender = 0;

  function markDirty(...parts) {
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
    const all = d.has("all");
    if (all || d.has("conn")) renderConnection();
    if (all || d.has("health")) renderHealth();
    if (all || d.has("websdrs")) renderReceivers();
    if (all || d.has("signals") || d.has("websdrs") || d.has("selection")) renderSignals();
    if (all || d.has("locs") || d.has("signals") || d.has("websdrs") || d.has("selection")) renderLocs();
    if (all || d.has("locs") || d.has("signals") || d.has("websdrs") || d.has("selection") || d.has("map")) renderMap();
    if (all || d.has("tick")) renderAges();
    renderMeta();
  }

  function showPanel(panelId, hasData) {
    const panel = document.querySelector(`[data-testid="${panelId}"]`);
    const empty = panel.querySelector("[data-empty]");
    const body = empty.nextElementSibling;
    setAttr(empty, "hidden", hasData ? "" : null);
    setAttr(body, "hidden", hasData ? null : "");
    setAttr(panel, "data-has-data", hasData ? "true" : "false");
  }

  // ---------------------------------------------------------------- connection UI
  const BADGE_TEXT = {
    connecting: "Connecting",
    connected: "Connected",
    reconnecting: "Reconnecting",
    polling: "Polling (REST fallback)",
    disconnected: "Disconnected",
  };

  function deriveConnection() {
    if (ws && wsOpened && ws.readyState === WebSocket.OPEN) return "connected";
    if (S.polling) return S.pollOk === false ? "disconnected" : "polling";
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
    markDirty("conn");
  }

  function renderConnection() {
    const badge = $("badge");
    const c = S.connection;
    setAttr(badge, "data-state", c);
    badge.className = `badge badge-${c}`;
    setText($("badge-text"), BADGE_TEXT[c] || c);
    const retry = $("retry");
    setAttr(retry, "hidden", c === "connected" ? "" : null);
    document.body.classList.toggle("is-stale", c !== "connected" && c !== "polling" && S.lastUpdateAt !== null);
    renderConnDetail();
  }

  function renderConnDetail() {
    const c = S.connection;
    let t = "";
    if (c === "connected") {
      t = "";
    } else {
      const parts = [];
      if (S.nextAttemptAt !== null) {
        const secs = Math.max(0, (S.nextAttemptAt - Date.now()) / 1000);
        parts.push(`next WebSocket attempt in ${secs.toFixed(secs < 10 ? 1 : 0)} s`);
      } else if (ws && !wsOpened) {
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

  function renderMeta() {
    const h = S.health;
    const overall = $("overall");
    const st = h ? knownStatus(h.status) : null;
    setText(overall, h ? h.status || "unknown" : DASH);
    overall.className = st ? `st st-${st}` : "";
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

  // ---------------------------------------------------------------- data intake
  function touchData(via) {
    S.lastUpdateAt = Date.now();
    S.lastUpdateVia = via;
  }

  function setHealth(d) {
    if (!d || typeof d !== "object") return;
    S.health = {
      status: str(d.status) || "unknown",
      services: Array.isArray(d.services) ? d.services.filter((s) => s && typeof s.name === "string") : [],
    };
    markDirty("health");
  }

  function setWebsdrs(list) {
    if (!Array.isArray(list)) return;
    S.websdrs = list.filter((w) => w && typeof w.id === "string");
    markDirty("websdrs");
  }

  function normSignal(d) {
    return {
      signal_id: d.signal_id,
      frequency_hz: num(d.frequency_hz) ?? (num(d.frequency_mhz) === null ? null : d.frequency_mhz * 1e6),
      bandwidth_hz: num(d.bandwidth_hz),
      snr_db: num(d.snr_db),
      power_dbfs: num(d.power_dbfs),
      peak_power_dbfs: num(d.peak_power_dbfs),
      websdr_id: str(d.websdr_id),
      receivers: Array.isArray(d.receivers) ? d.receivers.filter((r) => typeof r === "string") : [],
      first_seen: parseTime(d.first_seen),
      timestamp: parseTime(d.timestamp),
    };
  }

  function setSignals(list) {
    if (!Array.isArray(list)) return;
    const m = new Map();
    for (const d of list) {
      if (d && typeof d.signal_id === "string" && d.state !== "lost") m.set(d.signal_id, normSignal(d));
    }
    S.signals = m;
    markDirty("signals");
  }

  function upsertSignal(d) {
    if (!d || typeof d.signal_id !== "string") return;
    if (!S.signals) S.signals = new Map();
    if (d.state === "lost") {
      S.signals.delete(d.signal_id);
    } else {
      const prev = S.signals.get(d.signal_id);
      const s = normSignal(d);
      if (s.first_seen === null && prev) s.first_seen = prev.first_seen;
      S.signals.set(d.signal_id, s);
    }
    markDirty("signals");
  }

  function normLoc(d) {
    const e = d.ellipse && typeof d.ellipse === "object" ? d.ellipse : null;
    const ellipse =
      e && num(e.semi_major_m) !== null && num(e.semi_minor_m) !== null && e.semi_major_m > 0 && e.semi_minor_m >= 0
        ? { a: e.semi_major_m, b: e.semi_minor_m, deg: num(e.orientation_deg) ?? 0 }
        : null;
    const lat = num(d.latitude);
    const lon = num(d.longitude);
    return {
      signal_id: d.signal_id,
      latitude: lat !== null && Math.abs(lat) <= 90 ? lat : null,
      longitude: lon !== null && Math.abs(lon) <= 180 ? lon : null,
      uncertainty_m: num(d.uncertainty_m) !== null && d.uncertainty_m >= 0 ? d.uncertainty_m : null,
      confidence: num(d.confidence),
      method: str(d.method),
      note: str(d.note),
      excluded: Array.isArray(d.excluded)
        ? d.excluded.filter((x) => x && typeof x.receiver === "string").map((x) => `${x.receiver}: ${str(x.reason) || "?"}`)
        : [],
      ellipse,
      receivers: Array.isArray(d.receivers) ? d.receivers.filter((r) => typeof r === "string") : [],
      frequency_hz: num(d.frequency_hz),
      timestamp: parseTime(d.timestamp),
    };
  }

  function trimLocs() {
    if (S.locs.size <= CFG.maxLocalizations) return;
    const sorted = [...S.locs.values()].sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0));
    for (const l of sorted.slice(0, S.locs.size - CFG.maxLocalizations)) S.locs.delete(l.signal_id);
  }

  function setLocs(list) {
    if (!Array.isArray(list)) return;
    const m = new Map();
    for (const d of list) {
      if (!d || typeof d.signal_id !== "string") continue;
      const l = normLoc(d);
      const prev = m.get(l.signal_id);
      if (!prev || (l.timestamp ?? 0) >= (prev.timestamp ?? 0)) m.set(l.signal_id, l);
    }
    S.locs = m;
    trimLocs();
    markDirty("locs");
  }

  function upsertLoc(d) {
    if (!d || typeof d.signal_id !== "string") return;
    if (!S.locs) S.locs = new Map();
    const l = normLoc(d);
    const prev = S.locs.get(l.signal_id);
    // The newest estimate per signal wins; an older one arriving late is ignored.
    if (prev && l.timestamp !== null && prev.timestamp !== null && l.timestamp < prev.timestamp) return;
    S.locs.set(l.signal_id, l);
    trimLocs();
    markDirty("locs");
  }

  function showNotice(text) {
    const n = $("notice");
    S.lastError = text;
    setText(n, text);
    setAttr(n, "hidden", text ? null : "");
  }

  function applyEvent(event, data, timestamp) {
    const d = data && typeof data === "object" ? data : {};
    switch (event) {
      case "snapshot":
      case "resync": // a fresh state replacing ours (our resume position was no longer held)
        if ("services:health" in d) setHealth(d["services:health"]);
        if ("websdrs:status" in d) setWebsdrs(d["websdrs:status"] && d["websdrs:status"].websdrs);
        if ("signals:detected" in d) setSignals(d["signals:detected"] && d["signals:detected"].signals);
        if ("localizations:updated" in d) setLocs(d["localizations:updated"] && d["localizations:updated"].localizations);
        if (S.clockOffsetMs === null && timestamp !== null) S.clockOffsetMs = timestamp - Date.now();
        touchData("ws");
        break;
      case "services:health":
        setHealth(d);
        touchData("ws");
        break;
      case "websdrs:status":
        setWebsdrs(d.websdrs);
        touchData("ws");
        break;
      case "signals:detected":
        upsertSignal(d);
        touchData("ws");
        break;
      case "localizations:updated":
        upsertLoc(d);
        touchData("ws");
        break;
      case "pong": {
        if (pingSentAt !== null) {
          const now = Date.now();
          S.latencyMs = now - pingSentAt;
          const st = parseTime(d.server_time);
          if (st !== null) S.clockOffsetMs = st - (pingSentAt + S.latencyMs / 2);
          pingSentAt = null;
        }
        break;
      }
      case "error":
        showNotice(`Server error${str(d.code) ? ` (${d.code})` : ""}: ${str(d.message) || "no message"} — ${fmtClock(Date.now())}`);
        break;
      case "subscriptions":
        if (Array.isArray(d.events)) S.subscriptions = d.events.slice();
        break;
      default:
        break; // unknown events are ignored so the server can add new ones
    }
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

  function connect() {
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
      S.everConnected = true;
      S.lastMsgAt = Date.now();
      S.lastClose = null;
      stopPolling();
      startPing();
      updateConnection();
    };
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
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
    if (num(msg.seq) !== null) {
      // seq strictly increases; a repeat or an older one is a duplicate.
      if (connSeq !== null && msg.seq <= connSeq) return;
      connSeq = msg.seq;
      S.lastSeq = msg.seq;
    }
    S.messages++;
    S.lastMsgAt = Date.now();
    // The connection is proven by a message, not by the handshake alone: only now does
    // the backoff start over, so a server that accepts and drops at once still backs off.
    S.failures = 0;
    applyEvent(msg.event, msg.data, parseTime(msg.timestamp));
  }

  function backoffDelay(failures) {
    const exp = Math.min(CFG.backoffCapMs, CFG.backoffBaseMs * 2 ** Math.min(30, failures - 1));
    return Math.random() * exp; // full jitter
  }

  function onFailure() {
    connectTimer = clearTimer(connectTimer);
    stopPing();
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

  function retryNow() {
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
  async function fetchJson(path) {
    const ctl = new AbortController();
    const t = setTimeout(() => ctl.abort(), CFG.restTimeoutMs);
    try {
      const headers = { Accept: "application/json" };
      if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
      const r = await fetch(path, { signal: ctl.signal, cache: "no-store", headers });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return await r.json();
    } finally {
      clearTimeout(t);
    }
  }

  function startPolling() {
    if (S.polling) return;
    S.polling = true;
    S.pollOk = null;
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
    pollGen++;
    pollTimer = clearTimer(pollTimer);
  }

  // ---------------------------------------------------------------- panels
  function renderHealth() {
    const h = S.health;
    showPanel("panel-health", h !== null);
    if (!h) return;
    const ul = $("services");
    const existing = new Map([...ul.children].map((li) => [li.dataset.name, li]));
    const seen = new Set();
    for (const s of h.services) {
      seen.add(s.name);
      let li = existing.get(s.name);
      if (!li) {
        li = el("li", "svc");
        li.dataset.name = s.name;
        li.dataset.testid = "service";
        const head = el("div", "svc-head");
        head.append(el("span", "svc-name"), el("span", "pill"));
        const sub = el("div", "svc-sub");
        sub.append(el("span", "svc-detail"), el("span", "svc-since"));
        li.append(head, sub);
        ul.append(li);
      }
      const status = str(s.status) || "unknown";
      const since = parseTime(s.since);
      setText(li.querySelector(".svc-name"), s.name);
      const pill = li.querySelector(".pill");
      setText(pill, status);
      pill.className = `pill st-${knownStatus(status)}`;
      const detail = li.querySelector(".svc-detail");
      setText(detail, str(s.detail) || "");
      setAttr(detail, "title", str(s.detail)); // long details are clamped to two lines
      const sinceEl = li.querySelector(".svc-since");
      sinceEl.dataset.t = since === null ? "" : String(since);
      sinceEl.dataset.prefix = `${status} for `;
      setAttr(sinceEl, "title", since === null ? null : `since ${fmtIso(since)}`);
      ul.append(li); // keeps server order
    }
    for (const [name, li] of existing) if (!seen.has(name)) li.remove();
    if (h.services.length === 0 && !ul.querySelector(".none")) ul.append(el("li", "none", "no services reported"));
    if (h.services.length > 0) ul.querySelectorAll(".none").forEach((n) => n.remove());
    renderAges();
  }

  /** Keyed table update: reuses rows by key, creates missing ones, drops the rest. */
  function syncRows(tbody, items, keyOf, create, update) {
    const existing = new Map();
    for (const tr of tbody.children) if (tr.dataset.key !== undefined) existing.set(tr.dataset.key, tr);
    const keep = new Set(items.map(keyOf));
    // Drop rows first, so that surviving rows already in order are never moved (moving a
    // row would take keyboard focus away from its button).
    for (const [key, tr] of existing) if (!keep.has(key)) tr.remove();
    tbody.querySelectorAll("tr:not([data-key])").forEach((tr) => tr.remove());
    let prev = null;
    for (const it of items) {
      const key = keyOf(it);
      let tr = existing.get(key);
      if (!tr) {
        tr = create(it);
        tr.dataset.key = key;
      }
      update(tr, it);
      const want = prev ? prev.nextSibling : tbody.firstChild;
      if (want !== tr) tbody.insertBefore(tr, want);
      prev = tr;
    }
  }

  function emptyRow(tbody, cols, text) {
    const tr = el("tr", "empty-row");
    const td = el("td", null, text);
    td.colSpan = cols;
    tr.append(td);
    tbody.append(tr);
  }

  function cells(tr, n, numericFrom) {
    for (let i = 0; i < n; i++) tr.append(el("td", numericFrom.includes(i) ? "num" : null));
    return tr;
  }

  function renderReceivers() {
    const list = S.websdrs;
    showPanel("panel-receivers", list !== null);
    if (!list) return;
    setText($("receivers-count"), `(${list.length})`);
    const tbody = $("receivers-body");
    syncRows(
      tbody,
      list,
      (w) => w.id,
      () => {
        const tr = cells(el("tr"), 9, [3, 4, 6, 8]);
        tr.dataset.testid = "receiver-row";
        tr.children[0].append(el("span", "name"), el("span", "sub"));
        tr.children[2].append(el("span", "pill"), el("span", "sub"));
        tr.children[7].className = "age";
        return tr;
      },
      (tr, w) => {
        const c = tr.children;
        setText(c[0].firstChild, str(w.name) || w.id);
        setText(c[0].lastChild, w.id);
        setText(c[1], str(w.kind) || DASH);
        const status = str(w.status) || "unknown";
        setText(c[2].firstChild, status);
        c[2].firstChild.className = `pill st-${knownStatus(status)}`;
        const users = num(w.users_max) !== null ? `${num(w.users) === null ? "?" : w.users}/${w.users_max} users` : "";
        setText(c[2].lastChild, [str(w.detail), users].filter(Boolean).join(" · "));
        setText(c[3], num(w.frequency_hz) === null ? DASH : (w.frequency_hz / 1e6).toFixed(4));
        setText(c[4], num(w.sample_rate_hz) === null ? DASH : w.sample_rate_hz < 1e5 ? (w.sample_rate_hz / 1e6).toFixed(6) : (w.sample_rate_hz / 1e6).toFixed(3));
        const fix = num(w.gps_fix_age_s) === null ? "" : ` (fix ${Math.round(w.gps_fix_age_s)} s ago)`;
        const gps = w.gps_locked === true ? `locked${fix}` : w.gps_locked === false ? `no lock${fix}` : DASH;
        setText(c[5], gps);
        c[5].className = w.gps_locked === true ? "gps-ok" : w.gps_locked === false ? "gps-no" : "";
        setText(c[6], fmtInt(w.samples_dropped));
        c[6].classList.toggle("warn", num(w.samples_dropped) !== null && w.samples_dropped > 0);
        const seen = parseTime(w.last_seen);
        c[7].dataset.t = seen === null ? "" : String(seen);
        c[7].dataset.suffix = " ago";
        setAttr(c[7], "title", seen === null ? "never seen" : fmtIso(seen));
        setText(c[8], num(w.response_time_ms) === null ? DASH : w.response_time_ms.toFixed(w.response_time_ms < 10 ? 1 : 0));
      },
    );
    if (list.length === 0) emptyRow(tbody, 9, "no receivers configured");
    renderAges();
  }

  function selectSignal(id) {
    S.selected = S.selected === id ? null : id;
    markDirty("selection");
  }

  function selectButton(onId) {
    const b = el("button", "sel-btn");
    b.type = "button";
    b.addEventListener("click", (ev) => {
      ev.stopPropagation();
      selectSignal(onId(b));
    });
    return b;
  }

  function renderSignals() {
    const m = S.signals;
    showPanel("panel-signals", m !== null);
    if (!m) return;
    const all = [...m.values()].sort((a, b) => (a.frequency_hz ?? Infinity) - (b.frequency_hz ?? Infinity) || a.signal_id.localeCompare(b.signal_id));
    const list = all.slice(0, CFG.maxSignalRows);
    setText($("signals-count"), all.length > list.length ? `(${list.length} of ${all.length})` : `(${all.length})`);
    const tbody = $("signals-body");
    syncRows(
      tbody,
      list,
      (s) => s.signal_id,
      () => {
        const tr = cells(el("tr", "selectable"), 8, [1, 2, 3, 4, 6, 7]);
        tr.dataset.testid = "signal-row";
        tr.children[0].append(selectButton((b) => b.closest("tr").dataset.key));
        tr.children[7].className = "num age";
        tr.addEventListener("click", () => selectSignal(tr.dataset.key));
        return tr;
      },
      (tr, s) => {
        const c = tr.children;
        const btn = c[0].firstChild;
        setText(btn, s.signal_id);
        const sel = S.selected === s.signal_id;
        setAttr(btn, "aria-pressed", sel ? "true" : "false");
        setAttr(btn, "aria-label", `${s.signal_id}, ${mhz(s.frequency_hz) === null ? "unknown frequency" : `${mhz(s.frequency_hz).toFixed(4)} MHz`}: highlight on map`);
        tr.classList.toggle("selected", sel);
        const hasLoc = Boolean(S.locs && S.locs.has(s.signal_id));
        tr.classList.toggle("has-loc", hasLoc);
        setText(c[1], mhz(s.frequency_hz) === null ? DASH : mhz(s.frequency_hz).toFixed(4));
        setText(c[2], s.bandwidth_hz === null ? DASH : (s.bandwidth_hz / 1e3).toFixed(1));
        setText(c[3], fmtFixed(s.snr_db, 1));
        setText(c[4], fmtFixed(s.power_dbfs, 1));
        setText(c[5], s.websdr_id ? receiverName(s.websdr_id) : DASH);
        setAttr(c[5], "title", s.websdr_id);
        setText(c[6], String(s.receivers.length));
        setAttr(c[6], "title", s.receivers.join(", ") || null);
        c[7].dataset.t = s.first_seen === null ? "" : String(s.first_seen);
        setAttr(c[7], "title", s.first_seen === null ? null : `first seen ${fmtIso(s.first_seen)}`);
      },
    );
    if (all.length === 0) emptyRow(tbody, 8, "no active signals");
    renderAges();
  }

  function sortedLocs() {
    return [...S.locs.values()].sort((a, b) => (b.timestamp ?? 0) - (a.timestamp ?? 0) || a.signal_id.localeCompare(b.signal_id));
  }

  function renderLocs() {
    const m = S.locs;
    showPanel("panel-localizations", m !== null);
    if (!m) return;
    const list = sortedLocs();
    setText($("locs-count"), `(${list.length})`);
    const tbody = $("locs-body");
    syncRows(
      tbody,
      list,
      (l) => l.signal_id,
      () => {
        const tr = cells(el("tr", "selectable"), 7, [1, 2, 3, 6]);
        tr.dataset.testid = "localization-row";
        tr.children[0].append(selectButton((b) => b.closest("tr").dataset.key));
        tr.children[6].className = "num age";
        tr.addEventListener("click", () => selectSignal(tr.dataset.key));
        return tr;
      },
      (tr, l) => {
        const c = tr.children;
        const btn = c[0].firstChild;
        const sel = S.selected === l.signal_id;
        setText(btn, l.signal_id);
        setAttr(btn, "aria-pressed", sel ? "true" : "false");
        setAttr(btn, "aria-label", `${l.signal_id} localization: highlight on map`);
        tr.classList.toggle("selected", sel);
        const active = !S.signals || S.signals.has(l.signal_id);
        tr.classList.toggle("inactive", !active);
        setAttr(tr, "title", active ? null : "signal no longer active");
        setText(c[1], l.latitude === null || l.longitude === null ? DASH : `${l.latitude.toFixed(5)}, ${l.longitude.toFixed(5)}`);
        setText(c[2], l.uncertainty_m === null ? DASH : `±${fmtInt(l.uncertainty_m)}`);
        setText(c[3], l.confidence === null ? DASH : `${Math.round(l.confidence * 100)} %`);
        setText(c[4], l.method === "tdoa" ? "TDOA" : l.method === "power" ? "Power" : l.method || DASH);
        setAttr(c[4], "title", [l.note, ...l.excluded].filter(Boolean).join("\n"));
        const names = l.receivers.map(receiverName);
        setText(c[5], names.length === 0 ? DASH : names.length > 3 ? `${names.slice(0, 3).join(", ")} +${names.length - 3}` : names.join(", "));
        setAttr(c[5], "title", names.length > 3 ? names.join(", ") : null);
        c[6].dataset.t = l.timestamp === null ? "" : String(l.timestamp);
        setAttr(c[6], "title", l.timestamp === null ? null : fmtIso(l.timestamp));
      },
    );
    if (list.length === 0) emptyRow(tbody, 7, "no localizations yet");
    renderAges();
  }

  /** Age cells carry their epoch ms in data-t; they refresh every second without a full render. */
  function renderAges() {
    for (const node of document.querySelectorAll("[data-t]")) {
      const t = node.dataset.t === "" ? null : Number(node.dataset.t);
      const text = t === null ? DASH : `${node.dataset.prefix || ""}${fmtDuration(ageOf(t))}${node.dataset.suffix || ""}`;
      setText(node, text);
    }
  }

  // ---------------------------------------------------------------- map
  const M_PER_DEG = (Math.PI / 180) * 6371008.8; // mean Earth radius
  const mapEls = { rx: new Map(), tx: new Map(), layers: null };

  function niceLength(m) {
    const p = 10 ** Math.floor(Math.log10(m));
    const f = m / p;
    return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * p;
  }

  function mapLayers(svg) {
    if (mapEls.layers) return mapEls.layers;
    const defs = svgEl("defs");
    const clip = svgEl("clipPath", { id: "map-clip" });
    const clipRect = svgEl("rect", { x: 0, y: 0, width: 800, height: 500 });
    clip.append(clipRect);
    defs.append(clip);
    const bg = svgEl("rect", { class: "map-bg", x: 0, y: 0, width: 800, height: 500 });
    const grid = svgEl("g", { class: "map-grid", "aria-hidden": "true" });
    const clipped = svgEl("g", { "clip-path": "url(#map-clip)" });
    const uncert = svgEl("g", { class: "map-uncert", "aria-hidden": "true" });
    const links = svgEl("g", { class: "map-links", "aria-hidden": "true" });
    clipped.append(uncert, links);
    const rx = svgEl("g", { class: "map-rx" });
    const tx = svgEl("g", { class: "map-tx" });
    const scale = svgEl("g", { class: "map-scale", "aria-hidden": "true" });
    scale.append(svgEl("path"), svgEl("text"));
    const north = svgEl("g", { class: "map-north", "aria-hidden": "true" });
    north.append(svgEl("path", { d: "M0,-14 L5,0 L0,-4 L-5,0 Z" }), svgEl("text", { x: 0, y: 12, "text-anchor": "middle" }));
    north.lastChild.textContent = "N";
    svg.append(defs, bg, grid, clipped, rx, tx, scale, north);
    mapEls.layers = { clipRect, bg, grid, uncert, links, rx, tx, scale, north };
    return mapEls.layers;
  }

  function markerLabel(g, lines) {
    let t = g.querySelector("text.lbl");
    if (!t) {
      t = svgEl("text", { class: "lbl" });
      g.append(t);
    }
    while (t.childNodes.length > lines.length) t.lastChild.remove();
    lines.forEach((line, i) => {
      let span = t.childNodes[i];
      if (!span) {
        span = svgEl("tspan");
        t.append(span);
      }
      setText(span, line);
    });
  }

  function placeLabel(g, x, y, W) {
    const t = g.querySelector("text.lbl");
    const left = x > W - 170;
    setAttr(t, "text-anchor", left ? "end" : "start");
    const lx = left ? x - 10 : x + 10;
    [...t.childNodes].forEach((span, i) => {
      setAttr(span, "x", lx.toFixed(1));
      setAttr(span, "y", (y + 4 + i * 14 - (t.childNodes.length - 1) * 7).toFixed(1));
    });
  }

  function renderMap() {
    const svg = $("map");
    const rxs = (S.websdrs || []).filter((w) => num(w.latitude) !== null && num(w.longitude) !== null && Math.abs(w.latitude) <= 90 && Math.abs(w.longitude) <= 180);
    const txs = S.locs ? sortedLocs().filter((l) => l.latitude !== null && l.longitude !== null) : [];
    const hasData = rxs.length + txs.length > 0;
    showPanel("panel-map", hasData);
    const note = $("map-note");
    if (!hasData) return;

    const W = Math.max(280, Math.round(svg.clientWidth || 800));
    const H = Math.round(Math.min(560, Math.max(260, W * 0.6)));
    setAttr(svg, "viewBox", `0 0 ${W} ${H}`);
    const L = mapLayers(svg);
    for (const r of [L.clipRect, L.bg]) {
      setAttr(r, "width", W);
      setAttr(r, "height", H);
    }

    // Equirectangular projection about the centre of the points, x scaled by cos(latitude).
    const pts = [...rxs, ...txs];
    let latMin = Infinity, latMax = -Infinity, lonMin = Infinity, lonMax = -Infinity;
    for (const p of pts) {
      latMin = Math.min(latMin, p.latitude);
      latMax = Math.max(latMax, p.latitude);
      lonMin = Math.min(lonMin, p.longitude);
      lonMax = Math.max(lonMax, p.longitude);
    }
    const lat0 = (latMin + latMax) / 2;
    const lon0 = (lonMin + lonMax) / 2;
    const kx = Math.cos((lat0 * Math.PI) / 180) * M_PER_DEG;
    const proj = (lat, lon) => [(lon - lon0) * kx, (lat - lat0) * M_PER_DEG];
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    const grow = (x, y, r) => {
      x0 = Math.min(x0, x - r);
      x1 = Math.max(x1, x + r);
      y0 = Math.min(y0, y - r);
      y1 = Math.max(y1, y + r);
    };
    for (const p of pts) grow(...proj(p.latitude, p.longitude), 0);
    // Uncertainty regions count toward the fit, but one huge estimate may not shrink the
    // receivers to a dot: its extent counts up to 3x the span of the points (>= 2 km).
    const pointSpan = Math.max(x1 - x0, y1 - y0, 2000);
    for (const l of txs) {
      const r = Math.max(l.uncertainty_m || 0, l.ellipse ? l.ellipse.a : 0);
      grow(...proj(l.latitude, l.longitude), Math.min(r, pointSpan * 3));
    }
    const minSpan = 1000;
    if (x1 - x0 < minSpan) [x0, x1] = [(x0 + x1) / 2 - minSpan / 2, (x0 + x1) / 2 + minSpan / 2];
    if (y1 - y0 < minSpan) [y0, y1] = [(y0 + y1) / 2 - minSpan / 2, (y0 + y1) / 2 + minSpan / 2];
    const pad = 36;
    const k = Math.min((W - 2 * pad) / (x1 - x0), (H - 2 * pad - 24) / (y1 - y0)); // px per metre
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    const toPx = (lat, lon) => {
      const [x, y] = proj(lat, lon);
      return [W / 2 + (x - cx) * k, (H - 24) / 2 - (y - cy) * k];
    };

    // Graticule-free grid every "nice" distance, light enough to stay out of the way.
    const gridStep = niceLength((W / k) / 6);
    let gridPath = "";
    const gx0 = Math.ceil((cx - W / 2 / k) / gridStep) * gridStep;
    for (let gx = gx0; (gx - cx) * k + W / 2 <= W; gx += gridStep) {
      const px = (W / 2 + (gx - cx) * k).toFixed(1);
      gridPath += `M${px},0V${H}`;
    }
    const gy0 = Math.ceil((cy - H / 2 / k) / gridStep) * gridStep;
    for (let gy = gy0; (H - 24) / 2 - (gy - cy) * k >= 0; gy += gridStep) {
      const py = ((H - 24) / 2 - (gy - cy) * k).toFixed(1);
      if (py <= H) gridPath += `M0,${py}H${W}`;
    }
    if (!L.grid.firstChild) L.grid.append(svgEl("path"));
    setAttr(L.grid.firstChild, "d", gridPath);

    const sel = S.selected;
    const anySel = sel !== null && txs.some((l) => l.signal_id === sel);

    // Receivers
    const rxPos = new Map();
    const seenRx = new Set();
    for (const w of rxs) {
      const [x, y] = toPx(w.latitude, w.longitude);
      rxPos.set(w.id, [x, y]);
      seenRx.add(w.id);
      let g = mapEls.rx.get(w.id);
      if (!g) {
        g = svgEl("g", { class: "mk rx", tabindex: "0", role: "img", "data-testid": "map-receiver" });
        g.append(svgEl("rect", { width: 10, height: 10 }), svgEl("text", { class: "name" }));
        L.rx.append(g);
        mapEls.rx.set(w.id, g);
      }
      const status = str(w.status) || "unknown";
      setAttr(g, "class", `mk rx st-${knownStatus(status)}`);
      setAttr(g, "data-id", w.id);
      const name = str(w.name) || w.id;
      setAttr(g, "aria-label", `Receiver ${name} (${w.id}), ${status}, ${w.latitude.toFixed(5)}, ${w.longitude.toFixed(5)}`);
      const rect = g.firstChild;
      setAttr(rect, "x", (x - 5).toFixed(1));
      setAttr(rect, "y", (y - 5).toFixed(1));
      const nm = g.children[1];
      setText(nm, name);
      setAttr(nm, "x", (x + 8).toFixed(1));
      setAttr(nm, "y", (y - 8).toFixed(1));
      markerLabel(g, [`${name} · ${status}`, `${w.latitude.toFixed(5)}, ${w.longitude.toFixed(5)}`]);
      placeLabel(g, x, y + 14, W);
    }
    for (const [id, g] of mapEls.rx) if (!seenRx.has(id)) {
      g.remove();
      mapEls.rx.delete(id);
    }

    // Estimates: uncertainty circle + 68 % ellipse (under everything), then the markers.
    const seenTx = new Set();
    for (const l of [...txs].reverse()) { // oldest first, so the newest draws on top
      const id = l.signal_id;
      seenTx.add(id);
      const [x, y] = toPx(l.latitude, l.longitude);
      let e = mapEls.tx.get(id);
      if (!e) {
        const area = svgEl("g", { class: "area" });
        area.append(svgEl("circle", { class: "unc" }), svgEl("ellipse", { class: "ell" }));
        const link = svgEl("path", { class: "link" });
        const g = svgEl("g", { class: "mk tx", tabindex: "0", role: "button", "data-testid": "map-estimate" });
        g.append(svgEl("circle", { class: "hit", r: 12 }), svgEl("circle", { class: "dot", r: 5 }));
        g.addEventListener("click", () => selectSignal(g.dataset.id));
        g.addEventListener("keydown", (ev) => {
          if (ev.key === "Enter" || ev.key === " ") {
            ev.preventDefault();
            selectSignal(g.dataset.id);
          }
        });
        e = { area, link, g };
        mapEls.tx.set(id, e);
        // Markers keep their creation order: moving a node would drop keyboard focus.
        L.tx.append(g);
        L.links.append(link);
      }
      const isSel = sel === id;
      // Estimates of signals that are no longer active stay, faded, until they age out.
      const active = !S.signals || S.signals.has(id);
      const cls = (isSel ? " sel" : anySel ? " dim" : "") + (active ? "" : " inactive");
      setAttr(e.area, "class", `area${cls}`);
      setAttr(e.link, "class", `link${cls}`);
      setAttr(e.g, "class", `mk tx${cls}`);
      setAttr(e.g, "data-id", id);
      setAttr(e.g, "aria-pressed", isSel ? "true" : "false");
      const unc = e.area.firstChild;
      if (l.uncertainty_m !== null) {
        setAttr(unc, "cx", x.toFixed(1));
        setAttr(unc, "cy", y.toFixed(1));
        setAttr(unc, "r", Math.max(0.5, l.uncertainty_m * k).toFixed(1));
        setAttr(unc, "display", null);
      } else setAttr(unc, "display", "none");
      const ell = e.area.lastChild;
      if (l.ellipse) {
        // SVG rotates clockwise on screen (y down); an unrotated rx lies East (090°), so a
        // major axis at `deg` clockwise from North needs a rotation of deg - 90.
        setAttr(ell, "cx", x.toFixed(1));
        setAttr(ell, "cy", y.toFixed(1));
        setAttr(ell, "rx", Math.max(0.5, l.ellipse.a * k).toFixed(1));
        setAttr(ell, "ry", Math.max(0.5, l.ellipse.b * k).toFixed(1));
        setAttr(ell, "transform", `rotate(${(l.ellipse.deg - 90).toFixed(2)} ${x.toFixed(1)} ${y.toFixed(1)})`);
        setAttr(ell, "display", null);
      } else setAttr(ell, "display", "none");
      let d = "";
      if (isSel) for (const r of l.receivers) {
        const p = rxPos.get(r);
        if (p) d += `M${x.toFixed(1)},${y.toFixed(1)}L${p[0].toFixed(1)},${p[1].toFixed(1)}`;
      }
      setAttr(e.link, "d", d || null);
      for (const c of e.g.querySelectorAll("circle")) {
        setAttr(c, "cx", x.toFixed(1));
        setAttr(c, "cy", y.toFixed(1));
      }
      const f = l.frequency_hz === null ? "" : ` · ${(l.frequency_hz / 1e6).toFixed(4)} MHz`;
      const u = l.uncertainty_m === null ? "uncertainty not reported" : `±${fmtInt(l.uncertainty_m)} m (68 %)`;
      const conf = l.confidence === null ? "" : ` · ${Math.round(l.confidence * 100)} %`;
      setAttr(e.g, "aria-label", `Estimated transmitter ${id}${f}, ${l.latitude.toFixed(5)}, ${l.longitude.toFixed(5)}, ${u}${conf}${active ? "" : ", signal no longer active"}`);
      markerLabel(e.g, [`${id}${f}`, `${u}${conf}`]);
      placeLabel(e.g, x, y, W);
      L.uncert.append(e.area); // areas (not focusable) are restacked: newest on top
    }
    if (anySel) L.uncert.append(mapEls.tx.get(sel).area);
    for (const [id, e] of mapEls.tx) if (!seenTx.has(id)) {
      e.area.remove();
      e.link.remove();
      e.g.remove();
      mapEls.tx.delete(id);
    }

    // Scale bar in km, bottom left.
    const barM = niceLength((W * 0.22) / k);
    const barPx = barM * k;
    const sx = 16, sy = H - 14;
    setAttr(L.scale.firstChild, "d", `M${sx},${sy - 6}V${sy}H${(sx + barPx).toFixed(1)}V${sy - 6}`);
    const st = L.scale.lastChild;
    setAttr(st, "x", (sx + barPx + 8).toFixed(1));
    setAttr(st, "y", String(sy));
    setText(st, `${barM >= 1000 ? barM / 1000 : +(barM / 1000).toFixed(4)} km`);
    setAttr(L.scale, "data-km", String(barM / 1000));
    setAttr(L.north, "transform", `translate(${W - 22},${28})`);

    let msg = `Equirectangular, N up, x scaled by cos(${lat0.toFixed(2)}°).`;
    if (sel !== null && !anySel) msg += ` ${sel}: no position estimate yet.`;
    else if (anySel) msg += ` Highlighted: ${sel}.`;
    setText(note, msg);
  }

  // ---------------------------------------------------------------- wiring
  function init() {
    if (overrides.length) {
      const b = $("debug-banner");
      const foreign = CFG.wsUrl !== defaultWsUrl ? " Live data does not come from this page's default endpoint." : "";
      b.textContent = `Debug settings active — ${overrides.join(" · ")}.${foreign}`;
      b.hidden = false;
    }
    $("retry").addEventListener("click", retryNow);
    window.addEventListener("online", () => {
      if (!wsOpened) retryNow();
    });
    if (window.ResizeObserver) {
      let lastW = 0;
      new ResizeObserver((entries) => {
        const w = Math.round(entries[0].contentRect.width);
        if (w !== lastW) {
          lastW = w;
          markDirty("map");
        }
      }).observe($("map"));
    }
    setInterval(() => {
      markDirty("tick");
      if (S.connection !== "connected") renderConnDetail();
    }, 1000);
    markDirty("all");
    connect();
  }

  // Read-only view for tests and debugging: copies, never live references.
  const hook = Object.freeze({
    state() {
      return {
        connection: S.connection,
        history: S.history.slice(),
        lastSeq: S.lastSeq,
        lastUpdate: S.lastUpdateAt === null ? null : new Date(S.lastUpdateAt).toISOString(),
        lastUpdateVia: S.lastUpdateVia,
        latencyMs: S.latencyMs,
        failures: S.failures,
        attempts: S.attempts,
        polling: S.polling,
        health: S.health ? S.health.status : null,
        services: S.health ? S.health.services.length : null,
        websdrs: S.websdrs ? S.websdrs.length : null,
        websdrIds: S.websdrs ? S.websdrs.map((w) => w.id) : [],
        signals: S.signals ? S.signals.size : null,
        localizations: S.locs ? S.locs.size : null,
        selected: S.selected,
        subscriptions: S.subscriptions ? S.subscriptions.slice() : null,
        messages: S.messages,
        badMessages: S.badMessages,
        renders: S.renders,
        lastError: S.lastError,
        wsUrl: CFG.wsUrl,
      };
    },
    config() {
      return { ...CFG };
    },
  });
  Object.defineProperty(window, "sdrhub", { value: hook, writable: false, configurable: false, enumerable: true });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
