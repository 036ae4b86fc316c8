// A private room: watching needs the key in the link, going live needs it on the talk page.
import { expect, test } from "@playwright/test";
import { PRIVATE_KEY, PRIVATE_ROOM } from "../playwright.config";
import { expectPlaying, expectState, open } from "./helpers";

test("a private room asks viewers and the broadcaster for its key", async ({ context }) => {
  const stranger = await open(context, `/watch/${PRIVATE_ROOM}`);
  await expectState(stranger, "error");
  await expect(stranger.getByTestId("status")).toContainText("private");
  await expect(stranger.getByTestId("key-form")).toBeVisible();

  // Entering the key reloads the page with it: now the viewer is in, waiting.
  await stranger.getByTestId("watch-key").fill(PRIVATE_KEY);
  await stranger.getByTestId("watch-key").press("Enter");
  await expect(stranger).toHaveURL(new RegExp(`\\?key=${PRIVATE_KEY}$`));
  await expect(stranger.locator("body[data-hydrated]")).toHaveCount(1);
  await expectState(stranger, "waiting");

  const talk = await open(context, `/talk/${PRIVATE_ROOM}`);
  await expect(talk.getByTestId("publish-key")).toBeVisible();
  await talk.getByTestId("publish-key").fill("not-the-key");
  await talk.getByTestId("go-live").click();
  await expect(talk.getByTestId("talk-error")).toContainText("wrong publish key");
  await expect(talk.getByTestId("live-badge")).toHaveText("OFF AIR");

  await talk.getByTestId("publish-key").fill(PRIVATE_KEY);
  await talk.getByTestId("go-live").click();
  await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
  await expectPlaying(stranger);

  // The room list does not advertise private rooms.
  const home = await open(context, "/");
  await expect(home.locator(`[data-testid="room"][data-room="${PRIVATE_ROOM}"]`)).toHaveCount(0);
  await talk.getByTestId("stop").click();
});
