// Headless-Chromium tests of the sdrhub dashboard against a running server.
//
//   cd tests/browser && npm install          # playwright-core only; no browser download
//   SDRHUB_URL=http://127.0.0.1:18080 npm test
//
// Needs Debian's Chromium (`apt-get install -y chromium`); CHROMIUM_PATH overrides the path.
// Every connection goes to the SDRHUB_URL host (use a loopback address) or to 127.0.0.1.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const BASE = process.env.SDRHUB_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCREENSHOT = path.resolve(HERE, "../../target/dashboard.png");
const skip = BASE ? false : "SDRHUB_URL is not set (e.g. SDRHUB_URL=http://127.0.0.1:18080)";

let browser;

before(async () => {
  if (skip) return;
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  if (browser) await browser.close();
});

async function getJson(p) {
  const r = await fetch(new URL(p, BASE), { headers: { Accept: "application/json" } });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

/** Opens a page that records uncaught errors, so a test can assert there were none. */
async function openPage(query = "", viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !/WebSocket connection to .* failed/.test(m.text())) errors.push(m.text());
  });
  await page.goto(new URL(`/${query}`, BASE).href);
  return { page, errors };
}

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

/** The receivers table shows exactly the receivers the REST API reports, by id and name. */
async function assertReceiversMatchRest(page) {
  const { websdrs } = await getJson("/api/v1/websdrs");
  assert.ok(Array.isArray(websdrs), "/api/v1/websdrs returns {websdrs: [...]}");
  const rows = page.locator('[data-testid="receiver-row"]');
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="receiver-row"]').length === n, websdrs.length, { timeout: 15000 });
  const shown = await rows.evaluateAll((trs) => trs.map((tr) => ({ id: tr.dataset.key, text: tr.textContent })));
  assert.deepEqual(shown.map((r) => r.id).sort(), websdrs.map((w) => w.id).sort());
  for (const w of websdrs) {
    const row = shown.find((r) => r.id === w.id);
    assert.ok(row.text.includes(w.name || w.id), `row for ${w.id} shows its name`);
    if (typeof w.frequency_hz === "number") assert.ok(row.text.includes((w.frequency_hz / 1e6).toFixed(4)), `row for ${w.id} shows its frequency`);
  }
  return websdrs;
}

test("live dashboard: connects, fills every panel from the server, highlights a localization", { skip, timeout: 90000 }, async () => {
  const { page, errors } = await openPage();
  const badge = page.locator('[data-testid="connection-badge"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="connection-badge"]').dataset.state === "connected", null, { timeout: 15000 });
  assert.match(await badge.textContent(), /connected/i);
  assert.equal(await badge.getAttribute("aria-live"), "polite");

  const websdrs = await assertReceiversMatchRest(page);

  // Signals and a localization within 20 s (the simulated scene produces both).
  const s = await waitState(page, (st) => st.signals > 0 && st.localizations > 0, 20000, "signals and a localization");
  assert.ok(s.lastSeq !== null && s.lastSeq > 0, "seq is tracked");
  await page.locator('[data-testid="signal-row"]').first().waitFor({ timeout: 5000 });
  await page.locator('[data-testid="localization-row"]').first().waitFor({ timeout: 5000 });
  assert.notEqual(s.health, null, "services health arrived");
  assert.ok(await page.locator('[data-testid="service"]').count() > 0, "services are listed");

  // The plot has a marker per receiver with coordinates, and at least one estimate.
  const withCoords = websdrs.filter((w) => typeof w.latitude === "number" && typeof w.longitude === "number").length;
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="map-receiver"]').length === n, withCoords, { timeout: 5000 });
  await page.locator('[data-testid="map-estimate"]').first().waitFor({ timeout: 5000 });
  assert.match(await page.locator(".map-scale text").textContent(), /km$/);

  // Selecting a localization highlights its estimate on the plot.
  const locRow = page.locator('[data-testid="localization-row"]').first();
  const id = await locRow.getAttribute("data-key");
  await locRow.locator("button").click();
  await page.waitForFunction((sid) => window.sdrhub.state().selected === sid && document.querySelector(`[data-testid="map-estimate"].sel[data-id="${sid}"]`) !== null, id, { timeout: 5000 });

  // A ping has been answered.
  await page.waitForFunction(() => /^\d+ ms$/.test(document.querySelector('[data-testid="latency"]').textContent), null, { timeout: 10000 });

  // Wait a moment with the selection on screen, then record what a person would see.
  await page.waitForTimeout(500);
  await page.evaluate(() => window.scrollTo(0, 0)); // the header is sticky
  fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("fallback: a failing WebSocket goes reconnecting -> polling after 5 failures, REST fills the tables", { skip, timeout: 90000 }, async () => {
  const host = new URL(BASE).hostname;
  // Port 1 on the server's own host refuses connections at once.
  const { page, errors } = await openPage(`?ws=ws://${host}:1/ws/updates&backoff_ms=50&poll_ms=1000`);
  const st = await waitState(page, (s) => s.connection === "polling", 20000, "polling");
  const h = st.history;
  assert.ok(h.indexOf("reconnecting") >= 0 && h.indexOf("reconnecting") < h.indexOf("polling"), `history ${h}`);
  assert.ok(!h.includes("connected"), "never claims to be connected");
  assert.ok(st.attempts >= 5, `polling only after 5 failed attempts (attempts ${st.attempts})`);
  // The DOM follows the state within a render frame.
  await page.waitForFunction(() => document.querySelector('[data-testid="connection-badge"]').dataset.state === "polling", null, { timeout: 2000 });
  assert.match(await page.locator('[data-testid="connection-badge"]').textContent(), /polling/i);
  assert.ok(await page.locator('[data-testid="debug-banner"]').isVisible(), "the ?ws= override is announced");
  await page.locator('[data-testid="retry-button"]').waitFor({ state: "visible", timeout: 2000 });

  await assertReceiversMatchRest(page);
  const s = await waitState(page, (x) => x.lastUpdateVia === "rest" && x.health !== null && x.signals !== null && x.localizations !== null, 10000, "REST data");
  assert.equal(s.connection, "polling");

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

test("recovery: once the WebSocket can connect again the badge returns to connected and polling stops", { skip, timeout: 90000 }, async () => {
  const target = new URL(BASE);
  const targetPort = Number(target.port || 80);
  // Reserve a free loopback port, leave it closed until the page is polling, then put a
  // TCP relay to the real server on it.
  const port = await new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
  const sockets = new Set();
  const relay = net.createServer((c) => {
    const up = net.connect(targetPort, target.hostname);
    for (const x of [c, up]) {
      sockets.add(x);
      x.on("error", () => {});
      x.on("close", () => sockets.delete(x));
    }
    c.pipe(up).pipe(c);
  });
  try {
    const hostForPage = target.hostname === "localhost" ? "localhost" : "127.0.0.1";
    assert.ok(["127.0.0.1", "localhost"].includes(target.hostname), "recovery test needs a loopback SDRHUB_URL");
    const { page, errors } = await openPage(`?ws=ws://${hostForPage}:${port}/ws/updates&backoff_ms=50&poll_ms=1000`);
    await waitState(page, (s) => s.connection === "polling", 20000, "polling");
    await new Promise((resolve) => relay.listen(port, "127.0.0.1", resolve));
    const s = await waitState(page, (x) => x.connection === "connected" && x.lastUpdateVia === "ws", 15000, "connected again");
    assert.equal(s.polling, false, "polling stopped");
    assert.equal(s.failures, 0);
    // The DOM follows the state within a render frame.
    await page.waitForFunction(() => document.querySelector('[data-testid="connection-badge"]').dataset.state === "connected", null, { timeout: 2000 });
    await page.locator('[data-testid="retry-button"]').waitFor({ state: "hidden", timeout: 2000 });
    assert.deepEqual(errors, [], "no page errors");
    await page.close();
  } finally {
    for (const x of sockets) x.destroy();
    await new Promise((resolve) => relay.close(() => resolve()));
  }
});
