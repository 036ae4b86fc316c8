//! The relay's commands: what signaling asks of the engine (a broadcaster on air, an offer to
//! answer, a viewer to serve, an ICE restart, a peer or a room to end).

use std::time::Instant;

use super::{
    engine::Engine,
    peer::{Peer, PeerError, Side},
    Command,
};
use crate::{
    protocol::{ErrorCode, PeerId, RoomName, ServerMessage},
    server::outbox::Outbox,
};

impl Engine {
    /// Act on what signaling asks.
    pub(super) fn command(&mut self, command: Command, now: Instant) {
        match command {
            Command::OnAir {
                room,
                broadcaster,
                outbox,
                record,
            } => {
                let media_room = self.rooms.entry(room).or_default();
                media_room.not_recorded = !record;
                let old_ingest = media_room
                    .ingest
                    .filter(|_| media_room.broadcaster_id() != Some(broadcaster));
                media_room.broadcaster = Some((broadcaster, outbox));
                media_room.ask_broadcaster();
                if let Some(old) = old_ingest {
                    self.remove_peer(old);
                }
            }
            Command::Record { room, on } => {
                if let Some(media_room) = self.rooms.get_mut(&room) {
                    media_room.not_recorded = !on;
                }
                if !on {
                    self.end_recording(&room);
                }
            }
            Command::Publish { room, member, sdp } => self.publish(room, member, &sdp, now),
            Command::Subscribe {
                room,
                member,
                outbox,
                offer,
            } => {
                self.remove_peer(member);
                // Estimated where the broadcast has layers to choose from, or has not said yet,
                // and the viewer gets one of them.
                let estimated = self.rooms.get(&room).is_none_or(|r| r.layers.count() != 1)
                    && !offer
                        .as_deref()
                        .is_some_and(super::edge_layers::takes_every_layer);
                let peer = match offer {
                    None => Peer::viewer(
                        member,
                        room.clone(),
                        outbox.clone(),
                        &self.local,
                        now,
                        estimated,
                    ),
                    Some(offer) => Peer::viewer_answering(
                        member,
                        room.clone(),
                        outbox.clone(),
                        &offer,
                        &self.local,
                        now,
                        estimated,
                    ),
                };
                match peer {
                    Ok(peer) => {
                        self.add_peer(peer);
                        self.rooms.entry(room).or_default().viewers.push(member);
                    }
                    Err(err) => refuse(&outbox, &err),
                }
            }
            Command::Answer { member, sdp } => {
                if let Some(peer) = self.peers.get_mut(&member) {
                    if let Err(err) = peer.accept_answer(&sdp) {
                        refuse(&peer.outbox, &err);
                    }
                    self.touched.push(member);
                }
            }
            Command::RestartIce {
                member,
                offer,
                reply,
            } => {
                let answer = self.restart_ice(member, &offer);
                let _ = reply.send(answer.map_err(|err| err.to_string()));
            }
            Command::Candidate { member, candidate } => {
                if let Some(peer) = self.peers.get_mut(&member) {
                    peer.add_candidate(&candidate);
                    self.touched.push(member);
                }
            }
            Command::Audio { member, on } => {
                if let Some(Peer {
                    side: Side::Viewer(viewer),
                    ..
                }) = self.peers.get_mut(&member)
                {
                    viewer.sound = on;
                }
            }
            Command::ViewerSize {
                member,
                width,
                height,
            } => {
                if let Some(viewer) = self.peers.get_mut(&member).and_then(Peer::viewer_mut) {
                    viewer.layer.shown = Some((width, height));
                    self.choose_layer(member, now);
                }
            }
            Command::PinQuality { member, level } => {
                if let Some(viewer) = self.peers.get_mut(&member).and_then(Peer::viewer_mut) {
                    viewer.layer.pinned = level;
                    self.choose_layer(member, now);
                    if let Some(peer) = self.peers.get_mut(&member) {
                        if let Some(room) = self.rooms.get(&peer.room) {
                            if let Some(news) = super::simulcast::quality_news(room, peer) {
                                peer.outbox.send(&news);
                            }
                        }
                    }
                }
            }
            Command::Hangup { member } => {
                if let Some(room) = self.remove_peer(member) {
                    self.ask_again_if_broadcaster(&room, member, now);
                }
            }
            Command::Left { member } => {
                self.remove_peer(member);
            }
            Command::Pull {
                room,
                member,
                socket,
                outbox,
                reply,
            } => self.start_pull((room, member), socket, outbox, reply, now),
            Command::PullDatagram {
                member,
                source,
                destination,
                contents,
            } => self.pull_datagram(member, (source, destination), &contents, now),
            Command::EndRoom { room } => {
                if let Some(media_room) = self.rooms.remove(&room) {
                    // The room is gone before its peers are: remove_peer cannot see that one
                    // was its ingest, so the recording is closed here.
                    if media_room.ingest.is_some() {
                        self.end_recording(&room);
                    }
                    for member in media_room.ingest.iter().chain(&media_room.viewers) {
                        self.remove_peer(*member);
                    }
                }
            }
        }
    }

    /// The broadcaster's offer: its ingest replaces any earlier one.
    fn publish(&mut self, room_name: RoomName, member: PeerId, sdp: &str, now: Instant) {
        // Only from the broadcaster the room went on air with.
        let Some(outbox) = self.rooms.get(&room_name).and_then(|room| {
            room.broadcaster
                .as_ref()
                .filter(|(id, _)| *id == member)
                .map(|(_, outbox)| outbox.clone())
        }) else {
            return;
        };
        if let Some(old) = self.rooms.get(&room_name).and_then(|room| room.ingest) {
            self.remove_peer(old);
        }
        match Peer::ingest(
            member,
            room_name.clone(),
            outbox.clone(),
            sdp,
            &self.local,
            now,
        ) {
            Ok(peer) => {
                self.add_peer(peer);
                if let Some(room) = self.rooms.get_mut(&room_name) {
                    room.set_ingest(Some(member));
                }
            }
            Err(err) => refuse(&outbox, &err),
        }
    }

    fn restart_ice(&mut self, member: PeerId, offer: &str) -> Result<String, PeerError> {
        let peer = self.peers.get_mut(&member).ok_or(PeerError::NoPeer)?;
        let old_ufrag = peer.ufrag.clone();
        let answer = peer.restart_ice(offer)?;
        self.demux
            .change_ufrag(&old_ufrag, peer.ufrag.clone(), member);
        self.touched.push(member);
        Ok(answer)
    }
}

fn refuse(outbox: &Outbox, err: &PeerError) {
    outbox.send(&ServerMessage::error(
        ErrorCode::BadMessage,
        err.to_string(),
    ));
}
