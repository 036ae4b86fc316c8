// The pages survive a server restart: they reconnect by themselves and the broadcast resumes.
import { expect, test, type Page } from "@playwright/test";
import {
  expectNotReloaded,
  expectPlaying,
  liveBroadcaster,
  markPage,
  roomName,
  startServer,
  stopServer,
  viewer,
} from "./helpers";

const port = 3150;
const base = `http://127.0.0.1:${port}`;

test("pages reconnect after a server restart and the broadcast resumes", async ({ browser }) => {
  const room = roomName("restart");
  let server = await startServer(port);
  const context = await browser.newContext({ baseURL: base, permissions: ["camera", "microphone"] });
  try {
    const talk: Page = await liveBroadcaster(context, room);
    const watch = await viewer(context, room);
    await expectPlaying(watch);
    await markPage(watch);
    await markPage(talk);

    await stopServer(server);
    // The broadcaster sees the loss at once: it is not on air while the server is gone.
    await expect(talk.getByTestId("live-badge")).toHaveText("OFF AIR");

    server = await startServer(port);
    // Both pages come back by themselves; the broadcaster goes live again without a click.
    await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
    await expect(talk.getByTestId("viewer-count")).toHaveText("1");
    await expectPlaying(watch);
    await expectNotReloaded(watch);
    await expectNotReloaded(talk);
  } finally {
    await context.close();
    await stopServer(server);
  }
});
