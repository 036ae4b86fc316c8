// Recording (--record): a talk page's broadcast (VP8) is written to a WebM file, and an H.264
// WHIP broadcast (aiortc with libx264, as OBS sends) to an MP4 file, that an independent tool
// reads: ffprobe (Debian's ffmpeg, installed by make setup) finds their video and audio, a
// duration within a second of the broadcast's, and ffmpeg decodes them without an error.
// Recordings cut short by a server shutdown are closed and play too.
import { expect, test, type Browser } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MEDIA } from "../playwright.config";
import { aiortc, expectPlaying, liveBroadcaster, roomName, startServer, stopServer, viewer } from "./helpers";

const port = 3210;

test.skip(MEDIA !== "sfu", "recording needs the relay");

interface Probe {
  duration: number;
  streams: string[];
}

/** What ffprobe says of a file: its duration and its streams (`video:vp8`, `audio:opus`). */
function probe(file: string): Probe {
  const out = execFileSync(
    "ffprobe",
    ["-v", "error", "-show_entries", "format=duration:stream=codec_type,codec_name", "-of", "json", file],
    { encoding: "utf8" },
  );
  const json = JSON.parse(out);
  return {
    duration: Number(json.format.duration),
    streams: json.streams.map((s: any) => `${s.codec_type}:${s.codec_name}`).sort(),
  };
}

/** ffmpeg decodes every frame; what it says on error level (nothing, for a sound file). */
function decodeErrors(file: string): string {
  return execFileSync("ffmpeg", ["-v", "error", "-i", file, "-f", "null", "-"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** The one closed recording of `room` in `dir`, once it is there: named by room and start,
 * with the given extension, and what ffprobe says of it. */
async function closedRecording(dir: string, room: string, extension: "webm" | "mp4") {
  const files = () => readdirSync(dir).filter((f) => f.endsWith(`.${extension}`));
  await expect.poll(files).toHaveLength(1);
  expect(files()[0]).toMatch(new RegExp(`^${room}-\\d{8}T\\d{6}Z\\.${extension}$`));
  const file = join(dir, files()[0]);
  // Closed: a duration, and both streams.
  await expect.poll(() => probe(file).duration).toBeGreaterThan(0);
  return { file, ...probe(file) };
}

async function recordingServer(dir: string) {
  return startServer(port, ["--record", dir]);
}

async function pages(browser: Browser) {
  return browser.newContext({ baseURL: `http://127.0.0.1:${port}`, permissions: ["camera", "microphone"] });
}

test.describe("a whole broadcast", () => {
  // Chromium starts its top layer, the one recorded, when it likes: 0.4-1.8 s in here, and
  // once 3.0 s in a fresh-clone CI run on the two-core machine. One retry; two failures in a
  // row still fail, and the bound is unchanged.
  test.describe.configure({ retries: 1 });

  test("a broadcast is recorded to a WebM file that ffprobe reads and ffmpeg decodes", async ({ browser }) => {
    test.setTimeout(120_000);
    const dir = mkdtempSync(join(tmpdir(), "onair-rec-"));
    const server = await recordingServer(dir);
    const context = await pages(browser);
    try {
      const room = roomName("rec");
      const talk = await liveBroadcaster(context, room);
      const liveAt = Date.now();
      const watch = await viewer(context, room);
      await expectPlaying(watch);
      // Ten seconds of broadcast, as the viewer saw them go by.
      const video = watch.getByTestId("remote-video");
      const from = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
      await expect
        .poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime), { timeout: 30_000 })
        .toBeGreaterThan(from + 10);
      await talk.getByTestId("stop").click();
      const broadcastSeconds = (Date.now() - liveAt) / 1000;
      // Closed once the broadcast ended.
      const { file, duration, streams } = await closedRecording(dir, room, "webm");
      expect(streams).toEqual(["audio:opus", "video:vp8"]);
      // As long as the broadcast ran, from going live to Stop, less what came before the top
      // layer's first key frame (only it is recorded): the media link's set-up after LIVE, then
      // Chromium starting its biggest layer last, 0.4-1.8 s in all here.
      console.log(`recording: ${duration.toFixed(2)} s of a ${broadcastSeconds.toFixed(2)} s broadcast`);
      expect(duration).toBeGreaterThan(broadcastSeconds - 2.5);
      expect(duration).toBeLessThan(broadcastSeconds + 0.5);
      expect(decodeErrors(file)).toBe("");
    } finally {
      // The server stops even if closing the pages fails: one left running holds the port.
      await context.close().finally(() => stopServer(server));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("a recording cut short by a server shutdown is closed and plays", async ({ browser }) => {
  const dir = mkdtempSync(join(tmpdir(), "onair-rec-"));
  const server = await recordingServer(dir);
  const context = await pages(browser);
  try {
    const room = roomName("cut");
    await liveBroadcaster(context, room);
    const watch = await viewer(context, room);
    await expectPlaying(watch);
    const video = watch.getByTestId("remote-video");
    const from = await video.evaluate((v: HTMLVideoElement) => v.currentTime);
    await expect.poll(() => video.evaluate((v: HTMLVideoElement) => v.currentTime)).toBeGreaterThan(from + 3);
    await stopServer(server);
    const { file, duration, streams } = await closedRecording(dir, room, "webm");
    expect(streams).toEqual(["audio:opus", "video:vp8"]);
    expect(duration).toBeGreaterThan(3);
    expect(decodeErrors(file)).toBe("");
  } finally {
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an H.264 WHIP broadcast is recorded to an MP4 file that ffprobe reads and ffmpeg decodes", async () => {
  test.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), "onair-rec-"));
  const server = await recordingServer(dir);
  const room = roomName("mp4");
  const seconds = 10;
  const publisher = aiortc(["publish", `http://127.0.0.1:${port}/whip/${room}`, "--seconds", `${seconds}`, "--codec", "h264"]);
  try {
    // The publisher sends for its seconds, then DELETEs its session: the file is closed.
    expect(await publisher.exited).toBe(0);
    expect(publisher.lines).toContain("deleted 200");
    const { file, duration, streams } = await closedRecording(dir, room, "mp4");
    expect(streams).toEqual(["audio:opus", "video:h264"]);
    expect(Math.abs(duration - seconds)).toBeLessThan(1);
    expect(decodeErrors(file)).toBe("");
  } finally {
    publisher.child.kill();
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an MP4 recording cut short by a server shutdown is closed and plays", async () => {
  const dir = mkdtempSync(join(tmpdir(), "onair-rec-"));
  const server = await recordingServer(dir);
  const room = roomName("mp4cut");
  const publisher = aiortc(["publish", `http://127.0.0.1:${port}/whip/${room}`, "--seconds", "60", "--codec", "h264"]);
  try {
    // Until it is closed, the file is <name>.mp4.part.
    const written = () => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    // A couple of seconds of picture in the file (the test picture is about 60 kB/s).
    await expect.poll(written, { timeout: 30_000 }).toBeGreaterThan(150_000);
    await stopServer(server);
    const { file, duration, streams } = await closedRecording(dir, room, "mp4");
    expect(streams).toEqual(["audio:opus", "video:h264"]);
    expect(duration).toBeGreaterThan(1);
    expect(decodeErrors(file)).toBe("");
  } finally {
    publisher.child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the talk page's Record toggle decides, and its list downloads the recordings", async ({ browser }) => {
  test.setTimeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), "onair-rec-"));
  const server = await recordingServer(dir);
  const context = await pages(browser);
  try {
    const room = roomName("toggle");
    const talk = await liveBroadcaster(context, room);
    const record = talk.getByTestId("record");
    await expect(record).toHaveAttribute("data-state", "on");
    const watch = await viewer(context, room);
    await expectPlaying(watch);
    await talk.getByTestId("stop").click();

    // The broadcast's file, listed for the broadcaster, downloads.
    const links = talk.getByTestId("recording");
    await expect(links).toHaveCount(1);
    const href = await links.first().getAttribute("href");
    const download = await talk.request.get(href!);
    expect(download.status()).toBe(200);
    expect(download.headers()["content-disposition"]).toContain("attachment");
    expect((await download.body()).length).toBeGreaterThan(10_000);

    // Turned off, the next broadcast leaves no file.
    await record.click();
    await expect(record).toHaveAttribute("data-state", "off");
    await talk.getByTestId("go-live").click();
    await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
    await expectPlaying(watch);
    await talk.getByTestId("stop").click();
    await expect(talk.getByTestId("live-badge")).toHaveText("OFF AIR");
    expect(readdirSync(dir).filter((f) => f.endsWith(".webm"))).toHaveLength(1);
    await expect(links).toHaveCount(1);
    // A file of another name is not served.
    expect((await talk.request.get(`/recordings/${room}/..%2F..%2Fetc%2Fpasswd`)).status()).toBe(404);
  } finally {
    // The server stops even if closing the pages fails: one left running holds the port.
    await context.close().finally(() => stopServer(server));
    rmSync(dir, { recursive: true, force: true });
  }
});
