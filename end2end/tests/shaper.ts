// A UDP bottleneck between the relay and one viewer: the viewer's page is told the relay's
// address is the shaper's, and what the relay sends it passes at most `kbps` (a queue of
// `queueMs` in front, as a real link's buffer; past it, datagrams are dropped). What the
// viewer sends goes through as it comes. Only that viewer's media is limited.
import dgram from "node:dgram";

export type Shaper = {
  port: number;
  /** Limit the viewer's downlink to `kbps`, or lift the limit (`null`). */
  limit(kbps: number | null): void;
  /** Bytes passed towards the viewer so far, and dropped. */
  passed(): { bytes: number; dropped: number };
  close(): void;
};

export async function startShaper(port: number, relayPort: number, queueMs = 250): Promise<Shaper> {
  const front = dgram.createSocket("udp4");
  const behind = new Map<string, dgram.Socket>();
  let kbps: number | null = null;
  let free = 0; // when the link is free again (ms, performance.now)
  let bytes = 0;
  let dropped = 0;
  let closed = false;
  // Datagrams still queued when the shaper closes go nowhere.
  const send = (msg: Buffer, toPort: number, toAddress: string) => {
    if (!closed) front.send(msg, toPort, toAddress);
  };
  const down = (msg: Buffer, toPort: number, toAddress: string) => {
    const now = performance.now();
    if (kbps === null) {
      bytes += msg.length;
      // A lifted limit drains the queue first, as a link's buffer does: what comes behind
      // the queue does not overtake it (reordered, it read as congestion to the relay).
      if (free <= now) send(msg, toPort, toAddress);
      else setTimeout(() => send(msg, toPort, toAddress), free - now);
      return;
    }
    const start = Math.max(now, free);
    if (start - now > queueMs) {
      dropped += 1;
      return;
    }
    free = start + (msg.length * 8) / kbps;
    bytes += msg.length;
    setTimeout(() => send(msg, toPort, toAddress), free - now);
  };
  front.on("message", (msg, from) => {
    const key = `${from.address}:${from.port}`;
    let upstream = behind.get(key);
    if (!upstream) {
      upstream = dgram.createSocket("udp4");
      upstream.on("message", (back) => down(back, from.port, from.address));
      upstream.bind(0, "127.0.0.1");
      behind.set(key, upstream);
    }
    upstream.send(msg, relayPort, "127.0.0.1");
  });
  await new Promise<void>((ok) => front.bind(port, "127.0.0.1", ok));
  return {
    port,
    limit(value) {
      kbps = value;
    },
    passed: () => ({ bytes, dropped }),
    close() {
      closed = true;
      front.close();
      for (const socket of behind.values()) socket.close();
    },
  };
}

/** An init script for the viewer's page: the relay's loopback candidate becomes the
 * shaper's, and its other candidates are dropped, so its media takes the shaper. */
export function throughShaper({ relayPort, shaperPort }: { relayPort: number; shaperPort: number }) {
  const from = ` 127.0.0.1 ${relayPort} `;
  const to = ` 127.0.0.1 ${shaperPort} `;
  const rewrite = (sdp: string) =>
    sdp
      .split("\r\n")
      .filter((l) => !l.startsWith("a=candidate") || l.includes(from))
      .map((l) => (l.startsWith("a=candidate") ? l.replace(from, to) : l))
      .join("\r\n");
  const set = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (desc?: RTCSessionDescriptionInit) {
    return set.call(this, desc && desc.sdp ? { type: desc.type, sdp: rewrite(desc.sdp) } : desc);
  };
  const add = RTCPeerConnection.prototype.addIceCandidate;
  RTCPeerConnection.prototype.addIceCandidate = function (c?: RTCIceCandidateInit) {
    if (c && c.candidate && c.candidate.includes(" typ ")) {
      if (!c.candidate.includes(from)) return Promise.resolve();
      c = { ...c, candidate: c.candidate.replace(from, to) };
    }
    return add.call(this, c);
  };
}

/** An init script: the page notes the longest gap between presented frames since `__mark()`. */
export function frameGaps() {
  const w = window as any;
  w.__gap = { last: 0, max: 0 };
  w.__mark = () => {
    w.__gap = { last: 0, max: 0 };
  };
  const start = () => {
    const video = document.querySelector('[data-testid="remote-video"]') as HTMLVideoElement | null;
    if (!video) return setTimeout(start, 100);
    const onFrame = (now: number) => {
      const gap = w.__gap;
      if (gap.last) gap.max = Math.max(gap.max, now - gap.last);
      gap.last = now;
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  start();
}
