//! One synthetic WebRTC peer: a str0m `Rtc` on its own UDP socket, in its own task. The
//! broadcaster sends stamped frames at the set bitrates; a viewer counts what arrives in the
//! window, its delay and its jitter.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use str0m::{
    media::{Frequency, MediaKind, MediaTime, Mid, Rid},
    net::{Protocol, Receive},
    Candidate, Event, Input, Output, Rtc,
};
use tokio::{
    net::UdpSocket,
    sync::{oneshot, watch},
    time::Instant,
};

use super::{
    shaper::Shaper,
    stamp::{self, Clock, Window, STAMP_BYTES},
};

/// `--simulcast`'s layers, best first: their rids and their share of `--video-kbps` (in
/// tenths).
pub const LAYERS: [(&str, u32); 3] = [("h", 10), ("m", 3), ("l", 1)];

const VIDEO_FPS: u64 = 30;
const AUDIO_FPS: u64 = 50;
/// A key frame every 2 s at 30 frames/s, four times a delta frame's size.
const GOP_FRAMES: u64 = 60;
const KEYFRAME_SCALE: u64 = 4;

/// What the broadcaster sends, and what it sent within the window.
pub struct Sending {
    pub audio: Mid,
    pub video: Mid,
    pub video_kbps: u32,
    pub audio_kbps: u32,
    /// Send the picture in the three [`LAYERS`] (simulcast), each frame stamped with its
    /// layer.
    pub simulcast: bool,
    pub sent: Arc<Sent>,
}

#[derive(Default)]
pub struct Sent {
    pub video: AtomicU64,
    pub audio: AtomicU64,
    pub keyframe_requests: AtomicU64,
}

/// What one viewer received within the window.
#[derive(Default, Debug)]
pub struct Received {
    pub video: u64,
    pub audio: u64,
    pub packets: u64,
    /// One-way delays, microseconds.
    pub delays: Vec<u32>,
    /// RFC 3550 interarrival jitter of the video frames at the end, microseconds.
    pub jitter: f64,
    /// Video frames of each simulcast layer (best first), and the video's bytes.
    pub layers: [u64; 3],
    pub bytes: u64,
    /// The viewer's downlink cap, kbit/s.
    pub cap_kbps: Option<u32>,
}

pub enum Role {
    Send(Sending),
    /// A viewer, its downlink capped at this many kbit/s, if at all.
    Receive(Option<u32>),
}

/// The byte of a frame that says its layer (after the stamp).
const LAYER_BYTE: usize = STAMP_BYTES;

pub struct Peer {
    pub rtc: Rtc,
    pub socket: UdpSocket,
    pub addr: SocketAddr,
}

impl Peer {
    pub async fn new() -> std::io::Result<Self> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(std::time::Instant::now());
        if let Ok(candidate) = Candidate::host(addr, "udp") {
            rtc.add_local_candidate(candidate);
        }
        Ok(Self { rtc, socket, addr })
    }

    /// Run until `stop` turns true; `connected` fires once ICE and DTLS are through.
    pub async fn drive(
        self,
        role: Role,
        clock: Clock,
        window: Arc<Window>,
        connected: oneshot::Sender<()>,
        mut stop: watch::Receiver<bool>,
    ) -> Received {
        let Self {
            mut rtc,
            socket,
            addr,
        } = self;
        let mut connected = Some(connected);
        let mut received = Received::default();
        let mut shaper = match role {
            Role::Receive(cap) => {
                received.cap_kbps = cap;
                cap.map(Shaper::new)
            }
            Role::Send(_) => None,
        };
        let mut last_video: Option<(u64, u64)> = None;
        let mut buf = vec![0u8; 2048];
        let start = Instant::now();
        let (mut next_video, mut next_audio) = (start, start);
        let (mut video_seq, mut audio_seq) = (0u32, 0u32);
        let mut keyframe_asked = [true; 3];
        loop {
            let wake = loop {
                match rtc.poll_output() {
                    Ok(Output::Transmit(t)) => {
                        let _ = socket.try_send_to(&t.contents, t.destination);
                    }
                    Ok(Output::Timeout(at)) => break Instant::from_std(at),
                    Ok(Output::Event(Event::Connected)) => {
                        if let Some(tell) = connected.take() {
                            let _ = tell.send(());
                        }
                    }
                    Ok(Output::Event(Event::KeyframeRequest(request))) => {
                        let layer = LAYERS
                            .iter()
                            .position(|(rid, _)| request.rid == Some(Rid::from(*rid)));
                        match layer {
                            Some(layer) => keyframe_asked[layer] = true,
                            None => keyframe_asked = [true; 3],
                        }
                        if let Role::Send(sending) = &role {
                            sending.sent.keyframe_requests.fetch_add(1, Relaxed);
                        }
                    }
                    Ok(Output::Event(Event::MediaData(data))) => {
                        let now = clock.micros();
                        let Some((_, sent)) = stamp::read(&data.data) else {
                            continue;
                        };
                        if !window.holds(sent) {
                            continue;
                        }
                        let kind = rtc.media(data.mid).map(|m| m.kind());
                        received.packets += **data.seq_range.end() - **data.seq_range.start() + 1;
                        received
                            .delays
                            .push(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
                        match kind {
                            Some(MediaKind::Video) => {
                                received.video += 1;
                                received.bytes += data.data.len() as u64;
                                let layer =
                                    usize::from(data.data.get(LAYER_BYTE).copied().unwrap_or(0));
                                if let Some(count) = received.layers.get_mut(layer) {
                                    *count += 1;
                                }
                                if let Some((last_sent, last_now)) = last_video {
                                    let d = (now as f64 - last_now as f64)
                                        - (sent as f64 - last_sent as f64);
                                    received.jitter += (d.abs() - received.jitter) / 16.0;
                                }
                                last_video = Some((sent, now));
                            }
                            Some(MediaKind::Audio) => received.audio += 1,
                            None => {}
                        }
                    }
                    Ok(Output::Event(_)) => {}
                    Err(_) => return received,
                }
            };
            let sending = match &role {
                Role::Send(sending) if connected.is_none() => Some(sending),
                _ => None,
            };
            let wake = match sending {
                Some(_) => wake.min(next_video).min(next_audio),
                None => wake,
            };
            let through = shaper
                .as_ref()
                .and_then(Shaper::next_at)
                .map(Instant::from_std);
            let wake = through.map_or(wake, |at| wake.min(at));
            tokio::select! {
                got = socket.recv_from(&mut buf) => {
                    let Ok((n, source)) = got else { return received };
                    match &mut shaper {
                        Some(shaper) => shaper.push(std::time::Instant::now(), &buf[..n], source),
                        None => {
                            if let Ok(receive) = Receive::new(Protocol::Udp, source, addr, &buf[..n]) {
                                let _ = rtc.handle_input(Input::Receive(std::time::Instant::now(), receive));
                            }
                        }
                    }
                }
                () = tokio::time::sleep_until(wake) => {
                    let _ = rtc.handle_input(Input::Timeout(std::time::Instant::now()));
                }
                _ = stop.changed() => return received,
            }
            if let Some(shaper) = &mut shaper {
                let now = std::time::Instant::now();
                while let Some((data, source)) = shaper.pop_due(now) {
                    if let Ok(receive) = Receive::new(Protocol::Udp, source, addr, &data) {
                        let _ = rtc.handle_input(Input::Receive(now, receive));
                    }
                }
            }
            let Some(sending) = sending else { continue };
            let now = Instant::now();
            if now >= next_video {
                next_video += Duration::from_micros(1_000_000 / VIDEO_FPS);
                let sent = clock.micros();
                if window.holds(sent) {
                    sending.sent.video.fetch_add(1, Relaxed);
                }
                let layers: &[(&str, u32)] = match sending.simulcast {
                    true => &LAYERS,
                    false => &LAYERS[..1],
                };
                for (layer, (rid, tenths)) in layers.iter().enumerate() {
                    let keyframe =
                        keyframe_asked[layer] || u64::from(video_seq).is_multiple_of(GOP_FRAMES);
                    keyframe_asked[layer] = false;
                    let kbps = u64::from(sending.video_kbps) * u64::from(*tenths) / 10;
                    let average = kbps * 1000 / 8 / VIDEO_FPS;
                    let delta = average * GOP_FRAMES / (GOP_FRAMES + KEYFRAME_SCALE - 1);
                    let size = if keyframe {
                        delta * KEYFRAME_SCALE
                    } else {
                        delta
                    };
                    let mut frame = vec![0x55u8; (size as usize).max(LAYER_BYTE + 1)];
                    frame[0] = if keyframe { 0x10 } else { 0x11 };
                    stamp::write(&mut frame, video_seq, sent);
                    frame[LAYER_BYTE] = layer as u8;
                    let rid = sending.simulcast.then(|| Rid::from(*rid));
                    write(&mut rtc, (sending.video, rid), Frequency::NINETY_KHZ, frame);
                }
                video_seq = video_seq.wrapping_add(1);
            }
            if now >= next_audio {
                next_audio += Duration::from_micros(1_000_000 / AUDIO_FPS);
                let size = u64::from(sending.audio_kbps) * 1000 / 8 / AUDIO_FPS;
                let mut frame = vec![0xf8u8; (size as usize).max(STAMP_BYTES)];
                let sent = clock.micros();
                stamp::write(&mut frame, audio_seq, sent);
                audio_seq = audio_seq.wrapping_add(1);
                if window.holds(sent) {
                    sending.sent.audio.fetch_add(1, Relaxed);
                }
                write(
                    &mut rtc,
                    (sending.audio, None),
                    Frequency::FORTY_EIGHT_KHZ,
                    frame,
                );
            }
        }
    }
}

fn write(rtc: &mut Rtc, (mid, rid): (Mid, Option<Rid>), clock: Frequency, frame: Vec<u8>) {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = *START.get_or_init(std::time::Instant::now);
    let Some(writer) = rtc.writer(mid) else {
        return;
    };
    let Some(pt) = writer.payload_params().next().map(|p| p.pt()) else {
        return;
    };
    let now = std::time::Instant::now();
    let ticks = (now - start).as_micros() as u64 * u64::from(clock.get()) / 1_000_000;
    let writer = match rid {
        Some(rid) => writer.rid(rid),
        None => writer,
    };
    let _ = writer.write(pt, now, MediaTime::new(ticks, clock), frame);
}
