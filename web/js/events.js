// The hub's WebSocket events, applied to S: snapshots and resyncs replace the panels'
// data, single events update it, spectrum frames go to the spectrum, errors to the notice.

import { setAlerts, upsertAlert } from "./alerts.js";
import { setHealth, setLocs, setSignals, setWebsdrs, upsertLoc, upsertSignal } from "./data.js";
import { $, setAttr, setText } from "./dom.js";
import { fmtClock, str } from "./format.js";
import { onListenError, onListening, onRecorded, onRecordError } from "./listen.js";
import { onFrame } from "./spectrum.js";
import { markDirty, S, touchData } from "./state.js";

/** The alert line under the header (empty text hides it). */
function showNotice(text) {
  const n = $("notice");
  S.lastError = text;
  setText(n, text);
  setAttr(n, "hidden", text ? null : "");
}

/**
 * Applies one event from the WebSocket (after connection.js has dropped duplicates by seq;
 * pongs stay there, they measure the connection). `timestamp` is the envelope's, in epoch ms.
 */
export function applyEvent(event, data, timestamp) {
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
      if ("alerts:raised" in d) setAlerts(d["alerts:raised"] && d["alerts:raised"].alerts);
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
    case "alerts:raised":
      upsertAlert(d);
      touchData("ws");
      break;
    case "spectrum:frame":
      onFrame(d);
      return; // several per second: only the spectrum needs drawing
    case "listening": // the answer to listen or unlisten, or the listener ended
      onListening(d);
      break;
    case "recorded": // a recording of what was heard is finished: its files
      onRecorded(d);
      break;
    case "error":
      if (onListenError(d) || onRecordError(d)) break; // the listening bar shows it
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
