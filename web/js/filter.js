// The live signals table's filter: the text box (frequency ranges and words), the minimum
// SNR and the receiver selector, which combine (a signal is shown when it passes all three).
//
// Text forms (case does not matter, MHz unless a unit says kHz):
//   "145.3-145.4", "145.3–145.4 MHz", "145300-145400 kHz"  centre frequency in the range,
//                                                          inclusive, as the table rounds it
//   "433", "433.9 MHz", "433920 kHz"                       text match on the MHz the table shows
//   "sig-3", "rx2", "Sim North", "beacon"                  text match on id, receivers, name, tags
// Several terms must all match ("145-146 rx2"); two ranges would have to overlap.

import { $, el } from "./dom.js";
import { mhz } from "./format.js";
import { receiverName, S } from "./state.js";

// A number, a dash (hyphen, en or em dash) and a second number, an optional unit; the first
// number starts a term, so an id such as "kiwi-2-3" stays a word.
const RANGE = /(?<![\w.-])(\d+(?:\.\d*)?|\.\d+)\s*[-–—]\s*(\d+(?:\.\d*)?|\.\d+)\s*(mhz|khz)?(?![\w.])/g;
// A number directly followed by a unit: a single frequency.
const SINGLE = /(?<![\w.-])(\d+(?:\.\d*)?|\.\d+)\s*(mhz|khz)(?![\w.])/g;

const toMhz = (v, unit) => (unit === "khz" ? v / 1e3 : v);
// The MHz text of a kHz value as the table would show it (4 decimals), without trailing zeros,
// so "433920 kHz" becomes "433.92" and matches the table's "433.9200".
const mhzText = (v) => String(Number(v.toFixed(4)));

/** Parses the filter text (already lower case) into frequency ranges (MHz) and words. */
export function parseFilter(text) {
  const ranges = [];
  let rest = text.replace(RANGE, (_, a, b, unit) => {
    const lo = toMhz(Number(a), unit);
    const hi = toMhz(Number(b), unit);
    ranges.push([Math.min(lo, hi), Math.max(lo, hi)]);
    return " ";
  });
  // "433.0 MHz" stays "433.0" (the user's digits are the precision they mean).
  rest = rest.replace(SINGLE, (_, v, unit) => ` ${unit === "khz" ? mhzText(toMhz(Number(v), unit)) : v} `);
  return { ranges, words: rest.split(/\s+/).filter(Boolean) };
}

/** The filter in force: the text (parsed), the minimum SNR (dB, or null) and the receiver id ("" for any). */
export function currentFilter() {
  return { ...parseFilter(S.filter), minSnr: S.minSnr, rx: S.filterRx };
}

/** Whether a live signal passes the filter `f` (from currentFilter). */
export function matchesFilter(s, f) {
  const f6 = mhz(s.frequency_hz) === null ? null : Number(mhz(s.frequency_hz).toFixed(4));
  if (f.ranges.some(([lo, hi]) => f6 === null || f6 < lo || f6 > hi)) return false;
  if (f.minSnr !== null && (s.snr_db === null || s.snr_db < f.minSnr)) return false;
  if (f.rx !== "" && !s.receivers.includes(f.rx) && s.websdr_id !== f.rx) return false;
  if (f.words.length === 0) return true;
  const known = s.known ? [s.known.name, ...s.known.tags] : [];
  const hay = [s.signal_id, f6 === null ? "" : f6.toFixed(4), ...s.receivers, ...s.receivers.map(receiverName), s.websdr_id || "", ...known].join(" ").toLowerCase();
  return f.words.every((w) => hay.includes(w));
}

/** Describes the filter for the "no signal matches" row. */
export function describeFilter(f) {
  const parts = [];
  if (S.filter) parts.push(`“${S.filter}”`);
  if (f.minSnr !== null) parts.push(`SNR ≥ ${f.minSnr} dB`);
  if (f.rx !== "") parts.push(`heard by ${receiverName(f.rx)}`);
  return parts.join(", ");
}

/** The receiver selector's options: "any receiver", then every receiver (and the chosen one
 * even when it has gone from the list, so a choice is never dropped silently). */
export function renderFilterReceivers() {
  const sel = $("signal-rx");
  const ids = (S.websdrs || []).map((w) => w.id);
  if (S.filterRx !== "" && !ids.includes(S.filterRx)) ids.push(S.filterRx);
  const want = ids.map((id) => `${id}\u0000${receiverName(id)}`).join("\u0001");
  if (sel.dataset.opts !== want) {
    const any = el("option", null, "any receiver");
    any.value = "";
    sel.replaceChildren(any, ...ids.map((id) => {
      const o = el("option", null, receiverName(id) === id ? id : `${receiverName(id)} (${id})`);
      o.value = id;
      return o;
    }));
    sel.dataset.opts = want;
  }
  if (sel.value !== S.filterRx) sel.value = S.filterRx;
}

/** Wires the filter's controls: each change re-renders the signals table. */
export function wireFilter(markDirty) {
  $("signal-filter").addEventListener("input", (ev) => {
    S.filter = ev.target.value.trim().toLowerCase();
    markDirty("signals");
  });
  $("signal-min-snr").addEventListener("input", (ev) => {
    const v = ev.target.value.trim() === "" ? NaN : Number(ev.target.value);
    S.minSnr = Number.isFinite(v) ? v : null;
    markDirty("signals");
  });
  $("signal-rx").addEventListener("change", (ev) => {
    S.filterRx = ev.target.value;
    markDirty("signals");
  });
}
