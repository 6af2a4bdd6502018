// The live signals table's filter (frequency range, frequency, minimum SNR, receiver; they
// combine and the table says how many they hide) and the phone layout (the signals table
// first, its main columns inside 390 px). Two servers: the default scene, where every
// receiver hears every transmitter, and the same scene with one receiver moved 550 km away,
// too far to hear the weak carrier, so that the receiver selector has something to hide.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, CHROMIUM, freePort, launchChromium, openPageAt, startServer, stopServer, waitFor } from "./harness.mjs";

let browser;
let main; // the default scene
let far; // rx5 replaced by "rx-far", 5 degrees (about 550 km) north of the centre
let dir;

// The default scene's transmitters (`sdrhub config`): an always-on carrier, an FM voice keyed
// on 20 s of every 30 s, data bursts.
const CARRIER = 145.1125e6;
const VOICE = 145.35e6;
const BURSTS = 144.8e6;
const near = (hz, want) => hz !== null && Math.abs(hz - want) < 5e3;

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdrhub-filters-"));
  const config = path.join(dir, "far.toml");
  // The default ring's first four receivers (15 km N, E, S, W of the centre) and a far one.
  const rx = [
    ["rx1", "Sim North", 48.9915, 2.3522],
    ["rx2", "Sim East", 48.8566, 2.5576],
    ["rx3", "Sim South", 48.7217, 2.3522],
    ["rx4", "Sim West", 48.8566, 2.1468],
    ["rx-far", "Sim Far", 53.8566, 2.3522],
  ];
  fs.writeFileSync(config, rx.map(([id, name, lat, lon]) => `[[simulation.receivers]]\nid = "${id}"\nname = "${name}"\nlatitude = ${lat}\nlongitude = ${lon}\n`).join("\n"));
  main = await startServer(await freePort());
  far = await startServer(await freePort(), ["--config", config]);
  browser = await launchChromium();
});

after(async () => {
  if (browser) await browser.close();
  for (const s of [main, far]) {
    if (s && s.proc.exitCode === null && s.proc.signalCode === null) {
      const { code } = await stopServer(s, "SIGTERM");
      assert.equal(code, 0, `sdrhub exits 0 on SIGTERM: ${s.log()}`);
    }
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const open = (server, viewport) => openPageAt(browser, `http://127.0.0.1:${server.port}/`, viewport);
const sigs = (page) => page.evaluate(() => window.sdrhub.signals());
const hiddenText = (page) => page.locator('[data-testid="signals-hidden"]').textContent();
const idAt = (s, hz) => (s.all.find((x) => near(x.frequency_hz, hz)) || {}).id;

/** Waits until the table shows exactly the live signals that `pred` keeps (and at least one),
 * says it hides the others, and `also` holds. */
async function waitRows(page, pred, what, also = () => true) {
  return waitFor(
    async () => ({ s: await sigs(page), hidden: await hiddenText(page) }),
    ({ s, hidden }) => {
      const want = s.all.filter(pred).map((x) => x.id).sort();
      const out = s.all.length - want.length;
      return want.length > 0 && also(s) && JSON.stringify([...s.rows].sort()) === JSON.stringify(want) && (out === 0 ? hidden === "" : hidden === `${out} hidden by the filter`);
    },
    15000,
    what,
  );
}

const typeFilter = (page, text) => page.locator('[data-testid="signal-filter"]').fill(text);
const setMinSnr = (page, db) => page.locator('[data-testid="signal-min-snr"]').fill(db === null ? "" : String(db));

test("filters: a frequency range, a frequency, a minimum SNR and a receiver, combined, with the count of hidden signals", { timeout: 120000 }, async () => {
  const { page, errors } = await open(main);
  // All three transmitters in the table (the voice is off 10 s of every 30 s).
  await waitFor(() => sigs(page), (s) => [CARRIER, VOICE, BURSTS].every((f) => s.all.some((x) => near(x.frequency_hz, f))), 40000, "the three transmitters as live signals");

  // A range around the carrier shows only it; the en-dash and "MHz" form, only the voice.
  await typeFilter(page, "145.05-145.15");
  const c = await waitRows(page, (x) => x.frequency_hz >= 145.05e6 && x.frequency_hz <= 145.15e6, "only the carrier for 145.05-145.15");
  assert.deepEqual(c.s.rows, [idAt(c.s, CARRIER)]);
  await typeFilter(page, "145.3–145.4 MHz");
  await waitFor(() => sigs(page), (s) => s.all.some((x) => near(x.frequency_hz, VOICE)), 40000, "the voice keyed on");
  await waitRows(page, (x) => x.frequency_hz >= 145.3e6 && x.frequency_hz <= 145.4e6, "only the voice for 145.3–145.4 MHz");
  // Reversed bounds and kHz are the same range.
  await typeFilter(page, "145400-145300 kHz");
  await waitRows(page, (x) => x.frequency_hz >= 145.3e6 && x.frequency_hz <= 145.4e6, "only the voice for 145400-145300 kHz");
  // A single value matches the MHz text as the table shows it.
  await typeFilter(page, "144.8 MHz");
  await waitRows(page, (x) => near(x.frequency_hz, BURSTS), "only the bursts for 144.8 MHz");
  await typeFilter(page, "");
  await waitRows(page, () => true, "every signal with no filter");

  // Minimum SNR above the weakest signal hides it. SNRs move by a few dB (the bursts' between
  // 34 and 37 dB, the carrier's about 40.5): the threshold sits 1.5 dB under the next signal,
  // chosen at a moment when the gap is at least 3 dB.
  const ranked = (s) => s.all.filter((x) => x.snr_db !== null).sort((a, b) => a.snr_db - b.snr_db);
  const s0 = await waitFor(() => sigs(page), (s) => ranked(s).length >= 2 && ranked(s)[1].snr_db - ranked(s)[0].snr_db >= 3, 20000, "a weak signal 3 dB below the others");
  const bySnr = ranked(s0);
  const weak = bySnr[0].id;
  const thr = Math.round(bySnr[1].snr_db - 1.5);
  await setMinSnr(page, thr);
  const weakBelow = (s) => s.all.some((x) => x.id === weak && x.snr_db !== null && x.snr_db < thr);
  const atThr = await waitRows(page, (x) => x.snr_db !== null && x.snr_db >= thr, `signals with SNR >= ${thr} dB, ${weak} below`, weakBelow);
  assert.ok(!atThr.s.rows.includes(weak), `the weak signal ${weak} is hidden at ${thr} dB`);
  const snrCells = await page.locator('[data-testid="signal-row"] td:nth-child(4)').allTextContents();
  assert.ok(snrCells.every((t) => Number(t) >= thr), `every SNR shown is >= ${thr}: ${snrCells}`);

  // Combined: the SNR threshold and a range around everything but the bursts.
  await typeFilter(page, "145-146");
  await waitRows(page, (x) => x.snr_db !== null && x.snr_db >= thr && x.frequency_hz >= 145e6 && x.frequency_hz <= 146e6, `145-146 and SNR >= ${thr}`);
  await setMinSnr(page, null);
  await typeFilter(page, "");

  // The receiver selector: one option per receiver after "any receiver"; each keeps the signals
  // that receiver hears (on this scene, all of them), and combines with the range.
  const ids = await page.evaluate(() => window.sdrhub.state().websdrIds);
  const options = await page.locator('[data-testid="signal-receiver"] option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(options, ["", ...ids]);
  await page.locator('[data-testid="signal-receiver"]').selectOption(ids[1]);
  await waitRows(page, (x) => x.receivers.includes(ids[1]), `signals heard by ${ids[1]}`);
  await typeFilter(page, "145.05-145.15");
  await waitRows(page, (x) => x.receivers.includes(ids[1]) && near(x.frequency_hz, CARRIER), `the carrier heard by ${ids[1]}`);
  // Nothing left: the empty row says which filter.
  await setMinSnr(page, 500);
  await page.waitForFunction(() => /no signal matches .*145\.05-145\.15.*SNR ≥ 500 dB.*heard by/.test(document.querySelector("#signals-body").textContent), null, { timeout: 5000 });
  assert.match(await page.locator("#signals-count").textContent(), /^\(0 of \d+\)$/);
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("filters: the receiver selector hides what that receiver does not hear (a receiver 550 km away misses the carrier)", { timeout: 120000 }, async () => {
  const { page, errors } = await open(far);
  await waitFor(
    () => sigs(page),
    (s) => s.all.some((x) => near(x.frequency_hz, CARRIER)) && s.all.some((x) => near(x.frequency_hz, VOICE) && x.receivers.includes("rx-far")),
    60000,
    "the carrier, and the voice heard by rx-far",
  );
  const carrier = idAt(await sigs(page), CARRIER);
  await page.locator('[data-testid="signal-receiver"]').selectOption("rx-far");
  const r = await waitRows(page, (x) => x.receivers.includes("rx-far"), "the signals rx-far hears");
  assert.ok(!r.s.rows.includes(carrier), `the carrier ${carrier} is hidden for rx-far: ${JSON.stringify(r.s)}`);
  assert.match(r.hidden, /^[1-9]\d* hidden by the filter$/);
  await page.locator('[data-testid="signal-receiver"]').selectOption("");
  await waitRows(page, () => true, "every signal with any receiver");
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("names: the default scene's transmitters are named in the table, which shows first seen and last heard, and the details show the emitter", { timeout: 60000 }, async () => {
  const { page, errors } = await open(main);
  const named = { [CARRIER]: "Interfering carrier", [VOICE]: "FM voice (repeater user)", [BURSTS]: "Data bursts" };
  // The voice is on 20 s of every 30 s: wait until the carrier and the voice are both live.
  const s = await waitFor(() => sigs(page), (x) => [CARRIER, VOICE].every((f) => x.all.some((y) => near(y.frequency_hz, f))), 40000, "the carrier and the voice");
  for (const [f, name] of Object.entries(named)) {
    for (const x of s.all.filter((y) => near(y.frequency_hz, Number(f)))) {
      assert.equal(x.name, name, `${x.id} at ${x.frequency_hz} Hz`);
      assert.match(x.emitter_id, /^em-\d+$/);
    }
  }
  const headers = await page.locator('[data-testid="signals-table"] thead th').allTextContents();
  assert.ok(headers.includes("First seen") && headers.includes("Last heard") && !headers.includes("Age"), `${headers}`);
  const carrier = s.all.find((x) => near(x.frequency_hz, CARRIER));
  const row = page.locator(`[data-testid="signal-row"][data-key="${carrier.id}"]`);
  assert.equal(await row.locator(".known").textContent(), "Interfering carrier");
  assert.equal(await row.locator("td:nth-child(9)").textContent(), "on air");
  await row.locator("button").click();
  await page.waitForFunction(() => /Emitter/.test(document.querySelector('[data-testid="details-signal"]')?.textContent || ""), null, { timeout: 5000 });
  const details = await page.locator('[data-testid="details-signal"]').textContent();
  assert.match(details, /Interfering carrier \(configured transmitter\)/);
  assert.match(details, new RegExp(`${carrier.emitter_id} · (first transmission|transmission \\d+)`));
  assert.match(details, /First heard/);
  assert.match(details, /Last heardon air/);
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});

test("phone: at 390x844 the signals table comes before the spectrum and its main columns fit", { timeout: 60000 }, async () => {
  const { page, errors } = await open(main, { width: 390, height: 844 });
  await page.locator('[data-testid="signal-row"]').first().waitFor({ timeout: 20000 });
  await page.locator('[data-testid="spectrum"]').waitFor({ timeout: 20000 });
  const box = await page.evaluate(() => {
    const top = (sel) => document.querySelector(sel).getBoundingClientRect().top;
    const table = document.querySelector('[data-testid="signals-table"]');
    // Signal, frequency, SNR, first seen: columns 1, 2, 4, 8 of every row and of the header
    // (last heard, column 9, is "on air" for every live signal: hidden on a phone).
    const main = [...table.querySelectorAll("tr")].flatMap((tr) => [1, 2, 4, 8].map((i) => tr.children[i - 1]).filter(Boolean));
    const shown = [...table.querySelector("thead tr").children].filter((th) => getComputedStyle(th).display !== "none").map((th) => th.dataset.sort);
    const wrap = table.closest(".table-wrap");
    return {
      signals: top('[data-testid="signals-table"]'),
      spectrum: top('[data-testid="spectrum"]'),
      map: top('[data-testid="map"]'),
      rights: main.filter((c) => !c.colSpan || c.colSpan === 1).map((c) => c.getBoundingClientRect().right),
      shown,
      wrap: { scroll: wrap.scrollWidth, client: wrap.clientWidth, right: wrap.getBoundingClientRect().right },
      doc: document.documentElement.scrollWidth,
    };
  });
  assert.ok(box.signals < box.spectrum && box.signals < box.map, `the signals table is above the spectrum and the map: ${JSON.stringify(box)}`);
  assert.deepEqual(box.shown, ["id", "frequency", "snr", "first"], "the narrow table keeps signal, frequency, SNR and first seen");
  assert.ok(box.rights.length >= 8 && box.rights.every((r) => r <= 390), `main columns end inside 390 px: ${JSON.stringify(box)}`);
  assert.ok(box.wrap.scroll <= box.wrap.client && box.wrap.right <= 390 && box.doc <= 390, `no horizontal cut-off: ${JSON.stringify(box)}`);
  // The filter's controls fit too.
  for (const id of ["signal-filter", "signal-min-snr", "signal-receiver"]) {
    const b = await page.locator(`[data-testid="${id}"]`).boundingBox();
    assert.ok(b.x >= 0 && b.x + b.width <= 390 && b.height >= 28, `${id} fits and is touch-sized: ${JSON.stringify(b)}`);
  }
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});
