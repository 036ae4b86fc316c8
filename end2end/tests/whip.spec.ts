// WHIP and WHEP with clients nobody here wrote: aiortc (PyPI, installed by make setup into
// its own venv), driven by end2end/interop/whip_whep.py, and Eyevinn's WebRTC player (npm, a
// WHEP player for web pages) in Chromium. A WHIP broadcast plays on a watch page like a talk
// page's; a talk page's broadcast plays in both WHEP players (decoded frames).
import { expect, test } from "@playwright/test";
import { baseURL, MEDIA } from "../playwright.config";
import { aiortc, bundleForPage, expectPlaying, expectState, liveBroadcaster, roomName, viewer } from "./helpers";

test.skip(MEDIA !== "sfu", "WHIP and WHEP need the relay");

test("an aiortc WHIP broadcast plays on a watch page, and ends there when it stops", async ({ context }) => {
  const room = roomName("whip");
  const publisher = aiortc(["publish", `${baseURL}/whip/${room}`, "--seconds", "12"]);
  try {
    await expect.poll(() => publisher.lines.find((l) => l.startsWith("created"))).toBeTruthy();
    const watch = await viewer(context, room);
    await expectPlaying(watch);
    // The publisher DELETEs its session after its seconds: the watch page says it ended.
    expect(await publisher.exited).toBe(0);
    expect(publisher.lines).toContain("deleted 200");
    await expectState(watch, "ended");
  } finally {
    publisher.child.kill();
  }
});

test("a talk page's broadcast plays in an aiortc WHEP player", async ({ context }) => {
  const room = roomName("whep");
  const talk = await liveBroadcaster(context, room);
  const player = aiortc(["play", `${baseURL}/whep/${room}`, "--frames", "60", "--timeout", "30"]);
  try {
    // Counted as a viewer while it plays.
    await expect(talk.getByTestId("viewer-count")).toHaveText("1");
    expect(await player.exited).toBe(0);
    expect(player.lines).toContain("frames 60");
    await expect(talk.getByTestId("viewer-count")).toHaveText("0");
  } finally {
    player.child.kill();
  }
});


test("a talk page's broadcast plays in Eyevinn's WHEP player, on a page of its own", async ({ context }) => {
  const room = roomName("eyevinn");
  const talk = await liveBroadcaster(context, room);
  const page = await context.newPage();
  // A page of this origin with nothing of the app in it: the player is all it runs.
  await page.goto("/robots.txt");
  await page.addScriptTag({ content: bundleForPage("@eyevinn/webrtc-player", "WebRTCPlayer") });
  await page.evaluate(async (url) => {
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    video.id = "player";
    document.body.append(video);
    const player = new (window as any).WebRTCPlayer({ video, type: "whep" });
    await player.load(new URL(url));
  }, `${baseURL}/whep/${room}`);
  const video = page.locator("#player");
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  const start = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
  await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime)).toBeGreaterThan(start + 0.5);
  await expect(talk.getByTestId("viewer-count")).toHaveText("1");
  await page.close();
  // The player closed without a DELETE: it is gone once the relay's ICE gives up on it (15 s).
  await expect(talk.getByTestId("viewer-count")).toHaveText("0", { timeout: 40_000 });
});
