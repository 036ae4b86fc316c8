//! The reader side of a client (its session's task): the protocol state, what each server
//! message makes it do, and the checks and measurements of every relayed message.

use std::{
    collections::HashMap,
    sync::{atomic::Ordering::Relaxed, Arc},
};

use onair_protocol::{ClientMessage, ErrorCode, PeerId, Role, ServerMessage};
use tokio::sync::{mpsc, Notify};

use crate::{
    payload::{self, Kind},
    shared::Shared,
    stats::StreamCounters,
    writer::Cmd,
};

/// An error code as the wire names it (`rate_limited`, …).
fn code_name(code: ErrorCode) -> String {
    match serde_json::to_value(code) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{code:?}"),
    }
}

/// The reader's protocol state.
pub struct Peer<'a> {
    shared: &'a Arc<Shared>,
    role: Role,
    /// Streams towards the broadcaster of this room (its viewers), for the window.
    window_in: u32,
    id: Option<PeerId>,
    /// Viewer: the live broadcaster, from welcome.on_air or on_air.
    broadcaster: Option<PeerId>,
    /// Viewer: the broadcaster whose offer it answered.
    answered: Option<PeerId>,
    cmd: mpsc::Sender<Cmd>,
    wake: Arc<Notify>,
    /// Incoming streams by sender.
    cache: HashMap<PeerId, Arc<StreamCounters>>,
    /// Joined, and (for a viewer in relay mode) answered the broadcaster's offer.
    pub ready: bool,
    /// Why the session cannot go on, for the session loop to count and end.
    pub failed: Option<String>,
}

impl<'a> Peer<'a> {
    /// A peer that has sent nothing yet; `window_in` is the number of streams towards its
    /// room's broadcaster (at least 1).
    pub fn new(
        shared: &'a Arc<Shared>,
        role: Role,
        window_in: u32,
        cmd: mpsc::Sender<Cmd>,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            shared,
            role,
            window_in,
            id: None,
            broadcaster: None,
            answered: None,
            cmd,
            wake,
            cache: HashMap::new(),
            ready: false,
            failed: None,
        }
    }

    pub async fn command(&self, cmd: Cmd) {
        // A closed queue means the writer stopped; the session loop notices that.
        let _ = self.cmd.send(cmd).await;
    }

    fn open_stream(&self, to: PeerId) -> Option<Arc<StreamCounters>> {
        let me = self.id?;
        Some(self.shared.registry.open(me, to, &self.wake))
    }

    /// Start sending to `to`: the SDP first (offer or answer), then candidates.
    async fn start(&mut self, kind: Kind, to: PeerId) {
        let Some(stream) = self.open_stream(to) else {
            return;
        };
        self.command(Cmd::Sdp {
            kind,
            to,
            stream: stream.clone(),
        })
        .await;
        // The broadcaster hears from all its viewers: each stream gets a share of its window.
        let window = (self.shared.window / u64::from(self.window_in)).max(1);
        self.command(Cmd::Start { to, stream, window }).await;
    }

    pub fn mark_churned(&self) {
        let (Some(me), Some(other)) = (self.id, self.answered.or(self.broadcaster)) else {
            return;
        };
        for (from, to) in [(me, other), (other, me)] {
            if let Some(stream) = self.shared.registry.get(from, to) {
                stream.churned.store(true, Relaxed);
            }
        }
    }

    pub async fn on_text(&mut self, text: &str) {
        let arrived_ns = self.shared.now_ns();
        // Most of what arrives: checked without the full parser (see payload::relayed_candidate).
        if let Some((from, line)) = payload::relayed_candidate(text) {
            self.check(Kind::Candidate, from, line, arrived_ns);
            return;
        }
        let stats = &self.shared.stats;
        let msg = match serde_json::from_str::<ServerMessage>(text) {
            Ok(msg) => msg,
            Err(_) => {
                stats.client_errors.add("unreadable server message");
                return;
            }
        };
        match msg {
            ServerMessage::Welcome { id, on_air, .. } => {
                if self.id.is_some() {
                    stats.client_errors.add("second welcome");
                    return;
                }
                self.id = Some(id);
                self.command(Cmd::Me(id)).await;
                match self.role {
                    Role::Broadcaster => {
                        self.command(Cmd::Control(ClientMessage::GoLive {
                            key: None,
                            reclaim: None,
                        }))
                        .await;
                    }
                    Role::Viewer if self.shared.idle => self.ready = true,
                    Role::Viewer => {
                        if let Some(broadcaster) = on_air {
                            self.broadcaster = Some(broadcaster);
                            self.command(Cmd::Control(ClientMessage::WantStream)).await;
                        }
                    }
                }
            }
            ServerMessage::Live { .. } => {
                if self.role == Role::Broadcaster {
                    self.ready = true;
                } else {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            ServerMessage::OnAir { broadcaster } => {
                if self.role != Role::Viewer {
                    stats.misrouted.fetch_add(1, Relaxed);
                } else if self.broadcaster != Some(broadcaster) {
                    self.broadcaster = Some(broadcaster);
                    if !self.shared.idle {
                        self.command(Cmd::Control(ClientMessage::WantStream)).await;
                    }
                }
            }
            ServerMessage::OffAir { .. } => {
                if let Some(broadcaster) = self.broadcaster.take() {
                    self.command(Cmd::Stop(broadcaster)).await;
                }
            }
            ServerMessage::WantStream { from } => {
                if self.role != Role::Broadcaster {
                    stats.misrouted.fetch_add(1, Relaxed);
                } else if !self.shared.idle {
                    self.start(Kind::Offer, from).await;
                }
            }
            ServerMessage::Offer { from, sdp } => {
                // `check` makes sure the offer came from the broadcaster this viewer learned
                // of (welcome.on_air or on_air); the answer goes to that id.
                if self.check(Kind::Offer, from, &sdp, arrived_ns) {
                    if let Some(broadcaster) = self.broadcaster {
                        if self.answered != Some(broadcaster) {
                            self.answered = Some(broadcaster);
                            self.start(Kind::Answer, broadcaster).await;
                            self.ready = true;
                        }
                    }
                }
            }
            ServerMessage::Answer { from, sdp } => {
                self.check(Kind::Answer, from, &sdp, arrived_ns);
            }
            ServerMessage::Candidate { from, candidate } => {
                self.check(Kind::Candidate, from, &candidate.candidate, arrived_ns);
            }
            ServerMessage::PeerLeft { peer } => {
                if self.role == Role::Broadcaster {
                    self.cache.remove(&peer);
                    self.command(Cmd::Stop(peer)).await;
                } else {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            ServerMessage::ViewerCount { .. } => {
                if self.role != Role::Broadcaster {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            ServerMessage::Hangup { .. } => stats.client_errors.add("unexpected hangup"),
            ServerMessage::Audio { .. } => stats.client_errors.add("unexpected audio request"),
            // The load tool never asks for recording.
            ServerMessage::Recording { .. } => stats.client_errors.add("unexpected recording"),
            // The load tool never offers a spare connection.
            ServerMessage::SpareHeld { .. } | ServerMessage::SpareTaken { .. } => {
                stats.misrouted.fetch_add(1, Relaxed);
            }
            ServerMessage::RoomFull { .. } => {
                stats.server_error("room_full", "room is full");
                self.failed = Some("room full".into());
            }
            ServerMessage::Error { code, message } => {
                stats.server_error(&code_name(code), &message);
                if !self.ready
                    && matches!(
                        code,
                        ErrorCode::AlreadyLive | ErrorCode::WrongKey | ErrorCode::ServerFull
                    )
                {
                    self.failed = Some(format!("setup refused: {}", code_name(code)));
                }
            }
            ServerMessage::ShuttingDown => {
                stats.server_error("shutting_down", "the server is shutting down");
            }
            // Every join gets the chat's backlog; broadcasters hear who comes and goes.
            ServerMessage::ChatBacklog { .. } => {}
            ServerMessage::Audience { .. }
            | ServerMessage::AudienceJoined { .. }
            | ServerMessage::AudienceLeft { .. }
            | ServerMessage::ViewerStats { .. }
            | ServerMessage::Layers { .. } => {
                if self.role != Role::Broadcaster {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            // The relay's layer news for a viewer: signaling mode has no relay.
            ServerMessage::Quality { .. } => {
                if self.role != Role::Viewer {
                    stats.misrouted.fetch_add(1, Relaxed);
                }
            }
            // The load tool never asks the time.
            ServerMessage::ClockPong { .. } | ServerMessage::BroadcasterClock { .. } => {
                stats.client_errors.add("unexpected clock")
            }
            // The load tool never chats.
            ServerMessage::Chat { .. }
            | ServerMessage::ChatDeleted { .. }
            | ServerMessage::ChatMuted { .. } => stats.client_errors.add("unexpected chat"),
        }
    }

    /// Check one relayed message and count it; true if it came from whom and to whom it should.
    fn check(&mut self, kind: Kind, from: PeerId, text: &str, arrived_ns: u64) -> bool {
        let stats = &self.shared.stats;
        let Some(stamp) = payload::parse(text) else {
            stats.corrupt.fetch_add(1, Relaxed);
            return false;
        };
        let allowed = match self.role {
            // A viewer hears only from the broadcaster it learned from welcome/on_air.
            Role::Viewer => kind != Kind::Answer && self.broadcaster == Some(from),
            Role::Broadcaster => kind != Kind::Offer,
        };
        let me = self.id;
        if !allowed || stamp.kind != kind || stamp.from != from || Some(stamp.to) != me {
            stats.misrouted.fetch_add(1, Relaxed);
            return false;
        }
        let stream = match self.cache.get(&from) {
            Some(stream) => stream.clone(),
            None => match self.shared.registry.get(from, stamp.to) {
                Some(stream) => {
                    self.cache.insert(from, stream.clone());
                    stream
                }
                // Nobody of ours opened that stream: a message we never sent.
                None => {
                    stats.misrouted.fetch_add(1, Relaxed);
                    return false;
                }
            },
        };
        let expected = stream.next_seq.load(Relaxed);
        if stamp.seq >= expected {
            if stamp.seq > expected {
                stats.seq_gaps.fetch_add(1, Relaxed);
            }
            stream.next_seq.store(stamp.seq + 1, Relaxed);
        } else {
            stats.reordered.fetch_add(1, Relaxed);
        }
        stream.received.fetch_add(1, Relaxed);
        if self.shared.stream_rate == 0.0 {
            stream.wake.notify_one();
        }
        stats.relay_received[kind.index()].fetch_add(1, Relaxed);
        let latency = arrived_ns.saturating_sub(stamp.sent_ns);
        match kind {
            Kind::Candidate => {
                stats.latency_candidate.record(latency);
                match self.role {
                    Role::Broadcaster => stats.latency_to_broadcaster.record(latency),
                    Role::Viewer => stats.latency_to_viewer.record(latency),
                }
            }
            Kind::Offer | Kind::Answer => stats.latency_sdp.record(latency),
        }
        true
    }
}
