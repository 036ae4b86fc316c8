import { expect, type BrowserContext, type Page } from "@playwright/test";
import { buildSync } from "esbuild";
import { spawn, type ChildProcess } from "node:child_process";
import { homedir, networkInterfaces } from "node:os";
import { resolve } from "node:path";
import { chromium, chromiumFlags, MEDIA, serverBin, serverSiteRoot } from "../playwright.config";

/** A room name of its own for each test, so tests never see each other's rooms. */
export function roomName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** Open a page and wait until the wasm app has hydrated it. */
export async function open(context: BrowserContext, path: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (err) => console.log(`[pageerror ${path}] ${err.message}`));
  await page.goto(path);
  await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  return page;
}

/** A talk page for `room` that is live with the fake camera. */
export async function liveBroadcaster(context: BrowserContext, room: string): Promise<Page> {
  const talk = await open(context, `/talk/${room}`);
  await talk.getByTestId("go-live").click();
  await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
  return talk;
}

export async function viewer(context: BrowserContext, room: string): Promise<Page> {
  return open(context, `/watch/${room}`);
}

/** The viewer shows decoded video (`videoWidth > 0`) and it keeps advancing. */
export async function expectPlaying(page: Page): Promise<void> {
  const video = page.getByTestId("remote-video");
  await expect(page.getByTestId("status")).toHaveAttribute("data-state", "live");
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  // Nothing covers the picture (the engine hides the overlay before the page hydrates).
  await expect(page.getByTestId("stage-overlay")).toBeHidden();
  const start = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect
    .poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime))
    .toBeGreaterThan(start + 0.2);
}

export async function expectState(page: Page, state: string, timeout?: number): Promise<void> {
  await expect(page.getByTestId("status")).toHaveAttribute("data-state", state, { timeout });
}

/** Record every `data-state` the viewer's status takes from now on. */
export async function recordStates(page: Page): Promise<void> {
  await page.evaluate(() => {
    const status = document.querySelector('[data-testid="status"]')!;
    const seen: string[] = [];
    (window as any).__states = seen;
    new MutationObserver(() => seen.push(status.getAttribute("data-state") ?? "")).observe(status, {
      attributes: true,
      attributeFilter: ["data-state"],
    });
  });
}

export async function recordedStates(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as any).__states as string[]);
}

/** Marks the page so a test can prove it was not reloaded. */
export async function markPage(page: Page): Promise<void> {
  await page.evaluate(() => ((window as any).__onairMark = 42));
}

export async function expectNotReloaded(page: Page): Promise<void> {
  expect(await page.evaluate(() => (window as any).__onairMark)).toBe(42);
}

/** A server of the test's own on `port` (for tests that restart it or configure it), on
 * loopback unless `host` says otherwise (`0.0.0.0`: every interface). */
export async function startServer(port: number, args: string[] = [], host = "127.0.0.1"): Promise<ChildProcess> {
  const flags = ["--addr", `${host}:${port}`, "--media", MEDIA, "--site-root", serverSiteRoot, ...args];
  const server = spawn(serverBin, flags, {
    stdio: "inherit",
  });
  await expect
    .poll(async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/healthz`)).status;
      } catch {
        return 0;
      }
    })
    .toBe(200);
  return server;
}

/** A server of the test's own over HTTPS (`--tls`, its certificate in `dataDir`) at
 * `host:port`; up once plain HTTP on its port is sent to HTTPS. */
export async function startTlsServer(host: string, port: number, dataDir: string): Promise<ChildProcess> {
  const flags = ["--addr", `${host}:${port}`, "--media", MEDIA, "--site-root", serverSiteRoot];
  const server = spawn(serverBin, [...flags, "--tls", "--data-dir", dataDir], { stdio: "inherit" });
  await expect
    .poll(async () => {
      try {
        return (await fetch(`http://${host}:${port}/healthz`, { redirect: "manual" })).status;
      } catch {
        return 0;
      }
    })
    .toBe(308);
  return server;
}

/** This machine's first LAN (non-loopback IPv4) address, if it has one. */
export const lanAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i && i.family === "IPv4" && !i.internal)?.address;

/** An npm package's export as `window[name]`, bundled for a page (`import { name } from pkg`;
 * the players and clients ship as CommonJS). */
export function bundleForPage(pkg: string, name: string): string {
  return buildSync({
    stdin: {
      contents: `import { ${name} } from '${pkg}'; window.${name} = ${name};`,
      resolveDir: resolve(__dirname, ".."),
    },
    bundle: true,
    write: false,
    platform: "browser",
    format: "iife",
    logLevel: "silent",
  }).outputFiles[0].text;
}

export async function stopServer(server: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}

/** Init script: every RTCPeerConnection the page makes, in `window.__pcs`. */
export function collectPeerConnections() {
  const Native = window.RTCPeerConnection;
  const made: RTCPeerConnection[] = ((window as any).__pcs = []);
  window.RTCPeerConnection = class extends Native {
    constructor(...args: ConstructorParameters<typeof Native>) {
      super(...args);
      made.push(this);
    }
  } as typeof Native;
}

const interopPython = resolve(process.env.ONAIR_TOOLS ?? resolve(homedir(), ".cache/onair"), "interop-venv/bin/python");
const interopScript = resolve(__dirname, "../interop/whip_whep.py");

/** Run the aiortc WHIP/WHEP client (end2end/interop/whip_whep.py); its stdout lines as they
 * come, and its exit. */
export function aiortc(args: string[]): { child: ChildProcess; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(interopPython, [interopScript, ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const lines: string[] = [];
  child.stdout!.on("data", (chunk) => lines.push(...String(chunk).split("\n").filter(Boolean)));
  const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
  return { child, lines, exited };
}

/** An init script: the page shows the picture at `width`x`height` CSS pixels. */
export function playerSize({ width, height }: { width: number; height: number }) {
  document.addEventListener("DOMContentLoaded", () => {
    const style = document.createElement("style");
    style.textContent = `[data-testid="remote-video"]{width:${width}px!important;height:${height}px!important;max-width:none!important}`;
    document.head.append(style);
  });
}

/** The simulcast layer a watch page says it gets (`high`, `medium`, `low`), and its height. */
export const layerOf = (page: Page) => page.getByTestId("quality").getAttribute("data-layer");
export const heightOf = (page: Page) => page.getByTestId("quality").getAttribute("data-height").then(Number);

/** Chromium with the fake camera at 10 frames a second (20 by default), for tests whose pages
 * encode or decode several simulcast layers: at 20 they starve the two cores, and a starved
 * browser reads as a congested link to the relay's estimator. */
export const tenFramesASecond = {
  executablePath: chromium,
  args: chromiumFlags.map((flag) => (flag === "--use-fake-device-for-media-stream" ? `${flag}=fps=10` : flag)),
};
