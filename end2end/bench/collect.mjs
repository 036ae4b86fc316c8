#!/usr/bin/env node
// Collects the JSON of one scripts/bench run into bench/results/latest.json and writes the
// "Latest results" section of BENCHMARKS.md (between its results markers; the rest of the file
// is left as it is).

import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { cpus, release } from "node:os";
import { resolve } from "node:path";
import { CHROMIUM, REPO, parseArgs, round, writeJson } from "./lib.mjs";
import { writeFileSync } from "node:fs";

const SPEC = {
  dir: { type: "path", default: "bench/results/run.tmp", help: "where the run's JSON files are" },
  out: { type: "path", default: "bench/results/latest.json", help: "the collected JSON" },
  markdown: { type: "path", default: "BENCHMARKS.md", help: "the file whose results section is rewritten" },
  totalSeconds: { type: "number", help: "wall time of the whole run" },
  quick: { type: "number", default: 0, help: "1 when scripts/bench ran with --quick" },
};
const args = parseArgs(SPEC);
const dir = resolve(REPO, args.dir);

const BEGIN = "<!-- bench:results:begin (written by scripts/bench; edits here are overwritten) -->";
const END = "<!-- bench:results:end -->";

const read = (name) => {
  const file = resolve(dir, name);
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    return { unreadable: err.message };
  }
};
const sh = (cmd, argv) => {
  try {
    return execFileSync(cmd, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 }).trim();
  } catch {
    return undefined;
  }
};

function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const meminfo = readFileSync("/proc/meminfo", "utf8");
  const memKib = Number(/MemTotal:\s+(\d+)/.exec(meminfo)?.[1]);
  const chromium = sh(CHROMIUM ?? "chromium", ["--version"]);
  const head = sh("git", ["-C", REPO, "rev-parse", "--short", "HEAD"]);
  const dirty = sh("git", ["-C", REPO, "status", "--porcelain", "--untracked-files=no"]);
  return {
    date: new Date().toISOString(),
    nproc: Number(sh("nproc", [])) || cpus().length,
    cpuModel: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? cpus()[0]?.model,
    memoryGiB: round(memKib / 1024 / 1024, 1),
    chromium: chromium?.split("\n").pop(),
    node: process.version,
    kernel: release(),
    commit: head ? `${head}${dirty ? " (with uncommitted changes)" : ""}` : undefined,
  };
}

const statuses = {};
for (const name of existsSync(dir) ? readdirSync(dir) : []) {
  if (name.endsWith(".status.json")) {
    const s = read(name);
    statuses[s.name] = s;
  }
}
const results = {
  machine: machine(),
  quick: Boolean(args.quick),
  totalSeconds: args.totalSeconds,
  statuses,
  load: {
    relay: read("load-relay.json"),
    relay100k: read("load-relay-100k.json"),
    relay200k: read("load-relay-200k.json"),
    relayMax: read("load-relay-max.json"),
    // The same fixed-rate traffic through a bare relay in the load tool (`--floor`).
    floor: {
      relay: read("load-floor-relay.json"),
      relay100k: read("load-floor-100k.json"),
      relay200k: read("load-floor-200k.json"),
    },
    idle: read("load-idle.json"),
  },
  firstFrame: read("first-frame.json"),
  firstFrameWarm: read("first-frame-warm.json"),
  firstFrameRtt: read("first-frame-rtt.json"),
  firstFrameBaseline: {
    plain: read("first-frame-baseline-plain.json"),
    tuned: read("first-frame-baseline-tuned.json"),
  },
  fanOut: read("fan-out.json"),
  fanOutBaseline: {
    plain: read("fan-out-baseline-plain.json"),
    tuned: read("fan-out-baseline-tuned.json"),
  },
  delay: {
    sfu: read("delay-sfu-rtt0.json"),
    sfuRtt: read("delay-sfu-rtt100.json"),
    p2p: read("delay-p2p-rtt0.json"),
  },
  simulcast: read("simulcast.json"),
  cluster: { three: read("cluster.json"), one: read("cluster-single.json") },
  bundleSize: read("bundle-size.json"),
};
writeJson(args.out, results);

// ---------------------------------------------------------------------------------------------
// Markdown.

const md = [];
const row = (cells) => `| ${cells.map((c) => (c === undefined || c === null ? "–" : String(c))).join(" | ")} |`;
const tbl = (header, rows, align) => {
  md.push(row(header));
  md.push(`|${header.map((_, i) => (align?.[i] === "l" ? ":---" : "---:")).join("|")}|`);
  for (const r of rows) md.push(row(r));
  md.push("");
};
const ms = (x) => (typeof x === "number" ? `${Math.round(x)} ms` : "–");
const kib = (b) => (typeof b === "number" ? `${(b / 1024).toFixed(1)} KiB` : "–");
const m = results.machine;

md.push(BEGIN, "");
md.push(`## Latest results`, "");
md.push(
  `Run of ${m.date.slice(0, 16).replace("T", " ")} UTC on commit ${m.commit ?? "?"}` +
    (results.quick ? " — **quick run (--quick): few viewers, short windows; not for comparison**" : "") +
    `; the whole run took ${results.totalSeconds ?? "?"} s.`,
  "",
);
tbl(
  ["machine", ""],
  [
    ["CPUs (`nproc`)", m.nproc],
    ["CPU model", m.cpuModel],
    ["memory", `${m.memoryGiB} GiB`],
    ["browser", m.chromium],
    ["Node.js", m.node],
    ["kernel", m.kernel],
  ],
  ["l", "l"],
);

// Headline figures.
const ff = results.firstFrame;
const ffw = results.firstFrameWarm;
const fo = results.fanOut;
const bs = results.bundleSize;
const relay = results.load.relay;
const idle = results.load.idle;
const s3 = (s) => (s && s.n ? `${ms(s.p50)} / ${ms(s.p95)} / ${ms(s.max)}` : "–");
const headline = [];
if (ff?.figures) {
  const n = ff.settings.viewers;
  headline.push([`first frame from navigation start, p50 / p95 / max (${n} viewers, cold cache)`, s3(ff.figures.firstFrameFromNavigationMs)]);
  headline.push([`first frame from signaling WebSocket open, p50 / p95 / max`, s3(ff.figures.firstFrameFromWsOpenMs)]);
  headline.push([`hydration (body[data-hydrated]) from navigation start, p50 / p95 / max`, s3(ff.figures.hydratedMs)]);
}
if (ffw?.figures) {
  headline.push([`first frame from navigation start, warm cache (${ffw.settings.viewers} viewers)`, s3(ffw.figures.firstFrameFromNavigationMs)]);
  headline.push([`hydration, warm cache`, s3(ffw.figures.hydratedMs)]);
}
const ffr = results.firstFrameRtt;
if (ffr?.figures) {
  headline.push([
    `first frame from navigation start with a ${ffr.settings.rttMs} ms round trip to the server (${ffr.settings.viewers} viewers, cold cache)`,
    s3(ffr.figures.firstFrameFromNavigationMs),
  ]);
}
if (ff?.figures?.pageOfferJoins !== undefined) {
  headline.push([`joins that answered the offer their page came with`, `${ff.figures.pageOfferJoins} of ${ff.figures.firstFrameFromNavigationMs.n}`]);
}
for (const [name, what] of [["plain", "default codecs, audio to every viewer"], ["tuned", "H.264 first, no audio to muted viewers"]]) {
  const r = results.firstFrameBaseline[name];
  if (!r?.figures) continue;
  headline.push([
    `the same, plain-JavaScript reference pages (${what}): first frame from navigation / from WebSocket open, p50 / p95 / max`,
    `${s3(r.figures.firstFrameFromNavigationMs)}; ${s3(r.figures.firstFrameFromWsOpenMs)}`,
  ]);
}
if (fo) {
  const a = fo.atHeld;
  headline.push([
    `viewers held at >= ${fo.settings.minFps} fps (one broadcaster, P2P fan-out, ${fo.settings.camera?.frameRate ?? "?"} fps camera)`,
    `**${fo.heldViewers}**` + (fo.settings.max && fo.heldViewers >= fo.settings.max ? ` (the --max; not the limit)` : ""),
  ]);
  if (a) {
    headline.push([`broadcaster CPU at ${a.viewers} viewers (% of one core)`, `${a.broadcasterCpuPct} %`]);
    headline.push([`upload per viewer at ${a.viewers} viewers`, `${a.uploadPerViewerKbps} kbit/s (${a.uploadTotalKbps} kbit/s in total)`]);
  }
}
const baselines = results.fanOutBaseline;
if (baselines.plain) {
  headline.push([`the same, plain-JavaScript reference page of the same design (default codecs, audio to every viewer)`, baselines.plain.heldViewers]);
}
if (baselines.tuned) {
  headline.push([`the same, plain-JavaScript reference page with onair's savings (H.264 first, no audio to muted viewers)`, baselines.tuned.heldViewers]);
}
// The watch page's delay figure beside the real glass-to-glass delay (end2end/bench/delay.mjs).
for (const [label, d] of [
  ["relayed, loopback", results.delay.sfu],
  ["relayed, +100 ms round trip to the viewer", results.delay.sfuRtt],
  ["peer to peer, loopback", results.delay.p2p],
]) {
  if (d?.realMs?.p50 !== undefined) {
    headline.push([
      `delay behind live, ${label}: real glass-to-glass p50 / shown p50 / shown − real p50`,
      `${d.realMs.p50} / ${d.shownMs.p50} / ${d.shownMinusRealMs.p50} ms`,
    ]);
  }
}
// Simulcast: each capped viewer's layer, loss and delay, the open links beside them.
const simulcastStep = results.simulcast?.steps?.[0];
if (simulcastStep?.per_viewer?.length) {
  const byCap = new Map();
  for (const v of simulcastStep.per_viewer) {
    const key = v.cap_kbps ?? "open";
    if (!byCap.has(key)) byCap.set(key, []);
    byCap.get(key).push(v);
  }
  for (const [cap, viewers] of byCap) {
    const layers = [...new Set(viewers.map((v) => v.layer))].join("/");
    const mean = (f) => viewers.reduce((sum, v) => sum + f(v), 0) / viewers.length;
    const worst = (f) => Math.max(...viewers.map(f));
    headline.push([
      `simulcast, ${viewers.length} viewers on ${cap === "open" ? "an open link" : `a ${cap} kbit/s link`}: layer, kbit/s, loss, delay p50 / worst p99`,
      `${layers}, ${Math.round(mean((v) => v.kbps))}, ${round(mean((v) => v.loss_percent), 2)} %, ${round(mean((v) => v.delay_p50_ms), 1)} / ${round(worst((v) => v.delay_p99_ms), 1)} ms`,
    ]);
  }
}
// Several nodes: the largest step, three nodes beside one (scripts/bench "cluster").
const lastStep = (r) => r?.steps?.[r.steps.length - 1];
const three = lastStep(results.cluster?.three);
const one = lastStep(results.cluster?.one);
if (three?.per_node?.length) {
  const [origin, ...edges] = three.per_node;
  const edgeDelay = (q) => Math.max(...edges.map((n) => n[q]));
  headline.push([
    `one room, ${three.viewers} synthetic viewers over three nodes: delay p50 / p99 on the broadcaster's node, and (worst) on the nodes that pull it`,
    `${round(origin.delay_p50_ms, 1)} / ${round(origin.delay_p99_ms, 1)} ms, ${round(edgeDelay("delay_p50_ms"), 1)} / ${round(edgeDelay("delay_p99_ms"), 1)} ms`,
  ]);
  const perViewer = three.per_node.map((n) => Math.round(n.cpu_us_per_viewer_second ?? NaN)).join(" / ");
  headline.push([
    `the same: CPU µs per viewer·s on each node (broadcaster's first) / on one node alone with all ${one?.viewers ?? "?"}`,
    `${perViewer} / ${Math.round(one?.per_node?.[0]?.cpu_us_per_viewer_second ?? NaN)}`,
  ]);
}
if (bs?.files) {
  for (const f of bs.files) {
    headline.push([`${f.name}: raw / gzip-9 / brotli-11`, `${kib(f.raw)} / ${kib(f.gzip9)} / ${kib(f.brotli11)}`]);
  }
}
// The machine's floor for a relay traffic: the same through a bare relay (`onair-load --floor`).
const floorText = (f) =>
  `${Math.round(f.relayed_per_s)} / ${(f.latency.p99_us / 1000).toFixed(2)} ms / ${round(f.relay_cpu_us_per_message, 2)} µs`;
const floorRow = (f) => {
  if (!f?.relayed_per_s) return;
  headline.push([`the same traffic through a bare relay (no server: one thread on epoll, recv and send, no WebSocket, no JSON): msgs/s, p99, relay CPU/msg`, floorText(f)]);
};
if (relay?.throughput) {
  headline.push([
    `signaling relay: ${relay.settings.clients} clients in ${relay.settings.rooms} rooms, candidates/s relayed`,
    Math.round(relay.throughput.relayed_per_s),
  ]);
  const l = relay.latency_candidate;
  if (l) headline.push([`signaling relay latency p50 / p99 / max`, `${(l.p50_us / 1000).toFixed(2)} / ${(l.p99_us / 1000).toFixed(2)} / ${(l.max_us / 1000).toFixed(2)} ms`]);
  if (relay.server) headline.push([`server CPU per relayed message at that rate`, `${round(relay.server.cpu_us_per_relayed_message, 2)} µs`]);
  floorRow(results.load.floor.relay);
  for (const [what, r, floor] of [
    ["offered 100,000/s", results.load.relay100k, results.load.floor.relay100k],
    ["offered 200,000/s", results.load.relay200k, results.load.floor.relay200k],
    ["saturated", results.load.relayMax],
  ]) {
    if (!r?.throughput) continue;
    const rl = r.latency_candidate;
    const how = what === "saturated" ? `saturated (${r.settings.window} in flight per room)` : what;
    headline.push([
      `signaling relay, ${r.settings.clients} clients in ${r.settings.rooms} rooms, ${how}: msgs/s, p99, server CPU/msg`,
      `${Math.round(r.throughput.relayed_per_s)} / ${rl ? (rl.p99_us / 1000).toFixed(2) + " ms" : "–"} / ${r.server ? round(r.server.cpu_us_per_relayed_message, 2) + " µs" : "–"}`,
    ]);
    floorRow(floor);
  }
}
if (idle?.server) {
  headline.push([
    `server memory per idle connection (${idle.settings?.clients ?? "?"} connections)`,
    `${Math.round(idle.server.rss_per_connection_bytes ?? idle.server.rss_per_connection_held_bytes)} B`,
  ]);
}
md.push("### Headline figures", "");
tbl(["figure", "value"], headline, ["l", "r"]);

// Status of each bench.
md.push("### Runs", "");
tbl(
  ["benchmark", "status", "took", "note"],
  Object.values(statuses)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => [s.name, s.status, `${s.seconds} s`, s.message || ""]),
  ["l", "l", "r", "l"],
);

if (ff?.timeline) {
  md.push(`### First frame: where the time goes (${ff.settings.viewers} viewers, ${ff.settings.cache})`, "");
  md.push(
    "Median moment of each stage in ms since the viewer's navigation started, and the median (p95) of the step " +
      "from the stage above. Broadcaster stages are converted to the viewer's clock.",
    "",
  );
  const warm = new Map((ffw?.timeline ?? []).map((t) => [t.key, t]));
  tbl(
    ["stage", "at (p50)", "step p50", "step p95", ffw ? "warm cache: at (p50)" : ""].filter(Boolean),
    ff.timeline.map((t, i) =>
      [t.label, t.p50, i ? ff.steps[i - 1].p50 : "", i ? ff.steps[i - 1].p95 : "", ffw ? warm.get(t.key)?.p50 : undefined].slice(0, ffw ? 5 : 4),
    ),
    ["l"],
  );
}

if (fo?.steps?.length) {
  md.push(`### Fan-out: one broadcaster, viewers added one at a time`, "");
  const c = fo.settings.camera;
  md.push(
    `Fake camera ${c ? `${c.width}x${c.height} at ${c.frameRate} fps` : "?"}; after each new viewer ${fo.settings.settleS} s ` +
      `to settle, then a ${fo.settings.windowS} s window. fps = frames presented per second (the video's playback-quality counters: frames shown minus frames dropped); ` +
      `CPU in % of one core from /proc (utime+stime of each browser's process tree); "other" = the rest of the machine. ` +
      `Stopped: ${fo.stopReason}. Live broadcaster with no viewer: ${fo.idleBroadcasterCpuPct} % CPU.`,
    "",
  );
  tbl(
    ["viewers", "fps min", "fps median", "dropped", "broadcaster CPU %", "viewers' browser CPU %", "server CPU %", "other CPU %", `machine busy % (of ${fo.settings.cpus})`, "upload kbit/s per viewer", "encoded fps min", "smallest sent resolution", "quality limited by"],
    fo.steps.map((s) => [
      s.viewers, s.fpsMin, s.fpsMedian, s.droppedFrames + s.framesDroppedRtp, s.broadcasterCpuPct, s.viewersCpuPct,
      s.serverCpuPct, s.otherCpuPct, s.machineBusyPct, s.uploadPerViewerKbps, s.encodedFpsMin, s.sentResolutionMin,
      Object.entries(s.qualityLimitation).map(([k, n]) => `${k} ×${n}`).join(", "),
    ]),
    [...Array(12).fill("r"), "l"],
  );
}

if (baselines.plain || baselines.tuned) {
  md.push(`### Fan-out: the plain-JavaScript reference pages`, "");
  md.push(
    "The same benchmark run against `end2end/bench/baseline/` (`fan-out.mjs --baseline`): a talk and a watch page " +
      "of the same design hand-written in plain JavaScript, signaling through the same server. Viewers held, and " +
      "the machine where the run stopped:",
    "",
  );
  const rows = [["onair", fo], ["plain JavaScript, plain", baselines.plain], ["plain JavaScript, tuned", baselines.tuned]]
    .filter(([, r]) => r)
    .map(([name, r]) => {
      const a = r.atHeld;
      const last = r.steps?.at(-1);
      return [
        name, r.heldViewers, a ? `${a.broadcasterCpuPct} %` : undefined, a ? `${a.viewersCpuPct} %` : undefined,
        a ? `${a.uploadPerViewerKbps} kbit/s` : undefined, a?.encoder, last ? `${last.machineBusyPct} % at ${last.viewers}` : undefined,
      ];
    });
  tbl(["pages", "viewers held", "broadcaster CPU there", "viewers' browser CPU there", "upload per viewer", "encoder", "machine busy (of 2) at the stop"], rows, ["l"]);
}

if (bs?.files) {
  md.push("### Bundle size", "");
  const served = bs.files.some((f) => f.servedBr);
  tbl(
    ["file", "raw", "gzip -9", "brotli -11", ...(served ? ["served (br)", "served (gzip)", "Cache-Control"] : [])],
    [
      ...bs.files.map((f) => [
        f.name, `${f.raw} B`, `${f.gzip9} B`, `${f.brotli11} B`,
        ...(served ? [f.servedBr ? `${f.servedBr.bytes} B (${f.servedBr.encoding})` : "–", f.servedGzip ? `${f.servedGzip.bytes} B (${f.servedGzip.encoding})` : "–", f.servedBr?.cacheControl ?? "none"] : []),
      ]),
      ["total", `${bs.total.raw} B`, `${bs.total.gzip9} B`, `${bs.total.brotli11} B`, ...(served ? ["", "", ""] : [])],
    ],
    ["l"],
  );
}

if (relay || idle) {
  md.push("### Signaling server under load (onair-load)", "");
  const rows = [];
  const lat = (l) => (l ? `${(l.p50_us / 1000).toFixed(2)} / ${(l.p99_us / 1000).toFixed(2)} / ${(l.max_us / 1000).toFixed(2)} ms` : "–");
  const relayRows = (label, r) => {
    if (!r) return;
    if (!r.settings) {
      rows.push([label, "no figures"]);
      return;
    }
    const rate = r.settings.rate_per_s
      ? `${r.settings.rate_per_s} candidates/s`
      : `as fast as possible (${r.settings.window} in flight per room)`;
    rows.push([`${label}: clients / rooms / target rate`, `${r.settings.clients} / ${r.settings.rooms} / ${rate} for ${r.settings.duration_s} s`]);
    rows.push([`${label}: connections ready / failed, setup`, `${r.connections.ready} / ${r.connections.failed}, ${round(r.connections.setup_s, 2)} s`]);
    rows.push([`${label}: candidates relayed per second`, Math.round(r.throughput?.relayed_per_s ?? 0)]);
    rows.push([`${label}: candidate latency p50 / p99 / max`, lat(r.latency_candidate)]);
    rows.push([`${label}: offer/answer latency p50 / p99 / max`, lat(r.latency_sdp)]);
    rows.push([`${label}: lost / misrouted`, `${r.routing?.lost ?? "–"} / ${r.routing?.misrouted ?? "–"}`]);
    if (r.server) rows.push([`${label}: server CPU per relayed message`, `${round(r.server.cpu_us_per_relayed_message, 2)} µs`]);
    const errs = Object.entries(r.server_errors ?? {}).map(([k, v]) => `${k} ×${v}`).join(", ");
    rows.push([`${label}: server errors`, errs || "none"]);
  };
  relayRows("relay", relay);
  relayRows("relay, concentrated", results.load.relay100k);
  relayRows("relay, at the target rate", results.load.relay200k);
  relayRows("relay, saturated", results.load.relayMax);
  for (const [label, f] of [
    ["relay", results.load.floor.relay],
    ["relay, concentrated", results.load.floor.relay100k],
    ["relay, at the target rate", results.load.floor.relay200k],
  ]) {
    if (!f?.relayed_per_s) continue;
    rows.push([`bare relay (--floor), as "${label}": relayed/s, latency p50 / p99 / max, lost`, `${Math.round(f.relayed_per_s)}, ${lat(f.latency)}, ${f.lost}`]);
    rows.push([`bare relay (--floor), as "${label}": relay CPU per message (user / kernel), recv / send calls per message`, `${round(f.relay_cpu_us_per_message, 2)} µs (${round(f.relay_user_us_per_message, 2)} / ${round(f.relay_kernel_us_per_message, 2)}), ${round(f.relay_recv_calls_per_message, 2)} / ${round(f.relay_send_calls_per_message, 2)}`]);
  }
  if (idle?.settings) {
    const i = idle;
    rows.push(["idle: connections held", `${i.connections.ready} of ${i.connections.target}`]);
    if (i.server) {
      rows.push(["idle: server RSS before / connected / peak", `${round(i.server.rss_before_kib / 1024, 1)} / ${round(i.server.rss_connected_kib / 1024, 1)} / ${round(i.server.rss_peak_kib / 1024, 1)} MiB`]);
      rows.push(["idle: server memory per connection", `${Math.round(i.server.rss_per_connection_bytes)} B`]);
    }
  }
  if (statuses.load?.status === "skipped") rows.push(["skipped", statuses.load.message]);
  tbl(["figure", "value"], rows, ["l", "l"]);
} else if (statuses.load) {
  md.push("### Signaling server under load (onair-load)", "", `${statuses.load.status}: ${statuses.load.message}`, "");
}

md.push(END);
const section = md.join("\n");

const mdFile = resolve(REPO, args.markdown);
let text = existsSync(mdFile) ? readFileSync(mdFile, "utf8") : "# Benchmarks\n\n";
const a = text.indexOf("<!-- bench:results:begin");
const b = text.indexOf(END);
if (a >= 0 && b > a) text = text.slice(0, a) + section + text.slice(b + END.length);
else text = text.replace(/\s*$/, "\n\n") + section + "\n";
writeFileSync(mdFile, text);
console.log(`wrote ${mdFile} (results section)`);
