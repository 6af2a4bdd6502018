// Naming a stored signal: the form under its timeline writes a known signal (a named frequency
// range with tags, notes and `ignore` for lockouts) through `/api/v1/known-signals`: POST for
// a signal without a name, PUT to change the one it has, DELETE to forget it. The range starts
// as the signal's band (at least ±1 kHz: a carrier has no width, and the live frequency moves
// by a few hundred Hz), and can be edited.
//
// The server labels live signals with the name (`known` of `signals:detected`) from then on,
// and reports the active ones again at once; this form only says what the server answered,
// errors included.

import { apiCall, getJson } from "./api.js";
import { $, setAttr, setText } from "./dom.js";
import { num } from "./format.js";

/** Half the width of a new name's range at least, Hz. */
const MIN_HALF_WIDTH_HZ = 1000;
const TIMEOUT_MS = 10000;

let current = null; // {signal, entry}: the stored signal named, its known entry (null: none)
let gen = 0;
let onSaved = () => {};

function status(text, isError = false) {
  const p = $("name-status");
  setText(p, text);
  p.classList.toggle("error", isError);
}

/** The form's fields, as the API's draft (or the first problem, naming the field). */
function draft() {
  const name = $("n-name").value.trim();
  const fmin = Number($("n-fmin").value.trim()) * 1e6;
  const fmax = Number($("n-fmax").value.trim()) * 1e6;
  if (!name) return { problem: "Name: required." };
  if ($("n-fmin").value.trim() === "" || !Number.isFinite(fmin) || fmin < 0) return { problem: "From (MHz): must be a frequency." };
  if ($("n-fmax").value.trim() === "" || !Number.isFinite(fmax) || fmax < fmin) return { problem: "To (MHz): must be a frequency at least From." };
  const tags = $("n-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
  return { body: { name, freq_min_hz: fmin, freq_max_hz: fmax, tags, notes: $("n-notes").value, ignore: $("n-ignore").checked } };
}

function fill(entry, signal) {
  const f = num(signal.frequency_hz) ?? 0;
  const half = Math.max((num(signal.bandwidth_hz) ?? 0) / 2, MIN_HALF_WIDTH_HZ);
  $("n-name").value = entry ? entry.name : "";
  $("n-tags").value = entry ? entry.tags.join(", ") : "";
  $("n-notes").value = entry ? entry.notes || "" : "";
  $("n-ignore").checked = Boolean(entry && entry.ignore);
  $("n-fmin").value = ((entry ? entry.freq_min_hz : f - half) / 1e6).toFixed(6);
  $("n-fmax").value = ((entry ? entry.freq_max_hz : f + half) / 1e6).toFixed(6);
  setText($("n-save"), entry ? "Save changes" : "Save name");
  setAttr($("n-forget"), "hidden", entry ? null : "");
  setText($("h-name"), entry ? `Known as “${entry.name}”` : "Name this signal");
}

/**
 * Shows the form for a stored signal. When it already has a name, its known entry is read
 * (for its notes and range) so that saving changes it rather than adding a second one.
 */
export async function showNameForm(signal, keepStatus = false) {
  const g = ++gen;
  current = { signal, entry: null };
  if (!keepStatus) status("");
  fill(null, signal);
  if (!signal.known || signal.known.id === null) return;
  try {
    let entry;
    try {
      entry = await getJson(`/api/v1/known-signals/${encodeURIComponent(signal.known.id)}`, null, TIMEOUT_MS);
    } catch (err) {
      if (err.status !== 404) throw err;
      if (g === gen) status(`Its name “${signal.known.name}” was deleted meanwhile; saving adds a new one.`);
      return;
    }
    if (g !== gen) return;
    if (!entry || typeof entry !== "object" || typeof entry.name !== "string") throw new Error(`GET /api/v1/known-signals/${signal.known.id}: the answer is not a known signal`);
    current.entry = {
      id: entry.id,
      name: String(entry.name),
      freq_min_hz: num(entry.freq_min_hz) ?? signal.frequency_hz,
      freq_max_hz: num(entry.freq_max_hz) ?? signal.frequency_hz,
      tags: Array.isArray(entry.tags) ? entry.tags.filter((t) => typeof t === "string") : [],
      notes: typeof entry.notes === "string" ? entry.notes : "",
      ignore: entry.ignore === true,
    };
    fill(current.entry, signal);
  } catch (err) {
    if (g === gen) status(`Could not read its known entry: ${err.message}`, true);
  }
}

async function save(ev) {
  ev.preventDefault();
  if (!current) return;
  const d = draft();
  if (d.problem) return status(d.problem, true);
  const entry = current.entry;
  const btn = $("n-save");
  btn.disabled = true;
  status("Saving…");
  try {
    const saved = entry
      ? await apiCall(`/api/v1/known-signals/${encodeURIComponent(entry.id)}`, { method: "PUT", body: d.body, timeoutMs: TIMEOUT_MS })
      : await apiCall("/api/v1/known-signals", { method: "POST", body: d.body, timeoutMs: TIMEOUT_MS });
    const id = saved && num(saved.id) !== null ? saved.id : entry ? entry.id : null;
    status(`Saved: “${d.body.name}” (known signal ${id ?? "?"}), ${(d.body.freq_min_hz / 1e6).toFixed(4)}–${(d.body.freq_max_hz / 1e6).toFixed(4)} MHz${d.body.ignore ? ", ignored" : ""}. Live signals in this range carry it from now on.`);
    onSaved();
  } catch (err) {
    status(`Not saved: ${err.message}`, true);
  } finally {
    btn.disabled = false;
  }
}

async function forget() {
  const entry = current && current.entry;
  if (!entry) return;
  const btn = $("n-forget");
  btn.disabled = true;
  status("Deleting…");
  try {
    await apiCall(`/api/v1/known-signals/${encodeURIComponent(entry.id)}`, { method: "DELETE", timeoutMs: TIMEOUT_MS });
    status(`Forgot “${entry.name}” (known signal ${entry.id}).`);
    onSaved();
  } catch (err) {
    status(`Not deleted: ${err.message}`, true);
  } finally {
    btn.disabled = false;
  }
}

/** Wires the form; `saved` runs after each successful change (to read the signal again). */
export function wireNameForm(saved) {
  onSaved = saved;
  $("name-form").addEventListener("submit", save);
  $("n-forget").addEventListener("click", forget);
}
