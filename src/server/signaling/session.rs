//! The protocol state of one connection: before and after joining, its rate limit, its count
//! of rule breaks, and a reply held back on purpose (a wrong key is answered late).

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use super::{admission::IpSlot, metrics::SignalingMetrics, relayed};
use crate::server::rate_limit::TokenBucket;
use crate::{
    protocol::{
        close_code, ClientMessage, ErrorCode, Role, RoomName, ServerMessage, MAX_CANDIDATE_BYTES,
        MAX_KEY_BYTES, MAX_SDP_BYTES, MAX_SDP_MID_BYTES,
    },
    server::{
        outbox::Outbox,
        rooms::{Hub, JoinError, Membership, Refusal},
    },
};

/// Protocol violations (bad JSON, wrong role, …) a connection may make before it is closed.
const MAX_VIOLATIONS: u32 = 10;
/// Messages over the rate limit in a row before the connection is closed.
const MAX_OVER_LIMIT: u32 = 200;
/// Wait before answering a wrong key, so keys cannot be guessed quickly. The connection reads
/// nothing more meanwhile, but its writes and pings go on.
const WRONG_KEY_DELAY: Duration = Duration::from_millis(200);

/// What the connection does after a client message.
pub enum Flow {
    Continue,
    Close(u16, &'static str),
    /// Read nothing more until `Instant`, then call [`Session::release`].
    Hold(Instant),
}

/// A reply held back until its time, and what follows it.
struct Held {
    reply: ServerMessage,
    close: Option<(u16, &'static str)>,
}

pub struct Session {
    hub: Arc<Hub>,
    room: RoomName,
    key: Option<String>,
    outbox: Outbox,
    pub membership: Option<Membership>,
    messages_per_second: u32,
    bucket: TokenBucket,
    over_limit: u32,
    violations: u32,
    held: Option<Held>,
    /// This connection's place in its address's count, told when it joins.
    ip_slot: Option<IpSlot>,
    metrics: SignalingMetrics,
}

impl Session {
    pub fn new(
        hub: Arc<Hub>,
        room: RoomName,
        key: Option<String>,
        outbox: Outbox,
        messages_per_second: u32,
        ip_slot: Option<IpSlot>,
    ) -> Self {
        let rate = f64::from(messages_per_second);
        Self {
            hub,
            room,
            key,
            outbox,
            membership: None,
            messages_per_second,
            bucket: TokenBucket::new(rate, rate * 2.0),
            over_limit: 0,
            violations: 0,
            held: None,
            ip_slot,
            metrics: SignalingMetrics::default(),
        }
    }

    /// Count this session's refusals in `metrics`.
    pub fn counting(mut self, metrics: SignalingMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn on_text(&mut self, text: &str) -> Flow {
        if !self.bucket.take() {
            self.over_limit += 1;
            if self.over_limit >= MAX_OVER_LIMIT {
                return Flow::Close(close_code::POLICY, "too many messages");
            }
            if self.over_limit == 1 {
                self.metrics.refused(ErrorCode::RateLimited);
                self.outbox.send(&ServerMessage::error(
                    ErrorCode::RateLimited,
                    format!(
                        "slow down: at most {} messages per second",
                        self.messages_per_second
                    ),
                ));
            }
            return Flow::Continue;
        }
        self.over_limit = 0;
        if let (Some(membership), Some(relayed)) = (&self.membership, relayed::parse(text)) {
            let text = relayed.encode(membership.id());
            return match membership.handle_relayed(relayed.kind, relayed.to, text) {
                Ok(()) => Flow::Continue,
                Err(refusal) => self.refused(refusal),
            };
        }
        let msg = match serde_json::from_str::<ClientMessage>(text) {
            Ok(msg) => msg,
            Err(err) => {
                let mut reason = format!("not a valid message: {err}");
                reason.truncate(200);
                return self.violation(ErrorCode::BadMessage, reason);
            }
        };
        if let Err(reason) = check_sizes(&msg) {
            return self.violation(ErrorCode::BadMessage, reason);
        }
        let Some(membership) = &self.membership else {
            return self.join(msg);
        };
        match membership.handle(msg) {
            Ok(()) => Flow::Continue,
            Err(refusal) => self.refused(refusal),
        }
    }

    /// The held reply's time has come: send it, and say what follows.
    pub fn release(&mut self) -> Flow {
        let Some(held) = self.held.take() else {
            return Flow::Continue;
        };
        self.outbox.send(&held.reply);
        match held.close {
            Some((code, reason)) => Flow::Close(code, reason),
            None => Flow::Continue,
        }
    }

    fn hold(&mut self, reply: ServerMessage, close: Option<(u16, &'static str)>) -> Flow {
        self.held = Some(Held { reply, close });
        Flow::Hold(Instant::now() + WRONG_KEY_DELAY)
    }

    /// Answer a refused request; only real rule breaks count towards closing the connection.
    fn refused(&mut self, refusal: Refusal) -> Flow {
        match refusal.code {
            ErrorCode::WrongKey => {
                self.metrics.refused(refusal.code);
                self.hold(ServerMessage::error(refusal.code, refusal.message), None)
            }
            // Races (a candidate for a viewer that just left) are normal; do not count them.
            ErrorCode::NoSuchPeer
            | ErrorCode::OutOfOrder
            | ErrorCode::AlreadyLive
            | ErrorCode::Unavailable => {
                self.metrics.refused(refusal.code);
                self.outbox
                    .send(&ServerMessage::error(refusal.code, refusal.message));
                Flow::Continue
            }
            code => self.violation(code, refusal.message),
        }
    }

    fn join(&mut self, msg: ClientMessage) -> Flow {
        let ClientMessage::Join {
            role,
            want_stream,
            ticket,
        } = msg
        else {
            return self.violation(
                ErrorCode::NotJoined,
                "the first message must be {\"type\":\"join\",\"role\":...}".into(),
            );
        };
        match self.hub.join(
            &self.room,
            role,
            self.outbox.clone(),
            self.key.as_deref(),
            ticket.as_deref(),
        ) {
            Ok(membership) => {
                if let Some(slot) = &mut self.ip_slot {
                    slot.joined();
                }
                if want_stream && role == Role::Viewer && !membership.has_offer() {
                    // Only refused when nobody is on air, which the welcome already said.
                    let _ = membership.handle(ClientMessage::WantStream);
                }
                self.membership = Some(membership);
                Flow::Continue
            }
            Err(JoinError::RoomFull(max_viewers)) => {
                self.outbox.send(&ServerMessage::RoomFull { max_viewers });
                Flow::Close(close_code::ROOM_FULL, "room is full")
            }
            Err(err @ JoinError::TooManyRooms(_)) => {
                self.outbox.send(&ServerMessage::error(
                    ErrorCode::ServerFull,
                    err.to_string(),
                ));
                Flow::Close(close_code::POLICY, "server has too many rooms")
            }
            Err(err @ JoinError::Private) => self.hold(
                ServerMessage::error(ErrorCode::WrongKey, err.to_string()),
                Some((close_code::PRIVATE, "this room is private")),
            ),
            Err(JoinError::ShuttingDown) => {
                self.outbox.send(&ServerMessage::ShuttingDown);
                Flow::Close(
                    close_code::GOING_AWAY,
                    "server restarting; reconnect shortly",
                )
            }
        }
    }

    /// Tell the client what it did wrong; close the connection once it keeps doing it.
    pub fn violation(&mut self, code: ErrorCode, message: String) -> Flow {
        self.metrics.refused(code);
        self.violations += 1;
        self.outbox.send(&ServerMessage::error(code, message));
        if self.violations >= MAX_VIOLATIONS {
            Flow::Close(close_code::PROTOCOL_ERROR, "too many protocol errors")
        } else {
            Flow::Continue
        }
    }
}

/// Field limits beyond the frame size: SDP, candidates and keys each have their own.
fn check_sizes(msg: &ClientMessage) -> Result<(), String> {
    let too_long = |what: &str, len: usize, max: usize| {
        if len > max {
            Err(format!("{what} is {len} bytes; the limit is {max}"))
        } else {
            Ok(())
        }
    };
    match msg {
        ClientMessage::Offer { sdp, .. }
        | ClientMessage::Answer { sdp, .. }
        | ClientMessage::SpareOffer { sdp, .. } => too_long("sdp", sdp.len(), MAX_SDP_BYTES),
        ClientMessage::Candidate { candidate, .. } => {
            too_long("candidate", candidate.candidate.len(), MAX_CANDIDATE_BYTES)?;
            too_long(
                "sdp_mid",
                candidate.sdp_mid.as_ref().map_or(0, String::len),
                MAX_SDP_MID_BYTES,
            )
        }
        ClientMessage::Join {
            ticket: Some(ticket),
            ..
        } => too_long("ticket", ticket.len(), MAX_KEY_BYTES),
        ClientMessage::GoLive { key, reclaim } => {
            too_long("key", key.as_ref().map_or(0, String::len), MAX_KEY_BYTES)?;
            too_long(
                "reclaim",
                reclaim.as_ref().map_or(0, String::len),
                MAX_KEY_BYTES,
            )
        }
        ClientMessage::Join { ticket: None, .. }
        | ClientMessage::OffAir
        | ClientMessage::WantStream
        | ClientMessage::Hangup { .. }
        | ClientMessage::Audio { .. }
        | ClientMessage::Record { .. }
        | ClientMessage::DeleteChat { .. }
        | ClientMessage::MuteChat { .. }
        | ClientMessage::ClockPing { .. }
        | ClientMessage::ClockOffset { .. }
        | ClientMessage::ViewerSize { .. }
        | ClientMessage::PinQuality { .. } => Ok(()),
        // Their limits are in characters, refused by the chat with a reason of its own.
        ClientMessage::Chat { .. } | ClientMessage::ChatName { .. } => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::server::{config::Config, outbox::Queue, shutdown::Shutdown};

    fn session(flags: &[&str], room: &str, key: Option<&str>) -> (Session, Queue) {
        let config = Config::parse_from(std::iter::once("onair").chain(flags.iter().copied()));
        let hub = Hub::new(
            config.rooms,
            config.keys,
            vec![],
            Shutdown::default(),
            None,
            None,
            None,
        );
        let (outbox, queue) = Outbox::new(16);
        let room = RoomName::parse(room).unwrap();
        let session = Session::new(hub, room, key.map(str::to_owned), outbox, 50, None);
        (session, queue)
    }

    fn next(queue: &mut Queue) -> Option<ServerMessage> {
        queue
            .try_recv()
            .flatten()
            .map(|text| serde_json::from_str(&text).unwrap())
    }

    fn text(msg: &ClientMessage) -> String {
        serde_json::to_string(msg).unwrap()
    }

    /// The wrong key's answer waits in the session, not in a sleep of the connection's task:
    /// the task goes on writing and pinging meanwhile, and sends it on `release`.
    #[tokio::test]
    async fn a_wrong_publish_key_is_answered_on_release() {
        let (mut session, mut queue) = session(&["--publish-key", "k"], "hall", None);
        let join = text(&ClientMessage::join(Role::Broadcaster));
        assert!(matches!(session.on_text(&join), Flow::Continue));
        assert!(matches!(
            next(&mut queue),
            Some(ServerMessage::Welcome { .. })
        ));
        // A broadcaster's welcome comes with the chat's backlog and the audience.
        assert!(matches!(
            next(&mut queue),
            Some(ServerMessage::ChatBacklog { .. })
        ));
        assert!(matches!(
            next(&mut queue),
            Some(ServerMessage::Audience { .. })
        ));
        let go_live = text(&ClientMessage::GoLive {
            key: Some("guess".into()),
            reclaim: None,
        });
        let Flow::Hold(until) = session.on_text(&go_live) else {
            panic!("a wrong key is answered later");
        };
        assert!(until > Instant::now());
        assert_eq!(next(&mut queue), None, "nothing before the delay");
        assert!(matches!(session.release(), Flow::Continue));
        assert!(matches!(
            next(&mut queue),
            Some(ServerMessage::Error {
                code: ErrorCode::WrongKey,
                ..
            })
        ));
        assert!(matches!(session.release(), Flow::Continue), "released once");
        assert_eq!(next(&mut queue), None);
    }

    #[tokio::test]
    async fn a_private_room_without_its_key_closes_with_4003_after_the_delay() {
        let flags = ["--room-key", "board=b0ard", "--private-room", "board"];
        let (mut session, mut queue) = session(&flags, "board", Some("guess"));
        let join = text(&ClientMessage::join(Role::Viewer));
        assert!(matches!(session.on_text(&join), Flow::Hold(_)));
        assert_eq!(next(&mut queue), None);
        assert!(matches!(
            session.release(),
            Flow::Close(close_code::PRIVATE, _)
        ));
        assert!(matches!(
            next(&mut queue),
            Some(ServerMessage::Error {
                code: ErrorCode::WrongKey,
                ..
            })
        ));
        assert!(session.membership.is_none());
    }
}
