//! A room's members on several nodes (`--redis`): what this node tells the others of its own
//! members (their chat, who watches here, the broadcaster's clock), and what it does with what
//! they tell it (see `cluster::bus`). Senders are stamped on their own node; this node passes
//! events on only to the room they name.

use std::time::Instant;

use super::{lock, room::RoomState, Hub};
use crate::{
    protocol::{PeerId, Role, RoomName, ServerMessage},
    server::cluster::RoomEvent,
};

impl Hub {
    /// Tell `room`'s members on the other nodes, if there are other nodes.
    pub(super) fn tell_other_nodes(&self, room: &RoomName, event: RoomEvent) {
        if let Some(cluster) = &self.cluster {
            cluster.publish(room.as_str(), event);
        }
    }

    /// Viewer `id` here joined, chose a name or was muted: every broadcaster page hears it,
    /// here and on the other nodes.
    pub(super) fn announce_viewer(&self, room: &RoomName, state: &RoomState, id: PeerId) {
        state.announce_viewer(id);
        if let Some(viewer) = state.audience_member(id) {
            self.tell_other_nodes(room, RoomEvent::ViewerIs { viewer });
        }
    }

    /// Node `node` told `room`'s members here of `event`. A room nobody is in here has
    /// nobody to tell.
    pub(super) fn room_event(&self, node: &str, room: &str, event: RoomEvent) {
        let Ok(name) = RoomName::parse(room) else {
            return;
        };
        let Some(room) = lock(&self.rooms).get(&name).cloned() else {
            return;
        };
        let mut state = room.lock();
        match event {
            RoomEvent::Chat { message } => {
                state.chat.push(message.clone());
                state.send_to_all(&ServerMessage::Chat { message });
            }
            RoomEvent::ChatDeleted { id } => {
                state.chat.remove(id);
                state.send_to_all(&ServerMessage::ChatDeleted { id });
            }
            RoomEvent::Mute { member, muted } => {
                let here = state
                    .members
                    .get(&member)
                    .is_some_and(|m| m.role == Role::Viewer && !m.edge);
                if here {
                    state.set_muted(member, muted);
                    self.announce_viewer(&name, &state, member);
                }
            }
            RoomEvent::ViewerIs { viewer } => {
                state.send_to_role(
                    Role::Broadcaster,
                    &ServerMessage::AudienceJoined {
                        viewer: viewer.clone(),
                    },
                );
                state
                    .remote_audience
                    .insert(viewer.id, (node.to_owned(), viewer));
            }
            RoomEvent::ViewerLeft { id } => {
                if state.remote_audience.remove(&id).is_some() {
                    state.send_to_role(Role::Broadcaster, &ServerMessage::AudienceLeft { id });
                }
            }
            RoomEvent::AudienceWanted => {
                for id in state.members.keys() {
                    if let Some(viewer) = state.audience_member(*id) {
                        self.tell_other_nodes(&name, RoomEvent::ViewerIs { viewer });
                    }
                }
            }
            RoomEvent::BroadcasterClock { offset_us } => {
                if state.on_air.is_none() {
                    state.broadcaster_clock_us = Some(offset_us);
                    state
                        .send_to_role(Role::Viewer, &ServerMessage::BroadcasterClock { offset_us });
                }
            }
        }
    }

    /// The viewers of nodes no longer in the cluster leave this room's audience list.
    pub(super) fn forget_gone_nodes(&self, state: &mut RoomState) {
        let Some(cluster) = &self.cluster else {
            return;
        };
        let view = cluster.view();
        if !view.is_fresh(Instant::now()) {
            return;
        }
        let alive = |node: &str| view.nodes().iter().any(|known| known.id == node);
        let gone: Vec<PeerId> = state
            .remote_audience
            .iter()
            .filter(|(_, (node, _))| !alive(node))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            state.remote_audience.remove(&id);
            state.send_to_role(Role::Broadcaster, &ServerMessage::AudienceLeft { id });
        }
    }
}
