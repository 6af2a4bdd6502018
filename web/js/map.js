// The map: receivers, estimated transmitters with their 68 % uncertainty circle and ellipse,
// lines to the receivers of the selected estimate, a km scale bar and North. Offline by
// default; slippy-map tiles underneath when `[dashboard] map_tiles_url` is set.
//
// Web Mercator (the projection of slippy-map tiles), so tiles, when configured, line up with
// the markers; distances on screen are scaled by 1 / cos(latitude) like the tiles'.
//
// One drawer, two maps: `createMap` keeps an SVG's nodes (reused from draw to draw, so focus
// survives), `drawMap` draws receivers and a list of estimates into it. The live map draws the
// latest estimate of each signal; the History view draws one stored signal's fixes.

import { CFG } from "./config.js";
import { sortedLocs } from "./data.js";
import { selectSignal } from "./details.js";
import { $, setAttr, setText, showPanel, svgEl } from "./dom.js";
import { fmtInt, knownStatus, num, str } from "./format.js";
import { S } from "./state.js";

const R_MERC = 6378137;
const WORLD = 2 * Math.PI * R_MERC;
const mercX = (lon) => (R_MERC * lon * Math.PI) / 180;
const mercY = (lat) => R_MERC * Math.log(Math.tan(Math.PI / 4 + (Math.max(-85.05, Math.min(85.05, lat)) * Math.PI) / 360));
const latOfMercY = (y) => ((2 * Math.atan(Math.exp(y / R_MERC)) - Math.PI / 2) * 180) / Math.PI;
const mercPerMetre = (lat) => 1 / Math.cos((lat * Math.PI) / 180);

/**
 * A map in `svg`: its nodes by key (receiver id, estimate key, tile z/x/y). `clipId` must be
 * unique in the page; `estimateTestId` is the data-testid of its estimate markers; `onSelect`
 * gets an estimate's key when it is clicked (or Enter/Space).
 */
export function createMap(svg, { clipId, estimateTestId, onSelect }) {
  const m = { svg, clipId, estimateTestId, onSelect, rx: new Map(), tx: new Map(), tiles: new Map(), layers: null, view: { zoom: 1, dx: 0, dy: 0 }, base: null, fit: null, frame: null, last: null };
  enableZoomAndPan(m);
  return m;
}

const MAX_ZOOM = 2 ** 14;
/** The smallest uncertainty circle drawn, px. */
const MIN_AREA_PX = 7;

/** The view after the user's zoom and pan (the fit to the data is zoom 1, no offset). */
export function resetView(m) {
  m.view = { zoom: 1, dx: 0, dy: 0 };
  m.base = null;
  redraw(m);
}

function redraw(m) {
  if (m.last) drawMap(m, m.last);
}

/** Zooms by `factor` about the screen point (px, py) of the SVG's viewBox. */
export function zoomAt(m, factor, px, py) {
  const f = m.frame;
  if (!f) return;
  m.base = m.base || m.fit;
  const zoom = Math.min(MAX_ZOOM, Math.max(0.25, m.view.zoom * factor));
  const applied = zoom / m.view.zoom;
  // The Mercator point under (px, py) stays under it.
  const mx = f.cx + (px - f.W / 2) / f.k;
  const my = f.cy - (py - f.midY) / f.k;
  m.view.dx += (mx - f.cx) * (1 - 1 / applied);
  m.view.dy += (my - f.cy) * (1 - 1 / applied);
  m.view.zoom = zoom;
  redraw(m);
}

/** Moves the view by (ddx, ddy) screen px. */
export function panBy(m, ddx, ddy) {
  const f = m.frame;
  if (!f) return;
  m.base = m.base || m.fit;
  m.view.dx -= ddx / f.k;
  m.view.dy += ddy / f.k;
  redraw(m);
}

/** Screen px of the SVG's viewBox at a pointer event. */
function viewBoxPoint(m, ev) {
  const r = m.svg.getBoundingClientRect();
  const f = m.frame;
  const scale = f && r.width > 0 ? f.W / r.width : 1;
  return [(ev.clientX - r.left) * scale, (ev.clientY - r.top) * scale, scale];
}

/** Wheel zooms about the pointer, dragging pans, double-click fits the data again. */
function enableZoomAndPan(m) {
  const svg = m.svg;
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [x, y] = viewBoxPoint(m, ev);
    zoomAt(m, Math.exp(-ev.deltaY * 0.0015), x, y);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0 || ev.target.closest(".mk")) return; // markers keep their clicks
    drag = { x: ev.clientX, y: ev.clientY, id: ev.pointerId };
    svg.setPointerCapture(ev.pointerId);
    svg.classList.add("dragging");
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    const [, , scale] = viewBoxPoint(m, ev);
    panBy(m, (ev.clientX - drag.x) * scale, (ev.clientY - drag.y) * scale);
    drag.x = ev.clientX;
    drag.y = ev.clientY;
  });
  const end = (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    drag = null;
    svg.classList.remove("dragging");
  };
  svg.addEventListener("pointerup", end);
  svg.addEventListener("pointercancel", end);
  svg.addEventListener("dblclick", (ev) => {
    if (!ev.target.closest(".mk")) resetView(m);
  });
}

function niceLength(m) {
  const p = 10 ** Math.floor(Math.log10(m));
  const f = m / p;
  return (f >= 5 ? 5 : f >= 2 ? 2 : 1) * p;
}

function mapLayers(m) {
  if (m.layers) return m.layers;
  const svg = m.svg;
  const defs = svgEl("defs");
  const clip = svgEl("clipPath", { id: m.clipId });
  const clipRect = svgEl("rect", { x: 0, y: 0, width: 800, height: 500 });
  clip.append(clipRect);
  defs.append(clip);
  const bg = svgEl("rect", { class: "map-bg", x: 0, y: 0, width: 800, height: 500 });
  const tiles = svgEl("g", { class: "map-tiles", "aria-hidden": "true" });
  const grid = svgEl("g", { class: "map-grid", "aria-hidden": "true" });
  const clipped = svgEl("g", { "clip-path": `url(#${m.clipId})` });
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
  m.layers = { clipRect, bg, tiles, grid, uncert, links, rx, tx, scale, north };
  return m.layers;
}

/** Slippy-map tiles under the markers when `[dashboard] map_tiles_url` is set. */
function renderTiles(m, W, H, k, cx, cy) {
  const L = m.layers;
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
          let img = m.tiles.get(key);
          if (!img) {
            img = svgEl("image", { preserveAspectRatio: "none", "data-testid": "map-tile" });
            img.addEventListener("load", () => S.tiles.loaded++);
            img.addEventListener("error", () => S.tiles.failed++);
            const href = url.replace("{z}", z).replace("{x}", wx).replace("{y}", ty).replace("{s}", "abc"[(wx + ty) % 3]);
            img.setAttribute("href", href);
            S.tiles.requested++;
            m.tiles.set(key, img);
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
  for (const [key, img] of m.tiles) if (!want.has(key)) {
    img.remove();
    m.tiles.delete(key);
  }
  setAttr(m.svg, "data-tiles", String(m.tiles.size));
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

/**
 * Draws receivers and estimates into map `m`; returns false (drawing nothing) when there is
 * nothing with a position. An estimate: {key, latitude, longitude, uncertainty_m, ellipse,
 * receivers, active, lines (its label), aria}. The `selected` one is highlighted with lines to
 * its receivers and the others dimmed. `noteEl` gets the projection and tiles note plus `extra`.
 */
export function drawMap(m, { rxs, txs, selected, noteEl, extra = "" }) {
  const svg = m.svg;
  const hasData = rxs.length + txs.length > 0;
  if (!hasData) return false;

  const W = Math.max(280, Math.round(svg.clientWidth || 800));
  const H = Math.round(Math.min(560, Math.max(260, W * 0.6)));
  setAttr(svg, "viewBox", `0 0 ${W} ${H}`);
  const L = mapLayers(m);
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
  // px per Mercator metre: the fit to the data, then the user's zoom and pan.
  // Once the user has moved the view, it stays where they put it while data comes and goes.
  const fit = m.base || { k: Math.min((W - 2 * pad) / (x1 - x0), (H - 2 * pad - 24) / (y1 - y0)), cx: (x0 + x1) / 2, cy: (y0 + y1) / 2 };
  const k = fit.k * m.view.zoom;
  const cx = fit.cx + m.view.dx;
  const cy = fit.cy + m.view.dy;
  m.fit = fit;
  m.frame = { W, k, cx, cy, midY: (H - 24) / 2 };
  m.last = { rxs, txs, selected, noteEl, extra };
  setAttr(svg, "data-zoom", m.view.zoom.toFixed(3));
  const toPx = (lat, lon) => {
    const [x, y] = proj(lat, lon);
    return [W / 2 + (x - cx) * k, (H - 24) / 2 - (y - cy) * k];
  };

  renderTiles(m, W, H, k, cx, cy);

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

  const sel = selected;
  const anySel = sel !== null && txs.some((l) => l.key === sel);

  // Receivers
  const rxPos = new Map();
  const seenRx = new Set();
  for (const w of rxs) {
    const [x, y] = toPx(w.latitude, w.longitude);
    rxPos.set(w.id, [x, y]);
    seenRx.add(w.id);
    let g = m.rx.get(w.id);
    if (!g) {
      g = svgEl("g", { class: "mk rx", tabindex: "0", role: "img", "data-testid": "map-receiver" });
      g.append(svgEl("rect", { width: 10, height: 10 }), svgEl("text", { class: "name" }));
      L.rx.append(g);
      m.rx.set(w.id, g);
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
  for (const [id, g] of m.rx) if (!seenRx.has(id)) {
    g.remove();
    m.rx.delete(id);
  }

  // Estimates: uncertainty circle + 68 % ellipse (under everything), then the markers.
  const seenTx = new Set();
  for (const l of [...txs].reverse()) { // oldest first, so the newest draws on top
    const id = l.key;
    seenTx.add(id);
    const [x, y] = toPx(l.latitude, l.longitude);
    let e = m.tx.get(id);
    if (!e) {
      const area = svgEl("g", { class: "area" });
      area.append(svgEl("circle", { class: "unc" }), svgEl("ellipse", { class: "ell" }));
      const link = svgEl("path", { class: "link" });
      const g = svgEl("g", { class: "mk tx", tabindex: "0", role: "button", "data-testid": m.estimateTestId });
      g.append(svgEl("circle", { class: "hit", r: 12 }), svgEl("circle", { class: "dot", r: 5 }));
      g.addEventListener("click", () => m.onSelect(g.dataset.id));
      g.addEventListener("keydown", (ev) => {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          m.onSelect(g.dataset.id);
        }
      });
      e = { area, link, g };
      m.tx.set(id, e);
      // Markers keep their creation order: moving a node would drop keyboard focus.
      L.tx.append(g);
      L.links.append(link);
    }
    const isSel = sel === id;
    // Estimates that are no longer active stay, faded.
    const cls = (isSel ? " sel" : anySel ? " dim" : "") + (l.active ? "" : " inactive");
    setAttr(e.area, "class", `area${cls}`);
    setAttr(e.link, "class", `link${cls}`);
    setAttr(e.g, "class", `mk tx${cls}`);
    setAttr(e.g, "data-id", id);
    setAttr(e.g, "aria-pressed", isSel ? "true" : "false");
    const unc = e.area.firstChild;
    // An uncertainty too small to see at this scale is drawn at a minimum size, dashed, and
    // its label says so (a dot would read as "exact").
    const rPx = l.uncertainty_m === null ? null : l.uncertainty_m * mercPerMetre(l.latitude) * k;
    const tiny = rPx !== null && rPx < MIN_AREA_PX;
    if (rPx !== null) {
      setAttr(unc, "cx", x.toFixed(1));
      setAttr(unc, "cy", y.toFixed(1));
      setAttr(unc, "r", Math.max(MIN_AREA_PX, rPx).toFixed(1));
      setAttr(unc, "class", tiny ? "unc tiny" : "unc");
      setAttr(unc, "display", null);
    } else setAttr(unc, "display", "none");
    setAttr(e.g, "data-tiny", tiny ? "true" : null);
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
    setAttr(e.g, "aria-label", tiny ? `${l.aria} (area smaller than the marker at this scale)` : l.aria);
    markerLabel(e.g, tiny ? [...l.lines, "area not to scale: zoom in"] : l.lines);
    placeLabel(e.g, x, y, W);
    L.uncert.append(e.area); // areas (not focusable) are restacked: newest on top
  }
  if (anySel) L.uncert.append(m.tx.get(sel).area);
  for (const [id, e] of m.tx) if (!seenTx.has(id)) {
    e.area.remove();
    e.link.remove();
    e.g.remove();
    m.tx.delete(id);
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
  setText(noteEl, extra ? `${msg} ${extra}` : msg);
  return true;
}

/** The receivers that have a position. */
export const placedReceivers = () =>
  (S.websdrs || []).filter((w) => num(w.latitude) !== null && num(w.longitude) !== null && Math.abs(w.latitude) <= 90 && Math.abs(w.longitude) <= 180);

let liveMap = null;

/** The live map: every receiver and the latest estimate of each signal. */
export function renderMap() {
  if (!liveMap) {
    liveMap = createMap($("map"), { clipId: "map-clip", estimateTestId: "map-estimate", onSelect: (id) => selectSignal(id) });
    const centre = () => (liveMap.frame ? [liveMap.frame.W / 2, liveMap.frame.midY] : [0, 0]);
    $("map-zoom-in").addEventListener("click", () => zoomAt(liveMap, 2, ...centre()));
    $("map-zoom-out").addEventListener("click", () => zoomAt(liveMap, 0.5, ...centre()));
    $("map-fit").addEventListener("click", () => resetView(liveMap));
  }
  const rxs = placedReceivers();
  const txs = S.locs
    ? sortedLocs()
        .filter((l) => l.latitude !== null && l.longitude !== null)
        .map((l) => {
          // Estimates of signals that are no longer active stay, faded, until they age out.
          const active = !S.signals || S.signals.has(l.signal_id);
          const f = l.frequency_hz === null ? "" : ` · ${(l.frequency_hz / 1e6).toFixed(4)} MHz`;
          const u = l.uncertainty_m === null ? "uncertainty not reported" : `±${fmtInt(l.uncertainty_m)} m (68 %)`;
          const conf = l.confidence === null ? "" : ` · ${Math.round(l.confidence * 100)} %`;
          return {
            ...l,
            key: l.signal_id,
            active,
            lines: [`${l.signal_id}${f}`, `${u}${conf}`],
            aria: `Estimated transmitter ${l.signal_id}${f}, ${l.latitude.toFixed(5)}, ${l.longitude.toFixed(5)}, ${u}${conf}${active ? "" : ", signal no longer active"}`,
          };
        })
    : [];
  const sel = S.selected;
  const anySel = sel !== null && txs.some((l) => l.key === sel);
  const extra = sel !== null && !anySel ? `${sel}: no position estimate yet.` : anySel ? `Highlighted: ${sel}.` : "";
  showPanel("panel-map", rxs.length + txs.length > 0);
  drawMap(liveMap, { rxs, txs, selected: sel, noteEl: $("map-note"), extra });
}

/** How many tiles are on the live map now (for the test hook). */
export const tilesShown = () => (liveMap ? liveMap.tiles.size : 0);
