// Who broadcasts in a viewer's test: a talk page, or (ONAIR_E2E_SOURCE=whip) Eyevinn's WHIP
// client (npm, nobody here wrote it) in a page of its own, with Chromium's fake camera. To a
// viewer the two must be indistinguishable, so broadcast.spec.ts runs against both.
import { expect, type BrowserContext, type Page } from "@playwright/test";
import { bundleForPage, liveBroadcaster, open } from "./helpers";

export const SOURCE = process.env.ONAIR_E2E_SOURCE === "whip" ? "whip" : "talk";

export interface Broadcast {
  /** The talk page, when a talk page broadcasts. */
  talk?: Page;
  /** End the broadcast: the talk page's Stop, the WHIP client's DELETE. */
  stop(): Promise<void>;
  /** Go live again after `stop`. */
  resume(): Promise<void>;
  /** The broadcaster's tab closes without a word. */
  close(): Promise<void>;
  /** The audience the broadcaster sees: the talk page's count, or the room list's. */
  expectViewers(count: number): Promise<void>;
}

/** A live broadcast in `room` from the test run's source. */
export async function goLive(context: BrowserContext, room: string): Promise<Broadcast> {
  return SOURCE === "whip" ? whipBroadcast(context, room) : talkBroadcast(context, room);
}

async function talkBroadcast(context: BrowserContext, room: string): Promise<Broadcast> {
  const talk = await liveBroadcaster(context, room);
  return {
    talk,
    stop: () => talk.getByTestId("stop").click(),
    async resume() {
      await talk.getByTestId("go-live").click();
      await expect(talk.getByTestId("live-badge")).toHaveText("LIVE");
    },
    close: () => talk.close(),
    expectViewers: (count) => expect(talk.getByTestId("viewer-count")).toHaveText(String(count)),
  };
}

let whipClientBundle: string | undefined;

/** Eyevinn's WHIP client, bundled for a page once. */
function whipClient(): string {
  whipClientBundle ??= bundleForPage("@eyevinn/whip-web-client", "WHIPClient");
  return whipClientBundle;
}

async function whipBroadcast(context: BrowserContext, room: string): Promise<Broadcast> {
  // A page of this origin with nothing of the app in it: the WHIP client is all it runs.
  const page = await context.newPage();
  page.on("pageerror", (err) => console.log(`[pageerror whip ${room}] ${err.message}`));
  await page.goto("/robots.txt");
  await page.addScriptTag({ content: whipClient() });
  const ingest = () =>
    page.evaluate(async (endpoint) => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
      const client = new (window as any).WHIPClient({ endpoint, opts: { iceServers: [] } });
      (window as any).__whip = { client, stream };
      await client.ingest(stream);
      await new Promise<void>((connected, failed) => {
        const pc: RTCPeerConnection = client.peer;
        const check = () => {
          if (pc.connectionState === "connected") connected();
          if (pc.connectionState === "failed") failed(new Error("the WHIP client's connection failed"));
        };
        pc.addEventListener("connectionstatechange", check);
        check();
      });
    }, new URL(`/whip/${room}`, page.url()).toString());
  await ingest();
  let home: Page | undefined;
  return {
    async stop() {
      await page.evaluate(async () => {
        const { client, stream } = (window as any).__whip;
        await client.destroy();
        for (const track of stream.getTracks()) track.stop();
      });
    },
    resume: ingest,
    close: () => page.close(),
    async expectViewers(count) {
      home ??= await open(context, "/");
      const entry = home.locator(`[data-testid="room"][data-room="${room}"]`);
      await expect(entry.getByTestId("room-viewers")).toHaveText(String(count));
    },
  };
}
