// Simulcast through the relay: the talk page sends its camera in three sizes, and the relay
// forwards each viewer the best one its link and its player's size call for.
import { expect, test, type Browser, type Page } from "@playwright/test";
import { baseURL, MEDIA } from "../playwright.config";
import {
  bundleForPage,
  expectPlaying,
  heightOf,
  layerOf,
  liveBroadcaster,
  playerSize,
  roomName,
  tenFramesASecond,
} from "./helpers";
import { frameGaps, startShaper, throughShaper, type Shaper } from "./shaper";

test.skip(MEDIA !== "sfu", "the relay chooses the layers; peer to peer there is one stream");

// The fake camera at 10 frames a second (20 by default): one talk page encoding three sizes
// and two watch pages decoding 720p filled both cores here, and a browser starved of CPU
// reads as a congested link to the relay's estimator. These tests limit links, not the CPU.
test.use({ launchOptions: tenFramesASecond });

const relayPort = Number(new URL(baseURL).port);
const SHAPER_PORT = 3250;

/** A watch page in a window of its own, its player `width`x`height`, through `shaper` if given. */
async function watcher(browser: Browser, room: string, width: number, height: number, shaper?: Shaper): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
  await context.addInitScript(playerSize, { width, height });
  await context.addInitScript(frameGaps);
  if (shaper) await context.addInitScript(throughShaper, { relayPort, shaperPort: shaper.port });
  const page = await context.newPage();
  page.on("pageerror", (err) => console.log(`[pageerror watch] ${err.message}`));
  await page.goto(`/watch/${room}`);
  await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  return page;
}

const playedTo = (page: Page) => page.getByTestId("remote-video").evaluate((v: HTMLVideoElement) => v.currentTime);

/** A 1280x720 and a 160x90 player of `room`, both playing: the small one on the lowest layer,
 * the big one on the best. As sent those are 720p and 180p, but a starved broadcaster's
 * browser scales every layer down (Chromium's CPU adaptation): a 135p low layer would not
 * cover a 320x180 player, and the relay would rightly pick the middle one. So the small
 * player is 160x90, the big one asks for no less than 360p, and the heights are printed. */
async function bigAndSmallPlayers(browser: Browser, room: string): Promise<{ big: Page; small: Page }> {
  const big = await watcher(browser, room, 1280, 720);
  const small = await watcher(browser, room, 160, 90);
  await expectPlaying(big);
  await expectPlaying(small);
  await expect.poll(() => layerOf(small), { timeout: 20_000 }).toBe("low");
  await expect.poll(() => heightOf(small)).toBeGreaterThan(0);
  await expect.poll(() => heightOf(small)).toBeLessThanOrEqual(180);
  await expect.poll(() => layerOf(big), { timeout: 40_000 }).toBe("high");
  await expect.poll(() => heightOf(big)).toBeGreaterThanOrEqual(360);
  console.log(`[simulcast] the layers arrive at ${await heightOf(big)}p and ${await heightOf(small)}p`);
  return { big, small };
}

test("a small player gets the low layer on an open link, a big one the high, and the talk page shows who gets which", async ({
  context,
  browser,
}) => {
  const room = roomName("simulcast");
  const talk = await liveBroadcaster(context, room);
  const { big, small } = await bigAndSmallPlayers(browser, room);
  // The watch page offers the choice; the talk page sees one viewer on each of two layers,
  // and nobody on the middle one, which it pauses.
  await expect(big.getByTestId("quality-choice")).toBeVisible();
  const layer = (rid: string) => talk.locator(`[data-testid="layer"][data-rid="${rid}"]`);
  await expect(layer("h")).toHaveAttribute("data-viewers", "1");
  await expect(layer("l")).toHaveAttribute("data-viewers", "1");
  await expect(layer("m")).toHaveAttribute("data-active", "false");
  await expect(layer("h")).toContainText(/\b(720|540|360)p\b/);
  await expectPlaying(big);
  await expectPlaying(small);
});

test("a viewer pins a quality by hand, and goes back to automatic", async ({ context, browser }) => {
  const room = roomName("pinned");
  await liveBroadcaster(context, room);
  const watch = await watcher(browser, room, 1280, 720);
  await expectPlaying(watch);
  await expect.poll(() => layerOf(watch), { timeout: 40_000 }).toBe("high");
  await watch.getByTestId("quality-choice").selectOption("low");
  await expect.poll(() => layerOf(watch)).toBe("low");
  await expect(watch.getByTestId("quality")).toHaveAttribute("data-pinned", "true");
  // 180p as sent; less where the broadcaster's browser scales its layers down (see above).
  await expect.poll(() => heightOf(watch)).toBeGreaterThan(0);
  await expect.poll(() => heightOf(watch)).toBeLessThanOrEqual(180);
  await expectPlaying(watch);
  await watch.getByTestId("quality-choice").selectOption("auto");
  await expect(watch.getByTestId("quality")).toHaveAttribute("data-pinned", "false");
  await expect.poll(() => layerOf(watch), { timeout: 30_000 }).toBe("high");
});

test.describe("a limited link", () => {
  // The freeze while the viewer steps down sits near this test's 1 s bound on the two-core
  // machines: 267-983 ms here over four runs, 1117 and 1483 ms twice when the suite had just
  // run three nodes. One retry; two failures in a row still fail (see the closing note of
  // issue 22 on stepping down sooner).
  test.describe.configure({ retries: 1 });

  test("a viewer whose link is limited drops to a lower layer and keeps playing, the other stays high, and it climbs back", async ({
    context,
    browser,
  }) => {
    const shaper = await startShaper(SHAPER_PORT, relayPort);
    try {
      const room = roomName("limited");
      await liveBroadcaster(context, room);
      const open = await watcher(browser, room, 1280, 720);
      const limited = await watcher(browser, room, 1280, 720, shaper);
      await expectPlaying(open);
      await expectPlaying(limited);
      await expect.poll(() => layerOf(open), { timeout: 40_000 }).toBe("high");
      await expect.poll(() => layerOf(limited), { timeout: 40_000 }).toBe("high");

      // Well under the top layer (400-900 kbit/s at 10 fps here), above the lowest.
      const KBPS = 300;
      shaper.limit(KBPS);
      await limited.evaluate(() => (window as any).__mark());
      const limitedAt = Date.now();
      await expect.poll(() => layerOf(limited), { timeout: 10_000 }).not.toBe("high");
      console.log(`simulcast: the limited viewer left the top layer after ${Date.now() - limitedAt} ms`);
      // It keeps playing on the lower layer, and the limit is real: what reaches it fits in it.
      const before = { ...shaper.passed(), at: Date.now(), played: await playedTo(limited) };
      await expect.poll(() => playedTo(limited), { timeout: 10_000 }).toBeGreaterThan(before.played + 3);
      const after = shaper.passed();
      const kbps = ((after.bytes - before.bytes) * 8) / (Date.now() - before.at);
      const gap = await limited.evaluate(() => (window as any).__gap.max);
      console.log(`simulcast: limited viewer got ${kbps.toFixed(0)} kbit/s, longest frame gap ${gap.toFixed(0)} ms, ${after.dropped} datagrams dropped`);
      expect(kbps).toBeLessThan(KBPS * 1.1);
      expect(gap).toBeLessThan(1000);
      expect(await layerOf(open)).toBe("high");
      await expectPlaying(open);

      // Back up within 20 s (1-8 s here, with a busy loop on each core too).
      shaper.limit(null);
      const liftedAt = Date.now();
      await expect.poll(() => layerOf(limited), { timeout: 20_000 }).toBe("high");
      console.log(`simulcast: back on the top layer ${Date.now() - liftedAt} ms after the limit was lifted`);
      await expectPlaying(limited);
    } finally {
      shaper.close();
    }
  });
});

/** In a page: the video track a WHIP client adds goes out in three sizes, with rids no plan
 * of ours names (as OBS's own simulcast does), smallest first. */
function simulcastOnAddTrack() {
  const add = RTCPeerConnection.prototype.addTrack;
  RTCPeerConnection.prototype.addTrack = function (track: MediaStreamTrack, ...streams: MediaStream[]) {
    if (track.kind !== "video") return add.call(this, track, ...streams);
    const sendEncodings = [
      { rid: "0", scaleResolutionDownBy: 4, maxBitrate: 200_000 },
      { rid: "1", scaleResolutionDownBy: 2, maxBitrate: 700_000 },
      { rid: "2", maxBitrate: 2_500_000 },
    ];
    return this.addTransceiver(track, { direction: "sendonly", streams, sendEncodings }).sender;
  };
}

test("a WHIP encoder's own simulcast: a small player gets its smallest layer, a big one its biggest", async ({
  context,
  browser,
}) => {
  const room = roomName("whip-simulcast");
  // Eyevinn's WHIP client (npm) publishes; only its video track is sent in three sizes.
  const page = await context.newPage();
  page.on("pageerror", (err) => console.log(`[pageerror whip] ${err.message}`));
  await page.goto("/robots.txt");
  await page.evaluate(simulcastOnAddTrack);
  await page.addScriptTag({ content: bundleForPage("@eyevinn/whip-web-client", "WHIPClient") });
  const offer = await page.evaluate(async (endpoint) => {
    const video = { width: { ideal: 1280 }, height: { ideal: 720 } };
    const stream = await navigator.mediaDevices.getUserMedia({ video, audio: true });
    const client = new (window as any).WHIPClient({ endpoint, opts: { iceServers: [] } });
    await client.ingest(stream);
    const pc: RTCPeerConnection = client.peer;
    await new Promise<void>((connected, failed) => {
      const check = () => {
        if (pc.connectionState === "connected") connected();
        if (pc.connectionState === "failed") failed(new Error("the WHIP client's connection failed"));
      };
      pc.addEventListener("connectionstatechange", check);
      check();
    });
    return pc.localDescription?.sdp ?? "";
  }, new URL(`/whip/${room}`, page.url()).toString());
  expect(offer).toContain("a=simulcast:send 0;1;2");

  const { big, small } = await bigAndSmallPlayers(browser, room);
  await expect(big.getByTestId("quality-choice")).toBeVisible();
  await expectPlaying(small);
});
