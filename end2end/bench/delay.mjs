#!/usr/bin/env node
// Delay benchmark: the watch page's "behind live" figure against the real glass-to-glass delay.
//
// The talk page's camera is replaced by a canvas that paints its own clock into the picture
// (48 black or white blocks: the time in ms and a check), so each frame says when it was
// made. The watch page reads that time back off every frame it presents
// (requestVideoFrameCallback, at the frame's expected display time): the real delay, from
// the picture being made to it being on the viewer's screen. Beside it, at the same moments,
// the figure the page shows (data-testid=delay, data-ms). Both pages run in one browser on
// this machine, so they share a clock and the painted time needs no correction.
//
// --udp-rtt N adds N ms of round trip to the viewer's media path (with the relay): a UDP
// proxy on --port + 3 holds each datagram N/2 ms each way, and the viewer's page is told the
// relay's address is the proxy's. Prints p50/p95 of both and of their difference.

import { chromium } from "@playwright/test";
import dgram from "node:dgram";
import {
  MEDIA_HELP, CHROMIUM, CONTEXT_OPTIONS, chromiumArgs, onExit, parseArgs, percentile, round, roomName,
  sleep, startServerAndPages, summary, table, usage, withTimeout, writeJson,
} from "./lib.mjs";

const SPEC = {
  baseUrl: { type: "url", help: "run against this server (default: spawn target/release/onair)" },
  port: { type: "number", default: 3230, help: "port of the spawned server (127.0.0.1)" },
  bin: { type: "path", default: "target/release/onair", help: "server binary to spawn (relative to the repo root)" },
  siteRoot: { type: "path", default: "target/site", help: "--site-root of the spawned server" },
  media: { type: "string", default: "sfu", help: MEDIA_HELP },
  seconds: { type: "number", default: 20, help: "seconds of playing measured" },
  udpRtt: { type: "number", default: 0, help: "ms of round trip added to the viewer's media path (relay only)" },
  json: { type: "path", help: "write the figures as JSON here" },
};

const args = parseArgs(SPEC);
if (args.help) {
  console.log(usage("end2end/bench/delay.mjs", "The watch page's delay figure against the real glass-to-glass delay.", SPEC));
  process.exit(0);
}
if (args.udpRtt && args.media !== "sfu") {
  console.error("delay: --udp-rtt needs the relay (--media sfu): peer to peer, the media does not pass the server");
  process.exit(2);
}

/** The talk page's camera: a canvas painting its clock (and a moving bar, so it is video). */
const CLOCK_CAMERA = () => {
  const BLOCKS = 48;
  const encode = (ms) => {
    const bits = [];
    let value = BigInt(Math.round(ms));
    for (let i = 0; i < 42; i++) {
      bits.push(Number(value & 1n));
      value >>= 1n;
    }
    const check = Number(BigInt(Math.round(ms)) % 61n);
    for (let i = 0; i < 6; i++) bits.push((check >> i) & 1);
    return bits;
  };
  navigator.mediaDevices.getUserMedia = async (constraints) => {
    const canvas = document.createElement("canvas");
    canvas.width = 640;
    canvas.height = 360;
    const g = canvas.getContext("2d");
    const paint = () => {
      const now = performance.timeOrigin + performance.now();
      g.fillStyle = "#446";
      g.fillRect(0, 0, 640, 360);
      g.fillStyle = "#c84";
      g.fillRect((now / 4) % 640, 250, 40, 110);
      encode(now).forEach((bit, i) => {
        g.fillStyle = bit ? "#fff" : "#000";
        g.fillRect((i % 16) * 40, Math.floor(i / 16) * 40, 40, 40);
      });
      requestAnimationFrame(paint);
    };
    paint();
    const stream = canvas.captureStream(30);
    if (constraints?.audio) {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const out = audio.createMediaStreamDestination();
      tone.connect(out);
      tone.start();
      stream.addTrack(out.stream.getAudioTracks()[0]);
    }
    window.__blocks = BLOCKS;
    return stream;
  };
};

/** The watch page's reader: each presented frame's painted time against its display time. */
const CLOCK_READER = ({ proxyPort, relayPort }) => {
  window.__samples = [];
  if (proxyPort) {
    // The relay's loopback candidate is the proxy's; the others are dropped, so the media
    // takes the proxy.
    const rewrite = (sdp) =>
      sdp
        .split("\r\n")
        .filter((l) => !l.startsWith("a=candidate") || l.includes(` 127.0.0.1 ${relayPort} `))
        .map((l) => (l.startsWith("a=candidate") ? l.replace(` 127.0.0.1 ${relayPort} `, ` 127.0.0.1 ${proxyPort} `) : l))
        .join("\r\n");
    const set = RTCPeerConnection.prototype.setRemoteDescription;
    RTCPeerConnection.prototype.setRemoteDescription = function (desc) {
      return set.call(this, desc && desc.sdp ? { type: desc.type, sdp: rewrite(desc.sdp) } : desc);
    };
    const add = RTCPeerConnection.prototype.addIceCandidate;
    RTCPeerConnection.prototype.addIceCandidate = function (c) {
      if (c && c.candidate && c.candidate.includes(" typ ")) {
        if (!c.candidate.includes(` 127.0.0.1 ${relayPort} `)) return Promise.resolve();
        c = { ...c, candidate: c.candidate.replace(` 127.0.0.1 ${relayPort} `, ` 127.0.0.1 ${proxyPort} `) };
      }
      return add.call(this, c);
    };
  }
  const decode = (pixels, width) => {
    const bit = (i) => {
      const x = (i % 16) * 40 + 20;
      const y = Math.floor(i / 16) * 40 + 20;
      const at = (y * width + x) * 4;
      return pixels[at] + pixels[at + 1] + pixels[at + 2] > 384 ? 1 : 0;
    };
    let value = 0n;
    for (let i = 41; i >= 0; i--) value = (value << 1n) | BigInt(bit(i));
    let check = 0;
    for (let i = 5; i >= 0; i--) check = (check << 1) | bit(42 + i);
    return Number(value % 61n) === check ? Number(value) : undefined;
  };
  const start = () => {
    const video = document.querySelector('[data-testid="remote-video"]');
    if (!video || !video.requestVideoFrameCallback) return setTimeout(start, 100);
    const canvas = new OffscreenCanvas(640, 360);
    const g = canvas.getContext("2d", { willReadFrequently: true });
    const onFrame = (_now, meta) => {
      if (video.videoWidth > 0) {
        g.drawImage(video, 0, 0, 640, 360);
        const painted = decode(g.getImageData(0, 0, 640, 360).data, 640);
        const shown = Number(document.querySelector('[data-testid="delay"]')?.getAttribute("data-ms"));
        if (painted !== undefined) {
          window.__samples.push({
            real: performance.timeOrigin + meta.expectedDisplayTime - painted,
            shown: Number.isFinite(shown) && shown > 0 ? shown : undefined,
          });
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  start();
};

/** A UDP proxy on `port` to `target`, each datagram held `oneWay` ms in each direction. */
async function udpDelay(port, targetPort, oneWay) {
  const front = dgram.createSocket("udp4");
  const behind = new Map(); // client "addr:port" -> its socket towards the relay
  front.on("message", (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let upstream = behind.get(key);
    if (!upstream) {
      upstream = dgram.createSocket("udp4");
      upstream.on("message", (back) => setTimeout(() => front.send(back, from.port, from.address), oneWay));
      upstream.bind(0, "127.0.0.1");
      behind.set(key, upstream);
    }
    setTimeout(() => upstream.send(msg, targetPort, "127.0.0.1"), oneWay);
  });
  await new Promise((ok) => front.bind(port, "127.0.0.1", ok));
  return () => {
    front.close();
    for (const socket of behind.values()) socket.close();
  };
}

let served;
let browser;
let closeProxy;
const cleanup = onExit(async () => {
  await browser?.close().catch(() => {});
  closeProxy?.();
  await served?.stop();
});

try {
  served = await startServerAndPages({ ...args, media: args.media });
  const base = served.pagesUrl;
  const relayPort = Number(new URL(served.server.url).port);
  const proxyPort = args.udpRtt ? args.port + 3 : 0;
  if (proxyPort) closeProxy = await udpDelay(proxyPort, relayPort, args.udpRtt / 2);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs() });
  const room = roomName("delay");

  const talkContext = await browser.newContext(CONTEXT_OPTIONS);
  await talkContext.addInitScript(CLOCK_CAMERA);
  const talk = await talkContext.newPage();
  await talk.goto(`${base}/talk/${room}`);
  await talk.locator("body[data-hydrated]").waitFor({ timeout: 30_000 });
  await talk.getByTestId("go-live").click();
  await talk.getByTestId("live-badge").filter({ hasText: "LIVE" }).waitFor({ timeout: 30_000 });

  const watchContext = await browser.newContext(CONTEXT_OPTIONS);
  await watchContext.addInitScript(CLOCK_READER, { proxyPort, relayPort });
  const watch = await watchContext.newPage();
  await watch.goto(`${base}/watch/${room}`);
  await withTimeout(watch.locator('[data-testid="status"][data-state="live"]').waitFor({ timeout: 30_000 }), 35_000, "playing");
  // The figure settles over its first readings; the picture's rate over the first seconds.
  await withTimeout(watch.locator('[data-testid="delay"][data-ms]').waitFor({ timeout: 30_000 }), 35_000, "the delay figure");
  await sleep(5_000);
  await watch.evaluate(() => (window.__samples = []));
  await sleep(args.seconds * 1000);
  const samples = await watch.evaluate(() => window.__samples);

  const real = samples.map((s) => s.real);
  const shown = samples.map((s) => s.shown).filter((x) => x !== undefined);
  const gap = samples.filter((s) => s.shown !== undefined).map((s) => s.shown - s.real);
  const figures = {
    media: args.media,
    udpRttMs: args.udpRtt,
    frames: samples.length,
    realMs: summary(real),
    shownMs: summary(shown),
    shownMinusRealMs: summary(gap),
    medianGapMs: round(percentile(shown, 50) - percentile(real, 50)),
  };
  const label = `${args.media}${args.udpRtt ? `, +${args.udpRtt} ms round trip` : ", loopback"}`;
  console.log(`delay (${label}): ${samples.length} frames read back`);
  console.log(
    table([
      ["", "p50 ms", "p95 ms", "min", "max"],
      ["real glass-to-glass", figures.realMs.p50, figures.realMs.p95, figures.realMs.min, figures.realMs.max],
      ["shown (data-ms)", figures.shownMs.p50, figures.shownMs.p95, figures.shownMs.min, figures.shownMs.max],
      ["shown − real", figures.shownMinusRealMs.p50, figures.shownMinusRealMs.p95, figures.shownMinusRealMs.min, figures.shownMinusRealMs.max],
    ]),
  );
  if (args.json) writeJson(args.json, figures);
} catch (err) {
  console.error(`delay: ${err.message}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
