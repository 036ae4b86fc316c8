// The server relays the broadcast (SFU): the talk page uploads one stream, to the server,
// however many people watch; the page says how its stream travels.
import { expect, test, type Page } from "@playwright/test";
import { MEDIA } from "../playwright.config";
import { collectPeerConnections, expectPlaying, liveBroadcaster, roomName, startServer, stopServer, viewer } from "./helpers";

const port = 3170;

/** The states of the page's peer connections that are not closed. */
async function openConnections(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    ((window as any).__pcs as RTCPeerConnection[])
      .map((pc) => pc.connectionState)
      .filter((state) => state !== "closed"),
  );
}

test("the talk page says how its stream reaches viewers", async ({ context }) => {
  const talk = await liveBroadcaster(context, roomName("mode"));
  const line = talk.getByTestId("media-mode");
  await expect(line).toHaveAttribute("data-state", MEDIA);
  await expect(line).toContainText(MEDIA === "sfu" ? "server relays" : "Peer to peer");
});

test("twelve viewers all play while the talk page holds one peer connection", async ({ browser }) => {
  test.skip(MEDIA !== "sfu", "the relay's capability");
  test.setTimeout(180_000);
  const server = await startServer(port, ["--max-viewers", "20"]);
  const context = await browser.newContext({
    baseURL: `http://127.0.0.1:${port}`,
    permissions: ["camera", "microphone"],
  });
  await context.addInitScript(collectPeerConnections);
  try {
    const room = roomName("twelve");
    const talk = await liveBroadcaster(context, room);
    const viewers: Page[] = [];
    for (let i = 0; i < 12; i++) viewers.push(await viewer(context, room));
    for (const page of viewers) await expectPlaying(page);
    await expect(talk.getByTestId("viewer-count")).toHaveText("12");
    expect(await openConnections(talk)).toEqual(["connected"]);
  } finally {
    await context.close();
    await stopServer(server);
  }
});
