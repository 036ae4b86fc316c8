//! The engine's rounds of simulcast: a viewer's layer chosen again when its estimate, its
//! picture's size or its pinned level changes, and every viewer's once a second; key frames
//! asked again for switches still waiting; the broadcaster told which layers to send.

use std::time::Instant;

use super::{
    engine::Engine,
    peer::Peer,
    simulcast::{choose_for, CHOOSE_EVERY},
};
use crate::protocol::{PeerId, RoomName, ServerMessage};

impl Engine {
    /// Choose `member`'s layer again now (its estimate, size or pin changed).
    pub(super) fn choose_layer(&mut self, member: PeerId, now: Instant) {
        let Some(peer) = self.peers.get_mut(&member) else {
            return;
        };
        let Some(room) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        if let Some(layer) = choose_for(room, peer, now) {
            room.want_keyframe(layer);
            let name = peer.room.clone();
            self.tell_layers(&name);
        }
        self.touched.push(member);
    }

    /// Once a second: every viewer's layer again, a key frame again for switches still
    /// waiting for one, and the broadcasters told what to send.
    pub(super) fn choose_layers(&mut self, now: Instant) {
        if now < self.next_layer_choice {
            return;
        }
        self.next_layer_choice = now + CHOOSE_EVERY;
        let names: Vec<RoomName> = self
            .rooms
            .iter()
            .filter(|(_, room)| room.ingest.is_some() && room.layers.count() > 1)
            .map(|(name, _)| name.clone())
            .collect();
        for name in names {
            let Some(room) = self.rooms.get_mut(&name) else {
                continue;
            };
            let mut keyframes = Vec::new();
            for member in &room.viewers {
                let Some(peer) = self.peers.get_mut(member) else {
                    continue;
                };
                choose_for(room, peer, now);
                keyframes.extend(peer.viewer_mut().and_then(|v| v.layer.next));
                self.touched.push(*member);
            }
            for layer in keyframes {
                room.want_keyframe(layer);
            }
            self.tell_layers(&name);
        }
    }

    /// Tell `room`'s broadcaster which layers to send and who gets each, if that changed.
    pub(super) fn tell_layers(&mut self, name: &RoomName) {
        let recorded = self.records(name);
        let Some(room) = self.rooms.get_mut(name) else {
            return;
        };
        let (mut receiving, mut wanted, mut pulled) = (Vec::new(), Vec::new(), Vec::new());
        let all = room.layers.all();
        for member in &room.viewers {
            if let Some(viewer) = self.peers.get_mut(member).and_then(Peer::viewer_mut) {
                match viewer.is_edge() {
                    // Another node's viewers choose among the layers there: it keeps them all.
                    true => pulled.extend(viewer.edge_layers(&all)),
                    false => receiving.extend(viewer.layer.current),
                }
                wanted.extend(viewer.layer.next);
            }
        }
        if let (Some(layers), Some((_, outbox))) = (
            room.layers.usage((&receiving, &wanted), &pulled, recorded),
            &room.broadcaster,
        ) {
            outbox.send(&ServerMessage::Layers { layers });
        }
    }
}
