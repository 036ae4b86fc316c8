// /metrics read the way Prometheus would: on its own address (--metrics-addr), parsed by
// prometheus_client's OpenMetrics parser (PyPI, installed by make setup). The figures move as a
// room opens, gets a viewer and closes.
import { expect, test } from "@playwright/test";
import { execFileSync } from "node:child_process";
import { homedir } from "node:os";
import { resolve } from "node:path";
import { MEDIA } from "../playwright.config";
import { expectPlaying, liveBroadcaster, roomName, startServer, stopServer, viewer } from "./helpers";

const python = resolve(process.env.ONAIR_TOOLS ?? resolve(homedir(), ".cache/onair"), "interop-venv/bin/python");
const script = resolve(__dirname, "../interop/scrape_metrics.py");
const port = 3180;
const metricsPort = 3181;

/** Every sample of one scrape, by name (and labels). */
function scrape(): Record<string, number> {
  const out = execFileSync(python, [script, `http://127.0.0.1:${metricsPort}/metrics`], { encoding: "utf8" });
  return JSON.parse(out);
}

test.skip(MEDIA !== "sfu", "the relay's figures are part of it");

test("the figures move as a room opens, gets a viewer and closes", async ({ browser }) => {
  const server = await startServer(port, ["--metrics-addr", `127.0.0.1:${metricsPort}`]);
  const context = await browser.newContext({
    baseURL: `http://127.0.0.1:${port}`,
    permissions: ["camera", "microphone"],
  });
  try {
    // Only on its own address: the public port does not serve it.
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404);
    const idle = scrape();
    expect(idle).toMatchObject({ onair_rooms: 0, onair_live_rooms: 0, onair_viewers: 0, onair_signaling_connections: 0 });
    expect(idle.onair_relay_sent_bytes_total).toBe(0);

    const room = roomName("metrics");
    const talk = await liveBroadcaster(context, room);
    await expect
      .poll(() => {
        const now = scrape();
        return [now.onair_live_rooms, now.onair_signaling_connections, now.onair_relay_peers];
      })
      .toEqual([1, 1, 1]);

    const watch = await viewer(context, room);
    await expectPlaying(watch);
    const playing = scrape();
    expect(playing).toMatchObject({ onair_viewers: 1, onair_signaling_connections: 2, onair_relay_peers: 2 });
    expect(playing.onair_signaling_messages_total).toBeGreaterThan(0);
    expect(playing.onair_relay_forwarded_frames_total).toBeGreaterThan(0);
    expect(playing.onair_relay_received_bytes_total).toBeGreaterThan(0);
    // Frames keep going out to the viewer.
    await expect
      .poll(() => scrape().onair_relay_sent_bytes_total)
      .toBeGreaterThan(playing.onair_relay_sent_bytes_total);
    // The viewer's receiver reports reach the loss histogram once a second.
    await expect.poll(() => scrape().onair_relay_viewer_loss_ratio_count).toBeGreaterThan(0);

    await watch.close();
    await talk.close();
    await expect
      .poll(() => {
        const now = scrape();
        return [now.onair_live_rooms, now.onair_viewers, now.onair_signaling_connections, now.onair_relay_peers];
      })
      .toEqual([0, 0, 0, 0]);
  } finally {
    await context.close();
    await stopServer(server);
  }
});
