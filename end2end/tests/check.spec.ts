// The pre-flight check at /check: on this machine every step goes green (the media step loops
// the fake camera through the relay, or says why it is not needed peer to peer), and a
// signaling socket the server refuses is a clear red step.
import { expect, test, type Page } from "@playwright/test";
import { MEDIA } from "../playwright.config";
import { open, startServer, stopServer, viewer, roomName } from "./helpers";

const port = 3240;

function step(page: Page, name: string) {
  return page.locator(`[data-testid="check-step"][data-step="${name}"]`);
}

test("the check goes green on this machine, and the talk page links to it", async ({ context }) => {
  test.setTimeout(90_000);
  const talk = await open(context, `/talk/${roomName("checked")}`);
  await expect(talk.getByTestId("check-link")).toHaveAttribute("href", "/check");
  const check = await open(context, "/check");
  await expect(check.getByTestId("check-result")).toHaveAttribute("data-state", "ok", { timeout: 60_000 });
  for (const name of ["camera", "microphone", "devices", "signaling", "ice"]) {
    await expect(step(check, name)).toHaveAttribute("data-state", "ok");
  }
  if (MEDIA === "sfu") {
    await expect(step(check, "media")).toHaveAttribute("data-state", "ok");
    await expect(step(check, "media")).toContainText("came back");
  } else {
    await expect(step(check, "media")).toHaveAttribute("data-state", "skipped");
    await expect(step(check, "media")).toContainText("does not relay");
  }
  // The preview plays and the details are there to read.
  await expect.poll(() => check.getByTestId("check-preview").evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  await expect(check.locator(".check-candidates li").first()).toContainText("candidate:");
  await expect(check.locator(".check-sdp")).toContainText("v=0");
  // The check's room never shows in the room list.
  const home = await open(context, "/");
  await expect(home.locator('[data-testid="room"]', { hasText: "onair-check-" })).toHaveCount(0);
});

test("a refused signaling socket is a red step that says why", async ({ browser }) => {
  // One signaling connection per address, and a watch page holds it.
  const server = await startServer(port, ["--max-connections-per-ip", "1"]);
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${port}`, permissions: ["camera", "microphone"] });
  try {
    await viewer(context, roomName("holder"));
    const check = await open(context, "/check");
    const signaling = step(check, "signaling");
    await expect(signaling).toHaveAttribute("data-state", "fail", { timeout: 30_000 });
    await expect(signaling).toContainText("refused this page's signaling connection");
    await expect(check.getByTestId("check-result")).toHaveAttribute("data-state", "fail");
    await expect(step(check, "media")).toHaveAttribute("data-state", "skipped");
    // What works still says so.
    await expect(step(check, "camera")).toHaveAttribute("data-state", "ok");
  } finally {
    await context.close();
    await stopServer(server);
  }
});
