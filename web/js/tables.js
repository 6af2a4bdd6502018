// The tables: services, receivers, signals (sortable by any column, filtered: filter.js) and
// recent localizations. Rows are keyed and updated in place, so a render keeps the
// keyboard focus and the scroll position; a row's button selects its signal.

import { CFG } from "./config.js";
import { pruneOffAir, shownSignal, sortedLocs } from "./data.js";
import { selectSignal } from "./details.js";
import { currentFilter, describeFilter, matchesFilter, renderFilterReceivers } from "./filter.js";
import { $, el, renderAges, setAttr, setText, showPanel } from "./dom.js";
import { DASH, fmtFixed, fmtInt, fmtIso, knownStatus, mhz, num, parseTime, str } from "./format.js";
import { isListeningTo, listenToSignal, stopListening } from "./listen.js";
import { markDirty, receiverName, S } from "./state.js";

/** The services list (server order), with how long each has been in its status. */
export function renderHealth() {
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

export function renderReceivers() {
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

/** The row's listen toggle: listens to its signal on its best receiver, or stops. An
 * <input type="button"> (a native button all the same), so that the row's one <button> stays
 * the one that selects. */
function listenButton() {
  const b = el("input", "listen-btn");
  b.type = "button";
  b.dataset.testid = "signal-listen";
  b.addEventListener("click", (ev) => {
    ev.stopPropagation();
    const id = b.closest("tr").dataset.key;
    if (isListeningTo(id)) {
      stopListening();
      return;
    }
    const s = S.signals && S.signals.get(id);
    if (!s) return;
    listenToSignal(s);
    selectSignal(id, { keep: true }); // and shows it in the spectrum, where its passband is
  });
  return b;
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
  first: (s) => (firstSeen(s) === null ? null : -firstSeen(s)), // youngest first
  heard: (s) => (lastHeard(s) === null ? null : -lastHeard(s)), // most recent first
};

/** When the signal's transmitter was first heard (its first transmission), else this one. */
const firstSeen = (s) => s.first_heard ?? s.first_seen;
/** The latest detection the server reported (a steady signal is reported only on changes). */
const lastHeard = (s) => s.last_heard ?? s.timestamp;
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

/** Sorts the signals table by `key`; the same key again reverses the direction. */
export function setSort(key) {
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

export function renderSignals() {
  const m = S.signals;
  showPanel("panel-signals", m !== null);
  renderSortHeaders();
  renderFilterReceivers();
  if (!m) return;
  const total = m.size;
  const f = currentFilter();
  const visible = [...m.values()].filter(shownSignal);
  const all = visible.filter((s) => matchesFilter(s, f)).sort(compareBy(S.sort.key, S.sort.dir));
  const live = all.slice(0, CFG.maxSignalRows);
  S.shownSignals = live.length;
  // Then the transmissions that ended lately (the filter applies to them too), most recently
  // heard first: what "Last heard" is for.
  pruneOffAir();
  const offAir = [...S.offAir.values()]
    .filter((s) => shownSignal(s) && matchesFilter(s, f))
    .sort((a, b) => (b.last_heard ?? 0) - (a.last_heard ?? 0))
    .slice(0, Math.max(0, CFG.maxSignalRows - live.length));
  const list = live.concat(offAir);
  setText($("signals-count"), list.length < total ? `(${list.length} of ${total})` : `(${total})`);
  const ignored = total - visible.length;
  setText($("signals-ignored"), ignored > 0 ? `${ignored} ignored signal${ignored === 1 ? "" : "s"} hidden` : "");
  S.filteredOut = visible.length - all.length;
  setText($("signals-hidden"), S.filteredOut > 0 ? `${S.filteredOut} hidden by the filter` : "");
  const tbody = $("signals-body");
  syncRows(
    tbody,
    list,
    (s) => s.signal_id,
    () => {
      const tr = cells(el("tr", "selectable"), 9, [1, 2, 3, 4, 6, 7, 8]);
      tr.children[0].append(listenButton(), selectButton((b) => b.closest("tr").dataset.key), el("span", "novel"), el("span", "known"));
      tr.children[0].children[1].textContent = "new";
      tr.children[7].className = "num age";
      tr.children[8].className = "num heard";
      tr.addEventListener("click", () => selectSignal(tr.dataset.key));
      return tr;
    },
    (tr, s) => {
      const c = tr.children;
      const [listen, btn, novel, known] = c[0].children;
      // A row of a signal on air, or (dimmed, after them) of one that went off air lately.
      tr.dataset.testid = s.off_air ? "offair-row" : "signal-row";
      tr.classList.toggle("off-air", Boolean(s.off_air));
      setText(btn, s.signal_id);
      // Its name under its id: a known signal's (with its tags), else the configured
      // transmitter's; "new" when nothing was heard near its frequency for
      // history.novel_days before it appeared.
      setAttr(novel, "hidden", s.novel ? null : "");
      setAttr(novel, "title", s.novel ? "novel: nothing heard near this frequency recently" : null);
      setText(known, s.known ? s.known.name : s.name || "");
      setAttr(known, "title", s.known ? (s.known.tags.length ? `tags: ${s.known.tags.join(", ")}` : null) : s.name ? "configured transmitter" : null);
      known.classList.toggle("ignored", Boolean(s.known && s.known.ignore));
      const sel = S.selected === s.signal_id;
      setAttr(btn, "aria-pressed", sel ? "true" : "false");
      const where = mhz(s.frequency_hz) === null ? "unknown frequency" : `${mhz(s.frequency_hz).toFixed(4)} MHz`;
      setAttr(btn, "aria-label", `${s.signal_id}, ${where}: show details`);
      // Off air, nothing to hear.
      const hearing = isListeningTo(s.signal_id);
      setAttr(listen, "hidden", s.off_air && !hearing ? "" : null);
      setAttr(listen, "value", hearing ? "■" : "▶");
      setAttr(listen, "aria-pressed", hearing ? "true" : "false");
      setAttr(listen, "aria-label", hearing ? `Stop listening to ${s.signal_id}` : `Listen to ${s.signal_id}, ${where}`);
      setAttr(listen, "title", hearing ? "Stop listening" : `Listen${s.websdr_id ? ` on ${receiverName(s.websdr_id)}` : ""} (or Shift+click the spectrum)`);
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
      // First seen: the transmitter's first transmission (the same emitter keyed on again
      // keeps it); last heard: a signal in this table is on air (heard within the tracker's
      // lost_after_s), the title gives the latest report.
      const first = firstSeen(s);
      c[7].dataset.t = first === null ? "" : String(first);
      const emitter = s.emitter_id ? `${s.emitter_id} first heard ${fmtIso(first)}; this transmission since ${fmtIso(s.first_seen)}` : `first seen ${fmtIso(first)}`;
      setAttr(c[7], "title", first === null ? null : emitter);
      const heard = lastHeard(s);
      if (s.off_air) {
        c[8].dataset.t = heard === null ? "" : String(heard);
        c[8].dataset.suffix = " ago";
        setAttr(c[8], "title", heard === null ? null : `off air; last heard ${fmtIso(heard)}`);
      } else {
        delete c[8].dataset.t;
        setText(c[8], "on air");
        setAttr(c[8], "title", heard === null ? null : `on air; latest report of a detection ${fmtIso(heard)}`);
      }
    },
  );
  if (all.length === 0) {
    emptyRow(tbody, 9, total === 0 ? "no active signals" : visible.length === 0 ? "only ignored signals are active" : `no signal matches ${describeFilter(f)}`);
    tbody.prepend(tbody.lastChild); // above the off-air rows
  }
  renderAges();
}

export function renderLocs() {
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
      setText(c[4], l.method === "tdoa" ? "TDOA" : l.method === "power" ? "Power (coarse)" : l.method || DASH);
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
