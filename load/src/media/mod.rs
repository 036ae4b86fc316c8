//! `--media`: a synthetic broadcaster sends video and audio to the server's relay over real
//! WebRTC, and synthetic viewers receive it, in steps of `--viewers`. Each step reports loss,
//! one-way delay and jitter from the stamps in the frames, the server's CPU per viewer and per
//! forwarded packet, its memory per viewer, and this tool's own CPU (it shares the machine).
//!
//! - [`stamp`]: the stamp in every frame, and the measurement window.
//! - [`peer`]: one synthetic peer (str0m) and its task.
//! - [`signal`]: joining and trading SDP with the relay.
//! - [`layers`]: `--simulcast`, and what each viewer got of its layers.
//! - [`shaper`]: a viewer's capped downlink (`--viewer-kbps`).
//! - [`floor`]: `--media-floor`, the same fan-out by a bare UDP loop, and SRTP's cost.

pub mod floor;
mod layers;
mod nodes;
mod peer;
mod report;
mod shaper;
mod signal;
mod stamp;

use std::{
    process::ExitCode,
    sync::{atomic::Ordering::Relaxed, Arc},
    time::Duration,
};

use onair_protocol::{ClientMessage, Role, ServerMessage, RELAY_ID};
use serde::Serialize;
use str0m::{
    change::{SdpAnswer, SdpOffer},
    media::{Direction, MediaKind, Simulcast, SimulcastLayer},
};
use tokio::{
    sync::{oneshot, watch, Semaphore},
    task::JoinHandle,
    time::{sleep, timeout},
};

use crate::{cli::Args, progress, sys, write_json};
use peer::{Peer, Received, Role as PeerRole, Sending, Sent};
use report::{figures, FigureInputs};
pub use report::{MediaReport, Step};
use signal::Signal;
use stamp::{Clock, Window};

/// Time after the window closes for frames still in flight.
const GRACE: Duration = Duration::from_millis(700);
/// Time for the relay to settle after the viewers joined, before the window opens.
const WARM_UP: Duration = Duration::from_secs(2);
/// Viewers joining at once.
const JOINING_AT_ONCE: usize = 16;

struct Viewer {
    hold: JoinHandle<()>,
    media: JoinHandle<Received>,
}

/// `--media`: a synthetic broadcast through the server's relay.
pub async fn main(args: &Args) -> ExitCode {
    finish(args, "media", run(args).await, MediaReport::print)
}

/// `--media-floor`: the same fan-out by a bare UDP loop, no server (see [`floor`]).
pub fn floor_main(args: &Args) -> ExitCode {
    finish(
        args,
        "media floor",
        floor::run(args),
        floor::FloorReport::print,
    )
}

/// Print the report and write its JSON, or say why there is none.
fn finish<R: Serialize>(
    args: &Args,
    what: &str,
    result: Result<R, String>,
    print: impl Fn(&R),
) -> ExitCode {
    match result {
        Ok(report) => {
            print(&report);
            if write_json(args, &report) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(err) => {
            eprintln!("onair-load: {what}: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<MediaReport, String> {
    let clock = Clock::new();
    let window = Arc::new(Window::closed());
    let (stop_tx, stop) = watch::channel(false);
    let room = format!("{}-media-{}", args.room_prefix, std::process::id());
    let sent = Arc::new(Sent::default());
    let broadcaster = publish(
        args,
        &room,
        clock,
        window.clone(),
        stop.clone(),
        sent.clone(),
    )
    .await?;
    progress(&format!("media: broadcasting in {room}"));
    let mut report = MediaReport {
        video_kbps: args.video_kbps,
        audio_kbps: args.audio_kbps,
        seconds: args.duration,
        steps: Vec::new(),
    };
    for &count in &args.viewers {
        let step = measure(args, &room, count, clock, &window, &sent).await;
        report.steps.push(step);
    }
    let _ = stop_tx.send(true);
    broadcaster.abort();
    Ok(report)
}

/// The broadcaster: live, asked by the relay for its stream, connected.
async fn publish(
    args: &Args,
    room: &str,
    clock: Clock,
    window: Arc<Window>,
    stop: watch::Receiver<bool>,
    sent: Arc<Sent>,
) -> Result<JoinHandle<()>, String> {
    let mut signal = Signal::connect(&args.addr, room).await?;
    signal.send(&ClientMessage::join(Role::Broadcaster)).await?;
    signal
        .send(&ClientMessage::GoLive {
            key: None,
            reclaim: None,
        })
        .await?;
    signal
        .wait_for("want_stream from the relay", |msg| {
            matches!(msg, ServerMessage::WantStream { from: RELAY_ID }).then_some(())
        })
        .await
        .map_err(|err| format!("{err} (is the server running with --media sfu?)"))?;
    let mut peer = Peer::new().await.map_err(|err| err.to_string())?;
    let mut change = peer.rtc.sdp_api();
    let audio = change.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
    let simulcast = args.simulcast.then(|| {
        let mut simulcast = Simulcast::new();
        for (rid, _) in layers::LAYERS {
            simulcast.add_send_layer(SimulcastLayer::new(rid));
        }
        simulcast
    });
    let video = change.add_media(MediaKind::Video, Direction::SendOnly, None, None, simulcast);
    let (offer, pending) = change.apply().ok_or("nothing to offer")?;
    signal
        .send(&ClientMessage::Offer {
            to: RELAY_ID,
            sdp: offer.to_sdp_string(),
        })
        .await?;
    let answer = signal
        .wait_for("the relay's answer", |msg| match msg {
            ServerMessage::Answer {
                from: RELAY_ID,
                sdp,
            } => Some(sdp),
            _ => None,
        })
        .await?;
    let answer = SdpAnswer::from_sdp_string(&answer).map_err(|err| err.to_string())?;
    peer.rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .map_err(|err| err.to_string())?;
    let sending = Sending {
        audio,
        video,
        video_kbps: args.video_kbps,
        audio_kbps: args.audio_kbps,
        simulcast: args.simulcast,
        sent,
    };
    let (connected_tx, connected) = oneshot::channel();
    let media =
        tokio::spawn(peer.drive(PeerRole::Send(sending), clock, window, connected_tx, stop));
    timeout(Duration::from_secs(20), connected)
        .await
        .map_err(|_| "the broadcaster's connection to the relay did not come up".to_string())?
        .map_err(|_| "the broadcaster's peer stopped".to_string())?;
    let hold = signal.hold();
    Ok(tokio::spawn(async move {
        let _ = media.await;
        hold.abort();
    }))
}

/// A viewer: joined wanting the stream, answered the relay's offer, asked for sound.
async fn watch_stream(
    (addr, room, cap): (&str, &str, Option<u32>),
    clock: Clock,
    window: Arc<Window>,
    stop: watch::Receiver<bool>,
) -> Result<(Viewer, oneshot::Receiver<()>), String> {
    let mut signal = Signal::connect(addr, room).await?;
    signal
        .send(&ClientMessage::Join {
            role: Role::Viewer,
            want_stream: true,
            ticket: None,
        })
        .await?;
    // As a watch page does: a room that goes live after the join (on another node, this one
    // may hear of it a moment later) is asked again for its stream.
    let offer = loop {
        let next = signal
            .wait_for("the relay's offer", |msg| match msg {
                ServerMessage::Offer {
                    from: RELAY_ID,
                    sdp,
                } => Some(Some(sdp)),
                ServerMessage::OnAir { .. } => Some(None),
                _ => None,
            })
            .await?;
        match next {
            Some(sdp) => break sdp,
            None => signal.send(&ClientMessage::WantStream).await?,
        }
    };
    let mut peer = Peer::new().await.map_err(|err| err.to_string())?;
    let offer = SdpOffer::from_sdp_string(&offer).map_err(|err| err.to_string())?;
    let answer = peer
        .rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|err| err.to_string())?;
    signal
        .send(&ClientMessage::Answer {
            to: RELAY_ID,
            sdp: answer.to_sdp_string(),
        })
        .await?;
    // Unmuted: the heavier case, sound and picture.
    signal
        .send(&ClientMessage::Audio {
            to: RELAY_ID,
            on: true,
        })
        .await?;
    let (connected_tx, connected) = oneshot::channel();
    let media = tokio::spawn(peer.drive(PeerRole::Receive(cap), clock, window, connected_tx, stop));
    Ok((
        Viewer {
            hold: signal.hold(),
            media,
        },
        connected,
    ))
}

async fn measure(
    args: &Args,
    room: &str,
    count: u32,
    clock: Clock,
    window: &Arc<Window>,
    sent: &Arc<Sent>,
) -> Step {
    progress(&format!("media: {count} viewers joining"));
    let memory_before = args
        .server_pid
        .and_then(sys::memory_kib)
        .map(|(rss, _)| rss);
    let (stop_tx, stop) = watch::channel(false);
    let gate = Arc::new(Semaphore::new(JOINING_AT_ONCE));
    let joins: Vec<_> = (0..count as usize)
        .map(|i| {
            let cap = match args.viewer_kbps.as_slice() {
                [] => None,
                caps => Some(caps[i % caps.len()]).filter(|kbps| *kbps > 0),
            };
            let (addr, room, window, stop, gate) = (
                nodes::viewer_addr(args, i),
                room.to_string(),
                window.clone(),
                stop.clone(),
                gate.clone(),
            );
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.ok()?;
                let (viewer, connected) = watch_stream((&addr, &room, cap), clock, window, stop)
                    .await
                    .map_err(|err| progress(&format!("media: a viewer failed: {err}")))
                    .ok()?;
                let up = timeout(Duration::from_secs(30), connected).await;
                Some((i, viewer, matches!(up, Ok(Ok(())))))
            })
        })
        .collect();
    let mut viewers = Vec::new();
    let mut connected = 0;
    for join in joins {
        if let Ok(Some((i, viewer, up))) = join.await {
            connected += u32::from(up);
            viewers.push((i, viewer));
        }
    }
    sleep(WARM_UP).await;
    let memory_joined = args
        .server_pid
        .and_then(sys::memory_kib)
        .map(|(rss, _)| rss);
    let cpu_before = args.server_pid.and_then(sys::cpu_micros);
    let nodes_before = nodes::cpu_now(args);
    let own_before = sys::cpu_micros(sys::own_pid());
    sent.video.store(0, Relaxed);
    sent.audio.store(0, Relaxed);
    let requests_before = sent.keyframe_requests.load(Relaxed);
    window.open(clock.micros());
    sleep(Duration::from_secs_f64(args.duration)).await;
    window.close(clock.micros());
    let cpu_after = args.server_pid.and_then(sys::cpu_micros);
    let nodes_after = nodes::cpu_now(args);
    let own_after = sys::cpu_micros(sys::own_pid());
    sleep(GRACE).await;
    let _ = stop_tx.send(true);
    let mut by_node = Vec::new();
    for (i, viewer) in viewers {
        viewer.hold.abort();
        if let Ok(r) = viewer.media.await {
            by_node.push((i, r));
        }
    }
    let per_node = nodes::per_node(args, &by_node, (&nodes_before, &nodes_after), args.duration);
    let received: Vec<_> = by_node.into_iter().map(|(_, r)| r).collect();
    window.reset();
    let per_viewer = match args.simulcast || !args.viewer_kbps.is_empty() {
        true => layers::per_viewer(&received, sent.video.load(Relaxed), args.duration),
        false => Vec::new(),
    };
    let step = figures(FigureInputs {
        count,
        connected,
        seconds: args.duration,
        expected_video: sent.video.load(Relaxed),
        expected_audio: sent.audio.load(Relaxed),
        received: &received,
        server_cpu: cpu_before.zip(cpu_after).map(|(a, b)| b.saturating_sub(a)),
        own_cpu: own_before.zip(own_after).map(|(a, b)| b.saturating_sub(a)),
        memory: memory_before.zip(memory_joined),
        keyframe_requests: sent.keyframe_requests.load(Relaxed) - requests_before,
    });
    // Let the server see the viewers leave before the next step.
    sleep(Duration::from_secs(1)).await;
    Step {
        server_rss_after_kib: args
            .server_pid
            .and_then(sys::memory_kib)
            .map(|(rss, _)| rss),
        per_viewer,
        per_node,
        ..step
    }
}
