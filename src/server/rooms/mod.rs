//! The rooms: the registry that creates and removes them, and what joining one means.
//!
//! - [`room`]: one room's state, and its upstream (the seam where the relay will plug in).
//! - [`membership`]: a connection's place in a room, and the routing rules for what it sends.
//! - [`reclaim`]: a dropped broadcaster's hold on its room.
//! - [`spares`]: the broadcaster's spare offers and the tickets of watch pages.
//! - [`room_list`]: the live room list, kept current for the home page.
//! - [`to_relay`]: what members send the media relay, when the server relays.
//! - [`chat`]: the room's chat and its audience list; [`chat_log`], its latest messages.
//! - [`clock`]: the pages' clock offsets, for the delay a watch page shows.
//! - [`directory`]: the live rooms and page offers, for the pages the server renders.
//! - [`clustered`]: the hub as one node of several: its rooms for the others, and the list
//!   and caps over all of them.
//!
//! Locks: `Hub::rooms` before any room's state, never the other way round. Each member's
//! outbound queue is bounded (see `server::outbox`); a member whose queue is full is cut off
//! instead of stalling the room.

mod across_nodes;
mod chat;
mod chat_log;
mod clock;
mod clustered;
mod directory;
pub mod membership;
mod reclaim;
mod refusal;
mod room;
mod room_list;
pub mod spares;
#[cfg(test)]
mod tests;
mod to_relay;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
    time::{Duration, Instant},
};

use tokio::sync::watch;

pub use membership::{Membership, Relay};
pub use refusal::Refusal;
use room::{Member, Room, RoomState};
use room_list::RoomList;

use super::{
    cascade::Cascade,
    cluster::{self, Cluster, ClusterHooks, RoomEvent},
    config::{KeySettings, RoomSettings},
    outbox::Outbox,
    relay::{Command, MediaRelay},
    secrets,
    shutdown::Shutdown,
};
use crate::protocol::{
    IceServer, MediaMode, OffAirReason, PeerId, Role, RoomName, RoomSummary, ServerMessage,
};

/// Messages a member's queue holds before the member counts as too slow and is dropped; a
/// broadcaster's queue also has room for three messages per viewer (viewer count, audience and
/// want_stream, or viewer count, audience and peer_left), so a whole room joining at once fits.
/// The chat's backlog comes as one message.
pub const OUTBOX_CAPACITY: usize = 100;

/// How many rooms, live rooms and viewers there are, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    pub rooms: usize,
    pub live_rooms: usize,
    pub viewers: u64,
    /// Other nodes pulling a broadcast from this one, one per node and room.
    pub edges: usize,
    /// Rooms live on another node, pulled from it for the viewers here.
    pub pulled_rooms: usize,
}

/// Why a connection could not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    #[error("room is full: it has its maximum of {0} viewers")]
    RoomFull(u32),
    #[error("the server has its maximum of {0} rooms")]
    TooManyRooms(u32),
    #[error("the server is shutting down")]
    ShuttingDown,
    #[error("this room is private: open the link with its key")]
    Private,
}

/// Why another node may not pull a broadcast from this one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EdgeRefusal {
    #[error("not a node of this cluster (or not one this node has heard from yet)")]
    UnknownNode,
    #[error("nobody is live in this room on this node")]
    NotLive,
    #[error("the server is shutting down")]
    ShuttingDown,
}

pub struct Hub {
    me: Weak<Hub>,
    settings: RoomSettings,
    /// The viewer cap, for how the media travels.
    max_viewers: u32,
    keys: KeySettings,
    /// The media relay; `None` peer to peer.
    relay: Option<MediaRelay>,
    ice_servers: Vec<IceServer>,
    shutdown: Shutdown,
    rooms: Mutex<HashMap<RoomName, Arc<Room>>>,
    next_id: AtomicU64,
    /// Where this node's ids (of members, of chat messages) start: with other nodes, a random
    /// place of its own, so that an id names one member or message in the whole cluster.
    id_base: u64,
    room_list: RoomList,
    /// The server's address for the audience, for broadcasters' watch links.
    public_url: Option<String>,
    /// The other nodes, with `--redis`.
    cluster: Option<Cluster>,
    /// The rooms pulled from other nodes, with `--redis` and the relay.
    cascade: Option<Cascade>,
}

/// A random start for a node's ids, below 2^52: pages read ids as JavaScript numbers, which
/// are exact only up to 2^53.
fn cluster_id_base() -> u64 {
    let random = uuid::Uuid::new_v4().as_u128() as u64;
    ((random & 0xF_FFFF) | 1) << 32
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Hub {
    /// A new hub; spawns the task that keeps the room list current (call inside tokio). With
    /// a `relay`, the rooms' media goes through it; without, peer to peer. With a `cluster`,
    /// its agent starts too, and the rooms are shared with the other nodes.
    pub fn new(
        settings: RoomSettings,
        keys: KeySettings,
        ice_servers: Vec<IceServer>,
        shutdown: Shutdown,
        relay: Option<MediaRelay>,
        public_url: Option<String>,
        cluster: Option<(Cluster, cluster::Starting)>,
    ) -> Arc<Self> {
        let (cluster, agent) = cluster.unzip();
        let media = if relay.is_some() {
            MediaMode::Sfu
        } else {
            MediaMode::P2p
        };
        let id_base = if cluster.is_some() {
            cluster_id_base()
        } else {
            0
        };
        let cascade = cluster
            .as_ref()
            .zip(relay.as_ref())
            .map(|(cluster, relay)| Cascade::new(relay.clone(), cluster.node()));
        let hub = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            max_viewers: settings.max_viewers(media),
            settings,
            keys,
            relay,
            ice_servers,
            shutdown,
            rooms: Mutex::default(),
            next_id: AtomicU64::new(id_base + 1),
            id_base,
            room_list: RoomList::new(),
            public_url,
            cluster,
            cascade,
        });
        hub.room_list.spawn_publisher(Arc::downgrade(&hub));
        if let Some(agent) = agent {
            let hooks: Weak<dyn ClusterHooks> = Arc::downgrade(&hub) as Weak<dyn ClusterHooks>;
            agent.spawn(hooks, hub.shutdown.clone());
        }
        hub
    }

    /// With other nodes: wait for the first word from them (see `Cluster::first_round`).
    pub async fn cluster_ready(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.first_round().await;
        }
    }

    /// The queue size a member needs: see [`OUTBOX_CAPACITY`].
    pub fn outbox_capacity(&self) -> usize {
        OUTBOX_CAPACITY + 3 * self.max_viewers as usize
    }

    /// Rooms, live rooms and viewers, now.
    pub fn census(&self) -> Census {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let mut census = Census {
            rooms: rooms.len(),
            ..Census::default()
        };
        for room in rooms {
            let state = room.lock();
            census.live_rooms += usize::from(state.on_air.is_some());
            census.viewers += u64::from(state.viewers);
            census.edges += state.members.values().filter(|m| m.edge).count();
            census.pulled_rooms += usize::from(state.origin.is_some());
        }
        census
    }

    /// The relay's figures, when the server relays.
    pub fn relay_metrics(&self) -> Option<&super::relay::RelayMetrics> {
        self.relay.as_ref().map(MediaRelay::metrics)
    }

    /// The STUN and TURN servers handed to clients.
    pub fn ice_servers(&self) -> &[IceServer] {
        &self.ice_servers
    }

    /// Whether `key` is the publish key `room` needs (any key does where none is set).
    pub fn may_publish(&self, room: &RoomName, key: Option<&str>) -> bool {
        self.keys
            .publish_key_for(room.as_str())
            .is_none_or(|expected| secrets::equal(expected, key))
    }

    /// Whether the server records the relayed broadcasts (`--record`).
    pub fn records(&self) -> bool {
        self.relay.as_ref().is_some_and(MediaRelay::records)
    }

    /// How the rooms' media travels.
    pub fn media(&self) -> MediaMode {
        if self.relay.is_some() {
            MediaMode::Sfu
        } else {
            MediaMode::P2p
        }
    }

    /// Hand `command` to the relay, if there is one; a busy relay is logged (it says so).
    fn tell_relay(&self, command: Command) {
        if let Some(relay) = &self.relay {
            let _ = relay.send(command);
        }
    }

    /// The live rooms, by name, as of at most a few hundred milliseconds ago.
    pub fn room_list(&self) -> watch::Receiver<Arc<Vec<RoomSummary>>> {
        self.room_list.subscribe()
    }

    /// Add a member to `name`'s room, creating the room if needed. `key` is a viewer's room
    /// key, `ticket` the ticket of the offer its page came with.
    pub fn join(
        self: &Arc<Self>,
        name: &RoomName,
        role: Role,
        outbox: Outbox,
        key: Option<&str>,
        ticket: Option<&str>,
    ) -> Result<Membership, JoinError> {
        if !self.shutdown.is_accepting() {
            return Err(JoinError::ShuttingDown);
        }
        if role == Role::Viewer && !self.keys.may_watch(name.as_str(), key) {
            return Err(JoinError::Private);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut rooms = lock(&self.rooms);
        let room = match rooms.get(name) {
            Some(room) => room.clone(),
            None => {
                if rooms.len() + self.rooms_elsewhere(&rooms) >= self.settings.max_rooms as usize {
                    return Err(JoinError::TooManyRooms(self.settings.max_rooms));
                }
                let room = Arc::new(Room::new(name.clone(), self.relay.is_some(), self.id_base));
                rooms.insert(name.clone(), room.clone());
                room
            }
        };
        let mut state = room.lock();
        drop(rooms);
        let max_viewers = self.max_viewers;
        // A full room has viewers (the cap is at least 1), so refusing leaves nothing empty.
        // With other nodes, their viewers count too, as of their last round.
        if role == Role::Viewer
            && state.viewers.saturating_add(self.viewers_elsewhere(name)) >= max_viewers
        {
            return Err(JoinError::RoomFull(max_viewers));
        }
        // A viewer whose page came with an offer: that offer is its current one.
        let on_air = state.on_air;
        let ticket = ticket
            .filter(|_| role == Role::Viewer)
            .and_then(|token| state.spares.take_ticket(token, on_air, Instant::now()));
        if role == Role::Viewer {
            state.viewers_ever += 1;
        }
        let number = state.viewers_ever;
        state.members.insert(
            id,
            Member {
                offered_by: ticket.as_ref().map(|t| t.broadcaster),
                number,
                ..Member::new(role, outbox.clone())
            },
        );
        if role == Role::Viewer {
            state.viewers += 1;
            state.announce_viewer_count();
            self.announce_viewer(name, &state, id);
            // Live on another node: pulled from there for this viewer (its welcome says so).
            self.follow_origin(&room, &mut state, Some(id));
        }
        outbox.send(&ServerMessage::Welcome {
            id,
            role,
            on_air: state.live_for_viewers(),
            viewers: state.viewers,
            max_viewers,
            ice_servers: self.ice_servers.clone(),
            needs_key: self.keys.publish_key_for(name.as_str()).is_some(),
            media: self.media(),
            page_offer: ticket.is_some(),
            recording: (self.records() && role == Role::Broadcaster).then_some(!state.not_recorded),
            public_url: self
                .public_url
                .clone()
                .filter(|_| role == Role::Broadcaster),
        });
        outbox.send(&ServerMessage::ChatBacklog {
            messages: state.chat.backlog(),
        });
        if role == Role::Broadcaster {
            outbox.send(&ServerMessage::Audience {
                viewers: state.audience(),
            });
            // Those watching on other nodes come as they answer.
            self.tell_other_nodes(name, RoomEvent::AudienceWanted);
        }
        if let (Role::Viewer, Some(offset_us)) = (role, state.broadcaster_clock_us) {
            outbox.send(&ServerMessage::BroadcasterClock { offset_us });
        }
        if let Some(ticket) = &ticket {
            state.send(
                ticket.broadcaster,
                &ServerMessage::SpareTaken {
                    spare: ticket.spare,
                    by: id,
                },
            );
        }
        let live = state.live_for_viewers().is_some();
        drop(state);
        if live && role == Role::Viewer {
            self.room_list.changed();
        }
        Ok(Membership {
            hub: self.clone(),
            room,
            id,
            role,
            has_offer: ticket.is_some(),
        })
    }

    fn leave(&self, room: &Arc<Room>, id: PeerId) {
        let mut state = room.lock();
        let Some(member) = state.members.remove(&id) else {
            return;
        };
        let mut list_changed = false;
        match member.role {
            Role::Viewer if member.edge => self.tell_relay(Command::Left { member: id }),
            Role::Viewer => {
                state.viewers = state.viewers.saturating_sub(1);
                state.announce_viewer_count();
                state.muted.remove(&id);
                state.send_to_role(Role::Broadcaster, &ServerMessage::AudienceLeft { id });
                self.tell_other_nodes(&room.name, RoomEvent::ViewerLeft { id });
                if state.relayed {
                    self.tell_relay(Command::Left { member: id });
                    list_changed = state.live_for_viewers().is_some();
                    // The last viewer here: the pull from the room's origin stops.
                    self.follow_origin(room, &mut state, None);
                } else if let Some(broadcaster) = state.on_air {
                    state.send(broadcaster, &ServerMessage::PeerLeft { peer: id });
                    list_changed = true;
                }
            }
            Role::Broadcaster if state.on_air == Some(id) => {
                state.reclaim.hold(self.settings.reclaim_grace());
                self.end_broadcast(room, &mut state, OffAirReason::Disconnected);
                list_changed = true;
            }
            Role::Broadcaster => {}
        }
        let idle = state.is_idle(Instant::now());
        let reserved = state.reclaim.is_reserved();
        drop(state);
        if list_changed {
            self.room_list.changed();
            self.nudge_cluster();
        }
        if idle {
            self.remove_if_idle(room);
        } else if reserved {
            self.expire_reservation_later(room.clone());
        }
    }

    /// Once the reservation of `room` has run out, drop it, and the room if nobody is left.
    fn expire_reservation_later(&self, room: Arc<Room>) {
        let grace = self.settings.reclaim_grace();
        let hub = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace + Duration::from_millis(50)).await;
            let Some(hub) = hub.upgrade() else { return };
            room.lock().reclaim.expire(Instant::now());
            hub.remove_if_idle(&room);
        });
    }

    /// `room`'s broadcast ends: nobody on air, no offers or spares left, the viewers told
    /// why, the relay's peers ended. The caller settles the reclaim token.
    fn end_broadcast(&self, room: &Room, state: &mut RoomState, reason: OffAirReason) {
        state.on_air = None;
        state.broadcaster_clock_us = None;
        state.forget_offers();
        state.spares.forget();
        state.send_to_role(Role::Viewer, &ServerMessage::OffAir { reason });
        self.tell_relay(Command::EndRoom {
            room: room.name.clone(),
        });
    }

    /// Tell the other nodes soon, not at the next round: a broadcast began or ended here.
    pub(super) fn nudge_cluster(&self) {
        if let Some(cluster) = &self.cluster {
            cluster.nudge();
        }
    }

    fn remove_if_idle(&self, room: &Arc<Room>) {
        let mut rooms = lock(&self.rooms);
        let mut state = room.lock();
        if state.is_idle(Instant::now()) && !state.removed {
            state.removed = true;
            rooms.remove(&room.name);
        }
    }
}
