// The delay behind live on the watch page: measured from the capture times the frames carry
// (the real glass-to-glass figure it is checked against is end2end/bench/delay.mjs's).
import { expect, test } from "@playwright/test";
import { expectPlaying, liveBroadcaster, roomName, viewer } from "./helpers";

test("a playing watch page shows how far behind live it is", async ({ context }) => {
  const room = roomName("delay");
  const talk = await liveBroadcaster(context, room);
  const watch = await viewer(context, room);
  await expectPlaying(watch);
  const delay = watch.getByTestId("delay");
  await expect(delay).toBeVisible();
  await expect(delay).toHaveText(/^\d+\.\d\d s behind live$/);
  // On one machine: more than nothing, far less than a second.
  const ms = Number(await delay.getAttribute("data-ms"));
  expect(ms).toBeGreaterThan(0);
  expect(ms).toBeLessThan(1000);
  // Gone when the broadcast ends.
  await talk.getByTestId("stop").click();
  await expect(watch.getByTestId("status")).toHaveAttribute("data-state", "ended");
  await expect(delay).toBeHidden();
});
