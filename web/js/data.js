// What the server reports (health, receivers, signals, localizations), checked and normalised
// into S. The same setters take a WebSocket snapshot or event and a REST poll, so both paths
// fill the panels identically; anything malformed is dropped here, never rendered.

import { CFG } from "./config.js";
import { num, parseTime, str } from "./format.js";
import { markDirty, S } from "./state.js";

export function setHealth(d) {
  if (!d || typeof d !== "object") return;
  S.health = {
    status: str(d.status) || "unknown",
    services: Array.isArray(d.services) ? d.services.filter((s) => s && typeof s.name === "string") : [],
  };
  markDirty("health");
}

export function setWebsdrs(list) {
  if (!Array.isArray(list)) return;
  S.websdrs = list.filter((w) => w && typeof w.id === "string");
  markDirty("websdrs");
}

/** The `known` of a signal (live or stored): {id, name, tags, ignore}, or null. */
export function normKnown(k) {
  if (!k || typeof k !== "object" || typeof k.name !== "string" || k.name === "") return null;
  return {
    id: num(k.id),
    name: k.name,
    tags: Array.isArray(k.tags) ? k.tags.filter((t) => typeof t === "string" && t !== "") : [],
    ignore: k.ignore === true,
  };
}

/** Whether a signal is shown: lockouts (`known.ignore`) only when the user asks for them. */
export const shownSignal = (s) => S.showIgnored || !(s.known && s.known.ignore);

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
    known: normKnown(d.known),
    novel: d.novel === true,
    // The transmitter across its transmissions (absent from older servers and other
    // publishers: then null, and the table falls back to this transmission's own times).
    emitter_id: str(d.emitter_id),
    activations: num(d.activations),
    first_heard: parseTime(d.first_heard),
    last_heard: parseTime(d.last_heard),
    duty_cycle: num(d.duty_cycle),
    // The known signal's name, else the configured transmitter's.
    name: str(d.name) ?? (d.known && str(d.known.name)),
  };
}

export function setSignals(list) {
  if (!Array.isArray(list)) return;
  const m = new Map();
  for (const d of list) {
    if (d && typeof d.signal_id === "string" && d.state !== "lost") m.set(d.signal_id, normSignal(d));
  }
  S.signals = m;
  markDirty("signals");
}

export function upsertSignal(d) {
  if (!d || typeof d.signal_id !== "string") return;
  if (!S.signals) S.signals = new Map();
  if (d.state === "lost") {
    S.signals.delete(d.signal_id);
  } else {
    const prev = S.signals.get(d.signal_id);
    const s = normSignal(d);
    if (s.first_seen === null && prev) s.first_seen = prev.first_seen;
    if (s.first_heard === null && prev) s.first_heard = prev.first_heard;
    S.signals.set(d.signal_id, s);
  }
  markDirty("signals");
}

/** A localization (live, or stored with its ids), checked; positions out of range become null. */
export function normLoc(d) {
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

export function setLocs(list) {
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

export function upsertLoc(d) {
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

/** Localizations, newest first. */
export function sortedLocs() {
  return [...S.locs.values()].sort((a, b) => (b.timestamp ?? 0) - (a.timestamp ?? 0) || a.signal_id.localeCompare(b.signal_id));
}
