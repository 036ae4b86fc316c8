// The pages survive a server restart: they reconnect by themselves and the broadcast resumes.
import { expect, test, type Page } from "@playwright/test";
import { spawn, type ChildProcess } from "node:child_process";
import { serverBin, serverSiteRoot } from "../playwright.config";
import { expectNotReloaded, expectPlaying, liveBroadcaster, markPage, roomName, viewer } from "./helpers";

const port = 3150;
const base = `http://127.0.0.1:${port}`;

async function startServer(): Promise<ChildProcess> {
  const server = spawn(serverBin, ["--addr", `127.0.0.1:${port}`, "--site-root", serverSiteRoot], {
    stdio: "inherit",
  });
  await expect
    .poll(async () => {
      try {
        return (await fetch(`${base}/healthz`)).status;
      } catch {
        return 0;
      }
    })
    .toBe(200);
  return server;
}

async function stopServer(server: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => server.once("exit", resolve));
  server.kill("SIGTERM");
  await exited;
}

test("pages reconnect after a server restart and the broadcast resumes", async ({ browser }) => {
  const room = roomName("restart");
  let server = await startServer();
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

    server = await startServer();
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
