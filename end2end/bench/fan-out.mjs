#!/usr/bin/env node
// Fan-out benchmark: how many viewers one broadcaster's browser can feed (P2P, one
// RTCPeerConnection and one video encode per viewer).
//
// The broadcaster runs in a Chromium process of its own (launchServer + connect) so its CPU
// time can be read from /proc (utime+stime over its whole process tree); the viewers share a
// second Chromium. Viewers are added one at a time; after each addition the bench waits
// --settle seconds, then measures over --window seconds, in every viewer page at once:
// presented frames per second (totalVideoFrames minus droppedVideoFrames, from
// getVideoPlaybackQuality; no per-frame callback, which would make every page render per frame),
// the longest gap between frames, decoded fps and framesDropped (inbound-rtp);
// and on the broadcaster: CPU % of one core, and upload per viewer from outbound-rtp
// bytesSent+headerBytesSent deltas of every RTCPeerConnection (collected by hooking
// window.RTCPeerConnection in an init script). It stops once any viewer presents fewer than
// --min-fps frames per second (or at --max viewers) and reports how many viewers were held at
// >= --min-fps.
//
// Everything runs on this one machine: the viewers' decoding and the server share the CPU
// with the broadcaster, so the table also shows the viewers' browser and the whole machine.
//
// --baseline plain|tuned measures the plain-JavaScript reference pages in baseline/ instead of
// the app's, served from here on --port + 1 and signaling through the same server.

import { chromium } from "@playwright/test";
import { cpus } from "node:os";
import { resolve } from "node:path";
import {
  BASELINE_HELP, BASELINES, MEDIA_HELP, liveBroadcaster, startServerAndPages,
  PROBE,
  CHROMIUM, CLK_TCK, CONTEXT_OPTIONS, REPO, chromiumArgs, machineTicks, onExit, parseArgs, percentile,
  round, roomName, sleep, table, treeTicks, usage, withTimeout, writeJson,
} from "./lib.mjs";

const SPEC = {
  baseUrl: { type: "url", help: "run against this server (default: spawn target/release/onair)" },
  port: { type: "number", default: 3201, help: "port of the spawned server (127.0.0.1)" },
  bin: { type: "path", default: "target/release/onair", help: "server binary to spawn (relative to the repo root)" },
  siteRoot: { type: "path", default: "target/site", help: "--site-root of the spawned server" },
  max: { type: "number", default: 30, help: "most viewers to add" },
  minFps: { type: "number", default: 15, help: "stop once a viewer presents fewer frames per second" },
  fps: { type: "number", default: 30, help: "frame rate of the fake camera (640x480)" },
  settle: { type: "number", default: 3, help: "seconds to wait after each new viewer" },
  window: { type: "number", default: 5, help: "seconds of each measurement" },
  timeout: { type: "number", default: 30, help: "seconds a new viewer may take to start playing" },
  windowPerViewer: {
    type: "bool",
    default: false,
    help: "each viewer in a browser context (window) of its own; by default all viewers are tabs of one window, and the browser draws only the front tab",
  },
  baseline: { type: "string", default: "", help: BASELINE_HELP },
  media: { type: "string", default: "sfu", help: MEDIA_HELP },
  json: { type: "path", help: "write the figures as JSON here" },
};

const args = parseArgs(SPEC);
if (args.help) {
  console.log(usage("end2end/bench/fan-out.mjs", "Viewers one broadcaster can feed at >= --min-fps.", SPEC));
  process.exit(0);
}

const started = Date.now();
let served;
let bcServer;
let vServer;
const browsers = [];
const cleanup = onExit(async () => {
  for (const b of browsers) await b.close().catch(() => {});
  await bcServer?.close().catch(() => {});
  await vServer?.close().catch(() => {});
  await served?.stop();
});

const median = (v) => percentile(v, 50);

if (args.baseline && !BASELINES[args.baseline]) {
  console.error(`fan-out: --baseline ${args.baseline}: expected ${Object.keys(BASELINES).join(" or ")}`);
  process.exit(2);
}

async function addViewer(context, url) {
  const page = await context.newPage();
  page.on("pageerror", (err) => console.log(`[viewer pageerror] ${err.message}`));
  await page.goto(url, { waitUntil: "commit", timeout: args.timeout * 1000 });
  await page.waitForFunction(
    () => window.__bench?.t.firstFrame !== undefined && window.__bench?.t["state:live"] !== undefined,
    undefined,
    { timeout: args.timeout * 1000, polling: 100 },
  );
  return page;
}

async function measure(talk, viewers, bcPid, vPid, serverPid) {
  const ms = args.window * 1000;
  const c0 = treeTicks(bcPid);
  const v0 = treeTicks(vPid);
  const s0 = serverPid ? treeTicks(serverPid) : undefined;
  const m0 = machineTicks();
  const w0 = performance.now();
  const o0 = await talk.evaluate(() => window.__bench.outbound());
  const [perViewer, o1] = await Promise.all([
    Promise.all(viewers.map((p) => p.evaluate((ms) => window.__bench.measure(ms), ms))),
    sleep(ms).then(() => talk.evaluate(() => window.__bench.outbound())),
  ]);
  const c1 = treeTicks(bcPid);
  const v1 = treeTicks(vPid);
  const s1 = serverPid ? treeTicks(serverPid) : undefined;
  const m1 = machineTicks();
  const wall = (performance.now() - w0) / 1000;
  const dtStats = (o1.at - o0.at) / 1000;

  const pct = (a, b) => ((b.ticks - a.ticks) / CLK_TCK / wall) * 100;
  const perPc = o1.video.map((v) => {
    const before = o0.video.find((x) => x.id === v.id);
    return {
      kbps: before ? ((v.bytes - before.bytes) * 8) / dtStats / 1000 : undefined,
      encodedFps: before ? (v.framesEncoded - before.framesEncoded) / dtStats : undefined,
      encodeMsPerFrame:
        before && v.framesEncoded > before.framesEncoded
          ? ((v.totalEncodeTime - before.totalEncodeTime) * 1000) / (v.framesEncoded - before.framesEncoded)
          : undefined,
      width: v.width,
      height: v.height,
      limitation: v.limitation,
      encoder: v.encoder,
    };
  });
  const totalKbps = (((o1.videoBytes + o1.audioBytes) - (o0.videoBytes + o0.audioBytes)) * 8) / dtStats / 1000;
  const fps = perViewer.map((v) => v.presentedFps);
  const limitations = {};
  for (const p of perPc) limitations[p.limitation ?? "?"] = (limitations[p.limitation ?? "?"] ?? 0) + 1;
  return {
    viewers: viewers.length,
    windowS: round(wall, 2),
    fpsMin: round(Math.min(...fps)),
    fpsMedian: round(median(fps)),
    fpsMax: round(Math.max(...fps)),
    totalVideoFpsMedian: round(median(perViewer.map((v) => v.totalFps))),
    decodedFpsMin: round(Math.min(...perViewer.map((v) => v.decodedFps))),
    droppedFrames: perViewer.reduce((a, v) => a + (v.dropped ?? 0), 0),
    framesDroppedRtp: perViewer.reduce((a, v) => a + (v.framesDroppedRtp ?? 0), 0),
    freezes: perViewer.reduce((a, v) => a + (v.freezes ?? 0), 0),
    gapMaxMs: round(Math.max(...perViewer.map((v) => v.gapMaxMs)), 0),
    viewerResolutionMin: perViewer.map((v) => `${v.width}x${v.height}`).sort((a, b) => parseInt(a) - parseInt(b))[0],
    broadcasterCpuPct: round(pct(c0, c1)),
    broadcasterProcesses: c1.processes,
    viewersCpuPct: round(pct(v0, v1)),
    serverCpuPct: s0 ? round(pct(s0, s1)) : undefined,
    machineBusyPct: round(((m1.busy - m0.busy) / (m1.total - m0.total)) * 100),
    machineStealPct: round(((m1.steal - m0.steal) / (m1.total - m0.total)) * 100),
    // Everything else on the machine (builds, the load tool, ...), in % of one core.
    otherCpuPct: round(
      ((m1.busy - m0.busy) / (m1.total - m0.total)) * 100 * cpus().length -
        pct(c0, c1) - pct(v0, v1) - (s0 ? pct(s0, s1) : 0),
    ),
    uploadTotalKbps: round(totalKbps, 0),
    uploadPerViewerKbps: round(totalKbps / Math.max(1, o1.pcs), 0),
    videoKbpsMin: round(Math.min(...perPc.map((p) => p.kbps ?? Infinity)), 0),
    videoKbpsMedian: round(median(perPc.map((p) => p.kbps)), 0),
    encodedFpsMin: round(Math.min(...perPc.map((p) => p.encodedFps ?? Infinity))),
    encodedFpsMedian: round(median(perPc.map((p) => p.encodedFps))),
    encodeMsPerFrameMedian: round(median(perPc.map((p) => p.encodeMsPerFrame)), 2),
    sentResolutionMin: perPc.map((p) => `${p.width}x${p.height}`).sort((a, b) => parseInt(a) - parseInt(b))[0],
    qualityLimitation: limitations,
    encoder: perPc[0]?.encoder,
    decoder: perViewer[0]?.decoder,
    peerConnections: o1.pcs,
    perViewer: perViewer.map((v) => ({ ...v, presentedFps: round(v.presentedFps), totalFps: round(v.totalFps), decodedFps: round(v.decodedFps) })),
    perPc,
  };
}

async function main() {
  // The pages under test: the app's, or with --baseline the plain-JavaScript reference pages.
  served = await startServerAndPages({
    baseline: args.baseline, media: args.media, baseUrl: args.baseUrl, port: args.port, maxViewers: 1000, bin: args.bin, siteRoot: args.siteRoot,
  });
  const { server, pagesUrl } = served;
  const launch = (fakeDevice) =>
    chromium.launchServer({ executablePath: CHROMIUM, headless: true, args: chromiumArgs({ fakeDevice }) });
  // The broadcaster's browser: its own process tree, the fake camera at --fps.
  bcServer = await launch(`fps=${args.fps}`);
  vServer = await launch("");
  const bcPid = bcServer.process().pid;
  const vPid = vServer.process().pid;
  const bcBrowser = await chromium.connect(bcServer.wsEndpoint());
  const vBrowser = await chromium.connect(vServer.wsEndpoint());
  browsers.push(bcBrowser, vBrowser);
  const version = bcBrowser.version();
  const room = roomName("bench-fan");
  const what = args.baseline ? `plain-JavaScript reference pages (${args.baseline}) at ${pagesUrl}, signaling via ` : "";
  console.log(`fan-out: ${what}${server.url}  room ${room}  chromium ${version}  ${cpus().length} CPUs`);

  const { talk } = await liveBroadcaster(bcBrowser, pagesUrl, room);
  const camera = await talk.evaluate(() => {
    for (const v of document.querySelectorAll("video")) {
      const track = v.srcObject?.getVideoTracks?.()[0];
      if (track) return track.getSettings();
    }
    return undefined;
  });
  console.log(
    `broadcaster live; camera ${camera ? `${camera.width}x${camera.height} @ ${camera.frameRate} fps` : "?"}; ` +
      `settle ${args.settle} s, window ${args.window} s, stop below ${args.minFps} fps or at ${args.max} viewers\n`,
  );
  // Idle cost of the live broadcaster (camera + preview, no viewer yet).
  const idle0 = treeTicks(bcPid);
  await sleep(3000);
  const idleCpuPct = round(((treeTicks(bcPid).ticks - idle0.ticks) / CLK_TCK / 3) * 100);

  // By default the viewers are tabs of one window: each decodes and presents its frames, but
  // only the front one is drawn. --window-per-viewer draws every picture (see BENCHMARKS.md).
  const newViewerContext = async () => {
    const context = await vBrowser.newContext(CONTEXT_OPTIONS);
    await context.addInitScript({ path: PROBE });
    return context;
  };
  const vContext = await newViewerContext();
  const viewers = [];
  const steps = [];
  let stopReason = `reached --max ${args.max}`;
  const header = [
    "viewers", "fps min", "fps med", "dec min", "dropped", "bc CPU%", "viewers CPU%", "server%", "other%",
    `machine% of ${cpus().length}`, "kbps/viewer", "enc fps min", "sent res", "limited by",
  ];
  const line = (s) => [
    s.viewers, s.fpsMin, s.fpsMedian, s.decodedFpsMin, s.droppedFrames + s.framesDroppedRtp, s.broadcasterCpuPct,
    s.viewersCpuPct, s.serverCpuPct ?? "", s.otherCpuPct, s.machineBusyPct, s.uploadPerViewerKbps, s.encodedFpsMin,
    s.sentResolutionMin,
    Object.entries(s.qualityLimitation).map(([k, n]) => `${k}:${n}`).join(" "),
  ];
  const widths = header.map((h) => Math.max(h.length, 8));
  const fixed = (cells) => cells.map((c, i) => (i === cells.length - 1 ? ` ${c}` : String(c ?? "").padStart(widths[i]))).join("  ");
  console.log(fixed(header));
  for (let n = 1; n <= args.max; n++) {
    try {
      const context = args.windowPerViewer && n > 1 ? await newViewerContext() : vContext;
      viewers.push(await withTimeout(addViewer(context, `${pagesUrl}/watch/${room}`), (args.timeout + 15) * 1000, `viewer ${n}`));
    } catch (err) {
      stopReason = `viewer ${n} did not start playing: ${err.message.split("\n")[0]}`;
      break;
    }
    await sleep(args.settle * 1000);
    let step;
    try {
      step = await withTimeout(measure(talk, viewers, bcPid, vPid, server.pid), (args.window + 30) * 1000, `measuring ${n}`);
    } catch (err) {
      stopReason = `measuring with ${n} viewers failed: ${err.message.split("\n")[0]}`;
      break;
    }
    steps.push(step);
    console.log(fixed(line(step)));
    if (step.fpsMin < args.minFps) {
      stopReason = `a viewer presented ${step.fpsMin} fps < ${args.minFps} with ${n} viewers`;
      break;
    }
  }

  let held = 0;
  for (const s of steps) {
    if (s.fpsMin >= args.minFps) held = s.viewers;
    else break;
  }
  const atHeld = steps.find((s) => s.viewers === held);
  console.log(`\n${table([header, ...steps.map(line)])}`);
  console.log(`\nstopped: ${stopReason}`);
  console.log(`broadcaster idle (live, no viewer): ${idleCpuPct}% of one core`);
  console.log(
    `viewers held at >= ${args.minFps} fps: ${held}` +
      (atHeld
        ? ` (broadcaster CPU ${atHeld.broadcasterCpuPct}% of one core, upload ${atHeld.uploadPerViewerKbps} kbit/s per viewer, ` +
          `${atHeld.uploadTotalKbps} kbit/s in total, sent at ${atHeld.sentResolutionMin} and up, machine ${atHeld.machineBusyPct}% busy)`
        : ""),
  );
  const durationS = round((Date.now() - started) / 1000);
  console.log(`fan-out bench took ${durationS} s`);
  writeJson(args.json, {
    bench: "fan-out",
    date: new Date().toISOString(),
    durationS,
    settings: {
      server: server.url,
      spawnedServer: server.spawned,
      chromium: version,
      cpus: cpus().length,
      camera,
      minFps: args.minFps,
      max: args.max,
      settleS: args.settle,
      windowS: args.window,
      windowPerViewer: args.windowPerViewer,
      baseline: args.baseline ? { name: args.baseline, ...BASELINES[args.baseline] } : undefined,
    },
    heldViewers: held,
    atHeld: atHeld && { ...atHeld, perViewer: undefined, perPc: undefined },
    idleBroadcasterCpuPct: idleCpuPct,
    stopReason,
    steps,
  });
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`fan-out: ${err.stack ?? err}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
