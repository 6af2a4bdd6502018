// The alerts bar under the header: the server's active alerts (`alerts:raised`, the active set
// comes with every snapshot), most severe and newest first, each with its rule, message,
// receivers, age, a link to its signal (when the signal is live) and an Acknowledge button
// (`POST /api/v1/alerts/{id}/ack`; with auth on it needs an admin token, and the server's
// refusal is shown on the alert). A resolved alert leaves the bar.

import { apiCall } from "./api.js";
import { selectSignal } from "./details.js";
import { $, el, renderAges, setAttr, setText } from "./dom.js";
import { fmtIso, parseTime, str } from "./format.js";
import { markDirty, receiverName, S } from "./state.js";

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };

/** An alert from the wire, checked; null if it has no id. */
function normAlert(d) {
  if (!d || typeof d.alert_id !== "string") return null;
  return {
    alert_id: d.alert_id,
    rule: str(d.rule) || "?",
    kind: str(d.kind) || "?",
    severity: ["critical", "warning", "info"].includes(d.severity) ? d.severity : "warning",
    state: str(d.state) || "raised",
    acked: d.acked === true || d.state === "acked",
    signal_id: str(d.signal_id),
    emitter_id: str(d.emitter_id),
    receivers: Array.isArray(d.receivers) ? d.receivers.filter((r) => typeof r === "string") : [],
    message: str(d.message) || "",
    raised_at: parseTime(d.raised_at),
  };
}

/** The active set, from a snapshot or a resync. */
export function setAlerts(list) {
  if (!Array.isArray(list)) return;
  S.alerts = new Map();
  for (const d of list) {
    const a = normAlert(d);
    if (a && a.state !== "resolved") S.alerts.set(a.alert_id, a);
  }
  markDirty("alerts");
}

/** One `alerts:raised` event: raised or acknowledged (kept), resolved (gone). */
export function upsertAlert(d) {
  const a = normAlert(d);
  if (!a) return;
  if (!S.alerts) S.alerts = new Map();
  if (a.state === "resolved") S.alerts.delete(a.alert_id);
  else S.alerts.set(a.alert_id, a);
  S.ackErrors.delete(a.alert_id);
  markDirty("alerts");
}

async function acknowledge(id) {
  S.ackErrors.delete(id);
  try {
    await apiCall(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { method: "POST", body: {} });
  } catch (e) {
    S.ackErrors.set(id, e.message);
    markDirty("alerts");
  }
  // The acknowledgement itself comes back as an `alerts:raised` event.
}

export function renderAlerts() {
  const bar = $("alerts-bar");
  const list = S.alerts ? [...S.alerts.values()] : [];
  setAttr(bar, "hidden", list.length ? null : "");
  if (!list.length) {
    bar.replaceChildren();
    return;
  }
  list.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || (b.raised_at ?? 0) - (a.raised_at ?? 0));
  const open = list.filter((a) => !a.acked).length;
  const head = el("h2", "alerts-title", `Alerts (${list.length}${open < list.length ? `, ${list.length - open} acknowledged` : ""})`);
  const items = list.map((a) => {
    const li = el("li", `alert sev-${a.severity}${a.acked ? " acked" : ""}`);
    li.dataset.testid = "alert";
    li.dataset.key = a.alert_id;
    const sev = el("span", "alert-sev", a.severity);
    const what = el("span", "alert-what");
    what.append(el("strong", null, a.rule), ` ${a.message}`);
    const rx = a.receivers.length ? el("span", "alert-rx", a.receivers.map(receiverName).join(", ")) : null;
    const age = el("span", "alert-age");
    age.dataset.t = a.raised_at === null ? "" : String(a.raised_at);
    age.dataset.prefix = "raised ";
    age.dataset.suffix = " ago";
    setAttr(age, "title", a.raised_at === null ? null : fmtIso(a.raised_at));
    const parts = [sev, what];
    if (rx) parts.push(rx);
    parts.push(age);
    if (a.signal_id && S.signals && S.signals.has(a.signal_id)) {
      const show = el("button", "alert-show", `show ${a.signal_id}`);
      show.type = "button";
      show.addEventListener("click", () => selectSignal(a.signal_id));
      parts.push(show);
    }
    if (a.acked) {
      parts.push(el("span", "alert-acked", "acknowledged"));
    } else {
      const ack = el("button", "alert-ack", "Acknowledge");
      ack.type = "button";
      ack.dataset.testid = "alert-ack";
      setAttr(ack, "aria-label", `Acknowledge ${a.rule}: ${a.message}`);
      ack.addEventListener("click", () => acknowledge(a.alert_id));
      parts.push(ack);
    }
    const err = S.ackErrors.get(a.alert_id);
    if (err) parts.push(el("span", "alert-error", `not acknowledged: ${err}`));
    li.append(...parts);
    return li;
  });
  const ul = el("ul", "alerts-list");
  ul.append(...items);
  bar.replaceChildren(head, ul);
  renderAges();
}
