// Shared helpers of the browser benchmarks: flags, the server under test, Chromium, /proc CPU
// time, percentiles. Plain Node ESM; @playwright/test comes from end2end/node_modules.

import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Chromium as the Playwright suite launches it (end2end/playwright.config.ts). */
export const CHROMIUM =
  process.env.ONAIR_CHROMIUM ?? (existsSync("/usr/bin/chromium") ? "/usr/bin/chromium" : undefined);

/**
 * The suite's flags. `fakeDevice` is the value of --use-fake-device-for-media-stream
 * ("" = Chromium's default fake camera, 640x480).
 */
export function chromiumArgs({ fakeDevice = "" } = {}) {
  const { args } = JSON.parse(readFileSync(resolve(REPO, "end2end/chromium.json"), "utf8"));
  return args.map((flag) =>
    fakeDevice && flag === "--use-fake-device-for-media-stream" ? `${flag}=${fakeDevice}` : flag,
  );
}

export const CONTEXT_OPTIONS = { permissions: ["camera", "microphone"] };

/** The timing probe every benchmark page gets (see probe.js). */
export const PROBE = resolve(REPO, "end2end/bench/probe.js");

/** A broadcaster in a new context of `browser`, live in `room`, with the probe installed. */
export async function liveBroadcaster(browser, baseUrl, room) {
  const context = await browser.newContext(CONTEXT_OPTIONS);
  await context.addInitScript({ path: PROBE });
  const talk = await context.newPage();
  talk.on("pageerror", (err) => console.log(`[broadcaster pageerror] ${err.message}`));
  await talk.goto(`${baseUrl}/talk/${room}`);
  await talk.locator("body[data-hydrated]").waitFor({ timeout: 30_000 });
  await talk.getByTestId("go-live").click();
  await talk.waitForFunction(
    () => document.querySelector('[data-testid="live-badge"]')?.textContent?.trim() === "LIVE",
    undefined,
    { timeout: 30_000 },
  );
  return { context, talk };
}

// ---------------------------------------------------------------------------------------------
// The plain-JavaScript reference pages (baseline/): the same design as the app, hand-written.

/** `--baseline` variants: plain leaves the browser its defaults, tuned makes onair's two savings. */
export const BASELINES = {
  plain: { h264: false, audioToMuted: true },
  tuned: { h264: true, audioToMuted: false },
};
export const BASELINE_HELP =
  "measure the plain-JavaScript reference pages of the same design (baseline/*.html) instead of the app's: " +
  "plain (the browser's default codecs, audio to every viewer) or tuned (H.264 first, no audio to muted viewers); " +
  "served on --port + 1, signaling through the same server (a --base-url server must allow that origin: --allow-origin)";

/**
 * Serves baseline/talk.html and baseline/watch.html at /talk/<room> and /watch/<room> on
 * 127.0.0.1:`port`, told to signal through `signaling` (the onair server, which must allow
 * this origin: `--allow-origin`).
 */
async function baselinePages(port, signaling, config) {
  const page = (name) =>
    readFileSync(resolve(REPO, `end2end/bench/baseline/${name}.html`), "utf8").replace(
      "<script>",
      `<script>window.__BASELINE = ${JSON.stringify({ signaling, ...config })};`,
    );
  const pages = { talk: page("talk"), watch: page("watch") };
  const http = createServer((req, res) => {
    const name = /^\/(talk|watch)\/[^/]+$/.exec(new URL(req.url, "http://x").pathname)?.[1];
    res.writeHead(name ? 200 : 404, { "content-type": "text/html; charset=utf-8" });
    res.end(name ? pages[name] : "not found");
  });
  await new Promise((ok, fail) => http.once("error", fail).listen(port, "127.0.0.1", ok));
  const close = () =>
    new Promise((ok) => {
      http.close(ok);
      http.closeAllConnections(); // the browser's keep-alive connections would hold close() open
    });
  return { url: `http://127.0.0.1:${port}`, close };
}

/**
 * The server under test (see startServer) and the pages to open: the app's, or with
 * `baseline` (a key of BASELINES) the reference pages on `port` + 1, signaling through it.
 * `stop()` stops both.
 */
export async function startServerAndPages({ baseline, rtt = 0, media = "sfu", ...options }) {
  if (baseline && rtt) throw new Error("--rtt applies to the app's pages only, not with --baseline");
  const pagesOrigin = `http://127.0.0.1:${options.port + 1}`;
  // The reference pages are peer to peer by design: their server relays signaling only.
  const mode = baseline ? "p2p" : media;
  const extraArgs = ["--media", mode, ...(baseline ? ["--allow-origin", pagesOrigin] : [])];
  const server = await startServer({ ...options, extraArgs });
  let pages;
  try {
    if (baseline) pages = await baselinePages(options.port + 1, server.url.replace(/^http/, "ws"), BASELINES[baseline]);
    if (rtt) pages = await latencyProxy(options.port + 2, server.url, rtt);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    server,
    pagesUrl: pages?.url ?? server.url,
    stop: async () => {
      await pages?.close();
      await server.stop();
    },
  };
}

export const MEDIA_HELP = "sfu: the server relays the media (the default); p2p: the broadcaster's browser sends it to each viewer";

export const RTT_HELP =
  "ms of round trip added between the browser and the server (HTTP and signaling; not the media, which goes " +
  "browser to browser): a TCP proxy on --port + 2 holds each chunk rtt/2 each way, and a new connection's " +
  "first bytes one round trip more, as a TCP handshake would";

/**
 * A TCP proxy on `port` to the server at `target` that delays every chunk by `rtt / 2` in each
 * direction (order kept), and what a client sends in a connection's first round trip by one
 * more: a far-away server, on loopback.
 */
async function latencyProxy(port, target, rtt) {
  const { createServer: createTcpServer, connect } = await import("node:net");
  const { hostname, port: targetPort } = new URL(target);
  const oneWay = rtt / 2;
  const sockets = new Set();
  const delayed = (from, to, until = 0) => {
    from.on("data", (chunk) => {
      const wait = Math.max(oneWay, until - Date.now() + oneWay);
      setTimeout(() => to.destroyed || to.write(chunk), wait);
    });
    from.on("end", () => setTimeout(() => to.end(), Math.max(oneWay, until - Date.now() + oneWay)));
    from.on("error", () => to.destroy());
    from.on("close", () => setTimeout(() => to.destroy(), Math.max(oneWay, until - Date.now() + oneWay) + 1));
  };
  const proxy = createTcpServer((client) => {
    const upstream = connect(Number(targetPort), hostname);
    for (const socket of [client, upstream]) {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    }
    delayed(client, upstream, Date.now() + rtt);
    delayed(upstream, client);
  });
  await new Promise((ok, fail) => proxy.once("error", fail).listen(port, "127.0.0.1", ok));
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        proxy.close(() => done());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Flags: --name value or --name=value; booleans as --flag.

export function parseArgs(spec, argv = process.argv.slice(2)) {
  const out = {};
  for (const [key, { default: value }] of Object.entries(spec)) out[key] = value;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    if (arg === "-h" || arg === "--help") {
      out.help = true;
      continue;
    }
    if (!arg.startsWith("--")) throw new Error(`unexpected argument ${arg}`);
    arg = arg.slice(2);
    let value;
    const eq = arg.indexOf("=");
    if (eq >= 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const key = arg.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    const def = spec[key];
    if (!def) throw new Error(`unknown flag --${arg}`);
    if (def.type === "bool") {
      out[key] = value === undefined ? true : !/^(0|false|no)$/i.test(value);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${arg} needs a value`);
    }
    if (def.type === "number") {
      const n = Number(value);
      if (!Number.isFinite(n)) throw new Error(`--${arg}: ${value} is not a number`);
      out[key] = n;
    } else {
      out[key] = value;
    }
  }
  return out;
}

export function usage(name, about, spec) {
  const lines = [`usage: node ${name} [flags]`, "", about, "", "flags:"];
  for (const [key, def] of Object.entries(spec)) {
    const flag = "--" + key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
    const shown = def.type === "bool" ? flag : `${flag} <${def.type ?? "value"}>`;
    const dflt = def.default === undefined || def.default === false ? "" : ` (default ${def.default})`;
    lines.push(`  ${shown.padEnd(28)} ${def.help}${dflt}`);
  }
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// The server under test.

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export { sleep };

/** Resolves when `url` answers 2xx, or throws after `timeoutMs`. */
export async function waitForHttp(url, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = err.cause?.code ?? err.message;
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s (${last})`);
}

/**
 * The server to run against: `baseUrl` if given (reused, left running), else the release
 * binary spawned on 127.0.0.1:`port` from the repo root. `stop()` kills what we started.
 */
export async function startServer({ baseUrl, port = 3200, maxViewers = 1000, bin, siteRoot, log = false, extraArgs = [] }) {
  if (baseUrl) {
    const url = baseUrl.replace(/\/+$/, "");
    await waitForHttp(`${url}/healthz`, 10_000);
    return { url, pid: undefined, spawned: false, stop: async () => {} };
  }
  const binary = resolve(REPO, bin ?? "target/release/onair");
  if (!existsSync(binary)) throw new Error(`${binary} does not exist: build it with cargo leptos build --release`);
  const site = resolve(REPO, siteRoot ?? "target/site");
  const url = `http://127.0.0.1:${port}`;
  // Refuse to silently benchmark some other server already on the port.
  try {
    await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
    throw new Error(`something already answers on ${url}; stop it, pick --port, or pass --base-url ${url}`);
  } catch (err) {
    if (err.message.startsWith("something already")) throw err;
  }
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "onair=warn" };
  // cargo-leptos' variables would make the server read Cargo.toml instead of our flags.
  for (const key of Object.keys(env)) if (key.startsWith("LEPTOS_")) delete env[key];
  const child = spawn(
    binary,
    [
      "--addr", `127.0.0.1:${port}`,
      "--max-viewers", String(maxViewers),
      "--site-root", site,
      ...extraArgs,
    ],
    { cwd: REPO, env, stdio: ["ignore", log ? "inherit" : "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
    if (log) process.stderr.write(d);
  });
  let exited = false;
  child.on("exit", () => (exited = true));
  // scripts/bench kills what is listed here if this process dies without stopping it.
  if (process.env.ONAIR_BENCH_PIDFILE) {
    try {
      appendFileSync(process.env.ONAIR_BENCH_PIDFILE, `${child.pid}\n`);
    } catch {}
  }
  const stop = async () => {
    if (exited) return;
    child.kill("SIGTERM");
    for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    if (!exited) child.kill("SIGKILL");
  };
  try {
    await Promise.race([
      waitForHttp(`${url}/healthz`, 30_000),
      new Promise((_, reject) => child.on("exit", (code) => reject(new Error(`server exited (${code}): ${stderr}`)))),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, pid: child.pid, spawned: true, stop };
}

/** Run `cleanup` once on exit, Ctrl-C or SIGTERM (the benches must never leave a server behind). */
export function onExit(cleanup) {
  let running;
  // Every caller waits for the same cleanup: a signal arriving while main() unwinds must not
  // let the process exit before the server is stopped.
  const once = () => (running ??= Promise.resolve().then(cleanup).catch((err) => console.error(`cleanup: ${err}`)));
  const onSignal = (code) => once().finally(() => process.exit(code));
  process.on("SIGINT", () => onSignal(130));
  process.on("SIGTERM", () => onSignal(143));
  process.on("SIGHUP", () => onSignal(129));
  return once;
}

/** Rejects after `ms` with `what` in the message. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// CPU time from /proc.

export const CLK_TCK = 100;

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const rest = text.slice(text.lastIndexOf(")") + 2).split(" ");
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    return { ppid: Number(rest[1]), utime: Number(rest[11]), stime: Number(rest[12]) };
  } catch {
    return undefined;
  }
}

/** utime+stime in ticks of `rootPid` and all its descendants alive now, and their count. */
export function treeTicks(rootPid) {
  const stats = new Map();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(name);
    if (s) stats.set(Number(name), s);
  }
  const children = new Map();
  for (const [pid, s] of stats) {
    if (!children.has(s.ppid)) children.set(s.ppid, []);
    children.get(s.ppid).push(pid);
  }
  let ticks = 0;
  let processes = 0;
  const stack = [rootPid];
  while (stack.length) {
    const pid = stack.pop();
    const s = stats.get(pid);
    if (!s) continue;
    ticks += s.utime + s.stime;
    processes++;
    stack.push(...(children.get(pid) ?? []));
  }
  return { ticks, processes };
}

/**
 * Jiffies of the whole machine (first line of /proc/stat): busy = user+nice+system+irq+softirq,
 * total = busy+idle+iowait+steal (steal: time the hypervisor gave to someone else).
 */
export function machineTicks() {
  const [user, nice, system, idle, iowait = 0, irq = 0, softirq = 0, steal = 0] = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy, steal, total: busy + idle + iowait + steal };
}

// ---------------------------------------------------------------------------------------------
// Figures.

/** Nearest-rank percentile of the finite values (undefined when there are none). */
export function percentile(values, p) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const rank = Math.max(1, Math.ceil((p / 100) * v.length));
  return v[Math.min(rank, v.length) - 1];
}

export function summary(values) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x));
  if (!v.length) return { n: 0 };
  return {
    n: v.length,
    min: round(Math.min(...v)),
    p50: round(percentile(v, 50)),
    p95: round(percentile(v, 95)),
    max: round(Math.max(...v)),
    mean: round(v.reduce((a, b) => a + b, 0) / v.length),
  };
}

export function round(x, digits = 1) {
  if (typeof x !== "number" || !Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A plain text table: `rows` are arrays, the first is the header. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? "").length)));
  return rows
    .map((r, j) => {
      const line = r
        .map((c, i) => (i === 0 ? String(c ?? "").padEnd(widths[i]) : String(c ?? "").padStart(widths[i])))
        .join("  ");
      return j === 0 ? `${line}\n${widths.map((w) => "-".repeat(w)).join("  ")}` : line;
    })
    .join("\n");
}

export function writeJson(path, data) {
  if (!path) return;
  const file = resolve(process.cwd(), path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
  console.log(`\nwrote ${file}`);
}

export function roomName(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
}
