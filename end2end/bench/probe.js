// Injected with page.addInitScript before any of the page's own scripts run (benchmarks only).
// Marks the moments of a page's life on `performance.now()` (ms since navigation start) in
// `window.__bench.t`, and keeps what the benchmarks read later:
//   - WebSocket: hooked so the wasm app's `new WebSocket(url)` is timed; `open`, the first
//     server message of each type (`msg:<type>`) and the first client message of each type
//     (`sent:<type>`); every message also goes to `__bench.log` as [epoch ms, dir, type, peer].
//   - RTCPeerConnection: every instance in `__bench.pcs`; first `connectionState` of each kind,
//     first `track`.
//   - WebAssembly.instantiate(Streaming): start and end.
//   - <body data-hydrated>, the status line's data-state, the remote <video>'s first presented
//     frame (requestVideoFrameCallback, first frame only; see onFrame).
(() => {
  if (window.__bench) return;
  const epoch = () => performance.timeOrigin + performance.now();
  const B = (window.__bench = { t: {}, log: [], pcs: [], meta: {} });
  const mark = (name, at = performance.now()) => {
    if (B.t[name] !== undefined) return;
    B.t[name] = at;
    // Tells a waiting benchmark that the join is complete by a console message, so it need not
    // poll the page: polling (waitForFunction) makes Playwright inject its ~330 KB script into
    // the page during the load, about 40 ms of the main thread's time that a visitor never pays.
    if (!B.ready && B.t.firstFrame !== undefined && B.t["state:live"] !== undefined) {
      B.ready = true;
      console.debug("__bench:ready");
    }
  };
  B.mark = mark;

  // --- signaling socket
  const NativeWS = window.WebSocket;
  const typeOf = (data) => {
    try {
      const m = JSON.parse(data);
      return [m.type, m.from ?? m.to ?? m.id ?? m.peer ?? m.by];
    } catch {
      return ["?", undefined];
    }
  };
  class BenchWebSocket extends NativeWS {
    constructor(...args) {
      super(...args);
      mark("wsCreate");
      this.addEventListener("open", () => mark("wsOpen"));
      this.addEventListener("close", () => mark("wsClose"));
      this.addEventListener("message", (e) => {
        const [type, peer] = typeOf(e.data);
        mark(`msg:${type}`);
        if (type === "welcome") {
          const welcome = JSON.parse(e.data);
          B.meta.peerId = welcome.id;
          B.meta.pageOffer = welcome.page_offer === true;
        }
        B.log.push([epoch(), "in", type, peer]);
      });
    }
    send(data) {
      const [type, peer] = typeOf(data);
      mark(`sent:${type}`);
      B.log.push([epoch(), "out", type, peer]);
      return super.send(data);
    }
  }
  window.WebSocket = BenchWebSocket;

  // --- peer connections
  const NativePC = window.RTCPeerConnection;
  if (NativePC) {
    class BenchPeerConnection extends NativePC {
      constructor(...args) {
        super(...args);
        mark("pcCreate");
        B.pcs.push(this);
        this.addEventListener("connectionstatechange", () => mark(`pc:${this.connectionState}`));
        this.addEventListener("iceconnectionstatechange", () => mark(`ice:${this.iceConnectionState}`));
        this.addEventListener("track", () => mark("track"));
      }
    }
    window.RTCPeerConnection = BenchPeerConnection;
  }

  // --- wasm instantiation
  for (const fn of ["instantiateStreaming", "instantiate", "compileStreaming"]) {
    const native = WebAssembly[fn];
    if (!native) continue;
    WebAssembly[fn] = function (...args) {
      mark(`wasm:${fn}:start`);
      return native.apply(this, args).then((r) => {
        mark(`wasm:${fn}:end`);
        return r;
      });
    };
  }

  // --- the DOM: hydration, status, remote video
  // Only the first frame is taken from requestVideoFrameCallback: a callback on every frame makes
  // the page run a full rendering update per video frame (main thread, commit, compositor),
  // which in the fan-out run cost more than a third of each viewer's CPU. Frame rates come
  // from the video's playback-quality counters instead (B.measure).
  const onFrame = (video) => {
    video.requestVideoFrameCallback((now, meta) => {
      // presentationTime: when the frame was handed to the compositor.
      mark("firstFrame", meta.presentationTime);
      mark("firstFrameCallback", now);
      B.meta.firstFrame = { width: meta.width, height: meta.height };
    });
  };
  const watchVideo = (video) => {
    if (video.__benchWatched) return;
    video.__benchWatched = true;
    B.video = video;
    mark("videoElement");
    video.addEventListener("loadedmetadata", () => mark("loadedmetadata"));
    video.addEventListener("playing", () => mark("playing"));
    onFrame(video);
  };
  const scan = () => {
    if (document.body?.hasAttribute("data-hydrated")) mark("hydrated");
    const status = document.querySelector('[data-testid="status"]');
    if (status) {
      const state = status.getAttribute("data-state");
      if (state) mark(`state:${state}`);
    }
    if (document.querySelector('[data-testid="stage-overlay"]')?.hidden) mark("overlay:hidden");
    const video = document.querySelector('video[data-testid="remote-video"]');
    if (video && video !== B.video) {
      B.video = undefined;
      watchVideo(video);
    }
  };
  new MutationObserver(scan).observe(document, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ["data-hydrated", "data-state", "hidden"],
  });
  document.addEventListener("DOMContentLoaded", () => {
    mark("domContentLoaded");
    scan();
  });

  /**
   * Presented frames and playback quality over `ms`, measured in the page: frames shown minus
   * frames dropped (getVideoPlaybackQuality), and the longest time without a new frame, from
   * samples every 100 ms (a timer does not make the page render).
   */
  B.measure = async (ms) => {
    const quality = () => B.video?.getVideoPlaybackQuality?.();
    const i0 = await B.inbound();
    const q0 = quality();
    const t0 = performance.now();
    let lastTotal = q0?.totalVideoFrames;
    let lastChange = t0;
    let gapMaxMs = 0;
    const sampler = setInterval(() => {
      const q = quality();
      const now = performance.now();
      if (q && q.totalVideoFrames !== lastTotal) {
        gapMaxMs = Math.max(gapMaxMs, now - lastChange);
        lastTotal = q.totalVideoFrames;
        lastChange = now;
      }
    }, 100);
    await new Promise((r) => setTimeout(r, ms));
    clearInterval(sampler);
    const q1 = quality();
    const t1 = performance.now();
    gapMaxMs = Math.max(gapMaxMs, t1 - lastChange);
    const dt = (t1 - t0) / 1000;
    const i1 = await B.inbound();
    const total = q0 && q1 ? q1.totalVideoFrames - q0.totalVideoFrames : undefined;
    const dropped = q0 && q1 ? q1.droppedVideoFrames - q0.droppedVideoFrames : undefined;
    return {
      seconds: dt,
      presentedFps: total === undefined ? 0 : (total - dropped) / dt,
      totalFps: total === undefined ? undefined : total / dt,
      dropped,
      decodedFps: (i1.framesDecoded - i0.framesDecoded) / dt,
      receivedFps: (i1.framesReceived - i0.framesReceived) / dt,
      framesDroppedRtp: i1.framesDropped - i0.framesDropped,
      packetsLost: i1.packetsLost - i0.packetsLost,
      freezes: i1.freezeCount - i0.freezeCount,
      decoder: i1.decoder,
      gapMaxMs,
      width: B.video?.videoWidth,
      height: B.video?.videoHeight,
    };
  };

  /** Summed outbound RTP counters of the open peer connections (broadcaster side). */
  B.outbound = async () => {
    const out = { at: performance.now(), pcs: 0, video: [], audioBytes: 0, videoBytes: 0 };
    for (const pc of B.pcs) {
      // "new": the talk page's spare connection, which no viewer has taken yet.
      if (pc.connectionState === "closed" || pc.connectionState === "new") continue;
      out.pcs++;
      const report = await pc.getStats();
      for (const s of report.values()) {
        if (s.type !== "outbound-rtp") continue;
        const bytes = (s.bytesSent ?? 0) + (s.headerBytesSent ?? 0);
        if (s.kind === "audio") out.audioBytes += bytes;
        else if (s.kind === "video") {
          out.videoBytes += bytes;
          out.video.push({
            id: s.id + "@" + B.pcs.indexOf(pc),
            bytes,
            framesEncoded: s.framesEncoded,
            framesSent: s.framesSent,
            totalEncodeTime: s.totalEncodeTime,
            fps: s.framesPerSecond,
            width: s.frameWidth,
            height: s.frameHeight,
            limitation: s.qualityLimitationReason,
            encoder: s.encoderImplementation,
          });
        }
      }
    }
    return out;
  };

  /** Summed inbound video counters of this page's peer connections (viewer side). */
  B.inbound = async () => {
    const out = { framesDecoded: 0, framesDropped: 0, framesReceived: 0, packetsLost: 0, freezeCount: 0 };
    for (const pc of B.pcs) {
      if (pc.connectionState === "closed") continue;
      const report = await pc.getStats();
      for (const s of report.values()) {
        if (s.type !== "inbound-rtp" || s.kind !== "video") continue;
        out.framesDecoded += s.framesDecoded ?? 0;
        out.framesDropped += s.framesDropped ?? 0;
        out.framesReceived += s.framesReceived ?? 0;
        out.packetsLost += s.packetsLost ?? 0;
        out.freezeCount += s.freezeCount ?? 0;
        out.decoder = s.decoderImplementation;
      }
    }
    return out;
  };
})();
