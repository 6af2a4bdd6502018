// Freshness: a server that stops sending (frozen with SIGSTOP, its sockets still open) is
// shown as stale within about 3 s (3 expected intervals of 4 Hz spectrum frames, at least
// 1 s), the overall health stops saying HEALTHY, and both recover by themselves after SIGCONT.
//
//   cargo build && cd tests/browser && npm ci && npm test
//
// Every connection goes to 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { BIN, CHROMIUM, freePort, launchChromium, openPageAt, startServer, waitFor } from "./harness.mjs";

let browser;
let server;
let stopped = false;

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  server = await startServer(await freePort());
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
    if (stopped) server.proc.kill("SIGCONT");
    server.proc.kill("SIGKILL");
  }
});

const badge = (page) =>
  page.evaluate(() => {
    const b = document.querySelector('[data-testid="connection-badge"]');
    return { state: b.dataset.state, text: b.textContent.trim(), overall: document.querySelector('[data-testid="overall-status"]').textContent.trim() };
  });

test("a frozen server is shown as stale within 3 s, health is not HEALTHY, and both recover after SIGCONT", { timeout: 90000 }, async () => {
  const base = `http://127.0.0.1:${server.port}`;
  const { page, errors } = await openPageAt(browser, `${base}/`);
  const state = () => page.evaluate(() => window.sdrhub.state());
  const live = await waitFor(state, (s) => s.connection === "connected" && s.frames > 4 && s.health !== null && !s.stale, 20000, "live data");
  // The page draws at most 5 times a second: the badge follows the state within a frame.
  await waitFor(() => badge(page), (b) => b.state === "connected" && /healthy|degraded|unhealthy/.test(b.overall), 2000, "the connected badge", 50);

  server.proc.kill("SIGSTOP");
  stopped = true;
  const frozenAt = Date.now();
  // Stale after 1 s of silence (3 x 250 ms frames, at least 1 s), counted from the last event
  // (a few tens of ms before the freeze with 5 receivers' frames); the bound leaves room for a
  // loaded machine, the badge is checked every 250 ms.
  const stale = await waitFor(() => badge(page), (b) => b.state === "stale", 3500, "the stale badge", 50);
  const tookMs = Date.now() - frozenAt;
  assert.ok(tookMs >= 500, `not stale before about 1 s of silence (took ${tookMs} ms)`);
  assert.match(stale.text, /^Stale: nothing for \d+ s$/, JSON.stringify(stale));
  assert.doesNotMatch(stale.overall, /healthy/i, `overall health while stale: ${stale.overall}`);
  assert.match(await page.locator('[data-testid="connection-detail"]').textContent(), /nothing has arrived for \d+ s/);
  // The count goes on while the server stays frozen.
  await waitFor(() => badge(page), (b) => /nothing for [2-9] s/.test(b.text), 4000, "the stale time counting up", 100);

  server.proc.kill("SIGCONT");
  stopped = false;
  await waitFor(state, (s) => s.connection === "connected" && !s.stale && s.frames > live.frames + 4, 20000, "live data after SIGCONT");
  const after = await waitFor(() => badge(page), (b) => b.state === "connected", 2000, "the connected badge", 50);
  assert.match(after.text, /connected/i);
  assert.notEqual(after.overall, "unknown (stale)");

  // The server's own health clears once its DSP has caught up (the stall it may report
  // right after the resume is covered by the watchdog's unit tests).
  await waitFor(
    async () => (await (await fetch(`${base}/api/v1/system/status`)).json()).services.find((s) => s.name === "dsp"),
    (dsp) => dsp && dsp.status === "healthy",
    20000,
    "the dsp service healthy again",
  );
  assert.deepEqual(errors, []);
});
