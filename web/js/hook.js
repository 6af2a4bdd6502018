// `window.sdrhub`: a read-only view of the dashboard for tests and debugging (documented in
// tests/browser/README.md). It returns copies, never live references, so a test cannot
// change what it observes; the one exception is listenAnalyser(), the audio graph's
// AnalyserNode, since what plays can only be read from it.

import { CFG } from "./config.js";
import { historyState } from "./history.js";
import { analyserNode, listenView } from "./listen.js";
import { tilesShown } from "./map.js";
import { plotSignals, spectrumView } from "./spectrum.js";
import { S } from "./state.js";

const hook = Object.freeze({
  state() {
    return {
      connection: S.connection,
      stale: S.stale,
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
      offAir: S.offAir.size,
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
      waterfallRows: Object.fromEntries([...S.spectra].map(([id, sp]) => [id, sp.rows.length])),
      framesBy: Object.fromEntries([...S.spectra].map(([id, sp]) => [id, sp.total])),
      sort: { ...S.sort },
      filter: S.filter,
      minSnr: S.minSnr,
      filterReceiver: S.filterRx,
      filteredOut: S.filteredOut,
      shownSignals: S.shownSignals,
      showIgnored: S.showIgnored,
      view: S.view,
      knownSignals: S.signals ? [...S.signals.values()].filter((s) => s.known).map((s) => ({ id: s.signal_id, name: s.known.name, ignore: s.known.ignore })) : [],
      tiles: { ...S.tiles, shown: tilesShown() },
      dashboardConfig: S.dashConfig ? { tilesUrl: S.dashConfig.tilesUrl, frames: S.dashConfig.frames } : null,
    };
  },
  /** The live signals (id, frequency, SNR, receivers) and the ids of the rows the table shows. */
  signals() {
    return {
      all: S.signals ? [...S.signals.values()].map((s) => ({ id: s.signal_id, frequency_hz: s.frequency_hz, snr_db: s.snr_db, receivers: s.receivers.slice(), emitter_id: s.emitter_id, name: s.name })) : [],
      rows: [...document.querySelectorAll('[data-testid="signal-row"]')].map((tr) => tr.dataset.key),
    };
  },
  config() {
    return { ...CFG };
  },
  /** The History view: heatmap (receiver, range, busy lines), search results, the stored
   * signal shown and what its timeline drew. */
  history() {
    return historyState();
  },
  /** The spectrum panel: receiver, shown and full span (Hz), level axis and mode, averaging,
   * peak hold, the traces in view (dB per bin) and the waterfall (rows, rows from the server's
   * history, seconds covered, rows drawn). */
  spectrum() {
    return spectrumView();
  },
  /** The signals marked on the spectrum: id, x (CSS px from the plot's left edge), known name. */
  plotSignals() {
    return plotSignals();
  },
  /** Listening: state, receiver, frequency, mode, passband, squelch, the stream's rate, packets,
   * lost packets, channel power, latency antenna to speaker (ms) and its parts, the player. */
  listen() {
    return listenView();
  },
  /** The AnalyserNode after the volume control (null before the first listen). */
  listenAnalyser() {
    return analyserNode();
  },
});

/** Defines `window.sdrhub` (once, read-only). */
export function installHook() {
  Object.defineProperty(window, "sdrhub", { value: hook, writable: false, configurable: false, enumerable: true });
}
