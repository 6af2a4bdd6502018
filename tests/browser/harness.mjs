// What the browser tests share: a free loopback port, the real sdrhub started on it (and
// stopped), Debian's Chromium, and a page that records its uncaught errors. Every connection
// goes to 127.0.0.1.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, "../..");
export const BIN = path.resolve(HERE, process.env.SDRHUB_BIN || "../../target/debug/sdrhub");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** sdrhub reads SDRHUB_* as configuration (SDRHUB_BIN would be an unknown key): the server
 * under test gets none of them, only its flags. */
export const serverEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("SDRHUB_")));

/** A free loopback port (bound, read, released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
    s.on("error", reject);
  });
}

/** Starts sdrhub on 127.0.0.1:`onPort`; resolves once /healthz answers. */
export async function startServer(onPort, extraArgs = []) {
  const proc = spawn(BIN, ["--bind", `127.0.0.1:${onPort}`, "--log-level", "warn", ...extraArgs], {
    stdio: ["ignore", "ignore", "pipe"],
    env: serverEnv(),
  });
  let log = "";
  proc.stderr.on("data", (d) => {
    log = (log + d).slice(-20000);
  });
  const exited = new Promise((resolve) => proc.on("exit", (code, signal) => resolve({ code, signal })));
  const handle = { proc, exited, log: () => log, port: onPort };
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) assert.fail(`sdrhub exited at start (${proc.exitCode}): ${log}`);
    try {
      const r = await fetch(`http://127.0.0.1:${onPort}/healthz`);
      if (r.ok) return handle;
    } catch (_) {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill("SIGKILL");
  assert.fail(`sdrhub did not answer /healthz within 20 s: ${log}`);
}

/** Sends `signal` and waits for the exit; returns {code, signal}. */
export async function stopServer(handle, signal, timeoutMs = 15000) {
  handle.proc.kill(signal);
  const timer = new Promise((_, reject) => setTimeout(() => reject(new Error(`sdrhub did not exit within ${timeoutMs} ms of ${signal}`)), timeoutMs));
  return Promise.race([handle.exited, timer]);
}

/** Headless Debian Chromium, with nothing that would reach beyond the machine; `extraArgs`
 * add to its flags (the listening test relaxes the autoplay policy). */
export function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync", ...extraArgs],
  });
}

/** Opens `url` in a new page that records uncaught errors, so a test can assert there were none. */
export async function openPageAt(browser, url, viewport = { width: 1440, height: 900 }) {
  const page = await browser.newPage({ viewport });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    // Failed connections while the server is down are expected, and logged by Chromium itself.
    if (m.type() === "error" && !/WebSocket connection to .* failed|Failed to load resource|net::ERR_/.test(m.text())) errors.push(m.text());
  });
  await page.goto(url);
  return { page, errors };
}

/** Polls `read()` until `pred` holds; fails naming `what` with the last value. */
export async function waitFor(read, pred, timeout, what, every = 100) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await read();
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  assert.fail(`timed out after ${timeout} ms waiting for ${what}; last: ${JSON.stringify(last)?.slice(0, 2000)}`);
}
