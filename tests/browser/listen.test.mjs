// Headless-Chromium test of listening in the dashboard against the real server, with a steady
// scene (an FM voice and a carrier, both always on): what plays is read from the page's
// AnalyserNode (window.sdrhub.listenAnalyser()) with a 16384-point FFT, so the tests hear the
// modulating tone of the FM voice, the 700 Hz BFO pitch of the carrier in CW and a 1 kHz tone
// 1 kHz below it in USB; the latency from the antenna to the speaker shown by the bar stays
// under 500 ms; stop silences it; Shift+click on the spectrum listens and the passband's edge
// drags; without AudioWorklet (a page that is not a secure context) the fallback player plays.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { BIN, CHROMIUM, freePort, launchChromium, openPageAt, startServer, stopServer, waitFor, serverEnv } from "./harness.mjs";

let browser;
let server;
let BASE;
let dir;
/** The FM voice's strongest modulating tone, Hz (`sdrhub simulate --describe`). */
let VOICE_TONE_HZ;

const VOICE_HZ = 145350000;
const CARRIER_HZ = 145112500;
/** The CW beat pitch (dsp::demod::DEFAULT_CW_BFO_HZ). */
const BFO_HZ = 700;

const SCENE = `
[history]
enabled = false

[[simulation.transmitters]]
id = "tx-carrier"
name = "Interfering carrier"
latitude = 48.897919
longitude = 2.4048
frequency_hz = ${CARRIER_HZ}.0
bandwidth_hz = 0.0
power_dbm = 20.0
kind = "cw"

[[simulation.transmitters]]
id = "tx-voice"
name = "FM voice"
latitude = 48.780542
longitude = 2.310316
frequency_hz = ${VOICE_HZ}.0
bandwidth_hz = 12500.0
power_dbm = 37.0
kind = "fm"
`;

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdrhub-listen-"));
  const config = path.join(dir, "sdrhub.toml");
  fs.writeFileSync(config, `[audio]\nrecordings_dir = "${dir}/recordings"\n${SCENE}`);
  const port = await freePort();
  BASE = `http://127.0.0.1:${port}`;
  server = await startServer(port, ["--config", config]);
  // What the scene's FM voice is modulated with (the scene's truth, from the same binary).
  const scene = JSON.parse(execFileSync(BIN, ["--config", config, "simulate", "--describe"], { encoding: "utf8", env: serverEnv() }));
  VOICE_TONE_HZ = scene.transmitters.find((t) => t.id === "tx-voice").message_tones[0].frequency_hz;
  // Clicks start audio anyway (they are user gestures); the flag keeps a slow start from
  // depending on that.
  browser = await launchChromium(["--autoplay-policy=no-user-gesture-required"]);
});

after(async () => {
  if (browser) await browser.close();
  if (server && server.proc.exitCode === null) {
    const { code } = await stopServer(server, "SIGTERM");
    assert.equal(code, 0, `sdrhub exits 0 on SIGTERM: ${server.log()}`);
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const listenState = (page) => page.evaluate(() => window.sdrhub.listen());
const spectrum = (page) => page.evaluate(() => window.sdrhub.spectrum());

/** The id of the live signal near `hz` once its row is in the signals table. */
async function rowOf(page, hz) {
  const s = await waitFor(
    () => page.evaluate(() => window.sdrhub.signals()),
    (v) => v.all.some((x) => Math.abs(x.frequency_hz - hz) < 5000 && v.rows.includes(x.id)),
    30000,
    `a signal row near ${hz / 1e6} MHz`,
  );
  return s.all.find((x) => Math.abs(x.frequency_hz - hz) < 5000).id;
}

/** Waits until the newest request is answered and audio plays, with `pred` holding. */
const playing = (page, pred, what) =>
  waitFor(() => listenState(page), (v) => v.state === "playing" && v.pending === 0 && v.packets > 5 && v.latencyMs !== null && pred(v), 10000, what);

/** The analyser reads 16384-point spectra, unsmoothed (each read is what plays now). */
const fineAnalyser = (page) =>
  page.evaluate(() => {
    const an = window.sdrhub.listenAnalyser();
    an.fftSize = 16384;
    an.smoothingTimeConstant = 0;
  });

/** What plays: the analyser's levels (dB per bin up to 6 kHz), bin width, and RMS. */
const audio = (page) =>
  page.evaluate(() => {
    const an = window.sdrhub.listenAnalyser();
    const binHz = an.context.sampleRate / an.fftSize;
    const db = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(db);
    const t = new Float32Array(an.fftSize);
    an.getFloatTimeDomainData(t);
    let ss = 0;
    for (const x of t) ss += x * x;
    return { binHz, db: Array.from(db.subarray(0, Math.ceil(6000 / binHz))), rms: Math.sqrt(ss / t.length) };
  });

/** The strongest bin between `lo` and `hi` Hz, its frequency and how far it stands over the
 * median level of 100 Hz to 5 kHz, dB. */
function tone(a, lo = 100, hi = 3000) {
  let bin = -1;
  for (let i = Math.ceil(lo / a.binHz); i <= Math.floor(hi / a.binHz); i++) if (bin < 0 || a.db[i] > a.db[bin]) bin = i;
  const band = a.db.slice(Math.ceil(100 / a.binHz), Math.floor(5000 / a.binHz) + 1).sort((x, y) => x - y);
  return { bin, hz: bin * a.binHz, overMedianDb: a.db[bin] - band[band.length >> 1], rms: a.rms, binHz: a.binHz };
}

/** `n` readings of the tone, `everyMs` apart. */
async function tones(page, n, everyMs = 300) {
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(tone(await audio(page)));
    await page.waitForTimeout(everyMs);
  }
  return out;
}

/** The latency the bar shows, ms (its text and its data-latency-ms agree). */
async function shownLatency(page) {
  const el = page.locator('[data-testid="listen-latency"]');
  const [text, ms] = await Promise.all([el.textContent(), el.getAttribute("data-latency-ms")]);
  assert.match(text, /^\d+ ms$/, `latency shown: ${text}`);
  assert.equal(text, `${ms} ms`);
  return Number(ms);
}

async function tune(page, mhz) {
  await page.locator('[data-testid="listen-freq"]').fill(mhz);
  await page.locator('[data-testid="listen-tune"]').click();
}

test("listen: a row's listen button plays the FM voice's tone, antenna to speaker under 500 ms; stop silences it", { timeout: 90000 }, async () => {
  const { page, errors } = await openPageAt(browser, BASE);
  const id = await rowOf(page, VOICE_HZ);
  const button = page.locator(`[data-testid="signal-row"][data-key="${id}"] [data-testid="signal-listen"]`);
  await button.click();
  const v = await playing(page, () => true, "the FM voice playing");
  const sig = (await page.evaluate(() => window.sdrhub.signals())).all.find((s) => s.id === id);
  assert.equal(v.mode, "nfm", "a 12.5 kHz signal in narrow FM");
  assert.equal(v.signalId, id);
  assert.ok(sig.receivers.includes(v.receiver), `on a receiver that hears it: ${v.receiver}`);
  assert.ok(Math.abs(v.frequencyHz - VOICE_HZ) < 1000, `at its frequency: ${v.frequencyHz}`);
  assert.equal(v.sampleRateHz, 12000);
  assert.equal(v.player, "worklet");
  assert.equal(await button.getAttribute("aria-pressed"), "true");
  await page.waitForFunction(() => document.querySelector('[data-testid="listen-bar"]').dataset.state === "playing", null, { timeout: 2000 });
  assert.match(await page.locator('[data-testid="listen-what"]').textContent(), /^145\.350000 MHz · NFM · /);
  assert.match(await page.locator('[data-testid="listen-power-text"]').textContent(), /^-\d+\.\d dBFS/);

  // The modulating tone: a clear peak between 100 Hz and 3 kHz, in the same place each time,
  // at the scene's strongest tone.
  await fineAnalyser(page);
  await page.waitForTimeout(1000);
  const seen = await tones(page, 6);
  const bins = seen.map((t) => t.bin).sort((a, b) => a - b);
  const mid = bins[bins.length >> 1];
  for (const t of seen) {
    assert.ok(t.overMedianDb >= 20, `a clear tone: ${t.overMedianDb.toFixed(1)} dB over the median at ${t.hz.toFixed(1)} Hz`);
    assert.ok(Math.abs(t.bin - mid) <= 2, `a steady tone: bins ${bins.join(", ")} (${seen[0].binHz.toFixed(2)} Hz each)`);
    assert.ok(t.rms > 0.001, `audio plays: RMS ${t.rms}`);
  }
  console.log(`# FM voice: tone at ${(mid * seen[0].binHz).toFixed(1)} Hz, ${Math.min(...seen.map((t) => t.overMedianDb)).toFixed(1)} dB over the median; the scene's ${VOICE_TONE_HZ.toFixed(1)} Hz`);
  // The scene's strongest modulating tone, within a bin and a half.
  assert.ok(Math.abs(mid * seen[0].binHz - VOICE_TONE_HZ) <= 1.5 * seen[0].binHz, `the tone heard at ${(mid * seen[0].binHz).toFixed(1)} Hz is the scene's ${VOICE_TONE_HZ.toFixed(1)} Hz`);

  // Antenna to speaker, as the bar shows it: under 500 ms on loopback, and more than what the
  // jitter buffer holds (it is part of it).
  const latencies = [];
  for (let i = 0; i < 5; i++) {
    const [ms, s] = [await shownLatency(page), await listenState(page)];
    assert.ok(ms > 0 && ms < 500, `latency ${ms} ms`);
    assert.ok(s.latencyMs > s.bufferMs, `latency ${s.latencyMs} ms holds the buffer's ${s.bufferMs} ms`);
    latencies.push(ms);
    await page.waitForTimeout(250);
  }
  const last = await listenState(page);
  console.log(`# latency ${latencies.join(", ")} ms (buffer ${Math.round(last.bufferMs)} ms, output ${Math.round(last.outputMs)} ms, newest packet ${Math.round(last.netMs)} ms old on arrival); lost ${last.lost}, underruns ${last.underruns}`);

  // Stop: the bar says so, the audio stops, the server sends no more.
  await page.locator('[data-testid="listen-stop"]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="listen-bar"]').dataset.state === "stopped", null, { timeout: 2000 });
  assert.equal(await page.locator('[data-testid="listen-status"]').textContent(), "Stopped");
  assert.ok(await page.locator('[data-testid="listen-again"]').isVisible(), "Listen again offered");
  assert.ok(!(await page.locator('[data-testid="listen-stop"]').isVisible()), "no Stop once stopped");
  await waitFor(() => audio(page), (a) => a.rms === 0, 3000, "silence after stop");
  const stopped = await listenState(page);
  assert.equal(stopped.state, "stopped");
  await page.waitForTimeout(700);
  assert.equal((await listenState(page)).packets, stopped.packets, "no audio after unlisten");
  await waitFor(() => button.getAttribute("aria-pressed"), (p) => p === "false", 2000, "the row's button released");
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("listen: a carrier in CW is the 700 Hz BFO pitch, 1 kHz under it in USB a 1 kHz tone, recorded as WAV and SigMF; a refused frequency says why", { timeout: 90000 }, async () => {
  const { page, errors } = await openPageAt(browser, BASE);
  const id = await rowOf(page, CARRIER_HZ);
  // From its details panel this time.
  await page.locator(`[data-testid="signal-row"][data-key="${id}"] .sel-btn`).click();
  await page.locator('[data-testid="details-listen"]').click();
  await playing(page, (v) => v.mode === "cw", "the carrier in CW");
  // Exactly on the carrier (the detected frequency is within a few Hz; a tone bin is 2.7 Hz).
  await tune(page, "145.1125");
  await playing(page, (v) => v.frequencyHz === CARRIER_HZ && v.mode === "cw", "CW at 145.1125 MHz");
  await fineAnalyser(page);
  await page.waitForTimeout(1000);
  for (const t of await tones(page, 4)) {
    const want = Math.round(BFO_HZ / t.binHz);
    assert.ok(Math.abs(t.bin - want) <= 1, `CW tone at ${t.hz.toFixed(1)} Hz, want ${BFO_HZ} Hz (bin ${want} ± 1)`);
    assert.ok(t.overMedianDb >= 20 && t.rms > 0.001, `a clear tone: ${JSON.stringify(t)}`);
  }
  assert.ok((await shownLatency(page)) < 500);

  // USB 1 kHz under the carrier: a 1 kHz tone.
  await page.locator('[data-testid="listen-mode"]').selectOption("usb");
  await tune(page, "145.1115");
  const usb = await playing(page, (v) => v.frequencyHz === CARRIER_HZ - 1000 && v.mode === "usb", "USB at 145.1115 MHz");
  assert.deepEqual(usb.passbandHz, [300, 2700], "USB's own passband");
  await page.waitForTimeout(1000);
  for (const t of await tones(page, 4)) {
    const want = Math.round(1000 / t.binHz);
    assert.ok(Math.abs(t.bin - want) <= 1, `USB tone at ${t.hz.toFixed(1)} Hz, want 1000 Hz (bin ${want} ± 1)`);
    assert.ok(t.overMedianDb >= 20, `a clear tone: ${JSON.stringify(t)}`);
  }
  assert.ok((await shownLatency(page)) < 500);

  // Record what is heard: the bar links the WAV and the SigMF files when it is finished.
  await page.locator('[data-testid="listen-record"]').click();
  await page.waitForFunction(() => /recording/.test(document.querySelector('[data-testid="listen-recorded"]').textContent), null, { timeout: 3000 });
  await page.waitForTimeout(1500);
  await page.locator('[data-testid="listen-record"]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="listen-recorded-wav"]'), null, { timeout: 5000 });
  const recorded = await page.locator('[data-testid="listen-recorded"]').textContent();
  assert.match(recorded, /^\d+\.\d s recorded.*: WAV · SigMF meta · SigMF data$/, recorded);
  const wav = await page.evaluate(async () => {
    const href = document.querySelector('[data-testid="listen-recorded-wav"]').getAttribute("href");
    const r = await fetch(href);
    const b = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, riff: String.fromCharCode(...b.slice(0, 4)), bytes: b.length };
  });
  assert.equal(wav.status, 200);
  assert.equal(wav.riff, "RIFF");
  assert.ok(wav.bytes > 12000 * 2, `a WAV of more than a second: ${wav.bytes} bytes`);

  // A frequency the receiver does not cover: the server's reason, in the bar.
  await tune(page, "150");
  await page.waitForFunction(() => document.querySelector('[data-testid="listen-bar"]').dataset.state === "error", null, { timeout: 5000 });
  const status = await page.locator('[data-testid="listen-status"]').textContent();
  assert.match(status, /^Not listening: .*150\.0000 MHz/, status);
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("listen: Shift+click on the spectrum listens there, a click tunes, the passband's edge drags", { timeout: 90000 }, async () => {
  const { page, errors } = await openPageAt(browser, BASE);
  const id = await rowOf(page, VOICE_HZ);
  // Selected in the table: shown on its best receiver, centred and zoomed.
  await page.locator(`[data-testid="signal-row"][data-key="${id}"] .sel-btn`).click();
  await waitFor(() => spectrum(page), (s) => s.span && Math.abs((s.span.lo + s.span.hi) / 2 - VOICE_HZ) < 2000 && s.span.hi - s.span.lo < s.full.hi - s.full.lo, 5000, "the voice centred");
  await page.waitForTimeout(300); // drawn
  const marks = await waitFor(() => page.evaluate(() => window.sdrhub.plotSignals()), (m) => m.some((x) => x.id === id), 5000, "the voice marked");
  const sc = page.locator('[data-testid="spectrum"]');
  await sc.scrollIntoViewIfNeeded();
  const box = await sc.boundingBox();
  const y = box.y + box.height / 2;
  await page.keyboard.down("Shift");
  await page.mouse.click(box.x + marks.find((m) => m.id === id).x, y);
  await page.keyboard.up("Shift");
  const v = await playing(page, (s) => s.signalId === id, "the voice from a Shift+click");
  const view = await spectrum(page);
  assert.equal(v.receiver, view.receiver, "on the receiver shown");
  assert.equal(v.mode, "nfm");
  const band = await waitFor(() => spectrum(page), (s) => s.passband !== null, 2000, "the passband drawn");
  assert.deepEqual([band.passband.lo - v.frequencyHz, band.passband.hi - v.frequencyHz], [-6000, 6000]);

  // Drag the upper edge 8 px up in frequency (less than the 10.8 kHz NFM allows): a wider
  // passband is asked for; the view stays.
  const pw = box.width - 64; // the plot area (52 px left, 12 px right)
  const xOf = (hz) => box.x + 52 + ((hz - band.span.lo) / (band.span.hi - band.span.lo)) * pw;
  const hzPerPx = (band.span.hi - band.span.lo) / pw;
  assert.ok(6000 + 10 * hzPerPx < 10800, `a zoom where 8 px is a few kHz: ${hzPerPx} Hz/px`);
  await page.mouse.move(xOf(band.passband.hi), y);
  await page.mouse.down();
  await page.mouse.move(xOf(band.passband.hi) + 4, y, { steps: 4 });
  await page.mouse.move(xOf(band.passband.hi) + 8, y, { steps: 4 });
  await page.mouse.up();
  const wider = await playing(page, (s) => s.passbandHz[1] > 6000, "a wider passband");
  assert.equal(wider.passbandHz[0], -6000, "the lower edge stays");
  assert.ok(Math.abs(wider.passbandHz[1] - 6000 - 8 * hzPerPx) < 2 * hzPerPx + 20, `dragged 8 px (${(8 * hzPerPx).toFixed(0)} Hz): ${wider.passbandHz}`);
  assert.equal(wider.frequencyHz, v.frequencyHz, "the frequency stays");
  const after = await spectrum(page);
  assert.ok(Math.abs(after.span.lo - band.span.lo) < 1 && Math.abs(after.span.hi - band.span.hi) < 1, "dragging an edge does not pan");
  await waitFor(() => page.locator('[data-testid="listen-passband-hi"]').inputValue(), (x) => x === String(wider.passbandHz[1]), 2000, "the bar's passband");

  // While listening, a click where no signal is tunes there (same mode and receiver).
  const px = 80;
  await page.mouse.click(box.x + 52 + px, y);
  const wantHz = band.span.lo + (px / pw) * (band.span.hi - band.span.lo);
  // (Within two pixels, and the 1 kHz an NFM frequency moves to the channel it is near.)
  const tuned = await playing(page, (s) => Math.abs(s.frequencyHz - wantHz) < 2 * hzPerPx + 1000, `tuned to about ${(wantHz / 1e6).toFixed(4)} MHz`);
  assert.equal(tuned.mode, "nfm");
  assert.equal(tuned.receiver, v.receiver);
  assert.equal(tuned.signalId, null, "no signal there");
  await page.locator('[data-testid="listen-stop"]').click();
  await waitFor(() => spectrum(page), (s) => s.passband === null, 2000, "no passband once stopped");
  await page.locator('[data-testid="listen-close"]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="listen-bar"]').hidden, null, { timeout: 2000 });
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("listen without AudioWorklet (not a secure context): the fallback player plays the CW pitch", { timeout: 60000 }, async () => {
  const { page, errors } = await openPageAt(browser, BASE);
  await page.addInitScript(() => Object.defineProperty(BaseAudioContext.prototype, "audioWorklet", { get: () => undefined, configurable: true }));
  await page.reload();
  const id = await rowOf(page, CARRIER_HZ);
  await page.locator(`[data-testid="signal-row"][data-key="${id}"] [data-testid="signal-listen"]`).click();
  await playing(page, (v) => v.mode === "cw", "the carrier in CW");
  await tune(page, "145.1125");
  const v = await playing(page, (s) => s.frequencyHz === CARRIER_HZ, "CW at 145.1125 MHz");
  assert.equal(v.player, "sources");
  await fineAnalyser(page);
  await page.waitForTimeout(1000);
  for (const t of await tones(page, 3)) {
    const want = Math.round(BFO_HZ / t.binHz);
    assert.ok(Math.abs(t.bin - want) <= 1 && t.overMedianDb >= 20, `CW tone at ${t.hz.toFixed(1)} Hz, want ${BFO_HZ}: ${JSON.stringify(t)}`);
  }
  const ms = await shownLatency(page);
  assert.ok(ms < 500, `latency ${ms} ms`);
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});
