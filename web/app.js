// sdrhub dashboard: one WebSocket to the hub, REST polling as a fallback, and a
// render loop that touches the DOM at most a few times per second.
//
// Panels: a live spectrum and waterfall per receiver (from the opt-in `spectrum:frame`
// stream, subscribed to after every connect), the selected signal's details and position,
// the signals table (sortable, filterable), a map (Web Mercator, offline; optional tiles from
// `[dashboard] map_tiles_url`), receivers, localizations and services.
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
    // Consecutive failed REST rounds before the badge says Disconnected: one failed round is
    // often just the server restarting.
    pollFailuresBeforeDisconnected: 3,
    waterfallRows: 240, // 60 s at the default 4 frames/s
    maxTiles: 64,
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
    pollFailures: 0, // consecutive failed REST rounds
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
    resyncs: 0,
    dashConfig: null, // GET /api/v1/dashboard-config, null until it answers
    spectra: new Map(), // receiver id -> spectrum state (last frame, waterfall ring)
    spectrumRx: null, // receiver shown in the spectrum panel
    spectrumChosen: false, // the user picked it (then we never switch on our own)
    spectrumForbidden: false, // the token does not allow spectrum:frame
    frames: 0,
    sort: { key: "frequency", dir: "ascending" },
    filter: "",
    shownSignals: 0,
    tiles: { requested: 0, loaded: 0, failed: 0 },
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
    if (all || d.has("spectrum") || d.has("signals") || d.has("websdrs") || d.has("selection") || d.has("conn")) renderSpectrum();
    if (all || d.has("signals") || d.has("locs") || d.has("websdrs") || d.has("selection")) renderDetails();
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
      gdop: num(d.gdop),
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
      case "resync": // a fresh state replacing ours (our resume position was no longer held)
        S.resyncs++;
      // falls through
      case "snapshot":
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
      case "spectrum:frame":
        onFrame(d);
        return; // several per second: only the spectrum needs drawing

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
        if (d.code === "forbidden_topic" && /spectrum:frame/.test(str(d.message) || "")) {
          // Not an error of the page: this token simply does not include the waterfall.
          S.spectrumForbidden = true;
          markDirty("spectrum");
          break;
        }
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
      subscribeFrames(sock);
      if (S.dashConfig === null) loadDashboardConfig();
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
        const t = w.gps_timing;
        setAttr(c[5], "title", t && num(t.rate_ppm) !== null
          ? `GPS rate ${t.rate_ppm >= 0 ? "+" : ""}${t.rate_ppm.toFixed(1)} ppm, worst residual ${num(t.worst_residual_us) === null ? "?" : t.worst_residual_us.toFixed(2)} us`
          : t && str(t.excluded) ? `GPS timing: ${t.excluded}` : "");
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

  /** Selects a signal (or clears the selection when it is already selected, unless `keep`). */
  function selectSignal(id, opts = {}) {
    S.selected = S.selected === id && !opts.keep ? null : id;
    if (S.selected !== null && !opts.fromSpectrum) followSignal(S.selected);
    announceSelection();
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

  // Sort keys of the signals table; null sorts last in either direction.
  const SORT_KEYS = {
    id: (s) => s.signal_id,
    frequency: (s) => s.frequency_hz,
    bandwidth: (s) => s.bandwidth_hz,
    snr: (s) => s.snr_db,
    power: (s) => s.power_dbfs,
    receiver: (s) => (s.websdr_id ? receiverName(s.websdr_id) : null),
    receivers: (s) => s.receivers.length,
    age: (s) => (s.first_seen === null ? null : -s.first_seen), // youngest first
  };
  const collator = new Intl.Collator("en", { numeric: true, sensitivity: "base" });

  function compareBy(key, dir) {
    const get = SORT_KEYS[key] || SORT_KEYS.frequency;
    const sign = dir === "descending" ? -1 : 1;
    return (a, b) => {
      const x = get(a), y = get(b);
      if (x === null || y === null) return x === y ? 0 : x === null ? 1 : -1;
      const c = typeof x === "string" ? collator.compare(x, y) : x - y;
      return sign * c || collator.compare(a.signal_id, b.signal_id);
    };
  }

  /** Whether a signal matches every word of the filter (id, MHz, receiver ids and names). */
  function matchesFilter(s, words) {
    if (words.length === 0) return true;
    const hay = [s.signal_id, mhz(s.frequency_hz) === null ? "" : mhz(s.frequency_hz).toFixed(4), ...s.receivers, ...s.receivers.map(receiverName), s.websdr_id || ""].join(" ").toLowerCase();
    return words.every((w) => hay.includes(w));
  }

  function setSort(key) {
    const dir = S.sort.key === key ? (S.sort.dir === "ascending" ? "descending" : "ascending") : "ascending";
    S.sort = { key, dir };
    markDirty("signals");
  }

  function renderSortHeaders() {
    for (const th of document.querySelectorAll('[data-testid="signals-table"] th[data-sort]')) {
      const on = th.dataset.sort === S.sort.key;
      setAttr(th, "aria-sort", on ? S.sort.dir : null);
      const b = th.querySelector("button");
      const label = b.textContent;
      setAttr(b, "aria-label", on ? null : `${label}: sort`);
    }
  }

  function renderSignals() {
    const m = S.signals;
    showPanel("panel-signals", m !== null);
    renderSortHeaders();
    if (!m) return;
    const total = m.size;
    const words = S.filter.split(/\s+/).filter(Boolean);
    const all = [...m.values()].filter((s) => matchesFilter(s, words)).sort(compareBy(S.sort.key, S.sort.dir));
    const list = all.slice(0, CFG.maxSignalRows);
    S.shownSignals = list.length;
    setText($("signals-count"), list.length < total ? `(${list.length} of ${total})` : `(${total})`);
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
        setAttr(btn, "aria-label", `${s.signal_id}, ${mhz(s.frequency_hz) === null ? "unknown frequency" : `${mhz(s.frequency_hz).toFixed(4)} MHz`}: show details`);
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
    if (all.length === 0) emptyRow(tbody, 8, total === 0 ? "no active signals" : `no signal matches “${S.filter}”`);
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

  // ---------------------------------------------------------------- spectrum and waterfall
  // Frames: `bins` bytes, byte b = level db_min + b / 255 * (db_max - db_min), bin i covering
  // [start_hz + i * bin_hz, start_hz + (i + 1) * bin_hz). Each receiver keeps a ring of rows in
  // an off-screen canvas one pixel per bin and per frame; the visible canvases are redrawn from
  // it at most once per render frame.
  const PLOT = { padL: 52, padR: 12, padT: 18, padB: 22, labelRows: 30 };
  const VIRIDIS = ["#440154", "#482475", "#414487", "#355f8d", "#2a788e", "#21918c", "#22a884", "#44bf70", "#7ad151", "#bddf26", "#fde725"];
  const LUT = (() => {
    const rgb = VIRIDIS.map((h) => [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16)));
    const lut = new Uint8ClampedArray(256 * 4);
    for (let v = 0; v < 256; v++) {
      const t = (v / 255) * (rgb.length - 1);
      const i = Math.min(rgb.length - 2, Math.floor(t));
      const f = t - i;
      for (let c = 0; c < 3; c++) lut[v * 4 + c] = rgb[i][c] + (rgb[i + 1][c] - rgb[i][c]) * f;
      lut[v * 4 + 3] = 255;
    }
    return lut;
  })();
  let colors = null; // CSS custom properties, read once
  let plotHits = []; // signal bands on the visible plots: {id, x0, x1, xc}

  function cssColors() {
    if (colors) return colors;
    const cs = getComputedStyle(document.documentElement);
    const v = (name, def) => (cs.getPropertyValue(name) || "").trim() || def;
    colors = {
      bg: v("--plot-bg", "#0e141b"), grid: v("--plot-grid", "#243042"), text: v("--muted", "#9aa8b6"),
      trace: v("--accent", "#5cb3ff"), sig: v("--info", "#b69cff"), sel: v("--sel", "#ffd24a"),
      font: `11px ${v("--sans", "sans-serif")}`,
    };
    return colors;
  }

  function decodeFrame(d) {
    const bins = num(d.bins);
    if (d.encoding !== "u8-base64" || typeof d.data !== "string" || typeof d.receiver_id !== "string") return null;
    if (bins === null || !Number.isInteger(bins) || bins < 1 || bins > 65536) return null;
    const start = num(d.start_hz), binHz = num(d.bin_hz), dbMin = num(d.db_min), dbMax = num(d.db_max);
    if (start === null || binHz === null || binHz <= 0 || dbMin === null || dbMax === null || !(dbMax > dbMin)) return null;
    let raw;
    try {
      raw = atob(d.data);
    } catch (_) {
      return null;
    }
    if (raw.length !== bins) return null;
    const levels = new Uint8Array(bins);
    for (let i = 0; i < bins; i++) levels[i] = raw.charCodeAt(i);
    return { rx: d.receiver_id, t: parseTime(d.timestamp), center: num(d.center_frequency_hz), start, binHz, bins, dbMin, dbMax, levels };
  }

  function newSpectrum(f) {
    const canvas = document.createElement("canvas");
    canvas.width = f.bins;
    canvas.height = CFG.waterfallRows;
    const ctx = canvas.getContext("2d");
    return { bins: f.bins, start: f.start, binHz: f.binHz, canvas, ctx, row: ctx.createImageData(f.bins, 1), head: 0, rows: 0, total: 0, times: new Array(CFG.waterfallRows).fill(null), last: null };
  }

  function onFrame(d) {
    const f = decodeFrame(d);
    if (!f) {
      S.badMessages++;
      return;
    }
    S.frames++;
    let sp = S.spectra.get(f.rx);
    // A retuned receiver (or a new rate or bin count) starts a new waterfall.
    if (!sp || sp.bins !== f.bins || Math.abs(sp.start - f.start) > f.binHz / 2 || Math.abs(sp.binHz - f.binHz) > 1e-6 * f.binHz) {
      sp = newSpectrum(f);
      S.spectra.set(f.rx, sp);
    }
    sp.last = f;
    const H = CFG.waterfallRows;
    sp.head = (sp.head + H - 1) % H; // newest row on top
    const px = sp.row.data;
    for (let i = 0; i < f.bins; i++) px.set(LUT.subarray(f.levels[i] * 4, f.levels[i] * 4 + 4), i * 4);
    sp.ctx.putImageData(sp.row, 0, sp.head);
    sp.times[sp.head] = f.t;
    sp.rows = Math.min(H, sp.rows + 1);
    sp.total++;
    if (!S.spectrumChosen) S.spectrumRx = preferredReceiver() ?? S.spectrumRx ?? f.rx;
    markDirty("spectrum");
  }

  /** Until the user picks one: the first receiver (in the server's order) that sends frames. */
  function preferredReceiver() {
    const listed = (S.websdrs || []).find((w) => S.spectra.has(w.id));
    return listed ? listed.id : null;
  }

  /** Sizes a canvas to its CSS box at the device pixel ratio; returns its context in CSS px. */
  function fitCanvas(c) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(120, Math.round(c.clientWidth || 600));
    const h = Math.max(60, Math.round(c.clientHeight || 200));
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { ctx, w, h };
  }

  function niceStep(x) {
    const p = 10 ** Math.floor(Math.log10(x));
    const f = x / p;
    return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * p;
  }

  const fmtMHz = (hz, stepHz) => (hz / 1e6).toFixed(Math.max(0, Math.min(6, Math.ceil(-Math.log10(stepHz / 1e6)))));

  /** Signals inside the frame's span, by frequency. */
  function signalsIn(f) {
    if (!S.signals || !f) return [];
    const end = f.start + f.bins * f.binHz;
    return [...S.signals.values()]
      .filter((s) => s.frequency_hz !== null && s.frequency_hz >= f.start && s.frequency_hz <= end)
      .sort((a, b) => a.frequency_hz - b.frequency_hz);
  }

  function spectrumOptions() {
    const sel = $("spectrum-rx");
    const ids = (S.websdrs || []).map((w) => w.id);
    for (const id of S.spectra.keys()) if (!ids.includes(id)) ids.push(id);
    const want = ids.map((id) => `${id}\u0000${receiverName(id)}`).join("\u0001");
    if (sel.dataset.opts !== want) {
      sel.replaceChildren(...ids.map((id) => {
        const o = el("option", null, receiverName(id) === id ? id : `${receiverName(id)} (${id})`);
        o.value = id;
        return o;
      }));
      sel.dataset.opts = want;
    }
    if (S.spectrumRx !== null && sel.value !== S.spectrumRx) sel.value = S.spectrumRx;
    sel.disabled = ids.length === 0;
  }

  function renderSpectrum() {
    spectrumOptions();
    const status = $("spectrum-status");
    const plots = $("spectrum-plots");
    const rx = S.spectrumRx;
    const sp = rx === null ? null : S.spectra.get(rx);
    const f = sp ? sp.last : null;
    let msg = "";
    if (S.spectrumForbidden) msg = "Your access token does not include spectrum frames (spectrum:frame).";
    else if (S.dashConfig && S.dashConfig.frames && !S.dashConfig.frames.enabled) msg = "Spectrum frames are off on this server ([spectrum_frames] in its configuration).";
    else if (!f) msg = S.connection === "connected" ? `Waiting for spectrum frames${rx ? ` from ${receiverName(rx)}` : ""}…` : "The live spectrum needs the WebSocket connection.";
    else if (S.connection !== "connected") msg = `Live spectrum paused (${BADGE_TEXT[S.connection] || S.connection}); showing the last frames.`;
    setText(status, msg);
    setAttr(status, "hidden", msg ? null : "");
    status.className = f ? "spectrum-note" : "empty";
    setAttr(plots, "hidden", f ? null : "");
    if (!f) {
      plotHits = [];
      return;
    }
    const c = cssColors();
    const sigs = signalsIn(f);
    const span = f.bins * f.binHz;
    /** Each signal's band on the plot (at least 3 px wide), in CSS px. */
    const bandsOf = (x) =>
      sigs.map((s) => {
        const half = Math.max((s.bandwidth_hz || 0) / 2, 0);
        let x0 = x(s.frequency_hz - half), x1 = x(s.frequency_hz + half);
        if (x1 - x0 < 3) [x0, x1] = [x(s.frequency_hz) - 1.5, x(s.frequency_hz) + 1.5];
        return { id: s.signal_id, x0, x1, xc: x(s.frequency_hz) };
      });

    // -- spectrum
    const sc = $("spectrum");
    const { ctx, w, h } = fitCanvas(sc);
    const top = PLOT.labelRows; // room for two rows of signal labels
    const pw = w - PLOT.padL - PLOT.padR, ph = h - top - PLOT.padB;
    const x = (hz) => PLOT.padL + ((hz - f.start) / span) * pw;
    const yb = (b) => top + (1 - b / 255) * ph;
    const ydb = (db) => yb(((db - f.dbMin) / (f.dbMax - f.dbMin)) * 255);
    ctx.fillStyle = c.bg;
    ctx.fillRect(0, 0, w, h);
    ctx.font = c.font;
    ctx.lineWidth = 1;
    // dB grid
    const dbStep = niceStep((f.dbMax - f.dbMin) / 4);
    ctx.strokeStyle = c.grid;
    ctx.fillStyle = c.text;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.beginPath();
    for (let db = Math.ceil(f.dbMin / dbStep) * dbStep; db <= f.dbMax; db += dbStep) {
      const y = Math.round(ydb(db)) + 0.5;
      ctx.moveTo(PLOT.padL, y);
      ctx.lineTo(w - PLOT.padR, y);
      ctx.fillText(`${Math.round(db)}`, PLOT.padL - 6, y);
    }
    // frequency grid
    const fStep = niceStep(span / Math.max(2, Math.floor(pw / 110)));
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    for (let hz = Math.ceil(f.start / fStep) * fStep; hz <= f.start + span; hz += fStep) {
      const xx = Math.round(x(hz)) + 0.5;
      ctx.moveTo(xx, top);
      ctx.lineTo(xx, h - PLOT.padB);
      ctx.fillText(fmtMHz(hz, fStep), xx, h - PLOT.padB + 5);
    }
    ctx.stroke();
    ctx.save();
    ctx.translate(12, top + ph / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText("dBFS", 0, 0);
    ctx.restore();
    ctx.textAlign = "left";
    ctx.textBaseline = "top";
    ctx.fillText("MHz", 4, h - PLOT.padB + 5);
    // signal bands under the trace
    const hits = bandsOf(x);
    for (const hit of hits) {
      const isSel = hit.id === S.selected;
      ctx.fillStyle = isSel ? "rgba(255,210,74,.28)" : "rgba(182,156,255,.18)";
      ctx.fillRect(hit.x0, top, hit.x1 - hit.x0, ph);
    }
    // trace
    ctx.save();
    ctx.beginPath();
    ctx.rect(PLOT.padL, top, pw, ph);
    ctx.clip();
    ctx.beginPath();
    for (let i = 0; i < f.bins; i++) {
      const xx = x(f.start + (i + 0.5) * f.binHz);
      const yy = yb(f.levels[i]);
      if (i === 0) ctx.moveTo(xx, yy);
      else ctx.lineTo(xx, yy);
    }
    ctx.strokeStyle = c.trace;
    ctx.lineWidth = 1.25;
    ctx.stroke();
    ctx.lineTo(x(f.start + span), h - PLOT.padB);
    ctx.lineTo(PLOT.padL, h - PLOT.padB);
    ctx.closePath();
    ctx.fillStyle = "rgba(92,179,255,.12)";
    ctx.fill();
    ctx.restore();
    // signal labels, left to right on two rows; one that fits on neither is left out (the
    // selected one never is)
    ctx.font = c.font;
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const rowEnd = [-Infinity, -Infinity];
    for (const hit of hits) {
      const label = hit.id;
      const tw = ctx.measureText(label).width;
      const row = hit.xc - tw / 2 > rowEnd[0] + 4 ? 0 : hit.xc - tw / 2 > rowEnd[1] + 4 ? 1 : hit.id === S.selected ? 0 : -1;
      if (row < 0) continue;
      rowEnd[row] = hit.xc + tw / 2;
      ctx.fillStyle = hit.id === S.selected ? c.sel : c.sig;
      ctx.fillText(label, Math.min(w - tw / 2 - 2, Math.max(tw / 2 + 2, hit.xc)), 3 + row * 13);
    }

    // -- waterfall
    const wc = $("waterfall");
    const W2 = fitCanvas(wc);
    const g = W2.ctx;
    const ph2 = W2.h - PLOT.padT - 6;
    g.fillStyle = c.bg;
    g.fillRect(0, 0, W2.w, W2.h);
    const H = CFG.waterfallRows;
    const rowPx = ph2 / H;
    g.imageSmoothingEnabled = true;
    // Ring rows from the head (newest) to the end, then from 0 to the head.
    const first = H - sp.head;
    g.drawImage(sp.canvas, 0, sp.head, sp.bins, first, PLOT.padL, PLOT.padT, pw, first * rowPx);
    if (sp.head > 0) g.drawImage(sp.canvas, 0, 0, sp.bins, sp.head, PLOT.padL, PLOT.padT + first * rowPx, pw, sp.head * rowPx);
    g.font = c.font;
    g.fillStyle = c.text;
    g.textAlign = "right";
    g.textBaseline = "top";
    g.fillText("now", PLOT.padL - 6, PLOT.padT);
    const newest = sp.times[sp.head];
    const oldestIdx = (sp.head + sp.rows - 1) % H;
    const oldest = sp.times[oldestIdx];
    if (newest !== null && oldest !== null && sp.rows * rowPx > 26) {
      const yOld = PLOT.padT + sp.rows * rowPx;
      g.textBaseline = "bottom";
      g.fillText(`−${Math.round((newest - oldest) / 1000)} s`, PLOT.padL - 6, Math.min(W2.h - 2, yOld));
    }
    g.textAlign = "left";
    g.textBaseline = "bottom";
    g.fillText(`${sp.rows} rows · ${receiverName(rx)}`, PLOT.padL, PLOT.padT - 4);
    for (const hit of hits) {
      const isSel = hit.id === S.selected;
      g.strokeStyle = isSel ? c.sel : "rgba(230,237,243,.55)";
      g.lineWidth = isSel ? 2 : 1;
      g.setLineDash(isSel ? [] : [3, 4]);
      g.beginPath();
      g.moveTo(Math.round(hit.xc) + 0.5, PLOT.padT);
      g.lineTo(Math.round(hit.xc) + 0.5, PLOT.padT + ph2);
      g.stroke();
      // a tick above the waterfall, clickable like the band
      g.setLineDash([]);
      g.fillStyle = isSel ? c.sel : c.sig;
      g.beginPath();
      g.moveTo(hit.xc - 5, PLOT.padT - 8);
      g.lineTo(hit.xc + 5, PLOT.padT - 8);
      g.lineTo(hit.xc, PLOT.padT - 1);
      g.closePath();
      g.fill();
    }
    g.setLineDash([]);
    plotHits = hits;

    const range = `${fmtMHz(f.start, fStep)} to ${fmtMHz(f.start + span, fStep)} MHz`;
    const selTxt = S.selected && hits.some((x2) => x2.id === S.selected) ? `, ${S.selected} selected` : "";
    const names = sigs.map((s) => `${s.signal_id} at ${(s.frequency_hz / 1e6).toFixed(4)} MHz`).join(", ");
    setAttr(sc, "aria-label", `Spectrum of ${receiverName(rx)}, ${range}, levels ${Math.round(f.dbMin)} to ${Math.round(f.dbMax)} dBFS; ${sigs.length} signal${sigs.length === 1 ? "" : "s"} marked${names ? `: ${names}` : ""}${selTxt}.`);
    setAttr(wc, "aria-label", `Waterfall of ${receiverName(rx)}, ${range}, the last ${sp.rows} frames, newest at the top${selTxt}.`);
  }

  /** The signal under a pointer x on a plot: the band containing it, else the nearest marker within 8 px. */
  function signalAt(px) {
    let best = null;
    let bestD = Infinity;
    for (const h of plotHits) {
      const inside = px >= h.x0 - 2 && px <= h.x1 + 2;
      const d = Math.abs(px - h.xc);
      if ((inside || d <= 8) && d < bestD) {
        best = h.id;
        bestD = d;
      }
    }
    return best;
  }

  function wirePlot(canvas) {
    canvas.addEventListener("click", (ev) => {
      const r = canvas.getBoundingClientRect();
      const id = signalAt(ev.clientX - r.left);
      if (id !== null) selectSignal(id, { fromSpectrum: true });
    });
    canvas.addEventListener("mousemove", (ev) => {
      const r = canvas.getBoundingClientRect();
      const px = ev.clientX - r.left;
      const sp = S.spectrumRx === null ? null : S.spectra.get(S.spectrumRx);
      const f = sp && sp.last;
      const pw = r.width - PLOT.padL - PLOT.padR;
      const ro = $("spectrum-readout");
      if (!f || px < PLOT.padL || px > PLOT.padL + pw) {
        setText(ro, "");
        canvas.style.cursor = "";
        return;
      }
      const i = Math.min(f.bins - 1, Math.max(0, Math.floor(((px - PLOT.padL) / pw) * f.bins)));
      const hz = f.start + (i + 0.5) * f.binHz;
      const db = f.dbMin + (f.levels[i] / 255) * (f.dbMax - f.dbMin);
      const id = signalAt(px);
      canvas.style.cursor = id === null ? "crosshair" : "pointer";
      setText(ro, `${(hz / 1e6).toFixed(4)} MHz · ${db.toFixed(1)} dBFS${id === null ? "" : ` · ${id}`}`);
    });
    canvas.addEventListener("mouseleave", () => setText($("spectrum-readout"), ""));
    canvas.addEventListener("keydown", (ev) => {
      const ids = plotHits.map((h) => h.id);
      if (ev.key === "Escape") {
        if (S.selected !== null) selectSignal(S.selected);
        ev.preventDefault();
        return;
      }
      if ((ev.key !== "ArrowRight" && ev.key !== "ArrowLeft") || ids.length === 0) return;
      ev.preventDefault();
      const at = ids.indexOf(S.selected);
      const next = ev.key === "ArrowRight" ? (at < 0 ? 0 : Math.min(ids.length - 1, at + 1)) : at < 0 ? ids.length - 1 : Math.max(0, at - 1);
      selectSignal(ids[next], { keep: true, fromSpectrum: true });
    });
  }

  // ---------------------------------------------------------------- signal details
  let detailsKey = "";

  function kv(dl, label, value, ageT) {
    const dt = el("dt", null, label);
    const dd = el("dd");
    if (ageT !== undefined) {
      dd.dataset.t = ageT === null ? "" : String(ageT);
      dd.dataset.suffix = " ago";
      setAttr(dd, "title", ageT === null ? null : fmtIso(ageT));
    } else if (Array.isArray(value)) {
      const ul = el("ul", "plain");
      for (const v of value) ul.append(el("li", null, v));
      dd.append(ul);
    } else dd.textContent = value;
    dl.append(dt, dd);
  }

  function renderDetails() {
    const id = S.selected;
    setAttr($("clear-selection"), "hidden", id === null ? "" : null);
    const s = id !== null && S.signals ? S.signals.get(id) || null : null;
    const l = id !== null && S.locs ? S.locs.get(id) || null : null;
    const key = JSON.stringify([id, s && { ...s, timestamp: 0 }, l, (S.websdrs || []).map((w) => [w.id, w.name])]);
    if (key === detailsKey) return;
    detailsKey = key;
    const box = $("details");
    if (id === null) {
      box.replaceChildren(el("p", "empty", "Select a signal in the spectrum, the signals table or the map."));
      return;
    }
    const parts = [];
    const head = el("h3", "details-title", id);
    parts.push(head);
    if (!s && !l) {
      parts.push(el("p", "empty", "This signal is no longer active and has no position estimate."));
      box.replaceChildren(...parts);
      return;
    }
    const rxLabel = (r) => (receiverName(r) === r ? r : `${receiverName(r)} (${r})`);
    if (s) {
      const dl = el("dl", "kv");
      dl.dataset.testid = "details-signal";
      kv(dl, "Frequency", s.frequency_hz === null ? DASH : `${(s.frequency_hz / 1e6).toFixed(6)} MHz`);
      kv(dl, "Bandwidth", s.bandwidth_hz === null ? DASH : s.bandwidth_hz < 1000 ? `${s.bandwidth_hz.toFixed(0)} Hz` : `${(s.bandwidth_hz / 1e3).toFixed(2)} kHz`);
      kv(dl, "SNR (per bin)", s.snr_db === null ? DASH : `${s.snr_db.toFixed(1)} dB`);
      kv(dl, "Power", s.power_dbfs === null ? DASH : `${s.power_dbfs.toFixed(1)} dBFS (peak bin ${fmtFixed(s.peak_power_dbfs, 1)} dBFS)`);
      kv(dl, "Best receiver", s.websdr_id ? rxLabel(s.websdr_id) : DASH);
      kv(dl, `Heard by (${s.receivers.length})`, s.receivers.length ? s.receivers.map(rxLabel) : DASH);
      kv(dl, "First seen", null, s.first_seen);
      parts.push(dl);
    } else {
      parts.push(el("p", "empty", "No longer active; its last position estimate:"));
    }
    const h = el("h4", "details-sub", "Position estimate");
    parts.push(h);
    if (!l) {
      parts.push(el("p", "empty", "No position estimate yet (it needs at least three receivers hearing the signal)."));
    } else {
      const dl = el("dl", "kv");
      dl.dataset.testid = "details-localization";
      const method = l.method === "tdoa" ? "TDOA (time differences of arrival)" : l.method === "power" ? "Power (received signal strength)" : l.method || DASH;
      kv(dl, "Method", method);
      if (l.note) kv(dl, "Note", l.note);
      kv(dl, "Position", l.latitude === null || l.longitude === null ? DASH : `${l.latitude.toFixed(5)}, ${l.longitude.toFixed(5)}`);
      kv(dl, "Uncertainty", l.uncertainty_m === null ? DASH : `±${fmtInt(l.uncertainty_m)} m (68 % radius)`);
      if (l.ellipse) kv(dl, "68 % ellipse", `${fmtInt(l.ellipse.a)} × ${fmtInt(l.ellipse.b)} m, major axis ${Math.round(l.ellipse.deg)}° from North`);
      kv(dl, "Confidence", l.confidence === null ? DASH : `${Math.round(l.confidence * 100)} % (fit p-value)`);
      if (l.gdop !== null) kv(dl, "GDOP", l.gdop.toFixed(2));
      const used = l.receivers.map((r, i) => (l.method === "tdoa" && i === 0 ? `${rxLabel(r)} — reference` : rxLabel(r)));
      kv(dl, `Receivers used (${l.receivers.length})`, used.length ? used : DASH);
      if (l.excluded.length) kv(dl, "Left out", l.excluded);
      kv(dl, "Estimated", null, l.timestamp);
      parts.push(dl);
    }
    box.replaceChildren(...parts);
    renderAges();
  }

  function announceSelection() {
    const id = S.selected;
    let t = "Selection cleared.";
    if (id !== null) {
      const s = S.signals && S.signals.get(id);
      const l = S.locs && S.locs.get(id);
      t = `${id} selected${s && s.frequency_hz !== null ? `, ${(s.frequency_hz / 1e6).toFixed(4)} MHz` : ""}${l ? ", position estimate shown" : ", no position estimate yet"}.`;
    }
    setText($("selection-live"), t);
  }

  /** Shows a selected signal in the spectrum: switches to its best receiver when the one shown does not hear it. */
  function followSignal(id) {
    const s = S.signals && S.signals.get(id);
    if (!s || !s.websdr_id || S.spectrumRx === null) return;
    if (s.receivers.includes(S.spectrumRx) || !S.spectra.has(s.websdr_id)) return;
    S.spectrumRx = s.websdr_id;
    markDirty("spectrum");
  }

  async function loadDashboardConfig() {
    if (loadDashboardConfig.busy || S.dashConfig !== null) return;
    loadDashboardConfig.busy = true;
    try {
      const c = await fetchJson("/api/v1/dashboard-config");
      const url = str(c.map_tiles_url);
      const frames = c.spectrum_frames && typeof c.spectrum_frames === "object" ? c.spectrum_frames : null;
      S.dashConfig = {
        tilesUrl: url && /^https?:\/\//.test(url) && ["{z}", "{x}", "{y}"].every((p) => url.includes(p)) ? url : null,
        attribution: str(c.map_tiles_attribution),
        frames: frames ? { enabled: frames.enabled !== false && (num(frames.rate_hz) ?? 1) > 0, rateHz: num(frames.rate_hz) } : null,
      };
      markDirty("map", "spectrum");
    } catch (_) {
      /* asked again on the next WebSocket open */
    } finally {
      loadDashboardConfig.busy = false;
    }
  }

  // ---------------------------------------------------------------- map
  // Web Mercator (the projection of slippy-map tiles), so tiles, when configured, line up with
  // the markers; distances on screen are scaled by 1 / cos(latitude) like the tiles'.
  const R_MERC = 6378137;
  const WORLD = 2 * Math.PI * R_MERC;
  const mercX = (lon) => (R_MERC * lon * Math.PI) / 180;
  const mercY = (lat) => R_MERC * Math.log(Math.tan(Math.PI / 4 + (Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 360));
  const latOfMercY = (y) => ((2 * Math.atan(Math.exp(y / R_MERC)) - Math.PI / 2) * 180) / Math.PI;
  const mercPerMetre = (lat) => 1 / Math.cos((lat * Math.PI) / 180);
  const mapEls = { rx: new Map(), tx: new Map(), tiles: new Map(), layers: null };

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
    const tiles = svgEl("g", { class: "map-tiles", "aria-hidden": "true" });
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
    svg.append(defs, bg, tiles, grid, clipped, rx, tx, scale, north);
    mapEls.layers = { clipRect, bg, tiles, grid, uncert, links, rx, tx, scale, north };
    return mapEls.layers;
  }

  /** Slippy-map tiles under the markers when `[dashboard] map_tiles_url` is set. */
  function renderTiles(L, W, H, k, cx, cy) {
    const url = S.dashConfig && S.dashConfig.tilesUrl;
    const want = new Set();
    if (url) {
      const z = Math.max(0, Math.min(19, Math.round(Math.log2((k * WORLD) / 256))));
      const n = 2 ** z;
      const size = WORLD / n; // Mercator metres per tile
      const T = size * k; // px per tile
      const midY = (H - 24) / 2;
      const txMin = Math.floor((cx - W / 2 / k + WORLD / 2) / size);
      const txMax = Math.floor((cx + W / 2 / k + WORLD / 2) / size);
      const tyMin = Math.max(0, Math.floor((WORLD / 2 - (cy + midY / k)) / size));
      const tyMax = Math.min(n - 1, Math.floor((WORLD / 2 - (cy - (H - midY) / k)) / size));
      if ((txMax - txMin + 1) * (tyMax - tyMin + 1) <= CFG.maxTiles) {
        for (let tx = txMin; tx <= txMax; tx++) {
          for (let ty = tyMin; ty <= tyMax; ty++) {
            const wx = ((tx % n) + n) % n;
            const key = `${z}/${tx}/${ty}`;
            want.add(key);
            let img = mapEls.tiles.get(key);
            if (!img) {
              img = svgEl("image", { preserveAspectRatio: "none", "data-testid": "map-tile" });
              img.addEventListener("load", () => S.tiles.loaded++);
              img.addEventListener("error", () => S.tiles.failed++);
              const href = url.replace("{z}", z).replace("{x}", wx).replace("{y}", ty).replace("{s}", "abc"[(wx + ty) % 3]);
              img.setAttribute("href", href);
              S.tiles.requested++;
              mapEls.tiles.set(key, img);
              L.tiles.append(img);
            }
            const sx = W / 2 + (tx * size - WORLD / 2 - cx) * k;
            const sy = midY - (WORLD / 2 - ty * size - cy) * k;
            // Half a pixel of overlap hides the seams between tiles.
            setAttr(img, "x", sx.toFixed(1));
            setAttr(img, "y", sy.toFixed(1));
            setAttr(img, "width", (T + 0.5).toFixed(1));
            setAttr(img, "height", (T + 0.5).toFixed(1));
          }
        }
      }
    }
    for (const [key, img] of mapEls.tiles) if (!want.has(key)) {
      img.remove();
      mapEls.tiles.delete(key);
    }
    setAttr(L.tiles.ownerSVGElement, "data-tiles", String(mapEls.tiles.size));
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

    const pts = [...rxs, ...txs];
    const proj = (lat, lon) => [mercX(lon), mercY(lat)];
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
    const lat0 = latOfMercY((y0 + y1) / 2);
    const s0 = mercPerMetre(lat0);
    const pointSpan = Math.max(x1 - x0, y1 - y0, 2000 * s0);
    for (const l of txs) {
      const r = Math.max(l.uncertainty_m || 0, l.ellipse ? l.ellipse.a : 0) * mercPerMetre(l.latitude);
      grow(...proj(l.latitude, l.longitude), Math.min(r, pointSpan * 3));
    }
    const minSpan = 1000 * s0;
    if (x1 - x0 < minSpan) [x0, x1] = [(x0 + x1) / 2 - minSpan / 2, (x0 + x1) / 2 + minSpan / 2];
    if (y1 - y0 < minSpan) [y0, y1] = [(y0 + y1) / 2 - minSpan / 2, (y0 + y1) / 2 + minSpan / 2];
    const pad = 36;
    const k = Math.min((W - 2 * pad) / (x1 - x0), (H - 2 * pad - 24) / (y1 - y0)); // px per Mercator metre
    const cx = (x0 + x1) / 2;
    const cy = (y0 + y1) / 2;
    const toPx = (lat, lon) => {
      const [x, y] = proj(lat, lon);
      return [W / 2 + (x - cx) * k, (H - 24) / 2 - (y - cy) * k];
    };

    renderTiles(L, W, H, k, cx, cy);

    // Graticule-free grid every "nice" distance (at the centre latitude), light enough to stay
    // out of the way.
    const gridStep = niceLength(W / k / s0 / 6) * s0;
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
        setAttr(unc, "r", Math.max(0.5, l.uncertainty_m * mercPerMetre(l.latitude) * k).toFixed(1));
        setAttr(unc, "display", null);
      } else setAttr(unc, "display", "none");
      const ell = e.area.lastChild;
      if (l.ellipse) {
        // SVG rotates clockwise on screen (y down); an unrotated rx lies East (090°), so a
        // major axis at `deg` clockwise from North needs a rotation of deg - 90.
        setAttr(ell, "cx", x.toFixed(1));
        setAttr(ell, "cy", y.toFixed(1));
        const ks = mercPerMetre(l.latitude) * k;
        setAttr(ell, "rx", Math.max(0.5, l.ellipse.a * ks).toFixed(1));
        setAttr(ell, "ry", Math.max(0.5, l.ellipse.b * ks).toFixed(1));
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
    const barM = niceLength((W * 0.22) / k / s0);
    const barPx = barM * s0 * k;
    const sx = 16, sy = H - 14;
    setAttr(L.scale.firstChild, "d", `M${sx},${sy - 6}V${sy}H${(sx + barPx).toFixed(1)}V${sy - 6}`);
    const st = L.scale.lastChild;
    setAttr(st, "x", (sx + barPx + 8).toFixed(1));
    setAttr(st, "y", String(sy));
    setText(st, `${barM >= 1000 ? barM / 1000 : +(barM / 1000).toFixed(4)} km`);
    setAttr(L.scale, "data-km", String(barM / 1000));
    setAttr(L.north, "transform", `translate(${W - 22},${28})`);

    const dc = S.dashConfig;
    let msg = `Web Mercator, N up; scale bar true at ${lat0.toFixed(2)}°.`;
    if (dc && dc.tilesUrl) msg += ` Tiles: ${dc.attribution || new URL(dc.tilesUrl.replace(/[{}]/g, "")).host}.`;
    else msg += " No tile server (works offline).";
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
    $("clear-selection").addEventListener("click", () => {
      if (S.selected !== null) selectSignal(S.selected);
      $("details").focus(); // the button hides itself: keep the keyboard user in the panel
    });
    $("spectrum-rx").addEventListener("change", (ev) => {
      S.spectrumRx = ev.target.value;
      S.spectrumChosen = true;
      markDirty("spectrum");
    });
    $("signal-filter").addEventListener("input", (ev) => {
      S.filter = ev.target.value.trim().toLowerCase();
      markDirty("signals");
    });
    for (const th of document.querySelectorAll('[data-testid="signals-table"] th[data-sort]')) {
      th.querySelector("button").addEventListener("click", () => setSort(th.dataset.sort));
    }
    wirePlot($("spectrum"));
    wirePlot($("waterfall"));
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
      let lastPlotW = 0;
      new ResizeObserver((entries) => {
        const w = Math.round(entries[0].contentRect.width);
        if (w !== lastPlotW) {
          lastPlotW = w;
          markDirty("spectrum");
        }
      }).observe($("spectrum-plots"));
    }
    setInterval(() => {
      markDirty("tick");
      if (S.connection !== "connected") renderConnDetail();
    }, 1000);
    markDirty("all");
    loadDashboardConfig();
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
        resyncs: S.resyncs,
        pollFailures: S.pollFailures,
        frames: S.frames,
        spectrumReceiver: S.spectrumRx,
        spectrumForbidden: S.spectrumForbidden,
        waterfallRows: Object.fromEntries([...S.spectra].map(([id, sp]) => [id, sp.rows])),
        framesBy: Object.fromEntries([...S.spectra].map(([id, sp]) => [id, sp.total])),
        sort: { ...S.sort },
        filter: S.filter,
        shownSignals: S.shownSignals,
        tiles: { ...S.tiles, shown: mapEls.tiles.size },
        dashboardConfig: S.dashConfig ? { tilesUrl: S.dashConfig.tilesUrl, frames: S.dashConfig.frames } : null,
      };
    },
    config() {
      return { ...CFG };
    },
    /** The signals marked on the spectrum: id and x (CSS px from the plot's left edge). */
    plotSignals() {
      return plotHits.map((h) => ({ id: h.id, x: h.xc }));
    },
  });
  Object.defineProperty(window, "sdrhub", { value: hook, writable: false, configurable: false, enumerable: true });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
