// Connections use the STUN/TURN servers the server is configured with. The watch page makes
// its connection before the server has said which servers to use (so that it is ready when
// the offer comes), and applies them when the welcome names them. The talk page also asks its
// connections to start their video at 1 Mbit/s (src/sdp.rs), in the answer it applies.
import { expect, test, type Page } from "@playwright/test";
import { collectPeerConnections, expectPlaying, liveBroadcaster, roomName, startServer, stopServer, viewer } from "./helpers";

const port = 3160;
// Nothing answers there: the host candidates still connect on loopback.
const stun = "stun:127.0.0.1:3479";

/** The ICE server URLs of each connected peer connection of `page`. */
async function connectedIceUrls(page: Page): Promise<string[][]> {
  return page.evaluate(() =>
    ((window as any).__pcs as RTCPeerConnection[])
      .filter((pc) => pc.connectionState === "connected")
      .map((pc) => (pc.getConfiguration().iceServers ?? []).flatMap((server) => [server.urls].flat())),
  );
}

test("connections use the configured ICE servers, the viewer's made early too; video starts at 1 Mbit/s", async ({ browser }) => {
  const server = await startServer(port, ["--ice-server", stun]);
  const context = await browser.newContext({
    baseURL: `http://127.0.0.1:${port}`,
    permissions: ["camera", "microphone"],
  });
  await context.addInitScript(collectPeerConnections);
  try {
    const room = roomName("ice");
    const talk = await liveBroadcaster(context, room);
    const watch = await viewer(context, room);
    await expectPlaying(watch);
    expect(await connectedIceUrls(watch)).toEqual([[stun]]);
    await expect.poll(() => connectedIceUrls(talk)).toEqual([[stun]]);
    const startRates = await talk.evaluate(() =>
      ((window as any).__pcs as RTCPeerConnection[])
        .filter((pc) => pc.connectionState === "connected")
        .map((pc) => (pc.remoteDescription?.sdp ?? "").match(/x-google-start-bitrate=\d+/g)?.length ?? 0),
    );
    expect(startRates).toHaveLength(1);
    expect(startRates[0]).toBeGreaterThan(0);
  } finally {
    await context.close();
    await stopServer(server);
  }
});
