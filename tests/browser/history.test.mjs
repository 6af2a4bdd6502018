// Headless-Chromium test of the dashboard's History view against the real server: the default
// simulated scene recorded into a fresh SQLite history database in a temporary directory.
//
// Occupancy is stored a minute at a time, when the minute ends (the current minute is not in the
// API's answer), so the test first waits (via the REST API, 15 to 75 s) until a stored minute
// holds at least 15 s of the scene, then checks what the page draws and finds against the
// scene's transmitters, read from `sdrhub config` (the effective configuration, so a changed
// default scene changes the test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, CHROMIUM, ROOT, freePort, launchChromium, openPageAt, serverEnv, startServer, stopServer, waitFor } from "./harness.mjs";

let browser;
let server;
let BASE;
let dir;
let config;
let serverStarted; // ms, just before the server was started

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdrhub-history-"));
  config = path.join(dir, "sdrhub.toml");
  fs.writeFileSync(config, `[history]\nurl = "sqlite://${path.join(dir, "history.sqlite")}"\n`);
  const port = await freePort();
  BASE = `http://127.0.0.1:${port}`;
  serverStarted = Date.now();
  server = await startServer(port, ["--config", config]);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.proc.exitCode === null && server.proc.signalCode === null) {
    const { code } = await stopServer(server, "SIGTERM");
    assert.equal(code, 0, `sdrhub exits 0 on SIGTERM: ${server.log()}`);
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function api(p) {
  const r = await fetch(new URL(p, BASE), { headers: { Accept: "application/json" } });
  const body = await r.text();
  assert.equal(r.status, 200, `GET ${p}: ${body.slice(0, 300)}`);
  return JSON.parse(body);
}

/** The scene's transmitters ({id, frequency_hz, bandwidth_hz}) from `sdrhub config`'s TOML. */
function sceneTransmitters() {
  const toml = execFileSync(BIN, ["--config", config, "config"], { env: serverEnv(), encoding: "utf8" });
  const txs = [];
  let cur = null;
  for (const line of toml.split("\n")) {
    const t = line.trim();
    if (t.startsWith("[")) {
      cur = t === "[[simulation.transmitters]]" ? {} : null;
      if (cur) txs.push(cur);
      continue;
    }
    const m = cur && /^(id|frequency_hz|bandwidth_hz)\s*=\s*"?([^"]*)"?$/.exec(t);
    if (m) cur[m[1]] = m[1] === "id" ? m[2] : Number(m[2]);
  }
  assert.ok(txs.length >= 2 && txs.every((t) => t.id && t.frequency_hz > 0), `transmitters from sdrhub config: ${JSON.stringify(txs)}`);
  return txs;
}

const hist = (page) => page.evaluate(() => window.sdrhub.history());
/** How far a found line or signal may be from its transmitter's carrier: half its band, at least 3 kHz. */
const tolerance = (tx) => Math.max(3e3, (tx.bandwidth_hz || 0) / 2);

test("history: the occupancy heatmap shows the scene's transmitters as lines; the log finds one by frequency; its timeline, fixes and name", { timeout: 200000 }, async () => {
  const started = Date.now();
  const txs = sceneTransmitters();
  const { websdrs } = await api("/api/v1/websdrs");
  const rx = websdrs[0].id;

  // A stored minute of occupancy with at least 15 s of the scene in it (the FM transmitter is
  // on for its first 20 s, the bursts come every 2 s). Minutes are stored when they end; the
  // first one is the partial minute the server started in, so this waits 15 to 75 s.
  await waitFor(
    () => api(`/api/v1/history/occupancy?receiver=${rx}`),
    (m) => m.minutes.some((t) => Date.parse(t) + 60e3 - serverStarted >= 15e3),
    100000,
    "a stored minute of occupancy (15 s or more of it after the start)",
    1000,
  );
  const waitedS = (Date.now() - started) / 1000;

  const { page, errors } = await openPageAt(browser, `${BASE}/`);
  await page.locator('[data-testid="tab-history"]').click();
  await page.locator('[data-testid="history-view"]').waitFor({ state: "visible", timeout: 5000 });
  assert.equal(await page.locator('[data-testid="live-view"]').isVisible(), false, "the live view is hidden");
  assert.match(page.url(), /#view=history$/);

  // The heatmap (24 h by default): one line per transmitter, and no other.
  const h24 = await waitFor(() => hist(page), (s) => s.heatmap.done && s.heatmap.minutes > 0, 20000, "the 24 h heatmap");
  assert.equal(h24.heatmap.receiver, rx);
  const linesMatch = (lines) => {
    for (const tx of txs) assert.ok(lines.some((l) => Math.abs(l.center_hz - tx.frequency_hz) <= tolerance(tx)), `a line at ${tx.id} ${tx.frequency_hz} Hz: ${JSON.stringify(lines)}`);
    for (const l of lines) assert.ok(txs.some((tx) => Math.abs(l.center_hz - tx.frequency_hz) <= tolerance(tx)), `line ${JSON.stringify(l)} is a transmitter's`);
  };
  linesMatch(h24.heatmap.lines);
  const attr = await page.locator('[data-testid="heatmap"]').getAttribute("data-lines-mhz");
  assert.equal(attr.split(" ").length, txs.length, `data-lines-mhz="${attr}"`);

  // 1 h: a stored minute is several pixels tall; in its rows, the pixels at each transmitter's
  // frequency are bright and the band's median is dark (viridis green rises with the share).
  await page.locator('[data-testid="occupancy-range"] [data-range="1h"]').click();
  const h1 = await waitFor(() => hist(page), (s) => s.heatmap.range === "1h" && s.heatmap.done && s.heatmap.minutes > 0, 20000, "the 1 h heatmap");
  linesMatch(h1.heatmap.lines);
  const px = await page.evaluate((freqs) => {
    const c = document.querySelector('[data-testid="heatmap"]');
    const p = window.sdrhub.history().heatmap.plot;
    const dpr = c.width / c.getBoundingClientRect().width;
    const ctx = c.getContext("2d");
    const { data } = ctx.getImageData(Math.round(p.x * dpr), Math.round(p.y * dpr), Math.round(p.w * dpr), Math.round(p.h * dpr));
    const W = Math.round(p.w * dpr);
    const green = (x, y) => data[(y * W + x) * 4 + 1];
    // the newest row with data: the first row whose median pixel is not the background
    const bgG = 20; // the plot background's green channel
    let row = -1;
    for (let y = 0; y < data.length / 4 / W && row < 0; y++) {
      let painted = 0;
      for (let x = 0; x < W; x++) if (green(x, y) !== bgG) painted++;
      if (painted > W * 0.9) row = y + 2;
    }
    const g = [];
    for (let x = 0; x < W; x++) g.push(green(x, row));
    const median = [...g].sort((a, b) => a - b)[W >> 1];
    const at = freqs.map((f) => {
      const x = Math.round(((f - p.f_lo) / (p.f_hi - p.f_lo)) * W);
      return Math.max(...g.slice(Math.max(0, x - 2), x + 3));
    });
    return { row, median, at };
  }, txs.map((t) => t.frequency_hz));
  assert.ok(px.row >= 0, `a painted row: ${JSON.stringify(px)}`);
  for (let i = 0; i < txs.length; i++) assert.ok(px.at[i] > px.median + 60, `${txs[i].id} is a bright line on the canvas: ${JSON.stringify(px)}`);

  // Search the log around the always-on transmitter: it is found, the others are not.
  const target = txs.find((t) => t.id === "tx-carrier") || txs[0];
  await page.locator('[data-testid="search-unit"]').selectOption("kHz");
  await page.locator('[data-testid="search-fmin"]').fill(String((target.frequency_hz - 5e3) / 1e3));
  await page.locator('[data-testid="search-fmax"]').fill(String((target.frequency_hz + 5e3) / 1e3));
  await page.locator('[data-testid="search-range"]').selectOption("1h");
  await page.locator('[data-testid="search-submit"]').click();
  const found = await waitFor(
    () => hist(page),
    (s) => !s.search.searching && s.search.query && s.search.query.freq_min === target.frequency_hz - 5e3,
    15000,
    "search results",
  );
  assert.equal(found.search.error, null);
  assert.ok(found.search.results.length >= 1, `found ${target.id}: ${JSON.stringify(found.search)}`);
  for (const r of found.search.results) assert.ok(Math.abs(r.frequency_hz - target.frequency_hz) <= 5e3, `only ${target.id}: ${JSON.stringify(r)}`);
  const rows = page.locator('[data-testid="history-row"]');
  assert.equal(await rows.count(), found.search.results.length);
  // ... and a search of the whole band finds every transmitter (so the narrow one left them out).
  const all = await api(`/api/v1/history/signals?limit=1000`);
  for (const tx of txs) assert.ok(all.signals.some((s) => Math.abs(s.frequency_hz - tx.frequency_hz) <= tolerance(tx)), `${tx.id} is in the log`);

  // Open the track with the most observations (a carrier is one track unless it was lost for a
  // moment): a line per receiver that heard it.
  const details = await Promise.all(found.search.results.map((r) => api(`/api/v1/history/signals/${r.id}`)));
  const detail = details.reduce((a, b) => (b.observations.length > a.observations.length ? b : a));
  const longest = detail.signal;
  await page.locator(`[data-testid="history-row"][data-key="${longest.id}"] button`).click();
  const opened = await waitFor(() => hist(page), (s) => s.detail && s.detail.id === longest.id && s.timeline.length > 0, 15000, "the signal's timeline");
  const heardBy = [...new Set(detail.observations.map((o) => o.receiver))].sort();
  assert.ok(heardBy.length >= 3, `observations from several receivers: ${heardBy}`);
  assert.deepEqual(opened.timeline.map((t) => t.receiver).sort(), heardBy, "one line per receiver");
  for (const t of opened.timeline) assert.ok(t.points >= 2, `${t.receiver}: a line, not a dot: ${JSON.stringify(t)}`);
  const colours = await page.evaluate((lines) => {
    const c = document.querySelector('[data-testid="timeline"]');
    const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
    const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
    return lines.map((l) => {
      const [r, g, b] = rgb(l.color);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 30) n++;
      return { receiver: l.receiver, pixels: n };
    });
  }, opened.timeline);
  for (const c of colours) assert.ok(c.pixels > 40, `the line of ${c.receiver} is drawn: ${JSON.stringify(colours)}`);
  assert.equal(await page.locator('[data-testid="timeline-legend"] li').count(), heardBy.length, "a legend entry per receiver");
  // Its fixes on the map (the carrier is heard by every receiver, so it is located).
  assert.ok(opened.detail.fixes >= detail.localizations.length, `fixes ${opened.detail.fixes} (REST: ${detail.localizations.length})`);
  if (opened.detail.fixes > 0) {
    await page.locator('[data-testid="history-fix"]').first().waitFor({ timeout: 5000 });
    assert.equal(await page.locator('[data-testid="history-fix"]').count(), Math.min(200, opened.detail.fixes));
  }

  // Name it; the live table labels the signal with the name.
  const name = `Test carrier ${process.pid}`;
  await page.locator('[data-testid="name-name"]').fill(name);
  await page.locator('[data-testid="name-tags"]').fill("test, cw");
  await page.locator('[data-testid="name-save"]').click();
  await page.waitForFunction(() => /^Saved/.test(document.querySelector('[data-testid="name-status"]').textContent), null, { timeout: 10000 });
  const known = await api("/api/v1/known-signals");
  const list = Array.isArray(known) ? known : known.known_signals;
  const entry = list.find((k) => k.name === name);
  assert.ok(entry && entry.freq_min_hz <= target.frequency_hz && entry.freq_max_hz >= target.frequency_hz, `stored with its range: ${JSON.stringify(list)}`);
  assert.deepEqual(entry.tags, ["test", "cw"]);
  await waitFor(() => hist(page), (s) => s.detail && s.detail.known && s.detail.known.name === name, 10000, "the stored signal named");
  await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid="history-row"] .known')].some((e) => e.textContent === n), name, { timeout: 10000 });

  // A lockout: the burst transmitter named with "ignore" leaves the results unless asked for.
  const bursts = txs.find((t) => t.id === "tx-data") || txs.find((t) => t !== target);
  await page.locator('[data-testid="search-unit"]').selectOption("MHz");
  await page.locator('[data-testid="search-fmin"]').fill(((bursts.frequency_hz - 5e3) / 1e6).toFixed(4));
  await page.locator('[data-testid="search-fmax"]').fill(((bursts.frequency_hz + 5e3) / 1e6).toFixed(4));
  await page.locator('[data-testid="search-submit"]').click();
  const burstHits = await waitFor(() => hist(page), (s) => !s.search.searching && s.search.query && s.search.query.freq_min === bursts.frequency_hz - 5e3 && s.search.results.length > 0, 15000, `${bursts.id} in the log`);
  await page.locator(`[data-testid="history-row"][data-key="${burstHits.search.results[0].id}"] button`).click();
  await waitFor(() => hist(page), (s) => s.detail && s.detail.id === burstHits.search.results[0].id, 15000, `${bursts.id} opened`);
  await page.locator('[data-testid="name-name"]').fill("Test bursts");
  await page.locator('[data-testid="name-ignore"]').check();
  await page.locator('[data-testid="name-save"]').click();
  await page.waitForFunction(() => /^Saved.*ignored/.test(document.querySelector('[data-testid="name-status"]').textContent), null, { timeout: 10000 });
  const ignoredHits = await waitFor(() => hist(page), (s) => !s.search.searching && s.search.results.length > 0 && s.search.results.every((r) => r.known && r.known.ignore), 10000, "the results labelled ignored");
  assert.equal(ignoredHits.search.shown, 0, "ignored signals are hidden");
  assert.equal(await page.locator('[data-testid="history-row"]').count(), 0);
  assert.match(await page.locator('[data-testid="search-status"]').textContent(), /ignored hidden/);
  await page.locator('[data-testid="search-show-ignored"]').check();
  assert.equal(await page.locator('[data-testid="history-row"]').count(), ignoredHits.search.results.length, "shown when asked for");

  fs.mkdirSync(path.join(ROOT, "target"), { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0)); // the header is sticky
  await page.screenshot({ path: path.join(ROOT, "target", "dashboard-history.png"), fullPage: true });

  await page.locator('[data-testid="tab-live"]').click();
  await page.locator('[data-testid="live-view"]').waitFor({ state: "visible", timeout: 5000 });
  await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid="signal-row"] .known')].some((e) => e.textContent === n), name, { timeout: 20000 });
  const row = page.locator('[data-testid="signal-row"]', { hasText: name });
  const liveFreq = Number(await row.locator("td:nth-child(2)").textContent()) * 1e6;
  assert.ok(Math.abs(liveFreq - target.frequency_hz) <= 5e3, `the named live signal is ${target.id}: ${liveFreq}`);
  const marks = await page.evaluate(() => window.sdrhub.plotSignals());
  assert.ok(marks.some((m) => m.name === name), `the spectrum labels it: ${JSON.stringify(marks)}`);
  // The lockout is hidden from the live table and the spectrum until "show ignored" is ticked.
  const live = await page.evaluate(() => window.sdrhub.state());
  const locked = live.knownSignals.filter((k) => k.ignore);
  assert.ok(locked.length >= 1 && locked.every((k) => k.name === "Test bursts"), `the bursts carry the lockout: ${JSON.stringify(live.knownSignals)}`);
  assert.equal(await page.locator('[data-testid="signal-row"]', { hasText: "Test bursts" }).count(), 0);
  assert.ok(!marks.some((m) => locked.some((k) => k.id === m.id)), "not marked on the spectrum");
  assert.match(await page.locator('[data-testid="signals-ignored"]').textContent(), /ignored signals? hidden/);
  await page.locator('[data-testid="show-ignored"]').check();
  await page.locator('[data-testid="signal-row"]', { hasText: "Test bursts" }).first().waitFor({ timeout: 5000 });

  assert.deepEqual(errors, [], "no page errors");
  await page.close();
  console.log(`history test: waited ${waitedS.toFixed(0)} s for a stored minute, ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
});
