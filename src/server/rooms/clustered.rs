//! The hub as one node of several (`--redis`): what it tells the others, what it does when
//! another node takes a room's broadcast, and the room list and caps counted over all nodes.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use super::{lock, room::Room, Hub};
use crate::{
    protocol::{ErrorCode, OffAirReason, RoomName, RoomSummary, ServerMessage},
    server::cluster::{ClusterHooks, LocalClaim, LocalRoom, LocalRooms},
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
        }
        self.room_list.changed();
    }
}

impl Hub {
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
