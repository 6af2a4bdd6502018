// sdrhub dashboard: one WebSocket to the hub, REST polling as a fallback, and a render loop
// that touches the DOM at most a few times per second. This module wires the others
// together: what each dirty part redraws, the page's event listeners, and the start.
//
// Modules, by job (no build step; the browser loads them as they are):
//   config.js      settings and the debug query parameters (?ws=, ?backoff_ms=, ...)
//   state.js       the state S, the connection states, the render scheduler (markDirty)
//   data.js        server data checked and normalised into S (WebSocket and REST alike)
//   events.js      WebSocket events applied to S
//   connection.js  the WebSocket (token, ?since= resume, ping, backoff), REST polling
//   status.js      header and footer: badge, connection detail, latency, debug banner
//   freshness.js   whether the data is still live (stale after 3 expected intervals of silence)
//   tables.js      services, receivers, signals (sort, filter), localizations
//   filter.js      the signals filter: frequency ranges, words, minimum SNR, receiver
//   spectrum.js    spectrum and waterfall from spectrum:frame (frame.js decodes a frame)
//   spectrum_view.js  the spectrum's zoom, pan, level axis, averaging, peak hold; its controls
//   waterfall.js   the waterfall's rows (live and the server's recent history) and drawing
//   map.js         the map drawer (Web Mercator, optional tiles): live estimates, stored fixes
//   details.js     the selected signal and its details panel
//   listen.js      listening: listen requests, audio packets to the player, latency
//   listen_bar.js  the listening bar: what is heard, its controls and its numbers
//   listen-worklet.js  the player (AudioWorklet): jitter buffer, resampling;
//                  listen_sources.js where there is no AudioWorklet; audio_packet.js decodes
//   history.js     the History view: search over the signal log, one stored signal
//   heatmap.js     the History view's occupancy heatmap
//   timeline.js    a stored signal's power per receiver over time
//   known.js       the form that names a stored signal (known signals)
//   api.js         REST calls (token, timeout, the server's error text)
//   hook.js        window.sdrhub, the read-only view for tests
//   plot.js, format.js, dom.js  shared helpers

import { connect, isOpen, loadDashboardConfig, retryNow } from "./connection.js";
import { renderAlerts } from "./alerts.js";
import { renderDetails, selectSignal } from "./details.js";
import { checkFreshness } from "./freshness.js";
import { $, renderAges } from "./dom.js";
import { wireFilter } from "./filter.js";
import { initHistory, renderHistory } from "./history.js";
import { installHook } from "./hook.js";
import { renderListen, wireListen } from "./listen_bar.js";
import { renderMap } from "./map.js";
import { renderSpectrum, wirePlot } from "./spectrum.js";
import { wireSpectrumControls } from "./spectrum_view.js";
import { markDirty, onRender, S } from "./state.js";
import { renderConnDetail, renderConnection, renderMeta, showDebugBanner } from "./status.js";
import { renderHealth, renderLocs, renderReceivers, renderSignals, setSort } from "./tables.js";

/** Redraws each panel that a dirty part (the Set collected by markDirty) affects; the header's
 * meta line every time, since it shows how long ago the last update was. The live panels wait
 * while the History view is shown (showView marks everything dirty on the way back). */
function render(d) {
  const all = d.has("all");
  if (all || d.has("conn")) renderConnection();
  if (all || d.has("listen") || d.has("listen-stats")) renderListen(all || d.has("listen"));
  if (S.view === "history") {
    if (all || d.has("websdrs")) renderHistory();
    renderMeta();
    return;
  }
  if (all || d.has("alerts") || d.has("signals")) renderAlerts();
  if (all || d.has("health")) renderHealth();
  if (all || d.has("websdrs")) renderReceivers();
  if (all || d.has("signals") || d.has("websdrs") || d.has("selection") || d.has("listen")) renderSignals();
  if (all || d.has("locs") || d.has("signals") || d.has("websdrs") || d.has("selection")) renderLocs();
  if (all || d.has("locs") || d.has("signals") || d.has("websdrs") || d.has("selection") || d.has("map")) renderMap();
  if (all || d.has("spectrum") || d.has("signals") || d.has("websdrs") || d.has("selection") || d.has("conn")) renderSpectrum();
  if (all || d.has("signals") || d.has("locs") || d.has("websdrs") || d.has("selection") || d.has("listen")) renderDetails();
  if (all || d.has("tick")) renderAges();
  renderMeta();
}

function init() {
  showDebugBanner();
  $("retry").addEventListener("click", retryNow);
  $("clear-selection").addEventListener("click", () => {
    if (S.selected !== null) selectSignal(S.selected);
    $("details").focus(); // the button hides itself: keep the keyboard user in the panel
  });
  wireSpectrumControls();
  wireListen();
  wireFilter(markDirty);
  $("show-ignored").addEventListener("change", (ev) => {
    S.showIgnored = ev.target.checked;
    markDirty("signals");
  });
  for (const th of document.querySelectorAll('[data-testid="signals-table"] th[data-sort]')) {
    th.querySelector("button").addEventListener("click", () => setSort(th.dataset.sort));
  }
  wirePlot($("spectrum"));
  wirePlot($("waterfall"));
  window.addEventListener("online", () => {
    if (!isOpen()) retryNow();
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
    if (S.connection !== "connected" || S.stale) renderConnDetail();
  }, 1000);
  setInterval(checkFreshness, 250);
  initHistory();
  markDirty("all");
  loadDashboardConfig();
  connect();
}

onRender(render);
installHook();
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
