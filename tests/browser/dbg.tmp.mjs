import { freePort, launchChromium, openPageAt, startServer, stopServer } from "./harness.mjs";
const port = await freePort();
const server = await startServer(port, ["--config", "/tmp/sptest/scene.toml"]);
const browser = await launchChromium();
const { page, errors } = await openPageAt(browser, `http://127.0.0.1:${port}/`);
await page.waitForTimeout(3000);
await page.evaluate(() => { window.__lt = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__lt.push(e.duration); }).observe({ type: "longtask", buffered: false }); window.__r0 = window.sdrhub.state().renders; window.__t0 = performance.now(); });
await page.waitForTimeout(10000);
console.log(await page.evaluate(() => ({ long: window.__lt.length, total: window.__lt.reduce((a, b) => a + b, 0), renders: window.sdrhub.state().renders - window.__r0, s: (performance.now() - window.__t0) / 1000 })));
// time one render's pieces
console.log(await page.evaluate(() => { const t = performance.now(); for (let i = 0; i < 10; i++) window.dispatchEvent(new Event("resize")); return performance.now() - t; }));
console.log(errors);
await browser.close();
await stopServer(server, "SIGTERM");
