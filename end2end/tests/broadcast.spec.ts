// One-way broadcast end to end: real Chromium pages with the fake camera, a real server. What
// a viewer sees runs against each source (source.ts): a talk page, or a WHIP client.
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { MAX_VIEWERS, MEDIA } from "../playwright.config";
import {
  collectPeerConnections,
  expectNotReloaded,
  expectPlaying,
  expectState,
  liveBroadcaster,
  markPage,
  open,
  recordStates,
  recordedStates,
  roomName,
  viewer,
} from "./helpers";
import { goLive, SOURCE } from "./source";

test.skip(SOURCE === "whip" && MEDIA !== "sfu", "WHIP needs the relay");

test("broadcaster first, then three viewers all receive video", async ({ context }) => {
  const room = roomName("three");
  const broadcast = await goLive(context, room);
  const viewers = [];
  for (let i = 0; i < 3; i++) viewers.push(await viewer(context, room));
  for (const page of viewers) await expectPlaying(page);
  await broadcast.expectViewers(3);
});

test("a viewer starts muted and gets no sound; unmute brings the broadcast's sound", async ({ context }) => {
  const room = roomName("sound");
  await goLive(context, room);
  await context.addInitScript(collectPeerConnections);
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  const video = watch.getByTestId("remote-video");
  const tracks = () =>
    video.evaluate((v: HTMLVideoElement) => {
      const stream = v.srcObject as MediaStream | null;
      return { muted: v.muted, audio: stream?.getAudioTracks().length ?? 0, video: stream?.getVideoTracks().length ?? 0 };
    });
  const audioBytes = () =>
    watch.evaluate(async () => {
      let bytes = 0;
      for (const pc of (window as any).__pcs as RTCPeerConnection[]) {
        (await pc.getStats()).forEach((s: any) => {
          if (s.type === "inbound-rtp" && s.kind === "audio") bytes += s.bytesReceived ?? 0;
        });
      }
      return bytes;
    });
  // Muted, with the picture playing: no audio track on the page and no audio sent to it.
  expect(await tracks()).toEqual({ muted: true, audio: 0, video: 1 });
  expect(await audioBytes()).toBe(0);
  await watch.getByTestId("unmute").click();
  await expect.poll(tracks).toEqual({ muted: false, audio: 1, video: 1 });
  await expect.poll(audioBytes).toBeGreaterThan(0);
  await expect(watch.getByTestId("unmute")).toBeHidden();
  await expectPlaying(watch);
});

test("a live broadcaster keeps an offer ready, so a joining viewer gets it at once", async ({ context }) => {
  test.skip(MEDIA !== "p2p", "spare offers are the peer-to-peer path's");
  const room = roomName("spare");
  // Count the talk page's peer connections from the page itself.
  await context.addInitScript(collectPeerConnections);
  const talk = await liveBroadcaster(context, room);
  const states = () =>
    talk.evaluate(() => ((window as any).__pcs as RTCPeerConnection[]).map((pc) => `${pc.signalingState}/${pc.connectionState}`));
  // Live and nobody watching: one connection with its offer made, connecting to nobody.
  await expect.poll(states).toEqual(["have-local-offer/new"]);
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  // The viewer took that one; the next spare is ready.
  await expect.poll(states).toEqual(["stable/connected", "have-local-offer/new"]);
  // Stopping drops the spare with the rest.
  await talk.getByTestId("stop").click();
  await expect.poll(states).toEqual(["closed/closed", "closed/closed"]);
});

/** A talk page for `room`, live, once its spare offer is with the server (see `spare_offer`). */
async function liveWithParkedOffer(context: BrowserContext, room: string): Promise<Page> {
  const talk = await context.newPage();
  const parked = new Promise<void>((resolve) =>
    talk.on("websocket", (ws) =>
      ws.on("framesent", (frame) => {
        if (String(frame.payload).includes('"type":"spare_offer"')) resolve();
      }),
    ),
  );
  await talk.goto(`/talk/${room}`);
  await expect(talk.locator("body[data-hydrated]")).toHaveCount(1);
  await talk.getByTestId("go-live").click();
  await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
  await parked;
  return talk;
}

/** Every signaling message `page` sends and receives, parsed, from now on. */
function recordSignaling(page: Page): { sent: any[]; received: any[] } {
  const log = { sent: [] as any[], received: [] as any[] };
  page.on("websocket", (ws) => {
    ws.on("framesent", (frame) => log.sent.push(JSON.parse(String(frame.payload))));
    ws.on("framereceived", (frame) => log.received.push(JSON.parse(String(frame.payload))));
  });
  return log;
}

test("a watch page comes with the broadcaster's offer and answers it while its socket opens", async ({ context }) => {
  test.skip(MEDIA !== "p2p", "spare offers are the peer-to-peer path's");
  const room = roomName("inpage");
  await liveWithParkedOffer(context, room);
  const watch = await context.newPage();
  const log = recordSignaling(watch);
  await watch.goto(`/watch/${room}`);
  await expectPlaying(watch);
  // The join claimed the page's offer with its ticket, the welcome confirmed it, and the page
  // answered it; no offer came over the socket.
  expect(log.sent[0]).toMatchObject({ type: "join", role: "viewer", ticket: expect.any(String) });
  expect(log.received.find((m) => m.type === "welcome")).toMatchObject({ page_offer: true });
  expect(log.sent.map((m) => m.type)).toContain("answer");
  expect(log.received.map((m) => m.type)).not.toContain("offer");
  // The engine took the offer off the page before hydrating.
  expect(await watch.getByTestId("remote-video").getAttribute("data-page-offer")).toBeNull();
});

test("a page whose offer went stale before its socket opened gets a fresh one", async ({ context }) => {
  test.skip(MEDIA !== "p2p", "spare offers are the peer-to-peer path's");
  const room = roomName("stale");
  const talk = await liveWithParkedOffer(context, room);
  const watch = await context.newPage();
  const log = recordSignaling(watch);
  // Hold the viewer's wasm until the broadcast has restarted, which voids the page's offer.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  await watch.route("**/onair.wasm", async (route) => {
    await held;
    await route.continue();
  });
  await watch.goto(`/watch/${room}`, { waitUntil: "commit" });
  await expect(watch.getByTestId("remote-video")).toHaveAttribute("data-page-offer", /ticket/);
  await talk.getByTestId("stop").click();
  await expect(talk.getByTestId("live-badge")).toHaveText("OFF AIR");
  await talk.getByTestId("go-live").click();
  await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
  release();
  await expectPlaying(watch);
  expect(log.sent[0]).toMatchObject({ type: "join", ticket: expect.any(String) });
  expect(log.received.find((m) => m.type === "welcome").page_offer).toBeUndefined();
  expect(log.received.map((m) => m.type)).toContain("offer");
});

test("viewer first, then the broadcaster goes live", async ({ context }) => {
  const room = roomName("early");
  const watch = await viewer(context, room);
  await expectState(watch, "waiting");
  await goLive(context, room);
  await expectPlaying(watch);
});

test("stop, then go live again: the viewer follows without reload", async ({ context }) => {
  const room = roomName("again");
  const broadcast = await goLive(context, room);
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  await markPage(watch);

  await broadcast.stop();
  await expectState(watch, "ended");
  if (broadcast.talk) {
    await expect(broadcast.talk.getByTestId("live-badge")).toHaveText("OFF AIR");
    // Stop releases the camera: the preview has no stream any more.
    const preview = broadcast.talk.getByTestId("local-video");
    expect(await preview.evaluate((v: HTMLVideoElement) => v.srcObject)).toBeNull();
  }

  await broadcast.resume();
  await expectPlaying(watch);
  await expectNotReloaded(watch);
});

test("broadcaster tab closed: the viewer is told", async ({ context }) => {
  const room = roomName("closed");
  const broadcast = await goLive(context, room);
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  await broadcast.close();
  // A talk page's socket closes with it; a WHIP client without a DELETE is gone once the
  // relay's ICE gives up on it (15 s).
  await expectState(watch, "ended", SOURCE === "whip" ? 40_000 : undefined);
  await expect(watch.getByTestId("status")).toContainText("ended");
});

test("a viewer leaves: the count drops", async ({ context }) => {
  const room = roomName("leave");
  const broadcast = await goLive(context, room);
  const first = await viewer(context, room);
  const second = await viewer(context, room);
  await expectPlaying(first);
  await expectPlaying(second);
  await broadcast.expectViewers(2);
  await second.close();
  await broadcast.expectViewers(1);
  await expectPlaying(first);
});

test("rooms are isolated: a viewer of another room gets nothing", async ({ context }) => {
  const roomA = roomName("iso-a");
  const roomB = roomName("iso-b");
  const broadcastA = await goLive(context, roomA);
  const watchA = await viewer(context, roomA);
  const watchB = await viewer(context, roomB);
  await expectPlaying(watchA);
  // Room A's broadcast is fully up; room B's viewer is still waiting, with no media.
  await expectState(watchB, "waiting");
  const videoB = watchB.getByTestId("remote-video");
  expect(await videoB.evaluate((v: HTMLVideoElement) => v.srcObject)).toBeNull();
  expect(await videoB.evaluate((v: HTMLVideoElement) => v.videoWidth)).toBe(0);
  await broadcastA.expectViewers(1);
});

test("a second broadcaster in a live room is refused; the first goes on", async ({ context }) => {
  const room = roomName("second");
  const first = await goLive(context, room);
  const watch = await viewer(context, room);
  await expectPlaying(watch);

  const second = await open(context, `/talk/${room}`);
  await second.getByTestId("go-live").click();
  await expect(second.getByTestId("talk-error")).toContainText("already live");
  await expect(second.getByTestId("live-badge")).toHaveText("OFF AIR");

  if (first.talk) await expect(first.talk.getByTestId("live-badge")).toHaveText("LIVE");
  await expectPlaying(watch);
});

test("a room past its viewer cap says full", async ({ context }) => {
  const room = roomName("cap");
  const inside = [];
  for (let i = 0; i < MAX_VIEWERS; i++) {
    const page = await viewer(context, room);
    await expectState(page, "waiting");
    inside.push(page);
  }
  const late = await viewer(context, room);
  await expectState(late, "full");
  await expect(late.getByTestId("status")).toContainText("full");
  // Someone leaves: a new viewer gets in.
  await inside[0].close();
  const next = await viewer(context, room);
  await expectState(next, "waiting");
});

test("switching to screen share keeps viewers playing", async ({ context }) => {
  test.skip(SOURCE !== "talk", "the talk page's screen share");
  const room = roomName("screen");
  const talk = await liveBroadcaster(context, room);
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  await recordStates(watch);
  const before = await watch
    .getByTestId("remote-video")
    .evaluate((v: HTMLVideoElement) => `${v.videoWidth}x${v.videoHeight}`);

  await talk.getByTestId("share-screen").click();
  await expect(talk.getByTestId("share-screen")).toHaveClass(/active/);
  // The viewer now decodes the screen (another size) on the same connection, still live.
  await expect
    .poll(() =>
      watch.getByTestId("remote-video").evaluate((v: HTMLVideoElement) => `${v.videoWidth}x${v.videoHeight}`),
    )
    .not.toBe(before);
  await expectPlaying(watch);
  expect((await recordedStates(watch)).filter((state) => state !== "live")).toEqual([]);
  await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
});

test("the room list shows a live room and drops it, without reload", async ({ context }) => {
  const room = roomName("listed");
  const home = await open(context, "/");
  await markPage(home);
  const entry = home.locator(`[data-testid="room"][data-room="${room}"]`);
  await expect(entry).toHaveCount(0);

  const broadcast = await goLive(context, room);
  await expect(entry).toHaveCount(1);
  await expect(entry.getByTestId("room-viewers")).toHaveText("0");
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  await expect(entry.getByTestId("room-viewers")).toHaveText("1");

  await broadcast.stop();
  await expect(entry).toHaveCount(0);
  await expectNotReloaded(home);
});

test("the room list after in-app navigation comes from the live feed", async ({ context }) => {
  const room = roomName("nav");
  await goLive(context, room);
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  await markPage(watch);
  await watch.getByRole("navigation").getByRole("link", { name: "Live rooms" }).click();
  await expect(watch).toHaveURL(/\/$/);
  const entry = watch.locator(`[data-testid="room"][data-room="${room}"]`);
  await expect(entry).toHaveCount(1);
  await expectNotReloaded(watch);
  // And back to the room in the app: a watch page that did not hydrate from the server starts
  // its own engine.
  await entry.getByRole("link", { name: "Watch" }).click();
  await expect(watch).toHaveURL(new RegExp(`/watch/${room}$`));
  await expectPlaying(watch);
  await expectNotReloaded(watch);
});
