// Firefox: Debian's firefox-esr (installed by make setup) driven by puppeteer-core over
// WebDriver BiDi, with Chromium (Playwright) on the other side: Firefox watches a Chromium
// broadcast, and broadcasts to a Chromium viewer, relayed and (ONAIR_E2E_MEDIA=p2p) peer to
// peer. Firefox refuses loopback candidates and hands out the camera only on a secure page,
// so the server runs over HTTPS at this machine's LAN address.
import { expect, test, type BrowserContext } from "@playwright/test";
import { type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import puppeteer, { type Browser as Firefox, type Page as FirefoxPage } from "puppeteer-core";
import {
  expectPlaying,
  lanAddress as lan,
  liveBroadcaster,
  roomName,
  startTlsServer,
  stopServer,
  viewer,
} from "./helpers";

const firefoxBin = process.env.ONAIR_FIREFOX ?? "/usr/bin/firefox-esr";
const port = 3200;
const base = `https://${lan}:${port}`;

let server: ChildProcess | undefined;
let dataDir = "";
let firefox: Firefox | undefined;
let context: BrowserContext | undefined;

test.describe.configure({ mode: "serial" });

test.beforeAll(async ({ browser }) => {
  test.skip(!lan, "this machine has no LAN address");
  test.skip(!existsSync(firefoxBin), `no Firefox at ${firefoxBin} (make setup installs firefox-esr)`);
  dataDir = mkdtempSync(join(tmpdir(), "onair-firefox-"));
  server = await startTlsServer(lan!, port, dataDir);
  firefox = await puppeteer.launch({
    browser: "firefox",
    executablePath: firefoxBin,
    headless: true,
    acceptInsecureCerts: true,
    extraPrefsFirefox: {
      // A fake camera and microphone, handed out without asking.
      "media.navigator.streams.fake": true,
      "media.navigator.permission.disabled": true,
      // Play without a click, as a person who clicked would.
      "media.autoplay.default": 0,
      "media.autoplay.blocking_policy": 0,
    },
  });
  context = await browser.newContext({
    baseURL: base,
    ignoreHTTPSErrors: true,
    permissions: ["camera", "microphone"],
  });
});

test.afterAll(async () => {
  await context?.close();
  await firefox?.close();
  if (server) await stopServer(server);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

/** A Firefox page at `path`, once the app has hydrated it. */
async function firefoxPage(path: string): Promise<FirefoxPage> {
  const page = await firefox!.newPage();
  page.on("pageerror", (err) => console.log(`[firefox pageerror ${path}] ${err}`));
  await page.goto(`${base}${path}`);
  await page.waitForSelector("body[data-hydrated]", { timeout: 30_000 });
  return page;
}

/** The Firefox watch page decodes video and it keeps advancing. */
async function expectFirefoxPlaying(page: FirefoxPage): Promise<void> {
  await page.waitForSelector('[data-testid="status"][data-state="live"]', { timeout: 30_000 });
  await page.waitForFunction(
    () => (document.querySelector('[data-testid="remote-video"]') as HTMLVideoElement | null)?.videoWidth! > 0,
    { timeout: 30_000 },
  );
  const start = await page.$eval('[data-testid="remote-video"]', (v) => (v as HTMLVideoElement).currentTime);
  await page.waitForFunction(
    (from: number) =>
      (document.querySelector('[data-testid="remote-video"]') as HTMLVideoElement).currentTime > from + 0.5,
    { timeout: 30_000 },
    start,
  );
}

test("Firefox watches a Chromium broadcast", async () => {
  const room = roomName("ff-watch");
  const talk = await liveBroadcaster(context!, room);
  const watch = await firefoxPage(`/watch/${room}`);
  try {
    await expectFirefoxPlaying(watch);
    await expect(talk.getByTestId("viewer-count")).toHaveText("1");
  } finally {
    await watch.close();
    await talk.close();
  }
});

test("Firefox broadcasts to a Chromium viewer", async () => {
  const room = roomName("ff-talk");
  const talk = await firefoxPage(`/talk/${room}`);
  try {
    await talk.click('[data-testid="go-live"]');
    await talk.waitForFunction(
      () => document.querySelector('[data-testid="live-badge"]')?.textContent === "LIVE",
      { timeout: 30_000 },
    );
    const watch = await viewer(context!, room);
    await expectPlaying(watch);
    await talk.waitForFunction(
      () => document.querySelector('[data-testid="viewer-count"]')?.textContent === "1",
      { timeout: 30_000 },
    );
    await watch.close();
  } finally {
    await talk.close();
  }
});
