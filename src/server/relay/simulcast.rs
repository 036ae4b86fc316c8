//! The engine's side of simulcast: choosing each viewer's layer (when its estimate, its
//! picture's size or its pinned level changes, when it starts, and once a second), asking for
//! the key frames a switch waits for, and telling the broadcaster which layers to send.

use std::time::{Duration, Instant};

use super::{
    engine::Engine,
    layer_choice::{self, Offered},
    layers::LayerId,
    media_room::MediaRoom,
    peer::Peer,
};
use crate::protocol::{Level, PeerId, RoomName, ServerMessage};

/// How often every viewer's layer is looked at again, and the broadcaster told of changes.
pub(super) const CHOOSE_EVERY: Duration = Duration::from_secs(1);

/// Choose `peer`'s layer among what `room` offers now; the layer it is newly aimed at, whose
/// key frame it then waits for.
pub(super) fn choose_for(room: &MediaRoom, peer: &mut Peer, now: Instant) -> Option<LayerId> {
    let offered = room.layers.offered(now);
    if offered.is_empty() {
        return None;
    }
    let (ids, options): (Vec<LayerId>, Vec<Offered>) = offered.into_iter().unzip();
    let viewer = peer.viewer_mut()?;
    if viewer.layer.unaimed() {
        // The first picture comes from the lowest layer, which always runs: at once, where a
        // paused one would first have to start. The next round climbs.
        let lowest = *ids.last()?;
        viewer.layer.aim(lowest, false, now);
        return Some(lowest);
    }
    let wants = viewer.layer.wants(&ids, now);
    let chosen = layer_choice::choose(&options, &wants);
    let down = wants.current.is_some_and(|current| chosen > current);
    let id = *ids.get(chosen)?;
    let aimed = viewer.layer.aim(id, down, now);
    if options.len() > 1 {
        peer.probe(layer_choice::probe_for(&options, &wants, chosen));
    }
    aimed.then_some(id)
}

/// What a viewer is told of the layer it gets now (`None` if it was told already).
pub(super) fn quality_news(room: &MediaRoom, peer: &mut Peer) -> Option<ServerMessage> {
    let count = room.layers.count();
    let viewer = peer.viewer_mut()?;
    let rank = room.layers.rank(viewer.layer.current?)?;
    let news = (
        Level::of_rank(rank, count),
        u32::try_from(count).unwrap_or(u32::MAX),
        viewer.layer.pinned.is_some(),
    );
    if viewer.layer.told == Some(news) {
        return None;
    }
    viewer.layer.told = Some(news);
    let (level, of, pinned) = news;
    Some(ServerMessage::Quality { level, of, pinned })
}

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
        let (mut receiving, mut wanted) = (Vec::new(), Vec::new());
        for member in &room.viewers {
            if let Some(viewer) = self.peers.get_mut(member).and_then(Peer::viewer_mut) {
                receiving.extend(viewer.layer.current);
                wanted.extend(viewer.layer.next);
            }
        }
        if let (Some(layers), Some((_, outbox))) = (
            room.layers.usage(&receiving, &wanted, recorded),
            &room.broadcaster,
        ) {
            outbox.send(&ServerMessage::Layers { layers });
        }
    }
}
