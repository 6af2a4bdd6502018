// Headless-Chromium tests of the sdrhub dashboard against the real server, which the tests
// start themselves (so they can kill and restart it):
//
//   cargo build && cd tests/browser && npm ci && npm test
//
// SDRHUB_BIN: the sdrhub binary (default ../../target/debug/sdrhub). CHROMIUM_PATH: Chromium
// (default /usr/bin/chromium, Debian's `chromium` package). UPDATE_SCREENSHOT=1 also copies the
// desktop screenshot to docs/dashboard.png. Every connection goes to 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { BIN, CHROMIUM, ROOT, freePort, launchChromium, openPageAt, startServer, stopServer } from "./harness.mjs";

const SHOTS = path.join(ROOT, "target");
const DOCS_SHOT = path.join(ROOT, "docs", "dashboard.png");

let browser;
let port; // fixed for the whole run: the restarted server comes back on it
let BASE;
let server; // the sdrhub under test (replaced when restarted)

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  port = await freePort();
  BASE = `http://127.0.0.1:${port}`;
  server = await startServer(port);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill("SIGKILL");
});

async function getJson(p, base = BASE) {
  const r = await fetch(new URL(p, base), { headers: { Accept: "application/json" } });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

/** Opens the dashboard in a page that records uncaught errors. */
const openPage = (query = "", viewport = { width: 1440, height: 900 }, base = BASE) => openPageAt(browser, new URL(`/${query}`, base).href, viewport);

const state = (page) => page.evaluate(() => window.sdrhub.state());

async function waitState(page, pred, timeout, what) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await state(page);
    if (pred(last)) return last;
    await page.waitForTimeout(100);
  }
  assert.fail(`timed out after ${timeout} ms waiting for ${what}; last state: ${JSON.stringify(last)}`);
}

const badgeIs = (page, s, timeout) =>
  page.waitForFunction((want) => document.querySelector('[data-testid="connection-badge"]').dataset.state === want, s, { timeout, polling: 50 });

/** The receivers table shows exactly the receivers the REST API reports, by id and name. */
async function assertReceiversMatchRest(page) {
  const { websdrs } = await getJson("/api/v1/websdrs");
  assert.ok(Array.isArray(websdrs), "/api/v1/websdrs returns {websdrs: [...]}");
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="receiver-row"]').length === n, websdrs.length, { timeout: 15000 });
  const shown = await page.locator('[data-testid="receiver-row"]').evaluateAll((trs) => trs.map((tr) => ({ id: tr.dataset.key, text: tr.textContent })));
  assert.deepEqual(shown.map((r) => r.id).sort(), websdrs.map((w) => w.id).sort());
  for (const w of websdrs) {
    const row = shown.find((r) => r.id === w.id);
    assert.ok(row.text.includes(w.name || w.id), `row for ${w.id} shows its name`);
    if (typeof w.frequency_hz === "number") assert.ok(row.text.includes((w.frequency_hz / 1e6).toFixed(4)), `row for ${w.id} shows its frequency`);
    assert.ok(/locked|no lock/.test(row.text), `row for ${w.id} shows its GPS state`);
  }
  return websdrs;
}

/** Pixel statistics of the newest rows of the waterfall (the top of its plot, 20-26 CSS px
 * down, over most of its width): distinct colours and luminance spread. */
const waterfallPixels = (page) =>
  page.evaluate(() => {
    const c = document.querySelector('[data-testid="waterfall"]');
    const ctx = c.getContext("2d");
    const dpr = c.width / c.getBoundingClientRect().width;
    const x0 = Math.round(c.width * 0.15), y0 = Math.round(20 * dpr);
    const { data } = ctx.getImageData(x0, y0, Math.round(c.width * 0.8), Math.round(6 * dpr));
    const colours = new Set();
    let sum = 0, sum2 = 0;
    const n = data.length / 4;
    for (let i = 0; i < data.length; i += 4) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      const y = 0.2126 * data[i] + 0.7152 * data[i + 1] + 0.0722 * data[i + 2];
      sum += y;
      sum2 += y * y;
    }
    const mean = sum / n;
    return { colours: colours.size, std: Math.sqrt(Math.max(0, sum2 / n - mean * mean)) };
  });

test("live dashboard: connects, fills the spectrum, waterfall, tables and map; signals selectable from plot, table and keyboard", { timeout: 120000 }, async () => {
  const { page, errors } = await openPage();
  await badgeIs(page, "connected", 15000);
  const badge = page.locator('[data-testid="connection-badge"]');
  assert.match(await badge.textContent(), /connected/i);
  assert.equal(await badge.getAttribute("aria-live"), "polite");

  const websdrs = await assertReceiversMatchRest(page);

  // The waterfall fills from spectrum:frame (4 frames/s per receiver by default).
  const sf = await waitState(page, (st) => st.spectrumReceiver !== null && (st.waterfallRows[st.spectrumReceiver] || 0) >= 12, 20000, "12 waterfall rows");
  assert.ok(sf.frames >= 12, `frames ${sf.frames}`);
  assert.deepEqual(Object.keys(sf.waterfallRows).sort(), websdrs.map((w) => w.id).sort(), "frames of every receiver");
  const px = await waterfallPixels(page);
  // An empty or flat waterfall has one or two colours; noise through the colour map has dozens
  // (27 seen once in a quiet stretch, so the bar is 16, with the luminance spread).
  assert.ok(px.colours > 16 && px.std > 4, `the waterfall is not uniform: ${JSON.stringify(px)}`);

  // Signals and a localization within 20 s (the simulated scene produces both).
  const s = await waitState(page, (st) => st.signals > 0 && st.localizations > 0, 20000, "signals and a localization");
  assert.ok(s.lastSeq !== null && s.lastSeq > 0, "seq is tracked");
  await page.locator('[data-testid="signal-row"]').first().waitFor({ timeout: 5000 });
  await page.locator('[data-testid="localization-row"]').first().waitFor({ timeout: 5000 });
  assert.notEqual(s.health, null, "services health arrived");
  assert.ok((await page.locator('[data-testid="service"]').count()) > 0, "services are listed");

  // The map: a marker per receiver with coordinates, an estimate, a scale bar, no tiles.
  const withCoords = websdrs.filter((w) => typeof w.latitude === "number" && typeof w.longitude === "number").length;
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="map-receiver"]').length === n, withCoords, { timeout: 5000 });
  await page.locator('[data-testid="map-estimate"]').first().waitFor({ timeout: 5000 });
  assert.match(await page.locator(".map-scale text").textContent(), /km$/);
  assert.match(await page.locator('[data-testid="map-note"]').textContent(), /works offline/);
  assert.equal(await page.locator('[data-testid="map-tile"]').count(), 0);

  // Signals are marked on the spectrum; clicking one there selects it and shows its details.
  await page.waitForFunction(() => /[1-9]\d* signals? marked/.test(document.querySelector('[data-testid="spectrum"]').getAttribute("aria-label")), null, { timeout: 10000 });
  const marks = await page.evaluate(() => window.sdrhub.plotSignals());
  assert.ok(marks.length > 0, "signal marks on the plot");
  const box = await page.locator('[data-testid="spectrum"]').boundingBox();
  await page.mouse.click(box.x + marks[0].x, box.y + box.height / 2);
  await waitState(page, (st) => st.selected === marks[0].id, 3000, `selection of ${marks[0].id} from the plot`);
  await page.waitForFunction((id) => document.querySelector('[data-testid="signal-details"] .details-title')?.textContent === id, marks[0].id, { timeout: 3000 });
  assert.match(await page.locator('[data-testid="details-signal"]').textContent(), /MHz/);

  // The keyboard steps through the marked signals.
  await page.locator('[data-testid="spectrum"]').focus();
  await page.keyboard.press(marks.length > 1 ? "ArrowRight" : "ArrowLeft");
  const stepped = marks.length > 1 ? marks[1].id : marks[0].id;
  await waitState(page, (st) => st.selected === stepped, 3000, "keyboard selection");
  await page.keyboard.press("Escape");
  await waitState(page, (st) => st.selected === null, 3000, "Escape clears");

  // Sorting: SNR descending, by keyboard on the header button.
  const snrHeader = page.locator('[data-testid="signals-table"] th[data-sort="snr"]');
  await snrHeader.locator("button").click();
  await page.waitForFunction(() => document.querySelector('th[data-sort="snr"]').getAttribute("aria-sort") === "ascending", null, { timeout: 2000 });
  await snrHeader.locator("button").focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelector('th[data-sort="snr"]').getAttribute("aria-sort") === "descending", null, { timeout: 2000 });
  await page.waitForTimeout(400);
  const snrs = await page.locator('[data-testid="signal-row"] td:nth-child(4)').evaluateAll((tds) => tds.map((td) => Number(td.textContent)));
  assert.deepEqual(snrs, [...snrs].sort((a, b) => b - a), `SNR descending: ${snrs}`);

  // Filtering.
  const filter = page.locator('[data-testid="signal-filter"]');
  await filter.fill("no-such-signal");
  await waitState(page, (st) => st.shownSignals === 0, 3000, "filtered out");
  await page.locator('[data-testid="signals-table"] .empty-row').waitFor({ timeout: 2000 });
  await filter.fill("");
  await waitState(page, (st) => st.shownSignals === st.signals, 3000, "filter cleared");

  // For the README's picture: a waterfall half full (30 s).
  if (process.env.UPDATE_SCREENSHOT === "1") await waitState(page, (x) => x.waterfallRows[x.spectrumReceiver] >= 120, 60000, "120 waterfall rows");

  // Selecting a located signal in the table shows its localization and highlights it on the map.
  const located = await page.locator('[data-testid="signal-row"].has-loc').first();
  await located.waitFor({ timeout: 10000 });
  const id = await located.getAttribute("data-key");
  await located.locator("button").click();
  await page.waitForFunction((sid) => window.sdrhub.state().selected === sid && document.querySelector(`[data-testid="map-estimate"].sel[data-id="${sid}"]`) !== null, id, { timeout: 5000 });
  const loc = await page.locator('[data-testid="details-localization"]').textContent();
  for (const want of ["Method", "Position", "Uncertainty", "68 % radius", "Receivers used"]) assert.ok(loc.includes(want), `details show ${want}: ${loc}`);

  // A ping has been answered.
  await page.waitForFunction(() => /^\d+ ms$/.test(document.querySelector('[data-testid="latency"]').textContent), null, { timeout: 10000 });

  // Wait a moment with the selection on screen, then record what a person would see.
  await page.waitForTimeout(1500);
  await page.evaluate(() => window.scrollTo(0, 0)); // the header is sticky
  fs.mkdirSync(SHOTS, { recursive: true });
  const shot = path.join(SHOTS, "dashboard-desktop.png");
  await page.screenshot({ path: shot, fullPage: true });
  if (process.env.UPDATE_SCREENSHOT === "1") {
    fs.mkdirSync(path.dirname(DOCS_SHOT), { recursive: true });
    fs.copyFileSync(shot, DOCS_SHOT);
  }
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("phone: at 390x844 the layout fits the width and the waterfall still fills", { timeout: 60000 }, async () => {
  const { page, errors } = await openPage("", { width: 390, height: 844 });
  await badgeIs(page, "connected", 15000);
  await waitState(page, (st) => st.spectrumReceiver !== null && (st.waterfallRows[st.spectrumReceiver] || 0) >= 8 && st.signals > 0, 20000, "waterfall rows and signals");
  await page.locator('[data-testid="signal-row"]').first().waitFor({ timeout: 5000 });
  await page.waitForTimeout(500);
  const widths = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    spectrum: document.querySelector('[data-testid="spectrum"]').getBoundingClientRect().width,
    map: document.querySelector('[data-testid="map"]').getBoundingClientRect().width,
  }));
  assert.ok(widths.doc <= 390, `no horizontal scrolling of the page: ${JSON.stringify(widths)}`);
  assert.ok(widths.spectrum > 300 && widths.spectrum <= 390, `spectrum fits: ${JSON.stringify(widths)}`);
  // Controls stay big enough to touch.
  const sel = await page.locator('[data-testid="spectrum-receiver"]').boundingBox();
  assert.ok(sel.height >= 28, `receiver selector height ${sel.height}`);
  const px = await waterfallPixels(page);
  assert.ok(px.colours > 20, `the waterfall is not uniform: ${JSON.stringify(px)}`);
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, "dashboard-phone.png"), fullPage: true });
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("fallback: a failing WebSocket goes reconnecting -> polling after 5 failures, REST fills the tables", { timeout: 90000 }, async () => {
  // Port 1 on the server's own host refuses connections at once.
  const { page, errors } = await openPage(`?ws=ws://127.0.0.1:1/ws/updates&backoff_ms=50&poll_ms=1000`);
  const st = await waitState(page, (s) => s.connection === "polling", 20000, "polling");
  const h = st.history;
  assert.ok(h.indexOf("reconnecting") >= 0 && h.indexOf("reconnecting") < h.indexOf("polling"), `history ${h}`);
  assert.ok(!h.includes("connected"), "never claims to be connected");
  assert.ok(st.attempts >= 5, `polling only after 5 failed attempts (attempts ${st.attempts})`);
  await badgeIs(page, "polling", 2000);
  assert.match(await page.locator('[data-testid="connection-badge"]').textContent(), /polling/i);
  assert.ok(await page.locator('[data-testid="debug-banner"]').isVisible(), "the ?ws= override is announced");
  await page.locator('[data-testid="retry-button"]').waitFor({ state: "visible", timeout: 2000 });

  await assertReceiversMatchRest(page);
  const s = await waitState(page, (x) => x.lastUpdateVia === "rest" && x.health !== null && x.signals !== null && x.localizations !== null, 10000, "REST data");
  assert.equal(s.connection, "polling");
  assert.match(await page.locator('[data-testid="spectrum-status"]').textContent(), /needs the WebSocket/);

  // The WebSocket is still retried on the backoff schedule while polling.
  await waitState(page, (x) => x.attempts >= s.attempts + 2, 10000, "further WebSocket attempts");

  // Retry (by keyboard) tries the WebSocket at once and resets the backoff; polling goes on.
  const before = await state(page);
  await page.locator('[data-testid="retry-button"]').focus();
  await page.keyboard.press("Enter");
  const afterRetry = await waitState(page, (x) => x.attempts > before.attempts, 5000, "an attempt after Retry");
  assert.ok(afterRetry.failures < 5, `backoff reset (failures ${afterRetry.failures})`);
  assert.equal(afterRetry.connection, "polling");
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("server killed and restarted: Connected -> Reconnecting -> Polling -> Connected, resumed with ?since= (resync) and the waterfall goes on", { timeout: 120000 }, async () => {
  const { page, errors } = await openPage("?backoff_ms=100&poll_ms=500");
  await badgeIs(page, "connected", 15000);
  const before = await waitState(page, (st) => st.frames > 8 && st.lastSeq !== null, 20000, "frames");

  const gone = await stopServer(server, "SIGKILL");
  assert.equal(gone.signal, "SIGKILL");
  // Reconnecting lasts as long as 5 jittered retries (possibly under one render frame), so it
  // is checked in the state's history; Polling then stays, and is checked on the badge.
  await badgeIs(page, "polling", 20000);
  const down = await state(page);
  const sinceUp = down.history.slice(down.history.lastIndexOf("connected") + 1);
  assert.deepEqual(sinceUp.slice(0, 2), ["reconnecting", "polling"], `history ${down.history}`);
  assert.match(await page.locator('[data-testid="connection-detail"]').textContent(), /server unreachable|REST polling/);

  server = await startServer(port);
  await badgeIs(page, "connected", 20000);
  const st = await waitState(page, (x) => x.connection === "connected" && x.resyncs >= 1 && x.frames > before.frames + 4, 20000, "frames after the restart");
  // The reconnect carried ?since=<last seq>; the new process does not hold it, so it answered resync.
  // The whole outage, from the last Connected before the kill: Reconnecting, Polling (maybe
  // Disconnected after 3 failed polls), then Connected once.
  const h = st.history;
  const outage = h.slice(down.history.lastIndexOf("connected") + 1);
  assert.deepEqual(outage.slice(0, 2), ["reconnecting", "polling"], `history ${h}`);
  assert.equal(outage.indexOf("connected"), outage.length - 1, `history ${h}`);
  assert.equal(st.polling, false, "polling stopped");
  await page.locator('[data-testid="retry-button"]').waitFor({ state: "hidden", timeout: 2000 });
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("map tiles: with [dashboard] map_tiles_url the map draws tiles from it under the markers", { timeout: 90000 }, async () => {
  const requests = [];
  const tileSvg = '<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256"><rect width="256" height="256" fill="#2b4a6f"/><path d="M0 0H256V256" stroke="#9ec5ee" stroke-width="2" fill="none"/></svg>';
  const tiles = http.createServer((req, res) => {
    requests.push(req.url);
    res.writeHead(200, { "Content-Type": "image/svg+xml", "Access-Control-Allow-Origin": "*" });
    res.end(tileSvg);
  });
  await new Promise((resolve) => tiles.listen(0, "127.0.0.1", resolve));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdrhub-tiles-"));
  const config = path.join(dir, "sdrhub.toml");
  fs.writeFileSync(config, `[dashboard]\nmap_tiles_url = "http://127.0.0.1:${tiles.address().port}/{z}/{x}/{y}.svg"\nmap_tiles_attribution = "test tiles"\n`);
  const tilePort = await freePort();
  const other = await startServer(tilePort, ["--config", config]);
  try {
    const base = `http://127.0.0.1:${tilePort}`;
    const settings = await getJson("/api/v1/dashboard-config", base);
    assert.match(settings.map_tiles_url, /\{z\}\/\{x\}\/\{y\}/);
    const { page, errors } = await openPage("", { width: 1280, height: 900 }, base);
    await badgeIs(page, "connected", 15000);
    await page.locator('[data-testid="map-receiver"]').first().waitFor({ timeout: 15000 });
    const st = await waitState(page, (x) => x.tiles.loaded > 0, 15000, "tiles loaded");
    assert.ok(st.tiles.shown > 0 && st.tiles.shown <= 64, JSON.stringify(st.tiles));
    assert.ok(requests.length > 0 && requests.every((u) => /^\/\d+\/\d+\/\d+\.svg$/.test(u)), `tile requests ${requests.slice(0, 5)}`);
    assert.match(await page.locator('[data-testid="map-note"]').textContent(), /Tiles: test tiles/);
    assert.deepEqual(errors, [], "no page errors");
    await page.close();
  } finally {
    const { code } = await stopServer(other, "SIGTERM");
    assert.equal(code, 0, `sdrhub with tiles exits 0 on SIGTERM: ${other.log()}`);
    await new Promise((resolve) => tiles.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("shutdown: SIGTERM makes sdrhub exit 0", { timeout: 30000 }, async () => {
  const { code, signal } = await stopServer(server, "SIGTERM");
  assert.equal(signal, null, `exited by itself, not killed: ${server.log()}`);
  assert.equal(code, 0, `exit code 0 after SIGTERM: ${server.log()}`);
});
