// Foundation: each page is rendered on the server, hydrates, and reacts after hydration.
import { expect, test } from "@playwright/test";
import { open, roomName } from "./helpers";

test("home page: server-rendered, hydrated, live form validation", async ({ page, request }) => {
  const html = await (await request.get("/")).text();
  expect(html).toContain("Live rooms");
  expect(html).toContain('data-testid="room-input"');

  await page.goto("/");
  await expect(page.locator("body[data-hydrated]")).toHaveCount(1);
  const input = page.getByTestId("room-input");
  const start = page.getByTestId("start-room");
  await expect(start).toBeDisabled();
  await input.fill("bad name!");
  await expect(page.getByTestId("room-input-error")).toContainText("not allowed");
  await expect(start).toBeDisabled();
  await input.fill("town-hall");
  await expect(page.getByTestId("room-input-error")).toBeHidden();
  await expect(page.getByTestId("room-preview")).toHaveText("/watch/town-hall");
  await start.click();
  await expect(page).toHaveURL(/\/talk\/town-hall$/);
  await expect(page.getByTestId("go-live")).toBeVisible();
});

test("talk page: server-rendered, hydrated, camera preview starts", async ({ context, request }) => {
  const room = roomName("talk");
  const html = await (await request.get(`/talk/${room}`)).text();
  expect(html).toContain('data-testid="go-live"');
  expect(html).toContain('data-testid="local-video"');
  expect(html).toContain(room);

  const page = await open(context, `/talk/${room}`);
  await page.getByTestId("start-camera").click();
  const preview = page.getByTestId("local-video");
  await expect.poll(() => preview.evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  // The picture only: the microphone on a preview, even muted, would keep an audio output busy.
  const tracks = await preview.evaluate((v: HTMLVideoElement) => {
    const stream = v.srcObject as MediaStream;
    return { video: stream.getVideoTracks().length, audio: stream.getAudioTracks().length };
  });
  expect(tracks).toEqual({ video: 1, audio: 0 });
  await expect(page.getByTestId("talk-status")).toContainText("Go live");
});

test("watch page: server-rendered, hydrated, waiting for the broadcaster", async ({ context, request }) => {
  const room = roomName("watch");
  const html = await (await request.get(`/watch/${room}`)).text();
  expect(html).toContain('data-testid="remote-video"');
  expect(html).toContain('data-state="waiting"');
  // Its icon is inline, so browsers do not ask for a /favicon.ico that is not there.
  expect(html).toMatch(/<link rel="icon" type="image\/png" href="data:image\/png;base64,/);

  const page = await open(context, `/watch/${room}`);
  await expect(page.getByTestId("status")).toHaveAttribute("data-state", "waiting");
  await expect(page.getByTestId("status")).toContainText("Waiting");
});

test("an invalid room name gets a 404 page", async ({ page, request }) => {
  for (const path of ["/talk/has%20space", "/watch/dot.dot", `/watch/${"x".repeat(65)}`, "/talk/%C3%A9"]) {
    const response = await request.get(path);
    expect(response.status(), path).toBe(404);
    expect(await response.text(), path).toContain("not a valid room name");
  }
  const response = await page.goto("/watch/no!pe");
  expect(response?.status()).toBe(404);
  await expect(page.getByTestId("not-found")).toContainText("not a valid room name");
  expect((await page.request.get("/no/such/page")).status()).toBe(404);
});

test("static files come from public/: robots.txt keeps crawlers off the rooms", async ({ request }) => {
  const robots = await request.get("/robots.txt");
  expect(robots.status()).toBe(200);
  expect(await robots.text()).toContain("Disallow: /");
});

test("health endpoints answer", async ({ request }) => {
  expect(await (await request.get("/healthz")).text()).toBe("ok");
  expect((await request.get("/readyz")).status()).toBe(200);
});

test("the wasm bundle is served precompressed and revalidates with an ETag", async ({ request }) => {
  // The server compresses the bundle once in the background at start-up.
  await expect
    .poll(async () => (await request.get("/pkg/onair.wasm", { headers: { "accept-encoding": "br" } })).headers()["etag"], {
      timeout: 60_000,
    })
    .toBeTruthy();
  const br = await request.get("/pkg/onair.wasm", { headers: { "accept-encoding": "br" } });
  expect(br.headers()["content-encoding"]).toBe("br");
  expect(br.headers()["content-type"]).toBe("application/wasm");
  expect(br.headers()["cache-control"]).toBe("no-cache");
  const gzip = await request.get("/pkg/onair.wasm", { headers: { "accept-encoding": "gzip" } });
  expect(gzip.headers()["content-encoding"]).toBe("gzip");
  const again = await request.get("/pkg/onair.wasm", {
    headers: { "accept-encoding": "br", "if-none-match": br.headers()["etag"] },
  });
  expect(again.status()).toBe(304);
  expect((await request.get("/pkg/onair.css")).status()).toBe(200);
  expect((await request.get("/pkg/nothing-here.wasm")).status()).toBe(404);
});
