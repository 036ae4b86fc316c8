import { defineConfig } from "@playwright/test";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

// The server under test: the binary `cargo leptos build` made, on its own loopback port so a
// running dev server does not get in the way. ONAIR_E2E_BIN picks another build.
const port = Number(process.env.ONAIR_E2E_PORT ?? 3100);
const root = resolve(__dirname, "..");
const bin = process.env.ONAIR_E2E_BIN ?? resolve(root, "target/debug/onair");
const siteRoot = process.env.ONAIR_E2E_SITE_ROOT ?? resolve(root, "target/site-dev");

// Debian's Chromium where it exists (no browser download on this kind of machine).
export const chromium =
  process.env.ONAIR_CHROMIUM ?? (existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined);

// The same flags as the benchmarks and screenshots (chromium.json).
export const chromiumFlags: string[] = JSON.parse(readFileSync(resolve(__dirname, "chromium.json"), "utf8")).args;

export const baseURL = `http://127.0.0.1:${port}`;
/** How the test server carries media: `sfu` (the default, the server relays) or `p2p`. */
export const MEDIA = process.env.ONAIR_E2E_MEDIA === "p2p" ? "p2p" : "sfu";
/** For tests that run a server of their own. */
export const serverBin = bin;
export const serverSiteRoot = siteRoot;
/** The viewer cap the test server runs with (the cap test fills a room past it). */
export const MAX_VIEWERS = 3;
/** A private room of the test server, and its key. */
export const PRIVATE_ROOM = "e2e-private";
export const PRIVATE_KEY = "k3y-e2e";

export default defineConfig({
  testDir: "./tests",
  testMatch: "**/*.spec.ts",
  // WebRTC pages are heavy on 2 cores: one test at a time.
  workers: 1,
  fullyParallel: false,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  retries: 0,
  reporter: process.env.CI ? [["list"]] : [["list"], ["html", { open: "never" }]],
  use: {
    baseURL,
    headless: true,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: chromium,
      args: chromiumFlags,
    },
    permissions: ["camera", "microphone"],
  },
  webServer: {
    command:
      `"${bin}" --addr 127.0.0.1:${port} --media ${MEDIA} --max-viewers ${MAX_VIEWERS} --site-root "${siteRoot}"` +
      ` --room-key ${PRIVATE_ROOM}=${PRIVATE_KEY} --private-room ${PRIVATE_ROOM}`,
    url: `${baseURL}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "pipe",
    stderr: "pipe",
  },
});
