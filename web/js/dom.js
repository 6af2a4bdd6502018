// Small DOM helpers shared by the panels. The setters write only when the value changes, so
// a render that changes nothing touches nothing (and never resets a selection or focus).

import { DASH, fmtDuration } from "./format.js";
import { serverNow } from "./state.js";

export const $ = (id) => document.getElementById(id);

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Sets an attribute, or removes it when `value` is null or undefined. */
export function setAttr(el, name, value) {
  if (value === null || value === undefined) {
    if (el.hasAttribute(name)) el.removeAttribute(name);
  } else if (el.getAttribute(name) !== String(value)) {
    el.setAttribute(name, value);
  }
}

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

const SVGNS = "http://www.w3.org/2000/svg";
export function svgEl(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  if (attrs) for (const k of Object.keys(attrs)) e.setAttribute(k, attrs[k]);
  return e;
}

/** Shows a panel's body, or its "no data yet" line until the server has sent its data. */
export function showPanel(panelId, hasData) {
  const panel = document.querySelector(`[data-testid="${panelId}"]`);
  const empty = panel.querySelector("[data-empty]");
  const body = empty.nextElementSibling;
  setAttr(empty, "hidden", hasData ? "" : null);
  setAttr(body, "hidden", hasData ? null : "");
  setAttr(panel, "data-has-data", hasData ? "true" : "false");
}

const ageOf = (t) => (t === null ? null : serverNow() - t);

/** Age cells carry their epoch ms in data-t; they refresh every second without a full render. */
export function renderAges() {
  for (const node of document.querySelectorAll("[data-t]")) {
    const t = node.dataset.t === "" ? null : Number(node.dataset.t);
    const text = t === null ? DASH : `${node.dataset.prefix || ""}${fmtDuration(ageOf(t))}${node.dataset.suffix || ""}`;
    setText(node, text);
  }
}
