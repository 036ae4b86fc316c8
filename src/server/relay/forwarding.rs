//! A frame of the broadcast: measured for its layer, recorded (its best layer only), and
//! forwarded to each viewer that gets its layer; a viewer without a layer yet gets the lowest.

use std::time::Instant;

use str0m::{format::Codec, media::MediaKind};

use super::{engine::Engine, media_room::MediaRoom, simulcast, viewer_side::Forwarded};
use crate::{
    protocol::{PeerId, RoomName},
    server::recording::{self, Frame, Recorder},
};

impl Engine {
    /// A frame of the broadcast: recorded (its best layer), and forwarded to each viewer of
    /// its layer.
    pub(super) fn ingest_frame(
        &mut self,
        room_name: &RoomName,
        member: PeerId,
        data: &str0m::media::MediaData,
        now: Instant,
    ) {
        let Some(kind) = self
            .peers
            .get_mut(&member)
            .and_then(|p| p.kind_of(data.mid))
        else {
            return;
        };
        let Some(room) = self.rooms.get_mut(room_name) else {
            return;
        };
        let video = kind == MediaKind::Video;
        if video {
            room.layers.frame(data, now);
            if !data.contiguous {
                room.want_keyframe(data.rid);
            }
        }
        let best = !video || room.layers.best() == Some(data.rid);
        // Where the frame's layer stands, for an edge that takes every layer.
        let place = video
            .then(|| {
                room.layers
                    .rank(data.rid)
                    .map(|rank| (rank, room.layers.count()))
            })
            .flatten();
        if let (Some(recorder), false, true) = (&self.recorder, room.not_recorded, best) {
            record(recorder, room, room_name, data);
        }
        let mut aimed = false;
        // Asked for after the loop, which holds the room's viewers.
        let mut keyframes = Vec::new();
        for viewer in &room.viewers {
            let Some(peer) = self.peers.get_mut(viewer) else {
                continue;
            };
            if video && peer.viewer_mut().is_some_and(|v| v.layer.unaimed()) {
                // A viewer without a layer yet gets one now, not at the next round.
                if let Some(layer) = simulcast::choose_for(room, peer, now) {
                    keyframes.push(layer);
                    aimed = true;
                }
            }
            match peer.forward((kind, place), data) {
                Forwarded::Sent => {}
                Forwarded::Switched => {
                    if let Some(news) = simulcast::quality_news(room, peer) {
                        peer.outbox.send(&news);
                    }
                    aimed = true;
                }
                Forwarded::No => {
                    if let Some(layer) = peer.waits_for_picture().filter(|_| video) {
                        keyframes.push(layer);
                    }
                    continue;
                }
            }
            self.metrics.forwarded_frames.inc();
            self.touched.push(*viewer);
        }
        for layer in keyframes {
            room.want_keyframe(layer);
        }
        if aimed {
            self.tell_layers(room_name);
        }
    }
}

/// Hand a frame of the ingest to the recorder: VP8 (into WebM) or H.264 (into MP4), and
/// Opus. Other codecs are said once per room and not recorded.
fn record(
    recorder: &Recorder,
    room: &mut MediaRoom,
    name: &RoomName,
    data: &str0m::media::MediaData,
) {
    let codec = match data.params.spec().codec {
        Codec::Vp8 => recording::Codec::Vp8,
        Codec::H264 => recording::Codec::H264,
        Codec::Opus => recording::Codec::Opus,
        other => {
            if !room.unrecordable_said {
                room.unrecordable_said = true;
                tracing::warn!(
                    "{name}'s {other:?} is not recorded: recordings hold VP8, H.264 and Opus"
                );
            }
            return;
        }
    };
    recorder.frame(
        name,
        Frame {
            codec,
            keyframe: data.is_keyframe(),
            micros: data.time.as_micros(),
            at: data.network_time,
            data: data.data.clone(),
        },
    );
}
