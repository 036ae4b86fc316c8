// A room people use together: the chat between a broadcaster and two viewers (in order, the
// backlog for a late joiner, deletion for all, HTML as text, flooding refused, a mute held),
// the talk page's audience list, and the watch link with its QR code at an address the
// audience can reach.
import { expect, test, type Page } from "@playwright/test";
import { expectPlaying, lanAddress, liveBroadcaster, open, roomName, startServer, stopServer, viewer } from "./helpers";

const port = 3220;

async function say(page: Page, text: string): Promise<void> {
  await page.getByTestId("chat-input").fill(text);
  await page.getByTestId("chat-send").click();
}

/** The chat as `page` shows it: `name: text` per message, oldest first. */
async function lines(page: Page): Promise<string[]> {
  return page
    .getByTestId("chat-message")
    .evaluateAll((items) =>
      items.map((li) => `${li.getAttribute("data-from")}: ${li.querySelector(".chat-text")!.textContent}`),
    );
}

test("a broadcaster and two viewers chat: in order, with a backlog, deletions and HTML as text", async ({ context }) => {
  const room = roomName("chat");
  const talk = await liveBroadcaster(context, room);
  const first = await viewer(context, room);
  const second = await viewer(context, room);

  // A name, asked once: kept in the browser for the next page.
  await first.getByTestId("chat-name").fill("Ada");
  await first.getByTestId("chat-name").press("Enter");
  await say(first, "Hello from Ada");
  await say(talk, "Welcome, everyone");
  await say(second, "<b>bold?</b><img src=x onerror=\"document.title='pwned'\">");
  const expected = [
    "Ada: Hello from Ada",
    "broadcaster: Welcome, everyone",
    `viewer 2: <b>bold?</b><img src=x onerror="document.title='pwned'">`,
  ];
  for (const page of [talk, first, second]) {
    await expect.poll(() => lines(page)).toEqual(expected);
    // The broadcaster's message is marked; the HTML is text, no element of it exists.
    await expect(page.locator(".chat-message.from-broadcaster")).toHaveCount(1);
    expect(await page.locator(".chat-text b, .chat-text img").count()).toBe(0);
  }
  expect(await second.title()).not.toBe("pwned");

  // A late joiner gets the backlog, and the stored name.
  const late = await viewer(context, room);
  await expect.poll(() => lines(late)).toEqual(expected);
  await expect(late.getByTestId("chat-name")).toHaveValue("Ada");

  // The broadcaster deletes a message: gone for everyone, the late joiner too.
  const moderated = talk.getByTestId("chat-message").filter({ hasText: "bold?" });
  await moderated.getByTestId("chat-delete").click();
  for (const page of [talk, first, second, late]) {
    await expect.poll(() => lines(page)).toEqual(expected.slice(0, 2));
  }
  // Viewers have no moderation tools.
  await expect(first.getByTestId("chat-delete").first()).toBeHidden();
});

test("flooding is refused with a reason, and a muted viewer cannot chat until unmuted", async ({ context }) => {
  const room = roomName("flood");
  const talk = await liveBroadcaster(context, room);
  const watch = await viewer(context, room);
  // Twelve messages at once, as a script in the page would flood (typed one by one, a busy
  // machine's pace would let the rate limit refill between them).
  await watch.evaluate(() => {
    const input = document.querySelector('[data-testid="chat-input"]') as HTMLInputElement;
    const send = document.querySelector('[data-testid="chat-send"]') as HTMLButtonElement;
    for (let n = 0; n < 12; n++) {
      input.value = `message ${n}`;
      input.dispatchEvent(new Event("input", { bubbles: true }));
      send.click();
    }
  });
  await expect(watch.getByTestId("chat-notice")).toContainText("slow down");
  await expect.poll(() => lines(talk)).toHaveLength(5);

  // Muted from the audience list: the server refuses its messages, the page says so.
  const entry = talk.getByTestId("audience-viewer");
  await expect(entry).toHaveCount(1);
  await entry.getByTestId("audience-mute").click();
  await expect(entry).toHaveAttribute("data-muted", "true");
  await expect(watch.getByTestId("chat-notice")).toContainText("muted");
  await expect(watch.getByTestId("chat-input")).toBeDisabled();
  await entry.getByTestId("audience-mute").click();
  await expect(entry).toHaveAttribute("data-muted", "false");
  await expect(watch.getByTestId("chat-input")).toBeEnabled();
  await expect(watch.getByTestId("chat-notice")).toBeHidden();
});

test("the talk page lists each viewer by name, with how well it receives, and drops one that leaves", async ({ context }) => {
  const room = roomName("audience");
  const talk = await liveBroadcaster(context, room);
  const first = await viewer(context, room);
  const second = await viewer(context, room);
  const names = () =>
    talk.getByTestId("audience-viewer").evaluateAll((items) => items.map((li) => li.getAttribute("data-name")));
  await expect.poll(names).toEqual(["viewer 1", "viewer 2"]);
  await expectPlaying(first);
  await expectPlaying(second);
  // Each viewer's round trip and bitrate (from the relay's stats, or peer to peer the talk
  // page's own getStats), every few seconds.
  const figures = () =>
    talk.getByTestId("audience-quality").evaluateAll((items) =>
      items.map((q) => ({ rtt: Number(q.getAttribute("data-rtt-ms")), kbps: Number(q.getAttribute("data-kbps")) })),
    );
  await expect
    .poll(async () => (await figures()).filter((f) => f.kbps > 50 && f.rtt >= 0 && f.rtt < 1000).length, {
      timeout: 15_000,
    })
    .toBe(2);
  await second.getByTestId("chat-name").fill("Grace");
  await second.getByTestId("chat-name").press("Enter");
  await expect.poll(names).toEqual(["viewer 1", "Grace"]);
  await first.close();
  await expect.poll(names).toEqual(["Grace"]);
});

test("the watch link has an address the audience can reach, a working copy and a QR code", async ({ browser }) => {
  test.skip(!lanAddress, "this machine has no LAN address");
  // Listening on every interface: the link names the LAN address, not 127.0.0.1.
  const server = await startServer(port, [], "0.0.0.0");
  const context = await browser.newContext({
    baseURL: `http://127.0.0.1:${port}`,
    permissions: ["camera", "microphone", "clipboard-read", "clipboard-write"],
  });
  try {
    const room = roomName("invite");
    const talk = await open(context, `/talk/${room}`);
    const link = talk.getByTestId("watch-link");
    const url = `http://${lanAddress}:${port}/watch/${room}`;
    await expect(link).toHaveText(url);
    await expect(link).toHaveAttribute("href", url);
    await talk.getByTestId("copy-watch-link").click();
    await expect(talk.getByTestId("copy-watch-link")).toHaveText("Copied");
    expect(await talk.evaluate(() => navigator.clipboard.readText())).toBe(url);
    // The QR code is an image that loaded.
    const qr = talk.getByTestId("watch-qr");
    await expect.poll(() => qr.evaluate((img: HTMLImageElement) => img.naturalWidth)).toBeGreaterThan(0);
    // And the link opens the room for a viewer.
    const watch = await open(context, url);
    await expect(watch.getByTestId("status")).toHaveAttribute("data-state", "waiting");
  } finally {
    await context.close();
    await stopServer(server);
  }
});

test("--public-url is the watch link's address", async ({ browser }) => {
  const server = await startServer(port, ["--public-url", "https://live.example.org/"]);
  const context = await browser.newContext({ baseURL: `http://127.0.0.1:${port}` });
  try {
    const room = roomName("public");
    const talk = await open(context, `/talk/${room}`);
    await expect(talk.getByTestId("watch-link")).toHaveText(`https://live.example.org/watch/${room}`);
  } finally {
    await context.close();
    await stopServer(server);
  }
});

test("an over-long message is refused with its reason, and the list follows new messages unless scrolled up", async ({ context }) => {
  test.setTimeout(60_000);
  const room = roomName("scroll");
  const talk = await liveBroadcaster(context, room);
  const viewers = [await viewer(context, room), await viewer(context, room), await viewer(context, room)];

  // The input holds 500 characters; a page that sends more anyway is told why.
  const input = viewers[0].getByTestId("chat-input");
  await expect(input).toHaveAttribute("maxlength", "500");
  await input.evaluate((el: HTMLInputElement) => el.removeAttribute("maxlength"));
  await input.fill("x".repeat(501));
  await viewers[0].getByTestId("chat-send").click();
  await expect(viewers[0].getByTestId("chat-notice")).toContainText("at most 500 characters");

  // More messages than the list shows at once: it stays at the newest.
  for (const page of [talk, ...viewers]) {
    for (let n = 0; n < 4; n++) await say(page, `line ${n} from a page with a longer message to take room`);
  }
  await expect(talk.getByTestId("chat-message")).toHaveCount(16);
  const list = talk.getByTestId("chat-messages");
  const fromBottom = () => list.evaluate((el) => el.scrollHeight - el.clientHeight - el.scrollTop);
  expect(await list.evaluate((el) => el.scrollHeight > el.clientHeight)).toBe(true);
  await expect.poll(fromBottom).toBeLessThan(5);
  // The reader scrolls up to read: a new message does not pull the list down.
  await list.evaluate((el) => {
    el.scrollTop = 0;
    el.dispatchEvent(new Event("scroll"));
  });
  await say(viewers[1], "one more");
  await expect(talk.getByTestId("chat-message")).toHaveCount(17);
  // After the frames in which the list would have followed.
  const afterFrames = () => talk.evaluate(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))));
  await afterFrames();
  expect(await list.evaluate((el) => el.scrollTop)).toBe(0);
  // Back at the bottom, it follows again.
  await list.evaluate((el) => {
    el.scrollTop = el.scrollHeight;
    el.dispatchEvent(new Event("scroll"));
  });
  await say(viewers[2], "and another");
  await expect(talk.getByTestId("chat-message")).toHaveCount(18);
  await expect.poll(fromBottom).toBeLessThan(5);
});
