// Headless-Chromium test of the spectrum panel against the real server, with a steady scene
// (two carriers, always on, so "levels steady" holds): the waterfall is full as soon as the page opens
// (the server's recent rows), wheel zoom and drag pan, the frequency entry, averaging and peak
// hold, a still level axis, fixed levels, and a signal selected in the table shown on its best
// receiver, centred.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, CHROMIUM, ROOT, freePort, launchChromium, openPageAt, startServer, stopServer, waitFor } from "./harness.mjs";

let browser;
let server;
let BASE;
let dir;

const SCENE = `
[[simulation.transmitters]]
id = "tx-carrier"
name = "Interfering carrier"
latitude = 48.897919
longitude = 2.4048
frequency_hz = 145112500.0
bandwidth_hz = 0.0
power_dbm = 20.0
kind = "cw"

[[simulation.transmitters]]
id = "tx-beacon"
name = "Beacon"
latitude = 48.780542
longitude = 2.310316
frequency_hz = 145350000.0
bandwidth_hz = 0.0
power_dbm = 25.0
kind = "cw"
`;

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdrhub-spectrum-"));
  const config = path.join(dir, "sdrhub.toml");
  fs.writeFileSync(config, `[history]\nurl = "sqlite://${path.join(dir, "history.sqlite")}"\n${SCENE}`);
  const port = await freePort();
  BASE = `http://127.0.0.1:${port}`;
  server = await startServer(port, ["--config", config]);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.proc.exitCode === null) {
    const { code } = await stopServer(server, "SIGTERM");
    assert.equal(code, 0, `sdrhub exits 0 on SIGTERM: ${server.log()}`);
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function getJson(p) {
  const r = await fetch(new URL(p, BASE), { headers: { Accept: "application/json" } });
  assert.equal(r.status, 200, `GET ${p}`);
  return r.json();
}

const spectrum = (page) => page.evaluate(() => window.sdrhub.spectrum());
const frames = (page) => page.evaluate(() => window.sdrhub.state().frames);
const width = (v) => v.span.hi - v.span.lo;
const centre = (v) => (v.span.lo + v.span.hi) / 2;

/** CSS px rows of the waterfall's plot that are not all background, and their distinct colours. */
const waterfallPaint = (page) =>
  page.evaluate(() => {
    const c = document.querySelector('[data-testid="waterfall"]');
    const dpr = c.width / c.getBoundingClientRect().width;
    const ctx = c.getContext("2d");
    const x0 = Math.round(60 * dpr), w = Math.round(c.width - 80 * dpr);
    const { data } = ctx.getImageData(x0, Math.round(18 * dpr), w, Math.round(120 * dpr));
    const bg = [data[0], data[1], data[2]];
    const rowsPainted = new Set();
    const colours = new Set();
    const rowLen = w * 4;
    for (let i = 0; i < data.length; i += 4) {
      colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
      const far = Math.abs(data[i] - 14) + Math.abs(data[i + 1] - 20) + Math.abs(data[i + 2] - 27);
      if (far > 30) rowsPainted.add(Math.floor(i / rowLen));
    }
    return { painted: rowsPainted.size / dpr, colours: colours.size, bg };
  });

test("spectrum: history at once, zoom, pan, frequency entry, averaging, peak hold, still levels, a selected signal on its best receiver", { timeout: 120000 }, async () => {
  // Let the server keep a few seconds of waterfall before the page exists.
  const { websdrs } = await getJson("/api/v1/websdrs");
  assert.ok(websdrs.length >= 2, "several receivers");
  await waitFor(() => getJson(`/api/v1/spectrum/${websdrs[0].id}/waterfall`), (b) => b.rows.length >= 6, 20000, "6 rows kept by the server");

  const opened = Date.now();
  const { page, errors } = await openPageAt(browser, BASE);
  // The waterfall shows the server's rows at once: more time than the page has been open.
  const first = await waitFor(() => spectrum(page), (v) => v.waterfall.historyRows >= 5 && v.waterfall.drawnRows > 0, 5000, "the recent waterfall from the server");
  const openFor = (Date.now() - opened) / 1000;
  assert.ok(first.waterfall.coveredS > openFor + 2, `rows from before the page: ${first.waterfall.coveredS} s covered, open ${openFor} s`);
  assert.match(first.waterfall.history, /^loaded \d+/);
  assert.ok(first.waterfall.maxGapS < 0.5, `history and live rows join without a hole: ${first.waterfall.maxGapS} s`);
  const paint = await waterfallPaint(page);
  assert.ok(paint.painted >= 4 && paint.colours > 10, `the waterfall is drawn: ${JSON.stringify(paint)}`);

  // Wheel zoom about the pointer narrows the span.
  const full = first.full;
  const sc = page.locator('[data-testid="spectrum"]');
  await sc.scrollIntoViewIfNeeded();
  const box = await sc.boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, -500);
  const zoomed = await waitFor(() => spectrum(page), (v) => width(v) < 0.7 * (full.hi - full.lo), 3000, "a narrower span after the wheel");
  assert.ok(zoomed.span.lo >= full.lo && zoomed.span.hi <= full.hi, "within the receiver's span");

  // Dragging left moves the view up in frequency by the dragged distance; the width stays.
  const pw = box.width - 64; // the plot area (52 px left, 12 px right)
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width / 2 - 50, box.y + box.height / 2, { steps: 5 });
  await page.mouse.move(box.x + box.width / 2 - 100, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  const panned = await waitFor(() => spectrum(page), (v) => v.span.lo > zoomed.span.lo, 3000, "a panned view");
  const expected = (100 / pw) * width(zoomed);
  assert.ok(Math.abs(panned.span.lo - zoomed.span.lo - expected) < 0.2 * expected, `panned by ${panned.span.lo - zoomed.span.lo} Hz, expected ${expected}`);
  assert.ok(Math.abs(width(panned) - width(zoomed)) < 1, "panning keeps the width");

  // The frequency entry centres the view.
  const carrierHz = 145112500;
  await page.locator('[data-testid="spectrum-freq"]').fill("145.1125");
  await page.locator('[data-testid="spectrum-freq-go"]').click();
  const entered = await waitFor(() => spectrum(page), (v) => Math.abs(centre(v) - carrierHz) < 100, 3000, "the view centred on 145.1125 MHz");
  assert.ok(Math.abs(width(entered) - width(panned)) < 1, "the entry keeps the zoom");
  await page.locator('[data-testid="spectrum-freq"]').fill("432.1");
  await page.locator('[data-testid="spectrum-freq-go"]').click();
  await page.waitForFunction(() => /No receiver covers/.test(document.querySelector('[data-testid="spectrum-freq-note"]').textContent), null, { timeout: 2000 });

  // Double-click: the full span again.
  await page.mouse.dblclick(box.x + 20, box.y + box.height / 2);
  await waitFor(() => spectrum(page), (v) => width(v) === full.hi - full.lo, 2000, "the full span");

  // A still level axis with the default auto mode: the same range frame after frame.
  await page.waitForTimeout(3000);
  const seen = new Map();
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    const [v, n] = await Promise.all([spectrum(page), frames(page)]);
    seen.set(`${v.levels.lo},${v.levels.hi}`, n);
    await page.waitForTimeout(120);
  }
  assert.equal(seen.size, 1, `one level range over 3 s of steady frames: ${[...seen.keys()].join(" | ")}`);

  // Averaging and peak hold.
  await page.locator('[data-testid="spectrum-avg"]').selectOption("8");
  await page.locator('[data-testid="spectrum-peak"]').check();
  await page.waitForTimeout(2500);
  const held = await spectrum(page);
  assert.equal(held.averaging, 8);
  assert.ok(held.peakHold && held.peak && held.peak.length === held.live.length, "a peak trace");
  const under = held.live.filter((x, i) => held.peak[i] < x - 0.01).length;
  assert.equal(under, 0, "the peak-hold trace is never under the live one");
  assert.ok(held.live.some((x, i) => held.peak[i] > x + 1), "noise peaks rise over the average");
  await page.locator('[data-testid="spectrum-peak"]').uncheck();
  await waitFor(() => spectrum(page), (v) => v.peak === null && !v.peakHold, 2000, "peak hold off");
  await page.locator('[data-testid="spectrum-avg"]').selectOption("1");

  // Fixed levels.
  await page.locator('[data-testid="spectrum-ymode"]').selectOption("fixed");
  await page.locator('[data-testid="spectrum-ymin"]').fill("-110");
  await page.locator('[data-testid="spectrum-ymax"]').fill("-20");
  await page.locator('[data-testid="spectrum-ymax"]').press("Enter");
  await waitFor(() => spectrum(page), (v) => v.levels.lo === -110 && v.levels.hi === -20 && v.levelMode === "fixed", 2000, "fixed levels");
  await page.locator('[data-testid="spectrum-ymode"]').selectOption("auto");

  // A signal selected in the table: shown on its best receiver, centred.
  const { signals } = await waitFor(() => getJson("/api/v1/signals"), (b) => b.signals.some((s) => Math.abs(s.frequency_hz - carrierHz) < 5000), 20000, "the carrier detected");
  const sig = signals.find((s) => Math.abs(s.frequency_hz - carrierHz) < 5000);
  const other = websdrs.find((w) => w.id !== sig.websdr_id);
  await page.locator('[data-testid="spectrum-receiver"]').selectOption(other.id);
  await waitFor(() => spectrum(page), (v) => v.receiver === other.id, 2000, `${other.id} shown`);
  const row = page.locator(`[data-testid="signal-row"][data-key="${sig.signal_id}"]`);
  await row.scrollIntoViewIfNeeded();
  await row.click();
  const followed = await waitFor(() => spectrum(page), (v) => v.receiver === sig.websdr_id && v.span && Math.abs(centre(v) - sig.frequency_hz) < 2000, 3000, `${sig.signal_id} on ${sig.websdr_id}, centred`);
  assert.ok(width(followed) < followed.full.hi - followed.full.lo, "zoomed onto it");
  await waitFor(() => page.evaluate(() => window.sdrhub.plotSignals()), (marks) => marks.some((m) => m.id === sig.signal_id), 2000, "the signal marked on the plot");
  await waitFor(() => page.locator('[data-testid="spectrum-receiver"]').inputValue(), (v) => v === sig.websdr_id, 2000, "the receiver selector follows");

  // Its recent waterfall is read too; the span selector sets the waterfall's time axis.
  const before30 = await waitFor(() => spectrum(page), (v) => /^loaded/.test(v.waterfall.history || "") && v.waterfall.historyRows > 0, 5000, `the recent waterfall of ${sig.websdr_id}`);
  await page.locator('[data-testid="spectrum-span"]').selectOption("30");
  await waitFor(() => spectrum(page), (v) => v.waterfall.spanS === 30 && v.waterfall.drawnRows > 0 && v.waterfall.drawnRows <= before30.waterfall.drawnRows + 8, 3000, "a 30 s waterfall");
  await page.waitForFunction(() => /the last 30 s/.test(document.querySelector('[data-testid="waterfall"]').getAttribute("aria-label")), null, { timeout: 2000 });

  // Hovering the waterfall reads out the frequency, the level and when that row came.
  await page.locator('[data-testid="waterfall"]').scrollIntoViewIfNeeded();
  const wbox = await page.locator('[data-testid="waterfall"]').boundingBox();
  await page.mouse.move(wbox.x + wbox.width / 2, wbox.y + 40);
  await page.waitForFunction(() => /MHz · -?\d+\.\d dBFS.* · \d\d:\d\d:\d\d \(−\d+ s\)$/.test(document.querySelector('[data-testid="spectrum-readout"]').textContent), null, { timeout: 2000 });

  assert.deepEqual(errors, [], "no page errors");
  fs.mkdirSync(path.join(ROOT, "target"), { recursive: true });
  await page.locator('[data-testid="panel-spectrum"]').screenshot({ path: path.join(ROOT, "target", "dashboard-spectrum.png") });
});
