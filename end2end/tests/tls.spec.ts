// HTTPS on the LAN: a server started with --tls on this machine's interface address (not
// localhost, where browsers hand out the camera even over plain HTTP). The browser accepts the
// self-signed certificate once (here: the context ignores certificate errors, as a person
// clicks through the warning); then the talk page is a secure context, gets the camera and
// goes live, and a viewer plays. Plain http:// on the same port lands on the HTTPS page.
import { expect, test } from "@playwright/test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  expectPlaying,
  lanAddress as lan,
  liveBroadcaster,
  roomName,
  startTlsServer,
  stopServer,
  viewer,
} from "./helpers";
const port = 3190;

test("over HTTPS at the LAN address the talk page gets the camera and goes live; a viewer plays", async ({
  browser,
}) => {
  test.skip(!lan, "this machine has no LAN address");
  const dataDir = mkdtempSync(join(tmpdir(), "onair-tls-"));
  const server = await startTlsServer(lan!, port, dataDir);
  try {
    const base = `https://${lan}:${port}`;
    const context = await browser.newContext({
      baseURL: base,
      ignoreHTTPSErrors: true,
      permissions: ["camera", "microphone"],
    });
    const room = roomName("https");
    const talk = await liveBroadcaster(context, room);
    expect(await talk.evaluate(() => window.isSecureContext)).toBe(true);
    const watch = await viewer(context, room);
    await expectPlaying(watch);

    const typed = await context.newPage();
    await typed.goto(`http://${lan}:${port}/watch/${room}`);
    expect(typed.url()).toBe(`${base}/watch/${room}`);
    await expectPlaying(typed);
    await context.close();
  } finally {
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});
