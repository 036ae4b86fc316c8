//! A WebRTC client for the relay's tests: a str0m `Rtc` on its own loopback UDP socket,
//! driven by its own task, reporting what it receives. A publisher sends synthetic Opus and
//! VP8 frames (VP8's key-frame bit is real: the relay reads it).

use std::{net::SocketAddr, time::Duration};

use str0m::{
    change::{SdpAnswer, SdpOffer},
    media::{Direction, Frequency, MediaKind, MediaTime, Mid},
    net::{Protocol, Receive},
    Candidate, Event, Input, Output, Rtc,
};
use tokio::{
    net::UdpSocket,
    sync::{mpsc, oneshot},
    task::JoinHandle,
    time::{timeout, Instant},
};

use crate::common::STEP;

/// What a media peer saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Connected,
    Frame {
        kind: MediaKind,
        keyframe: bool,
    },
    /// The remote side asked this (sending) peer for a key frame.
    KeyframeRequest,
    /// The publisher's index of the video frame just seen (right after its `Frame`).
    Index(u32),
}

pub struct MediaPeer {
    seen: mpsc::UnboundedReceiver<Seen>,
    controls: mpsc::UnboundedSender<Restart>,
    task: JoinHandle<()>,
}

/// An ICE restart from a new socket (the client changed networks), half done: send
/// `fragment` (the new credentials and candidate), then hand the server's answering fragment
/// to `answer`.
pub struct IceRestart {
    pub fragment: String,
    pub answer: oneshot::Sender<String>,
}

/// Asked of the peer's task: restart ICE (see [`IceRestart`]).
struct Restart(oneshot::Sender<IceRestart>);

impl Drop for MediaPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sending half of a publisher: its two media lines.
#[derive(Clone, Copy)]
struct Sending {
    audio: Mid,
    video: Mid,
}

async fn socket() -> (UdpSocket, SocketAddr) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

fn rtc(addr: SocketAddr) -> Rtc {
    rtc_with(addr, Video::Vp8)
}

/// The video codec a test peer takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Video {
    Vp8,
    /// H.264 only: a viewer that cannot decode a VP8 broadcast.
    H264,
}

fn rtc_with(addr: SocketAddr, video: Video) -> Rtc {
    let mut rtc = Rtc::builder()
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(video == Video::Vp8)
        .enable_h264(video == Video::H264)
        .build(std::time::Instant::now());
    rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
    rtc
}

impl MediaPeer {
    /// A publisher's offer (sound and picture, sent only) and the peer, once `answer` comes.
    pub async fn publish() -> (String, impl FnOnce(String) -> MediaPeer) {
        let (socket, addr) = socket().await;
        let mut rtc = rtc(addr);
        let mut change = rtc.sdp_api();
        let audio = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        let video = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = change.apply().unwrap();
        let finish = move |answer: String| {
            let parsed = SdpAnswer::from_sdp_string(&answer).unwrap();
            rtc.sdp_api().accept_answer(pending, parsed).unwrap();
            let sending = Some(Sending { audio, video });
            Self::spawn(rtc, (socket, addr), answer, sending, None)
        };
        (offer.to_sdp_string(), finish)
    }

    /// A player's offer (sound and picture, received only: a WHEP client) and the peer, once
    /// `answer` comes.
    pub async fn play() -> (String, impl FnOnce(String) -> MediaPeer) {
        let (socket, addr) = socket().await;
        let mut rtc = rtc(addr);
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        change.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = change.apply().unwrap();
        let finish = move |answer: String| {
            let parsed = SdpAnswer::from_sdp_string(&answer).unwrap();
            rtc.sdp_api().accept_answer(pending, parsed).unwrap();
            Self::spawn(rtc, (socket, addr), answer, None, None)
        };
        (offer.to_sdp_string(), finish)
    }

    /// A viewer answering the relay's `offer`; returns the answer too.
    pub async fn answer(offer: &str) -> (String, MediaPeer) {
        Self::answer_dropping(offer, None).await
    }

    /// A viewer on a bad link: it drops every `drop_every`th RTP packet that reaches it.
    pub async fn answer_dropping(offer: &str, drop_every: Option<u32>) -> (String, MediaPeer) {
        Self::answer_with(offer, drop_every, Video::Vp8).await
    }

    /// A viewer answering with `video` as its only video codec.
    pub async fn answer_with(
        offer: &str,
        drop_every: Option<u32>,
        video: Video,
    ) -> (String, MediaPeer) {
        let (socket, addr) = socket().await;
        let mut rtc = rtc_with(addr, video);
        let parsed = SdpOffer::from_sdp_string(offer).unwrap();
        let answer = rtc.sdp_api().accept_offer(parsed).unwrap();
        let peer = Self::spawn(rtc, (socket, addr), offer.to_owned(), None, drop_every);
        (answer.to_sdp_string(), peer)
    }

    /// `remote`: the other side's SDP (an ICE restart reuses it).
    fn spawn(
        rtc: Rtc,
        (socket, addr): (UdpSocket, SocketAddr),
        remote: String,
        sending: Option<Sending>,
        drop_every: Option<u32>,
    ) -> Self {
        let (tx, seen) = mpsc::unbounded_channel();
        let (controls, control_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(drive(
            rtc,
            (socket, addr),
            sending,
            drop_every,
            tx,
            (remote, control_rx),
        ));
        Self {
            seen,
            controls,
            task,
        }
    }

    /// Start an ICE restart from a new socket; the old one is closed once the answer comes.
    pub async fn restart_ice(&self) -> IceRestart {
        let (tx, rx) = oneshot::channel();
        self.controls.send(Restart(tx)).unwrap();
        timeout(STEP, rx).await.unwrap().unwrap()
    }

    /// Wait for something `want` accepts; what comes before it is passed over.
    pub async fn wait_for(&mut self, who: &str, want: impl Fn(&Seen) -> bool) -> Seen {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match timeout(left, self.seen.recv()).await {
                Ok(Some(seen)) if want(&seen) => return seen,
                Ok(Some(_)) => {}
                Ok(None) => panic!("{who}: the media peer stopped"),
                Err(_) => panic!("{who}: not seen within {STEP:?}"),
            }
        }
    }

    /// Everything seen so far, without waiting.
    pub fn drain(&mut self) -> Vec<Seen> {
        let mut all = Vec::new();
        while let Ok(seen) = self.seen.try_recv() {
            all.push(seen);
        }
        all
    }
}

const AUDIO_EVERY: Duration = Duration::from_millis(20);
const VIDEO_EVERY: Duration = Duration::from_millis(33);
/// A publisher sends a key frame this often, and whenever it is asked.
const KEYFRAME_EVERY_FRAMES: u64 = 90;

async fn drive(
    mut rtc: Rtc,
    (mut socket, mut addr): (UdpSocket, SocketAddr),
    sending: Option<Sending>,
    drop_every: Option<u32>,
    seen: mpsc::UnboundedSender<Seen>,
    (mut remote, mut controls): (String, mpsc::UnboundedReceiver<Restart>),
) {
    let mut rtp_packets = 0u32;
    let mut buf = vec![0u8; 2000];
    let mut connected = false;
    let mut keyframe_asked = true;
    let mut next_audio = Instant::now();
    let mut next_video = Instant::now();
    let mut frames = 0u64;
    loop {
        let wake = loop {
            match rtc.poll_output() {
                Ok(Output::Transmit(t)) => {
                    let _ = socket.send_to(&t.contents, t.destination).await;
                }
                Ok(Output::Timeout(at)) => break Instant::from_std(at),
                Ok(Output::Event(event)) => match event {
                    Event::Connected => {
                        connected = true;
                        let _ = seen.send(Seen::Connected);
                    }
                    Event::MediaData(data) => {
                        let kind = rtc.media(data.mid).map(|m| m.kind());
                        if let Some(kind) = kind {
                            let keyframe = data.is_keyframe();
                            let _ = seen.send(Seen::Frame { kind, keyframe });
                            let index = data.data.get(1..5).and_then(|b| b.try_into().ok());
                            if let (MediaKind::Video, Some(index)) = (kind, index) {
                                let _ = seen.send(Seen::Index(u32::from_le_bytes(index)));
                            }
                        }
                    }
                    Event::KeyframeRequest(_) => {
                        keyframe_asked = true;
                        let _ = seen.send(Seen::KeyframeRequest);
                    }
                    _ => {}
                },
                Err(_) => return,
            }
        };
        let wake = match (sending, connected) {
            (Some(_), true) => wake.min(next_audio).min(next_video),
            _ => wake,
        };
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = received else { return };
                // RTP (not RTCP: payload types 200-206 in the second byte) on a bad link.
                let rtp = matches!(buf[..n], [128..=191, pt, ..] if !(200..=206).contains(&pt));
                if let (true, Some(every)) = (rtp, drop_every) {
                    rtp_packets += 1;
                    if rtp_packets.is_multiple_of(every) {
                        continue;
                    }
                }
                if let Ok(receive) = Receive::new(Protocol::Udp, source, addr, &buf[..n]) {
                    let _ = rtc.handle_input(Input::Receive(std::time::Instant::now(), receive));
                }
            }
            () = tokio::time::sleep_until(wake) => {
                let _ = rtc.handle_input(Input::Timeout(std::time::Instant::now()));
            }
            Some(Restart(reply)) = controls.recv() => {
                let Some(moved) = restart_ice(&mut rtc, &mut remote, reply).await else {
                    return;
                };
                (socket, addr) = moved;
            }
        }
        let (Some(sending), true) = (sending, connected) else {
            continue;
        };
        let now = Instant::now();
        if now >= next_audio {
            next_audio += AUDIO_EVERY;
            write(
                &mut rtc,
                sending.audio,
                Frequency::FORTY_EIGHT_KHZ,
                vec![0xf8; 60],
            );
        }
        if now >= next_video {
            next_video += VIDEO_EVERY;
            frames += 1;
            let keyframe = keyframe_asked || frames.is_multiple_of(KEYFRAME_EVERY_FRAMES);
            keyframe_asked = false;
            // VP8: bit 0 of the first byte is 0 on a key frame.
            let mut frame = vec![0x55; 3000];
            frame[0] = if keyframe { 0x10 } else { 0x11 };
            frame[1..5].copy_from_slice(&(frames as u32).to_le_bytes());
            write(&mut rtc, sending.video, Frequency::NINETY_KHZ, frame);
        }
    }
}

/// Restart ICE from a new socket: new credentials and candidate out, the server's in (the
/// rest of its answer is its first one's: only ICE changed). The new socket, once answered;
/// `remote` becomes the new answer.
async fn restart_ice(
    rtc: &mut Rtc,
    remote: &mut String,
    reply: oneshot::Sender<IceRestart>,
) -> Option<(UdpSocket, SocketAddr)> {
    let (socket, addr) = socket().await;
    let mut change = rtc.sdp_api();
    let creds = change.ice_restart(false);
    let (_offer, pending) = change.apply()?;
    let candidate = Candidate::host(addr, "udp").ok()?;
    let fragment = format!(
        "a=ice-ufrag:{}\r\na=ice-pwd:{}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na={}\r\n",
        creds.ufrag,
        creds.pass,
        candidate.to_sdp_string()
    );
    let (answer_tx, answer_rx) = oneshot::channel();
    reply
        .send(IceRestart {
            fragment,
            answer: answer_tx,
        })
        .ok()?;
    let server = answer_rx.await.ok()?;
    let value = |name: &str| {
        server
            .lines()
            .find_map(|line| line.trim_end().strip_prefix(name))
            .map(str::to_owned)
    };
    let (ufrag, pwd) = (value("a=ice-ufrag:")?, value("a=ice-pwd:")?);
    // Its candidates name the ICE session they belong to: the new ones replace the old.
    let candidates: Vec<&str> = server
        .lines()
        .map(str::trim_end)
        .filter(|line| line.starts_with("a=candidate:"))
        .collect();
    let mut answer = String::new();
    for line in remote.lines().map(str::trim_end) {
        if line.starts_with("a=candidate:") {
            continue;
        }
        let line = if line.starts_with("a=ice-ufrag:") {
            format!("a=ice-ufrag:{ufrag}")
        } else if line.starts_with("a=ice-pwd:") {
            format!("a=ice-pwd:{pwd}\r\n{}", candidates.join("\r\n"))
        } else {
            line.to_owned()
        };
        answer.push_str(&line);
        answer.push_str("\r\n");
    }
    let parsed = SdpAnswer::from_sdp_string(&answer).ok()?;
    rtc.sdp_api().accept_answer(pending, parsed).ok()?;
    // Only now: the restart, applied with the answer, clears the local candidates.
    rtc.add_local_candidate(candidate);
    *remote = answer;
    Some((socket, addr))
}

fn write(rtc: &mut Rtc, mid: Mid, clock: Frequency, data: Vec<u8>) {
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
    let _ = writer.write(pt, now, MediaTime::new(ticks, clock), data);
}
