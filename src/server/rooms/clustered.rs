//! The hub as one node of several (`--redis`): what it tells the others, what it does when
//! another node takes a room's broadcast, and the room list and caps counted over all nodes.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use super::{
    lock,
    membership::Membership,
    room::{Member, Room, RoomState},
    EdgeRefusal, Hub,
};
use crate::{
    protocol::{
        ErrorCode, OffAirReason, PeerId, Role, RoomName, RoomSummary, ServerMessage, RELAY_ID,
    },
    server::{
        cluster::{ClusterHooks, LocalClaim, LocalRoom, LocalRooms},
        outbox::{encode, Outbox},
        relay::Command,
    },
};

impl ClusterHooks for Hub {
    fn local_rooms(&self) -> LocalRooms {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let now = Instant::now();
        let grace = self.settings.reclaim_grace();
        let mut local = LocalRooms::default();
        for room in rooms {
            let state = room.lock();
            if state.removed {
                continue;
            }
            let name = room.name.to_string();
            if let Some((token, hold)) = state.reclaim.held_token(now, grace) {
                local.claims.push(LocalClaim {
                    room: name.clone(),
                    token: token.to_owned(),
                    claimed_with: state.cluster_claim.clone(),
                    hold_ms: u64::try_from(hold.as_millis()).unwrap_or(u64::MAX),
                });
            }
            local.rooms.push(LocalRoom {
                name,
                viewers: state.viewers,
                on_air: state.on_air.is_some(),
            });
        }
        local
    }

    fn lost(&self, name: &str, by: &str) {
        let Ok(name) = RoomName::parse(name) else {
            return;
        };
        let Some(room) = lock(&self.rooms).get(&name).cloned() else {
            return;
        };
        let mut state = room.lock();
        state.reclaim.forget();
        state.cluster_claim = None;
        if let Some(broadcaster) = state.on_air {
            tracing::info!("room {name}: node {by} holds its broadcast now; it ends here");
            state.send(
                broadcaster,
                &ServerMessage::error(
                    ErrorCode::AlreadyLive,
                    "this room went live through another onair node; your broadcast here has ended",
                ),
            );
            self.end_broadcast(&room, &mut state, OffAirReason::Stopped);
        }
        drop(state);
        self.room_list.changed();
        self.remove_if_idle(&room);
    }

    fn view_changed(&self) {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        for room in rooms {
            let elsewhere = self.viewers_elsewhere(&room.name);
            let mut state = room.lock();
            if state.viewers_elsewhere != elsewhere {
                state.viewers_elsewhere = elsewhere;
                state.announce_viewer_count();
            }
            self.follow_origin(&room, &mut state, None);
            self.forget_gone_nodes(&mut state);
        }
        self.room_list.changed();
    }

    fn room_event(&self, node: &str, room: &str, event: crate::server::cluster::RoomEvent) {
        Hub::room_event(self, node, room, event);
    }
}

impl Hub {
    /// Serve `room`'s viewers here from the node it is live on, or stop: it is pulled while
    /// it has viewers here, nobody on air here, and the other nodes' last round says it is
    /// live on one of them. The viewers are told it is live (all but `joining`, whose
    /// welcome says so), or that it ended. A view gone stale (Redis away) changes nothing:
    /// a pull that works goes on.
    pub(super) fn follow_origin(
        &self,
        room: &Room,
        state: &mut RoomState,
        joining: Option<PeerId>,
    ) {
        let (Some(cascade), Some(cluster)) = (&self.cascade, &self.cluster) else {
            return;
        };
        let now = Instant::now();
        let view = cluster.view();
        if !view.is_fresh(now) {
            return;
        }
        let origin = view
            .origin(room.name.as_str(), now)
            .filter(|_| state.on_air.is_none() && state.viewers > 0);
        if origin.map(|node| node.id.as_str()) == state.origin.as_deref() {
            return;
        }
        let followed = origin.and_then(|node| match cascade.follow(&room.name, &node.addr) {
            Ok(()) => Some(node.id.clone()),
            Err(err) => {
                tracing::warn!("cascade: {}: {err}", room.name);
                None
            }
        });
        match (state.origin.is_some(), followed) {
            (false, Some(origin)) => {
                state.origin = Some(origin);
                let live = encode(&ServerMessage::OnAir {
                    broadcaster: RELAY_ID,
                });
                for (id, member) in &state.members {
                    if member.role == Role::Viewer && Some(*id) != joining {
                        member.outbox.push(live.clone());
                    }
                }
            }
            // Ended there: here too, as any broadcast ends.
            (true, None) => {
                self.unfollow(room, state);
                self.end_broadcast(room, state, OffAirReason::Stopped);
            }
            // From one origin to another (the broadcaster reclaimed the room on another
            // node): the viewers' connections here stay, and the picture comes back.
            (true, Some(origin)) => state.origin = Some(origin),
            (false, None) => {}
        }
    }

    /// `room` is no longer pulled from another node: its pull and the relay's peers end.
    pub(super) fn stop_following(&self, room: &Room, state: &mut RoomState) {
        if self.unfollow(room, state) {
            self.tell_relay(Command::EndRoom {
                room: room.name.clone(),
            });
        }
    }

    /// Stop `room`'s pull, if it has one; whether it had.
    fn unfollow(&self, room: &Room, state: &mut RoomState) -> bool {
        if state.origin.take().is_none() {
            return false;
        }
        if let Some(cascade) = &self.cascade {
            cascade.stop(&room.name);
        }
        true
    }

    /// Another node, `node`, pulls `name`'s broadcast for its viewers (see `server::cascade`):
    /// a member the relay serves like a viewer, which that node counts and lists, not this one
    /// (so neither the cap nor a private room's key applies here: that node checked them).
    pub fn join_edge(
        self: &Arc<Self>,
        name: &RoomName,
        node: &str,
        outbox: Outbox,
    ) -> Result<Membership, EdgeRefusal> {
        let known = self.cluster.as_ref().is_some_and(|cluster| {
            cluster
                .view()
                .nodes()
                .iter()
                .any(|known| crate::server::secrets::equal(&known.id, Some(node)))
        });
        if !known {
            return Err(EdgeRefusal::UnknownNode);
        }
        if !self.shutdown.is_accepting() {
            return Err(EdgeRefusal::ShuttingDown);
        }
        let room = lock(&self.rooms)
            .get(name)
            .cloned()
            .ok_or(EdgeRefusal::NotLive)?;
        let mut state = room.lock();
        if state.removed || state.on_air.is_none() {
            return Err(EdgeRefusal::NotLive);
        }
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        state.members.insert(
            id,
            Member {
                edge: true,
                ..Member::new(Role::Viewer, outbox)
            },
        );
        drop(state);
        tracing::info!("room {name}: node {node} pulls the broadcast for its viewers");
        Ok(Membership {
            hub: self.clone(),
            room,
            id,
            role: Role::Viewer,
            has_offer: false,
        })
    }

    /// How many nodes the cluster has (this one included) and whether Redis answers, as of
    /// the last round: one node, up, without `--redis`.
    pub fn cluster_health(&self) -> (usize, bool) {
        let Some(cluster) = &self.cluster else {
            return (1, true);
        };
        let view = cluster.view();
        match view.is_fresh(Instant::now()) {
            true => (view.nodes().len() + 1, true),
            false => (1, false),
        }
    }

    /// The other nodes' viewers of `room`, as of their last round (none on one node).
    pub(super) fn viewers_elsewhere(&self, room: &RoomName) -> u32 {
        self.cluster.as_ref().map_or(0, |cluster| {
            cluster
                .view()
                .remote_room(room.as_str(), Instant::now())
                .map_or(0, |remote| remote.viewers)
        })
    }

    /// The rooms only other nodes have, of `here`'s count, for the room cap.
    pub(super) fn rooms_elsewhere<V>(
        &self,
        here: &std::collections::HashMap<RoomName, V>,
    ) -> usize {
        self.cluster.as_ref().map_or(0, |cluster| {
            cluster
                .view()
                .remote_rooms(Instant::now())
                .into_iter()
                .filter(|(name, _)| {
                    RoomName::parse(name).map_or(true, |name| !here.contains_key(&name))
                })
                .count()
        })
    }

    /// The live rooms of every node: `local` (name, viewers, on air here) with the other
    /// nodes' viewers added, and the rooms live only elsewhere; `listed` says which to show.
    pub(super) fn with_other_nodes(
        &self,
        local: Vec<(String, u32, bool)>,
        listed: impl Fn(&str) -> bool,
    ) -> Vec<RoomSummary> {
        let mut rooms: BTreeMap<String, (u32, bool)> = local
            .into_iter()
            .map(|(name, viewers, on_air)| (name, (viewers, on_air)))
            .collect();
        if let Some(cluster) = &self.cluster {
            for (name, remote) in cluster.view().remote_rooms(Instant::now()) {
                let entry = rooms.entry(name.to_owned()).or_default();
                entry.0 = entry.0.saturating_add(remote.viewers);
                entry.1 |= remote.on_air;
            }
        }
        rooms
            .into_iter()
            .filter(|(name, (_, on_air))| *on_air && listed(name))
            .map(|(name, (viewers, _))| RoomSummary { name, viewers })
            .collect()
    }
}
