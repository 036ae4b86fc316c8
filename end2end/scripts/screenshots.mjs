// Regenerates the README screenshots: node end2end/scripts/screenshots.mjs [baseURL]
// Expects a running server (e.g. `make run`); writes docs/*.png.
import { chromium } from "@playwright/test";
import { resolve } from "node:path";
import { CHROMIUM, chromiumArgs } from "../bench/lib.mjs";

const base = process.argv[2] ?? "http://127.0.0.1:3000";
const out = resolve(import.meta.dirname, "../../docs");
const browser = await chromium.launch({ executablePath: CHROMIUM, args: chromiumArgs() });
const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, permissions: ["camera", "microphone"] });
const room = "all-hands";
const talk = await context.newPage();
await talk.goto(`${base}/talk/${room}`);
await talk.locator("body[data-hydrated]").waitFor({ state: "attached" });
await talk.getByTestId("go-live").click();
await talk.getByText("LIVE", { exact: true }).first().waitFor();
const watchers = [];
for (let i = 0; i < 2; i++) {
  const watch = await context.newPage();
  await watch.goto(`${base}/watch/${room}`);
  await watch.locator('[data-state="live"]').waitFor();
  watchers.push(watch);
}
await talk.getByTestId("viewer-count").filter({ hasText: "2" }).waitFor();
// A little conversation, as an all-hands has.
async function say(page, text) {
  await page.getByTestId("chat-input").fill(text);
  await page.getByTestId("chat-send").click();
}
await watchers[0].getByTestId("chat-name").fill("Ada");
await watchers[0].getByTestId("chat-name").press("Enter");
await say(talk, "Good morning everyone, we start in a minute.");
await say(watchers[0], "Morning! Sound and picture are fine here.");
await say(watchers[1], "Will the slides be shared afterwards?");
await watchers[1].getByTestId("chat-message").nth(2).waitFor();
await watchers[0].waitForTimeout(1500); // let the fake camera's picture move on (cosmetic only)
await talk.screenshot({ path: `${out}/talk.png` });
await watchers[0].screenshot({ path: `${out}/watch.png` });
const home = await context.newPage();
await home.goto(base);
await home.locator('[data-testid="room"]').first().waitFor();
await home.screenshot({ path: `${out}/home.png` });



await browser.close();
console.log(`screenshots written to ${out}`);
