//! One room: its members, who is on air, and how messages reach them.

use std::{
    collections::{HashMap, HashSet},
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use super::{chat_log::ChatLog, reclaim::Reclaim, spares::Spares};
use crate::{
    protocol::{AudienceMember, PeerId, Role, RoomName, ServerMessage, RELAY_ID},
    server::{
        outbox::{encode, Outbox, Queued},
        rate_limit::TokenBucket,
    },
};

pub(super) struct Member {
    pub(super) role: Role,
    pub(super) outbox: Outbox,
    /// For a viewer: the upstream that sent it its current offer.
    pub(super) offered_by: Option<PeerId>,
    /// The name it chose for the chat and the audience list.
    pub(super) name: Option<String>,
    /// A viewer's number in the room, for its default name ("viewer 12").
    pub(super) number: u32,
    /// When it joined, in milliseconds since the Unix epoch.
    pub(super) since: u64,
    pub(super) chat_bucket: TokenBucket,
    /// Another node pulling the broadcast for its viewers (see `server::cascade`): served
    /// like a viewer, counted and listed by that node, not here.
    pub(super) edge: bool,
}

impl std::fmt::Debug for Member {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Member")
            .field("role", &self.role)
            .field("offered_by", &self.offered_by)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The room's "broadcaster side" for its viewers: what serves them the stream, and so gets
/// their `want_stream`, answers, candidates, hang-ups and requests for sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Upstream {
    /// The live broadcaster's page, by its connection's id: peer to peer.
    Page(PeerId),
    /// The server's media relay, which the live broadcaster sends its stream to. Messages for
    /// it go as relay commands (see `Membership::to_relay`), not as text.
    Relay,
}

impl Upstream {
    /// The id viewers address it by (the `from` of its offers).
    pub(super) fn id(self) -> PeerId {
        match self {
            Self::Page(id) => id,
            Self::Relay => RELAY_ID,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct RoomState {
    pub(super) members: HashMap<PeerId, Member>,
    pub(super) viewers: u32,
    /// The live broadcaster's page, if any.
    pub(super) on_air: Option<PeerId>,
    pub(super) reclaim: Reclaim,
    pub(super) spares: Spares,
    /// Set once the room is taken out of the hub; nobody joins it after that.
    pub(super) removed: bool,
    /// The server's relay carries this room's media.
    pub(super) relayed: bool,
    /// The broadcaster turned recording off here (where the server records).
    pub(super) not_recorded: bool,
    pub(super) chat: ChatLog,
    /// Viewers the broadcaster muted in the chat.
    pub(super) muted: HashSet<PeerId>,
    /// Viewers who ever joined: the next one's number.
    pub(super) viewers_ever: u32,
    /// The broadcaster on air's clock offset from the server's, once it said (µs).
    pub(super) broadcaster_clock_us: Option<i64>,
    /// The reclaim token the broadcaster on air took this room over from another node with.
    pub(super) cluster_claim: Option<String>,
    /// The room's viewers on the other nodes, as of their last round: the broadcaster's count
    /// is of all of them.
    pub(super) viewers_elsewhere: u32,
    /// The node this room is live on and pulled from, for its viewers here (a cascade).
    pub(super) origin: Option<String>,
    /// The room's viewers on the other nodes, by id, with their node: the audience list is
    /// of them all.
    pub(super) remote_audience: HashMap<PeerId, (String, AudienceMember)>,
}

impl RoomState {
    /// What serves this room's viewers now, if it is live.
    pub(super) fn upstream(&self) -> Option<Upstream> {
        match self.on_air {
            Some(_) if self.relayed => Some(Upstream::Relay),
            None if self.origin.is_some() => Some(Upstream::Relay),
            on_air => on_air.map(Upstream::Page),
        }
    }

    /// What the viewers here are told is on air: the broadcaster here, or the relay that
    /// serves them a broadcast live on another node.
    pub(super) fn live_for_viewers(&self) -> Option<PeerId> {
        self.on_air
            .or_else(|| self.origin.as_ref().map(|_| RELAY_ID))
    }

    /// A viewer's message for its upstream, when that is a page.
    pub(super) fn to_page_upstream(&self, upstream: Upstream, text: Queued) {
        match upstream {
            Upstream::Page(id) => self.push(id, text),
            // Relayed rooms route before encoding (`Membership::to_relay`).
            Upstream::Relay => {}
        }
    }

    pub(super) fn is_idle(&self, now: Instant) -> bool {
        self.members.is_empty() && !self.reclaim.holds(now)
    }

    pub(super) fn send(&self, to: PeerId, msg: &ServerMessage) {
        self.push(to, encode(msg));
    }

    pub(super) fn push(&self, to: PeerId, text: Queued) {
        if let Some(member) = self.members.get(&to) {
            member.outbox.push(text);
        }
    }

    pub(super) fn send_to_role(&self, role: Role, msg: &ServerMessage) {
        let text = encode(msg);
        for member in self.members.values().filter(|m| m.role == role) {
            member.outbox.push(text.clone());
        }
    }

    pub(super) fn announce_viewer_count(&self) {
        self.send_to_role(
            Role::Broadcaster,
            &ServerMessage::ViewerCount {
                count: self.viewers.saturating_add(self.viewers_elsewhere),
            },
        );
    }

    /// Give the ready spare, if any, to `viewer`, which asked for the stream: it gets the offer
    /// now, without the broadcaster's turn, and the broadcaster is told who took it.
    pub(super) fn give_spare_to(&mut self, viewer: PeerId, broadcaster: PeerId) -> bool {
        let Some(spare) = self.spares.take_ready() else {
            return false;
        };
        if let Some(member) = self.members.get_mut(&viewer) {
            member.offered_by = Some(broadcaster);
        }
        self.send(
            viewer,
            &ServerMessage::Offer {
                from: broadcaster,
                sdp: spare.sdp,
            },
        );
        self.send(
            broadcaster,
            &ServerMessage::SpareTaken {
                spare: spare.id,
                by: viewer,
            },
        );
        true
    }

    /// The broadcast ended (or a new one began): no viewer holds a current offer any more.
    pub(super) fn forget_offers(&mut self) {
        for member in self.members.values_mut() {
            member.offered_by = None;
        }
    }
}

#[derive(Debug)]
pub struct Room {
    pub(super) name: RoomName,
    state: Mutex<RoomState>,
}

impl Room {
    /// A room; its chat messages' ids start after `first_chat_id` (each node of a cluster
    /// starts somewhere else, so that ids are the cluster's).
    pub(super) fn new(name: RoomName, relayed: bool, first_chat_id: u64) -> Self {
        Self {
            name,
            state: Mutex::new(RoomState {
                relayed,
                chat: ChatLog::starting_after(first_chat_id),
                ..RoomState::default()
            }),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, RoomState> {
        // A panic while holding the lock leaves the state consistent enough to go on serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
