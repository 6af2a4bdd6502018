// Headless-Chromium test of the live map's view controls against the real server with its
// default simulated scene: zoom (buttons and wheel), pan by dragging, fit, the minimum marker
// of an uncertainty too small to see, and copying or opening a fix's coordinates.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BIN, CHROMIUM, freePort, launchChromium, openPageAt, startServer, stopServer, waitFor } from "./harness.mjs";

let browser;
let server;
let BASE;
let dir;

before(async () => {
  assert.ok(fs.existsSync(BIN), `sdrhub not found at ${BIN}: run cargo build, or set SDRHUB_BIN`);
  assert.ok(fs.existsSync(CHROMIUM), `Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "sdrhub-map-"));
  const config = path.join(dir, "sdrhub.toml");
  fs.writeFileSync(config, `[history]\nurl = "sqlite://${path.join(dir, "history.sqlite")}"\n`);
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

/** What the map shows now: zoom, scale bar, and every estimate's centre and flags. */
const mapState = (page) =>
  page.evaluate(() => {
    const svg = document.querySelector('[data-testid="map"]');
    if (!svg) return { zoom: NaN, km: NaN, estimates: [], receivers: [] };
    const estimates = [...svg.querySelectorAll('[data-testid="map-estimate"]')].map((g) => ({
      id: g.dataset.id,
      x: Number(g.querySelector("circle.dot").getAttribute("cx")),
      y: Number(g.querySelector("circle.dot").getAttribute("cy")),
      tiny: g.dataset.tiny === "true",
      label: g.querySelector("text.lbl").textContent,
    }));
    const scale = svg.querySelector(".map-scale");
    const receivers = [...svg.querySelectorAll('[data-testid="map-receiver"]')].map((g) => ({
      id: g.dataset.id,
      x: Number(g.querySelector("rect").getAttribute("x")),
      y: Number(g.querySelector("rect").getAttribute("y")),
    }));
    return { zoom: Number(svg.dataset.zoom), km: scale ? Number(scale.dataset.km) : NaN, estimates, receivers };
  });

test("map: zoom, pan and fit; a too-small uncertainty gets a minimum marker; coordinates copied and opened", { timeout: 120000 }, async () => {
  const { page, errors } = await openPageAt(browser, BASE);
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
  const fitted = await waitFor(() => mapState(page), (s) => s.estimates.length > 0 && s.estimates.some((e) => e.tiny), 60000, "a located signal whose uncertainty is too small to see at the fitted scale");
  assert.equal(fitted.zoom, 1);
  const tiny = fitted.estimates.find((e) => e.tiny);
  assert.match(tiny.label, /not to scale/, "its label says the area is not to scale");

  // Zoom in with the button: twice the scale, so the scale bar shows a shorter distance.
  await page.click('[data-testid="map-zoom-in"]');
  const zoomed = await mapState(page);
  assert.equal(zoomed.zoom, 2);
  assert.ok(zoomed.km < fitted.km, `scale bar ${zoomed.km} km after zooming in, ${fitted.km} km before`);

  // The wheel zooms about the pointer: the point under it stays put.
  await page.locator('[data-testid="map"]').scrollIntoViewIfNeeded();
  const box = await page.locator('[data-testid="map"]').boundingBox();
  await page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.3);
  await page.mouse.wheel(0, -400);
  const wheeled = await waitFor(() => mapState(page), (s) => s.zoom > 2, 3000, "the wheel to zoom in");
  assert.ok(wheeled.zoom > 2);

  // Dragging the background pans: every receiver (they do not move) moves by the drag.
  const before = await mapState(page);
  const from = [box.x + 6, box.y + box.height - 40];
  await page.mouse.move(...from);
  await page.mouse.down();
  await page.mouse.move(from[0] + 60, from[1] - 30, { steps: 6 });
  await page.mouse.up();
  const panned = await mapState(page);
  const scale = (await page.evaluate(() => {
    const svg = document.querySelector('[data-testid="map"]');
    return svg.viewBox.baseVal.width / svg.getBoundingClientRect().width;
  }));
  assert.ok(before.receivers.length > 0);
  for (const e of before.receivers) {
    const after = panned.receivers.find((p) => p.id === e.id);
    assert.ok(Math.abs(after.x - e.x - 60 * scale) < 2 && Math.abs(after.y - e.y + 30 * scale) < 2, `${e.id} moved from ${e.x},${e.y} to ${after.x},${after.y}`);
  }
  assert.equal(panned.zoom, wheeled.zoom, "a drag does not zoom");

  // Fit returns to the data; zooming far enough in draws the tiny area to scale.
  await page.click('[data-testid="map-fit"]');
  assert.equal((await mapState(page)).zoom, 1);
  let s = await mapState(page);
  for (let i = 0; i < 14 && s.estimates.find((e) => e.id === tiny.id)?.tiny; i++) {
    await page.click('[data-testid="map-zoom-in"]');
    s = await mapState(page);
  }
  const close = s.estimates.find((e) => e.id === tiny.id);
  if (close) assert.equal(close.tiny, false, `${tiny.id} is drawn to scale at zoom ${s.zoom}`);

  // The fix's coordinates: copied to the clipboard and linked to OpenStreetMap.
  await page.click('[data-testid="map-fit"]');
  // Markers move as fixes arrive: the click goes to the element, not to where it was.
  await page.locator(`[data-testid="map-estimate"][data-id="${tiny.id}"]`).dispatchEvent("click");
  const details = page.locator('[data-testid="details-localization"]');
  await details.waitFor({ timeout: 5000 });
  const href = await details.locator('[data-testid="osm-link"]').getAttribute("href");
  const m = /mlat=(-?[\d.]+)&mlon=(-?[\d.]+)/.exec(href);
  assert.ok(m, href);
  const shown = await details.evaluate((dl) => {
    const dt = [...dl.querySelectorAll("dt")].find((d) => d.textContent === "Position");
    return dt.nextElementSibling.textContent;
  });
  const pos = /(-?\d+\.\d+), (-?\d+\.\d+)/.exec(shown);
  assert.ok(pos, shown);
  assert.ok(Math.abs(Number(m[1]) - Number(pos[1])) < 1e-5 && Math.abs(Number(m[2]) - Number(pos[2])) < 1e-5, `${href} vs ${shown}`);
  await details.locator('[data-testid="copy-position"]').click();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, `${m[1]}, ${m[2]}`);
  assert.deepEqual(errors, []);
  await page.close();
});
