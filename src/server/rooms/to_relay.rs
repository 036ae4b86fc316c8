//! What members send the media relay, when the server relays: the same rules as between
//! pages (a viewer reaches its upstream only while the room is live, and answers only an
//! offer it got; only the broadcaster on air sends its stream), but the messages go to the
//! relay as commands instead of to a page as text.

use std::sync::MutexGuard;

use tokio::sync::oneshot;

use super::{
    membership::Membership,
    refusal::{no_such_peer, refuse, Refusal},
    room::RoomState,
};
use crate::{
    protocol::{ClientMessage, ErrorCode, Role, ServerMessage, RELAY_ID},
    server::relay::Command,
};

impl Membership {
    /// Whether `msg` is addressed to the relay (of a server that relays).
    pub(super) fn is_for_relay(&self, msg: &ClientMessage) -> bool {
        self.hub.relay.is_some() && addresses_relay(msg)
    }
}

fn addresses_relay(msg: &ClientMessage) -> bool {
    match msg {
        ClientMessage::Offer { to, .. }
        | ClientMessage::Answer { to, .. }
        | ClientMessage::Candidate { to, .. }
        | ClientMessage::Hangup { to }
        | ClientMessage::Audio { to, .. } => *to == RELAY_ID,
        // Only the relay has layers to choose from.
        ClientMessage::ViewerSize { .. } | ClientMessage::PinQuality { .. } => true,
        ClientMessage::Join { .. }
        | ClientMessage::GoLive { .. }
        | ClientMessage::OffAir
        | ClientMessage::WantStream
        | ClientMessage::Record { .. }
        | ClientMessage::SpareOffer { .. }
        | ClientMessage::Chat { .. }
        | ClientMessage::ChatName { .. }
        | ClientMessage::DeleteChat { .. }
        | ClientMessage::MuteChat { .. }
        | ClientMessage::ClockPing { .. }
        | ClientMessage::ClockOffset { .. } => false,
    }
}

impl Membership {
    /// Act on a message addressed to the relay (see [`Membership::is_for_relay`]).
    pub(super) fn to_relay(&self, msg: ClientMessage) -> Result<(), Refusal> {
        let state = self.room.lock();
        let member = self.id;
        let command = match self.role {
            Role::Viewer => {
                let layer_wish = matches!(
                    msg,
                    ClientMessage::ViewerSize { .. } | ClientMessage::PinQuality { .. }
                );
                if state.upstream().is_none() {
                    // A page says its size whenever it changes, live or not: nothing to do.
                    return match layer_wish {
                        true => Ok(()),
                        false => Err(no_such_peer(RELAY_ID)),
                    };
                }
                match msg {
                    ClientMessage::ViewerSize { width, height } => Command::ViewerSize {
                        member,
                        width,
                        height,
                    },
                    ClientMessage::PinQuality { level } => Command::PinQuality { member, level },
                    ClientMessage::Answer { sdp, .. } => {
                        let offered = state.members.get(&member).and_then(|m| m.offered_by);
                        if offered != Some(RELAY_ID) {
                            return Err(refuse(
                                ErrorCode::OutOfOrder,
                                "the relay has sent you no offer to answer",
                            ));
                        }
                        Command::Answer { member, sdp }
                    }
                    ClientMessage::Candidate { candidate, .. } => {
                        Command::Candidate { member, candidate }
                    }
                    ClientMessage::Hangup { .. } => Command::Hangup { member },
                    ClientMessage::Audio { on, .. } => Command::Audio { member, on },
                    _ => return Err(refuse(
                        ErrorCode::NotAllowed,
                        "viewers send the relay answers, candidates, hang-ups, sound requests, \
                         sizes and quality choices",
                    )),
                }
            }
            // The broadcaster's own page has no layer to pick: nothing to do.
            Role::Broadcaster
                if matches!(
                    msg,
                    ClientMessage::ViewerSize { .. } | ClientMessage::PinQuality { .. }
                ) =>
            {
                return Ok(())
            }
            Role::Broadcaster => {
                if state.on_air != Some(member) {
                    return Err(refuse(
                        ErrorCode::NotAllowed,
                        "go live before sending your stream",
                    ));
                }
                match msg {
                    ClientMessage::Offer { sdp, .. } => Command::Publish {
                        room: self.room.name.clone(),
                        member,
                        sdp,
                    },
                    ClientMessage::Candidate { candidate, .. } => {
                        Command::Candidate { member, candidate }
                    }
                    ClientMessage::Hangup { .. } => Command::Hangup { member },
                    _ => {
                        return Err(refuse(
                            ErrorCode::NotAllowed,
                            "the broadcaster sends the relay offers, candidates and hang-ups",
                        ))
                    }
                }
            }
        };
        // Sent under the room's lock: the relay sees the room's commands in their order.
        self.send_to_relay(&state, command)
    }

    /// A viewer that brings its own offer (a WHEP player) asks a live relayed room for the
    /// stream: the relay answers it, through this member's outbox.
    pub fn play(&self, offer: String) -> Result<(), Refusal> {
        if self.role != Role::Viewer || self.hub.relay.is_none() {
            return Err(refuse(ErrorCode::NotAllowed, "only a relay's viewers play"));
        }
        let mut state = self.room.lock();
        if state.upstream().is_none() {
            return Err(refuse(
                ErrorCode::OutOfOrder,
                "nobody is on air in this room",
            ));
        }
        self.subscribe(&mut state, Some(offer))
    }

    /// This member's client (a WHIP or WHEP session) restarts ICE with `offer`: the relay's
    /// answer comes on the returned channel.
    pub fn restart_ice(
        &self,
        offer: String,
    ) -> Result<oneshot::Receiver<Result<String, String>>, Refusal> {
        let state = self.room.lock();
        let allowed = match self.role {
            Role::Viewer => state.upstream().is_some(),
            Role::Broadcaster => state.on_air == Some(self.id),
        };
        if !allowed {
            return Err(refuse(
                ErrorCode::OutOfOrder,
                "this session is no longer connected to the relay",
            ));
        }
        let (reply, answer) = oneshot::channel();
        let command = Command::RestartIce {
            member: self.id,
            offer,
            reply,
        };
        self.send_to_relay(&state, command)?;
        Ok(answer)
    }

    /// The broadcaster turns recording of this room on or off (where the server records); a
    /// broadcast on air now starts or ends its file.
    pub(super) fn record(&self, on: bool) -> Result<(), Refusal> {
        if self.role != Role::Broadcaster {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "only the broadcaster decides what is recorded",
            ));
        }
        if !self.hub.records() {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "this server does not record (start it with --record DIR)",
            ));
        }
        let mut state = self.room.lock();
        state.not_recorded = !on;
        let command = Command::Record {
            room: self.room.name.clone(),
            on,
        };
        self.send_to_relay(&state, command)?;
        state.send(self.id, &ServerMessage::Recording { on });
        Ok(())
    }

    /// A viewer of a relayed room asked for the stream: the relay offers it one (or answers
    /// `offer`).
    pub(super) fn subscribe(
        &self,
        state: &mut MutexGuard<'_, RoomState>,
        offer: Option<String>,
    ) -> Result<(), Refusal> {
        let Some(member) = state.members.get_mut(&self.id) else {
            return Ok(());
        };
        member.offered_by = Some(RELAY_ID);
        let outbox = member.outbox.clone();
        let command = Command::Subscribe {
            room: self.room.name.clone(),
            member: self.id,
            outbox,
            offer,
        };
        self.send_to_relay(state, command)
    }

    fn send_to_relay(&self, _locked: &RoomState, command: Command) -> Result<(), Refusal> {
        let Some(relay) = &self.hub.relay else {
            return Err(no_such_peer(RELAY_ID));
        };
        relay
            .send(command)
            .map_err(|busy| refuse(ErrorCode::ServerFull, busy.to_string()))
    }
}
