// The alerts bar: the default scene with one `level` rule on its always-on carrier
// (145.1125 MHz, about -52 dBFS, so a -70 dBFS threshold holds at once). The alert appears under
// the header with its severity, rule, message and receivers, links to its signal, and is
// acknowledged from the page (auth off: anyone may).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, CHROMIUM, freePort, launchChromium, openPageAt, startServer, stopServer } from "./harness.mjs";

let browser;
let server;
let dir;

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdrhub-alerts-"));
  const config = path.join(dir, "alerts.toml");
  fs.writeFileSync(
    config,
    `# A fresh history: alerts of an earlier run would be restored (they persist).
[history]
url = "sqlite://${dir}/history.sqlite"

[[alerts.rules]]
name = "strong-carrier"
kind = "level"
severity = "critical"
freq_min_hz = 145.10e6
freq_max_hz = 145.12e6
power_dbfs = -70.0
for_s = 1
`,
  );
  server = await startServer(await freePort(), ["--config", config]);
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

test("alerts bar: a raised alert shows its severity, rule and receivers, links to its signal, and is acknowledged from the page", { timeout: 60000 }, async () => {
  const { page, errors } = await openPageAt(browser, `http://127.0.0.1:${server.port}/`);
  const alert = page.locator('[data-testid="alert"]', { hasText: "strong-carrier" });
  await alert.first().waitFor({ timeout: 20000 });
  assert.equal(await alert.count(), 1, "one alert for the carrier, however many receivers hear it");
  assert.match(await alert.getAttribute("class"), /sev-critical/);
  const text = await alert.textContent();
  assert.match(text, /critical/);
  assert.match(text, /Sim North/, `receivers listed: ${text}`);
  assert.match(text, /raised \d+ s ago/, text);
  // Its signal, in the details.
  await alert.locator("button.alert-show").click();
  await page.waitForFunction(() => /Interfering carrier/.test(document.querySelector('[data-testid="details-signal"]')?.textContent || ""), null, { timeout: 5000 });
  // Acknowledged: it stays (the condition still holds), marked, without the button.
  await alert.locator('[data-testid="alert-ack"]').click();
  await page.waitForFunction(() => /acknowledged/.test(document.querySelector('[data-testid="alert"]')?.textContent || ""), null, { timeout: 5000 });
  assert.equal(await alert.locator('[data-testid="alert-ack"]').count(), 0);
  assert.match(await page.locator('[data-testid="alerts-bar"] h2').textContent(), /Alerts \(1, 1 acknowledged\)/);
  // The server agrees.
  const listed = await page.evaluate(async () => (await fetch("/api/v1/alerts")).json());
  assert.equal(listed.active.length, 1);
  assert.equal(listed.active[0].acked, true);
  assert.deepEqual(errors, [], "no page errors");
  await page.close();
});
