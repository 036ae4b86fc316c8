#!/usr/bin/env node
// First-frame benchmark: how long a viewer waits for the picture.
//
// One broadcaster goes live (fake camera); then K viewers open /watch/<room> one after
// another. Each viewer is a new page in a new browser context (a first-time visitor: empty
// HTTP cache; --warm reuses one context so the bundle comes from the cache), measured and
// then closed before the next one opens (--keep leaves them open, so the broadcaster holds
// K connections by the end). Times are performance.now() in the viewer's page, i.e. ms since
// its navigation started; "from WS open" is from the signaling WebSocket's `open` event.
//
// Prints p50/p95/max and the median timeline of a join; --json writes every figure.
// --baseline plain|tuned times the plain-JavaScript reference pages in baseline/ instead.

import { chromium } from "@playwright/test";
import { resolve } from "node:path";
import {
  BASELINE_HELP, BASELINES, MEDIA_HELP, liveBroadcaster, startServerAndPages,
  PROBE,
  CHROMIUM, CONTEXT_OPTIONS, REPO, chromiumArgs, onExit, parseArgs, percentile, round, roomName,
  sleep, summary, table, usage, withTimeout, writeJson, RTT_HELP,
} from "./lib.mjs";

const SPEC = {
  baseUrl: { type: "url", help: "run against this server (default: spawn target/release/onair)" },
  port: { type: "number", default: 3200, help: "port of the spawned server (127.0.0.1)" },
  bin: { type: "path", default: "target/release/onair", help: "server binary to spawn (relative to the repo root)" },
  siteRoot: { type: "path", default: "target/site", help: "--site-root of the spawned server" },
  viewers: { type: "number", default: 20, help: "viewers joining one after another (K)" },
  warm: { type: "bool", default: false, help: "all viewers in one browser context (warm HTTP cache)" },
  keep: { type: "bool", default: false, help: "keep each viewer open instead of closing it after measuring" },
  pause: { type: "number", default: 500, help: "ms between one viewer's measurement and the next join" },
  timeout: { type: "number", default: 30, help: "seconds a viewer may take to show its first frame" },
  json: { type: "path", help: "write the figures as JSON here" },
  quiet: { type: "bool", default: false, help: "no per-viewer lines" },
  baseline: { type: "string", default: "", help: BASELINE_HELP },
  media: { type: "string", default: "sfu", help: MEDIA_HELP },
  rtt: { type: "number", default: 0, help: RTT_HELP },
};

const args = parseArgs(SPEC);
if (args.help) {
  console.log(usage("end2end/bench/first-frame.mjs", "Time to first video frame for viewers joining one by one.", SPEC));
  process.exit(0);
}
if (args.baseline && !BASELINES[args.baseline]) {
  console.error(`first-frame: --baseline ${args.baseline}: expected ${Object.keys(BASELINES).join(" or ")}`);
  process.exit(2);
}

const started = Date.now();
let served;
let browser;
const cleanup = onExit(async () => {
  await browser?.close().catch(() => {});
  await served?.stop();
});

/** The stages of a join in order, as (label, key in the viewer's marks). */
const STAGES = [
  ["HTML received", "docResponseEnd"],
  ["onair.js requested", "jsStart"],
  ["onair.wasm requested", "wasmStart"],
  ["onair.js received", "jsResponseEnd"],
  ["onair.wasm first byte", "wasmResponseStart"],
  ["onair.wasm received", "wasmResponseEnd"],
  ["wasm instantiated", "wasmInstantiated"],
  ["hydrated (body[data-hydrated])", "hydrated"],
  ["WebSocket created", "wsCreate"],
  ["WebSocket open", "wsOpen"],
  ["welcome received", "msg:welcome"],
  ["want_stream sent", "sent:want_stream"],
  ["broadcaster: want_stream in", "bc:want_stream"],
  ["broadcaster: offer out", "bc:offer"],
  ["broadcaster: spare_taken in (its offer went from the server)", "bc:spare_taken"],
  ["offer received", "msg:offer"],
  ["track event (remote offer applied)", "track"],
  ["answer sent", "sent:answer"],
  ["ICE connected", "ice:connected"],
  ["peer connected", "pc:connected"],
  ["first frame presented", "firstFrame"],
  ["video 'playing'", "playing"],
  ["overlay off the picture", "overlay:hidden"],
  ["status data-state=live", "state:live"],
];

async function joinOne(context, url, broadcaster, index) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(err.message));
  try {
    // Waits for the probe's console message rather than polling the page (see probe.js).
    const ready = page.waitForEvent("console", {
      predicate: (msg) => msg.text() === "__bench:ready",
      timeout: args.timeout * 1000,
    });
    await page.goto(url, { waitUntil: "commit", timeout: args.timeout * 1000 });
    await ready;
    await sleep(50);
    const data = await page.evaluate(() => {
      const B = window.__bench;
      const nav = performance.getEntriesByType("navigation")[0];
      const res = performance.getEntriesByType("resource").map((r) => ({
        name: new URL(r.name).pathname,
        start: r.startTime,
        responseStart: r.responseStart,
        responseEnd: r.responseEnd,
        transferSize: r.transferSize,
        encodedBodySize: r.encodedBodySize,
        decodedBodySize: r.decodedBodySize,
      }));
      return {
        timeOrigin: performance.timeOrigin,
        t: B.t,
        meta: B.meta,
        log: B.log,
        nav: nav && { responseStart: nav.responseStart, responseEnd: nav.responseEnd, transferSize: nav.transferSize },
        res,
      };
    });
    const t = { ...data.t };
    t.docResponseEnd = data.nav?.responseEnd;
    const wasm = data.res.find((r) => r.name.endsWith(".wasm"));
    const js = data.res.find((r) => r.name.endsWith("/onair.js"));
    t.wasmStart = wasm?.start;
    t.wasmResponseStart = wasm?.responseStart;
    t.wasmResponseEnd = wasm?.responseEnd;
    t.jsStart = js?.start;
    t.jsResponseEnd = js?.responseEnd;
    t.wasmInstantiated = t["wasm:instantiateStreaming:end"] ?? t["wasm:instantiate:end"];
    // The broadcaster's side of this join, on this page's clock.
    const bcLog = await broadcaster.evaluate(() => window.__bench.log);
    const peer = data.meta.peerId;
    const firstBc = (dir, type) => bcLog.find((e) => e[1] === dir && e[2] === type && e[3] === peer);
    const want = firstBc("in", "want_stream");
    const offer = firstBc("out", "offer");
    if (want) t["bc:want_stream"] = want[0] - data.timeOrigin;
    if (offer) t["bc:offer"] = offer[0] - data.timeOrigin;
    const taken = firstBc("in", "spare_taken");
    if (taken) t["bc:spare_taken"] = taken[0] - data.timeOrigin;
    return {
      index,
      ok: true,
      peerId: peer,
      pageOffer: data.meta.pageOffer,
      t,
      firstFrameFromNav: t.firstFrame,
      firstFrameFromWsOpen: t.firstFrame - t.wsOpen,
      hydrated: t.hydrated,
      wasm: wasm && { transferSize: wasm.transferSize, encodedBodySize: wasm.encodedBodySize, decodedBodySize: wasm.decodedBodySize, fetchMs: wasm.responseEnd - wasm.start },
      js: js && { transferSize: js.transferSize, encodedBodySize: js.encodedBodySize, decodedBodySize: js.decodedBodySize },
      frameSize: data.meta.firstFrame,
      errors,
    };
  } catch (err) {
    const t = await page.evaluate(() => window.__bench?.t).catch(() => undefined);
    return { index, ok: false, error: err.message.split("\n")[0], t, errors };
  } finally {
    if (!args.keep) await page.close().catch(() => {});
  }
}

async function main() {
  served = await startServerAndPages({
    baseline: args.baseline, media: args.media, rtt: args.rtt, baseUrl: args.baseUrl, port: args.port, maxViewers: 1000, bin: args.bin, siteRoot: args.siteRoot,
  });
  const { server, pagesUrl } = served;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: chromiumArgs() });
  const version = browser.version();
  const room = roomName("bench-ff");
  const what = args.baseline ? `plain-JavaScript reference pages (${args.baseline}) at ${pagesUrl}, signaling via ` : "";
  console.log(`first-frame: ${what}${server.url}  room ${room}  chromium ${version}`);
  if (args.rtt) console.log(`pages at ${pagesUrl}: ${args.rtt} ms of round trip to the server added (--rtt)`);
  console.log(
    `${args.viewers} viewers one after another, each in a ${args.warm ? "shared (warm-cache)" : "new (cold-cache)"} ` +
      `browser context, ${args.keep ? "kept open" : "closed after measuring"}`,
  );

  const { talk } = await liveBroadcaster(browser, pagesUrl, room);
  const broadcasterTimes = await talk.evaluate(() => window.__bench.t);

  let shared;
  if (args.warm) {
    shared = await browser.newContext(CONTEXT_OPTIONS);
    await shared.addInitScript({ path: PROBE });
  }
  const rows = [];
  for (let i = 0; i < args.viewers; i++) {
    let context = shared;
    if (!context) {
      context = await browser.newContext(CONTEXT_OPTIONS);
      await context.addInitScript({ path: PROBE });
    }
    const row = await withTimeout(
      joinOne(context, `${pagesUrl}/watch/${room}`, talk, i + 1),
      (args.timeout + 30) * 1000,
      `viewer ${i + 1}`,
    ).catch((err) => ({ index: i + 1, ok: false, error: err.message }));
    if (!shared && !args.keep) await context.close().catch(() => {});
    rows.push(row);
    if (!args.quiet) {
      console.log(
        row.ok
          ? `viewer ${String(i + 1).padStart(3)}: first frame ${round(row.firstFrameFromNav, 0)} ms from navigation, ` +
              `${round(row.firstFrameFromWsOpen, 0)} ms from WS open; hydrated at ${round(row.hydrated, 0)} ms` +
              (row.wasm ? `; wasm ${row.wasm.transferSize} B over the wire in ${round(row.wasm.fetchMs, 0)} ms` : "")
          : `viewer ${String(i + 1).padStart(3)}: FAILED ${row.error}`,
      );
    }
    await sleep(args.pause);
  }

  const ok = rows.filter((r) => r.ok);
  const figures = {
    firstFrameFromNavigationMs: summary(ok.map((r) => r.firstFrameFromNav)),
    firstFrameFromWsOpenMs: summary(ok.map((r) => r.firstFrameFromWsOpen)),
    hydratedMs: summary(ok.map((r) => r.hydrated)),
    wsOpenMs: summary(ok.map((r) => r.t.wsOpen)),
    statusLiveMs: summary(ok.map((r) => r.t["state:live"])),
    // Joins whose welcome confirmed the offer their page came with (`page_offer`).
    pageOfferJoins: ok.filter((r) => r.pageOffer).length,
  };
  // The median timeline, and the median time spent between consecutive stages.
  const timeline = STAGES.map(([label, key]) => {
    const at = ok.map((r) => r.t[key]);
    return { label, key, p50: round(percentile(at, 50)), p95: round(percentile(at, 95)) };
  });
  const steps = [];
  for (let i = 1; i < STAGES.length; i++) {
    const [label, key] = STAGES[i];
    const prev = STAGES[i - 1][1];
    const d = ok.map((r) => (r.t[key] !== undefined && r.t[prev] !== undefined ? r.t[key] - r.t[prev] : undefined));
    steps.push({ from: STAGES[i - 1][0], to: label, p50: round(percentile(d, 50)), p95: round(percentile(d, 95)) });
  }

  console.log(`\n${ok.length}/${rows.length} viewers showed video; ${figures.pageOfferJoins} answered the offer their page came with\n`);
  console.log(
    table([
      ["figure (ms)", "p50", "p95", "max", "min"],
      ...[
        ["first frame from navigation start", figures.firstFrameFromNavigationMs],
        ["first frame from WebSocket open", figures.firstFrameFromWsOpenMs],
        ["hydration (body[data-hydrated])", figures.hydratedMs],
        ["WebSocket open", figures.wsOpenMs],
        ["status live", figures.statusLiveMs],
      ].map(([name, s]) => [name, s.p50, s.p95, s.max, s.min]),
    ]),
  );
  console.log("\nmedian timeline of a join (ms since navigation start; the step is the median of the per-viewer step):\n");
  console.log(
    table([
      ["stage", "at p50", "at p95", "step p50", "step p95"],
      ...timeline.map((s, i) => [s.label, s.p50, s.p95, i ? steps[i - 1].p50 : "", i ? steps[i - 1].p95 : ""]),
    ]),
  );
  const wasm = ok.find((r) => r.wasm)?.wasm;
  if (wasm) {
    console.log(
      `\nonair.wasm as the first viewer fetched it: ${wasm.transferSize} B transferred, ` +
        `${wasm.encodedBodySize} B encoded body, ${wasm.decodedBodySize} B decoded`,
    );
  }
  const durationS = round((Date.now() - started) / 1000);
  console.log(`\nfirst-frame bench took ${durationS} s`);

  writeJson(args.json, {
    bench: "first-frame",
    date: new Date().toISOString(),
    durationS,
    settings: {
      server: server.url,
      spawnedServer: server.spawned,
      viewers: args.viewers,
      cache: args.warm ? "warm (one context)" : "cold (new context per viewer)",
      viewersKept: args.keep,
      baseline: args.baseline ? { name: args.baseline, ...BASELINES[args.baseline] } : undefined,
      rttMs: args.rtt || undefined,
      chromium: version,
    },
    figures,
    timeline,
    steps,
    broadcasterTimes,
    viewers: rows,
  });
  return ok.length === rows.length ? 0 : 1;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`first-frame: ${err.stack ?? err}`);
  code = 1;
} finally {
  await cleanup();
}
process.exit(code);
