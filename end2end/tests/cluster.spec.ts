// Several nodes sharing rooms through Redis, with real pages: a broadcast on one node plays on
// the others (each pulls it once), with their chat and the total count; behind nginx, a
// viewer whose node dies plays again through another within 10 s, and a broadcaster whose
// node dies takes its room along to another, its viewers following; viewers on a pulling node
// each get the simulcast layer their player calls for.
import { expect, test, type BrowserContext, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MEDIA } from "../playwright.config";
import {
  expectNotReloaded,
  expectPlaying,
  heightOf,
  layerOf,
  markPage,
  open,
  playerSize,
  roomName,
  startServer,
  tenFramesASecond,
} from "./helpers";

const redisPort = 3269;
const nodePorts = [3261, 3262, 3263];
const balancerPort = 3264;
const at = (port: number) => `http://127.0.0.1:${port}`;

test.skip(MEDIA === "p2p", "a room spans nodes through the relay (--media sfu)");

// The fake camera at 10 frames a second, as in simulcast.spec.ts: three nodes, talk pages
// encoding three sizes and two players would otherwise starve the two cores, and a starved
// browser reads as a congested link.
test.use({ launchOptions: tenFramesASecond });

/** Resolves once something listens on `port`. */
async function listening(port: number): Promise<void> {
  await expect
    .poll(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(port, "127.0.0.1", () => {
            socket.end();
            resolve(true);
          });
          socket.on("error", () => resolve(false));
        }),
    )
    .toBe(true);
}

/** A figure of a node's `/metrics`, or -1 while the node does not answer. */
async function metric(port: number, name: string): Promise<number> {
  try {
    const text = await (await fetch(`${at(port)}/metrics`)).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    return line ? Number(line.split(" ")[1]) : -1;
  } catch {
    return -1;
  }
}

/** Redis, three onair nodes sharing it, and nginx in front (README's configuration). */
class Cluster {
  redis!: ChildProcess;
  nodes: ChildProcess[] = [];
  nginx?: ChildProcess;
  dir = mkdtempSync(join(tmpdir(), "onair-cluster-"));

  async start(): Promise<void> {
    this.redis = spawn("redis-server", ["--port", `${redisPort}`, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    await listening(redisPort);
    this.nodes = await Promise.all(nodePorts.map((port) => startServer(port, ["--redis", `redis://127.0.0.1:${redisPort}`])));
  }

  async startBalancer(): Promise<void> {
    const servers = nodePorts.map((port) => `    server 127.0.0.1:${port} max_fails=1 fail_timeout=30s;`).join("\n");
    const d = this.dir;
    writeFileSync(
      join(d, "nginx.conf"),
      `worker_processes 1;
master_process off;
error_log ${d}/error.log warn;
pid ${d}/nginx.pid;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${d}/body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
  }
  map $uri $onair_room {
    "~^/(whip|whep)/(?<room>[A-Za-z0-9_-]+)" $room;
    default $request_id;
  }
  upstream onair {
    hash $onair_room consistent;
${servers}
  }
  server {
    listen 127.0.0.1:${balancerPort};
    location / {
      proxy_pass http://onair;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $http_host;
      proxy_read_timeout 1h;
      proxy_buffering off;
      proxy_connect_timeout 2s;
      proxy_next_upstream error timeout;
    }
  }
}
`,
    );
    const nginx = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
    this.nginx = spawn(nginx, ["-p", d, "-c", "nginx.conf", "-g", "daemon off;"], { stdio: "inherit" });
    await listening(balancerPort);
  }

  /** SIGKILL: the node dies as a machine does. */
  kill(port: number): void {
    this.nodes[nodePorts.indexOf(port)]?.kill("SIGKILL");
  }

  /** The node whose `/metrics` says `name` is `value`, among `ports`. */
  async nodeWith(name: string, value: number, ports = nodePorts): Promise<number> {
    let found = 0;
    await expect
      .poll(async () => {
        for (const port of ports) {
          if ((await metric(port, name)) === value) {
            found = port;
            return true;
          }
        }
        return false;
      })
      .toBe(true);
    return found;
  }

  stop(): void {
    for (const child of [...this.nodes, this.nginx, this.redis]) child?.kill("SIGKILL");
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function goLive(context: BrowserContext, url: string): Promise<Page> {
  const talk = await open(context, url);
  await talk.getByTestId("go-live").click();
  await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
  return talk;
}

test("a broadcast on one node plays on the others, with their chat and the total count", async ({ browser }) => {
  const cluster = new Cluster();
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  try {
    await cluster.start();
    const [a, b, c] = nodePorts;
    const room = roomName("cluster");
    const talk = await goLive(context, `${at(a)}/talk/${room}`);
    const onB = await open(context, `${at(b)}/watch/${room}`);
    const onC = await open(context, `${at(c)}/watch/${room}`);
    await expectPlaying(onB);
    await expectPlaying(onC);
    // Each other node pulls the stream once from A.
    await expect.poll(() => metric(a, "onair_cascade_edges")).toBe(2);
    await expect.poll(() => metric(b, "onair_cascade_pulls")).toBe(1);

    // C's room list has the room, with the viewers of every node; so does the talk page.
    const home = await open(context, `${at(c)}/`);
    const listed = home.locator(`[data-testid="room"][data-room="${room}"]`);
    await expect(listed.getByTestId("room-viewers")).toHaveText("2");
    await expect(talk.getByTestId("viewer-count")).toHaveText("2");
    await expect(talk.getByTestId("audience-viewer")).toHaveCount(2);

    // A line said on B reaches the talk page on A and the viewer on C.
    await onB.getByTestId("chat-input").fill("hello from B");
    await onB.getByTestId("chat-input").press("Enter");
    for (const page of [talk, onC]) {
      await expect(page.getByTestId("chat-message").filter({ hasText: "hello from B" })).toHaveCount(1);
    }
  } finally {
    await context.close();
    cluster.stop();
  }
});

test("behind nginx, viewers of a dead node play again through another, and the broadcast follows its broadcaster", async ({
  browser,
}) => {
  const cluster = new Cluster();
  const context = await browser.newContext({ permissions: ["camera", "microphone"] });
  try {
    await cluster.start();
    await cluster.startBalancer();
    const room = roomName("failover");
    const talk = await goLive(context, `${at(balancerPort)}/talk/${room}`);
    const origin = await cluster.nodeWith("onair_live_rooms", 1);
    // Viewers through nginx until one is on a node other than the broadcaster's.
    const watches: Page[] = [];
    let edge = 0;
    for (let i = 0; i < 8 && !edge; i++) {
      const watch = await open(context, `${at(balancerPort)}/watch/${room}`);
      await expectPlaying(watch);
      watches.push(watch);
      for (const port of nodePorts.filter((p) => p !== origin)) {
        if ((await metric(port, "onair_viewers")) > 0) edge = port;
      }
    }
    expect(edge, "a viewer landed on a node that pulls the broadcast").not.toBe(0);
    for (const watch of watches) await markPage(watch);

    // The edge node dies: its viewers' pages reconnect through nginx and play within 10 s.
    const died = Date.now();
    cluster.kill(edge);
    for (const watch of watches) await expectPlaying(watch);
    const back = Date.now() - died;
    console.log(`viewers of the dead node played again after ${back} ms`);
    expect(back).toBeLessThan(10_000);

    // The broadcaster's node dies: the talk page reclaims the room on the node left, and
    // every viewer plays again.
    cluster.kill(origin);
    await expect(talk.getByTestId("live-badge")).toHaveText("LIVE", { timeout: 30_000 });
    const survivor = nodePorts.find((p) => p !== origin && p !== edge)!;
    await expect.poll(() => metric(survivor, "onair_live_rooms"), { timeout: 30_000 }).toBe(1);
    for (const watch of watches) {
      await expectPlaying(watch);
      await expectNotReloaded(watch);
    }
  } finally {
    await context.close();
    cluster.stop();
  }
});

test("on a pulling node a small player gets the low layer and a big one the high, and the origin keeps every layer running", async ({
  browser,
}) => {
  const cluster = new Cluster();
  const talkContext = await browser.newContext({ permissions: ["camera", "microphone"] });
  const players: BrowserContext[] = [];
  try {
    await cluster.start();
    const [a, b] = nodePorts;
    const room = roomName("cluster-layers");
    const talk = await goLive(talkContext, `${at(a)}/talk/${room}`);
    const player = async (width: number, height: number) => {
      const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
      players.push(context);
      await context.addInitScript(playerSize, { width, height });
      return open(context, `${at(b)}/watch/${room}`);
    };
    const big = await player(1280, 720);
    const small = await player(160, 90);
    await expectPlaying(big);
    await expectPlaying(small);
    // B pulls once, and chooses each of its viewers' layers itself.
    await expect.poll(() => metric(a, "onair_cascade_edges")).toBe(1);
    await expect.poll(() => layerOf(small), { timeout: 20_000 }).toBe("low");
    await expect.poll(() => heightOf(small)).toBeGreaterThan(0);
    await expect.poll(() => heightOf(small)).toBeLessThanOrEqual(180);
    await expect.poll(() => layerOf(big), { timeout: 40_000 }).toBe("high");
    await expect.poll(() => heightOf(big)).toBeGreaterThanOrEqual(360);
    console.log(`[cluster] on the pulling node the layers arrive at ${await heightOf(big)}p and ${await heightOf(small)}p`);
    // Nobody on A watches, yet A's broadcaster sends every layer, which its page says B pulls:
    // B's viewers choose among them.
    for (const rid of ["h", "m", "l"]) {
      const layer = talk.locator(`[data-testid="layer"][data-rid="${rid}"]`);
      await expect(layer).toHaveAttribute("data-active", "true");
      await expect(layer).toHaveAttribute("data-viewers", "0");
      await expect(layer).toHaveAttribute("data-nodes", "1");
      await expect(layer).toContainText("1 other node");
    }
    await expectPlaying(big);
    await expectPlaying(small);
  } finally {
    for (const context of [talkContext, ...players]) await context.close();
    cluster.stop();
  }
});
