//! One connection's place in a room, and the routing rules for what it sends.
//!
//! The rules never trust a client for who it is or whom it may reach: every relayed message
//! is stamped with the sender's id, and goes only to a member of the sender's own room — from
//! a viewer only to the room's upstream (the live broadcaster), from the live broadcaster only
//! to its viewers.

use std::{
    sync::{Arc, MutexGuard},
    time::Instant,
};

use super::{
    reclaim::Claim,
    refusal::{no_such_peer, refuse, Refusal},
    room::{Room, RoomState, Upstream},
    spares::Spare,
    Hub,
};
use crate::{
    protocol::{ClientMessage, ErrorCode, OffAirReason, PeerId, Role, ServerMessage},
    server::{
        cluster::GoLiveRefusal,
        outbox::{encode, Queued},
        relay::Command,
    },
};

/// The messages the signaling fast path relays as their sender wrote them (see
/// `signaling::relayed`), with the same rules as when [`Membership::handle`] reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay {
    Offer,
    Answer,
    Candidate,
}

/// One connection's place in a room. Dropping it leaves the room, whatever ended the
/// connection.
pub struct Membership {
    pub(super) hub: Arc<Hub>,
    pub(super) room: Arc<Room>,
    pub(super) id: PeerId,
    pub(super) role: Role,
    /// Joined with a good ticket: its page's offer is its current one.
    pub(super) has_offer: bool,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.room, self.id);
    }
}

impl Membership {
    pub fn id(&self) -> PeerId {
        self.id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether this viewer joined with the offer its page came with (see `RoomDirectory::page_offer`).
    pub fn has_offer(&self) -> bool {
        self.has_offer
    }

    /// Act on one message from this member; the `Err` goes back to it as an `error`.
    pub fn handle(&self, msg: ClientMessage) -> Result<(), Refusal> {
        if self.is_for_relay(&msg) {
            return self.to_relay(msg);
        }
        match msg {
            ClientMessage::Join { .. } => Err(refuse(
                ErrorCode::AlreadyJoined,
                "this connection has already joined; open another to join again",
            )),
            ClientMessage::GoLive { key, reclaim } => self.go_live(key, reclaim),
            ClientMessage::OffAir => self.off_air(),
            ClientMessage::Record { on } => self.record(on),
            ClientMessage::WantStream => self.want_stream(),
            ClientMessage::SpareOffer { id, sdp } => self.spare_offer(id, sdp),
            // Encoded here, before the room is locked.
            ClientMessage::Offer { to, sdp } => {
                self.offer(to, encode(&ServerMessage::Offer { from: self.id, sdp }))
            }
            ClientMessage::Answer { to, sdp } => {
                self.answer(to, encode(&ServerMessage::Answer { from: self.id, sdp }))
            }
            ClientMessage::Candidate { to, candidate } => self.relay(
                to,
                encode(&ServerMessage::Candidate {
                    from: self.id,
                    candidate,
                }),
            ),
            ClientMessage::Hangup { to } => {
                self.relay(to, encode(&ServerMessage::Hangup { from: self.id }))
            }
            ClientMessage::Audio { to, on } => {
                if self.role != Role::Viewer {
                    return Err(refuse(ErrorCode::NotAllowed, "only viewers ask for sound"));
                }
                self.relay(to, encode(&ServerMessage::Audio { from: self.id, on }))
            }
            ClientMessage::Chat { text } => self.chat(&text),
            ClientMessage::ChatName { name } => self.chat_name(&name),
            ClientMessage::DeleteChat { id } => self.delete_chat(id),
            ClientMessage::MuteChat { member, muted } => self.mute_chat(member, muted),
            ClientMessage::ClockPing { t } => self.clock_ping(t),
            ClientMessage::ClockOffset { offset_us } => self.clock_offset(offset_us),
            // Peer to peer there is one stream, and no layer to choose.
            ClientMessage::ViewerSize { .. } | ClientMessage::PinQuality { .. } => Ok(()),
        }
    }

    /// Act on an offer, answer or candidate read by the fast path: the same rules as
    /// [`Membership::handle`], for `text`, the message as `to` gets it (stamped with this
    /// member's id).
    pub fn handle_relayed(&self, kind: Relay, to: PeerId, text: Queued) -> Result<(), Refusal> {
        match kind {
            Relay::Offer => self.offer(to, text),
            Relay::Answer => self.answer(to, text),
            Relay::Candidate => self.relay(to, text),
        }
    }

    fn require_broadcaster(&self, what: &str) -> Result<(), Refusal> {
        if self.role == Role::Broadcaster {
            Ok(())
        } else {
            Err(refuse(
                ErrorCode::NotAllowed,
                format!("only the broadcaster may {what}"),
            ))
        }
    }

    fn go_live(&self, key: Option<String>, reclaim: Option<String>) -> Result<(), Refusal> {
        self.require_broadcaster("go live")?;
        if !self
            .hub
            .keys
            .may_publish(self.room.name.as_str(), key.as_deref())
        {
            return Err(refuse(
                ErrorCode::WrongKey,
                if key.is_some() {
                    "wrong publish key"
                } else {
                    "this server needs a publish key to go live"
                },
            ));
        }
        let mut state = self.room.lock();
        let now = Instant::now();
        // A broadcast held here follows this node's own rules; any other asks the cluster.
        let held_here = state
            .reclaim
            .held_token(now, self.hub.settings.reclaim_grace())
            .is_some();
        if let Some(cluster) = self.hub.cluster.as_ref().filter(|_| !held_here) {
            cluster
                .may_go_live(self.room.name.as_str(), reclaim.as_deref())
                .map_err(|refusal| {
                    let code = match refusal {
                        GoLiveRefusal::Unreachable => ErrorCode::Unavailable,
                        GoLiveRefusal::LiveElsewhere => ErrorCode::AlreadyLive,
                    };
                    refuse(code, refusal.to_string())
                })?;
        }
        let claim = state
            .reclaim
            .claim(state.on_air, self.id, reclaim.as_deref(), now)?;
        match claim {
            Claim::AlreadyOn => {
                if let Some(token) = state.reclaim.token() {
                    state.send(
                        self.id,
                        &ServerMessage::Live {
                            reclaim: token.to_owned(),
                        },
                    );
                }
                return Ok(());
            }
            Claim::TakeOver { old } => state.send(
                old,
                &ServerMessage::error(
                    ErrorCode::AlreadyLive,
                    "your broadcast continues on a newer connection",
                ),
            ),
            Claim::Granted => {}
        }
        tracing::debug!("room {}: member {} goes live", self.room.name, self.id);
        let token = state.reclaim.issue();
        // Redis has the last word: the token it came with takes the room from another node,
        // even one this node has not heard holds it yet.
        if !held_here {
            state.cluster_claim = reclaim.filter(|_| self.hub.cluster.is_some());
        }
        state.spares.forget();
        // Live here now: what was pulled from another node for the viewers here ends first.
        self.hub.stop_following(&self.room, &mut state);
        state.on_air = Some(self.id);
        state.send(self.id, &ServerMessage::Live { reclaim: token });
        if let Some(outbox) = state.members.get(&self.id).map(|m| m.outbox.clone()) {
            self.hub.tell_relay(Command::OnAir {
                room: self.room.name.clone(),
                broadcaster: self.id,
                outbox,
                record: !state.not_recorded,
            });
        }
        state.send_to_role(
            Role::Viewer,
            &ServerMessage::OnAir {
                broadcaster: self.id,
            },
        );
        drop(state);
        self.hub.room_list.changed();
        self.hub.nudge_cluster();
        Ok(())
    }

    fn off_air(&self) -> Result<(), Refusal> {
        self.require_broadcaster("go off air")?;
        let mut state = self.room.lock();
        if state.on_air != Some(self.id) {
            return Err(refuse(ErrorCode::OutOfOrder, "you are not on air"));
        }
        state.reclaim.end();
        state.cluster_claim = None;
        self.hub
            .end_broadcast(&self.room, &mut state, OffAirReason::Stopped);
        drop(state);
        self.hub.room_list.changed();
        self.hub.nudge_cluster();
        Ok(())
    }

    fn want_stream(&self) -> Result<(), Refusal> {
        if self.role != Role::Viewer {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "only viewers ask for the stream",
            ));
        }
        let mut state = self.room.lock();
        let Some(upstream) = state.upstream() else {
            return Err(refuse(
                ErrorCode::OutOfOrder,
                "nobody is on air in this room",
            ));
        };
        if upstream == Upstream::Relay {
            return self.subscribe(&mut state, None);
        }
        // The spare offer is ready: the viewer gets it now, without the broadcaster's turn.
        if !state.give_spare_to(self.id, upstream.id()) {
            state.to_page_upstream(
                upstream,
                encode(&ServerMessage::WantStream { from: self.id }),
            );
        }
        Ok(())
    }

    /// The room, locked, if this member is the one on air: only it sends offers.
    fn lock_on_air(&self) -> Result<MutexGuard<'_, RoomState>, Refusal> {
        let state = self.room.lock();
        if state.on_air != Some(self.id) {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "go live before sending offers",
            ));
        }
        Ok(state)
    }

    /// The live broadcaster's next spare offer; it replaces one not given out yet.
    fn spare_offer(&self, id: u64, sdp: String) -> Result<(), Refusal> {
        self.require_broadcaster("offer a spare connection")?;
        let mut state = self.lock_on_air()?;
        state.spares.set_ready(Spare { id, sdp });
        Ok(())
    }

    fn offer(&self, to: PeerId, text: Queued) -> Result<(), Refusal> {
        self.require_broadcaster("send offers")?;
        let mut state = self.lock_on_air()?;
        let viewer = state
            .members
            .get_mut(&to)
            .filter(|m| m.role == Role::Viewer)
            .ok_or_else(|| no_such_peer(to))?;
        viewer.offered_by = Some(self.id);
        viewer.outbox.push(text);
        Ok(())
    }

    fn answer(&self, to: PeerId, text: Queued) -> Result<(), Refusal> {
        if self.role != Role::Viewer {
            return Err(refuse(ErrorCode::NotAllowed, "only viewers send answers"));
        }
        let state = self.room.lock();
        let offered_by = state.members.get(&self.id).and_then(|m| m.offered_by);
        let upstream = state
            .upstream()
            .filter(|up| up.id() == to)
            .ok_or_else(|| no_such_peer(to))?;
        if offered_by != Some(to) {
            return Err(refuse(
                ErrorCode::OutOfOrder,
                format!("peer {to} has sent you no offer to answer"),
            ));
        }
        state.to_page_upstream(upstream, text);
        Ok(())
    }

    /// Candidates, hang-ups and sound: viewer → its upstream, live broadcaster → its viewers.
    fn relay(&self, to: PeerId, text: Queued) -> Result<(), Refusal> {
        let state = self.room.lock();
        match self.role {
            Role::Viewer => {
                let upstream = state
                    .upstream()
                    .filter(|up| up.id() == to)
                    .ok_or_else(|| no_such_peer(to))?;
                state.to_page_upstream(upstream, text);
            }
            Role::Broadcaster => {
                let allowed = state.on_air == Some(self.id)
                    && state
                        .members
                        .get(&to)
                        .is_some_and(|m| m.role == Role::Viewer);
                if !allowed {
                    return Err(no_such_peer(to));
                }
                state.push(to, text);
            }
        }
        Ok(())
    }
}
