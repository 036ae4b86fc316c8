//! A viewer's side of the relay: the media lines its stream goes out on, whether it wants
//! sound, its simulcast layer, and forwarding one frame of the broadcast to it.

use str0m::{
    change::SdpPendingOffer,
    media::{MediaData, MediaKind, Mid, Rid},
    Rtc, RtcError,
};

use super::{
    edge_layers,
    layers::LayerId,
    viewer_layer::{Taken, ViewerLayer},
};
use crate::{
    protocol::{ErrorCode, PeerId, ServerMessage},
    server::outbox::Outbox,
};

pub(super) struct ViewerSide {
    /// The media lines sound and picture go out on (from the viewer's offer: once str0m adds
    /// them).
    pub(super) audio: Option<Mid>,
    pub(super) video: Option<Mid>,
    /// The relay's offer, until the viewer's answer comes.
    pub(super) pending: Option<SdpPendingOffer>,
    /// The viewer asked for sound; a muted page gets no audio packets.
    pub(super) sound: bool,
    /// ICE and DTLS are through: what is written before would be lost, key frame and all.
    pub(super) connected: bool,
    /// The broadcast's video is in a codec this viewer did not agree to (it was told).
    cannot_decode: bool,
    /// The layer of the picture it gets.
    pub(super) layer: ViewerLayer,
    /// Another node that pulls the broadcast gets every layer, under these rids of its offer
    /// (see `edge_layers`); a viewer gets one layer (none here).
    pub(super) edge_rids: Vec<Rid>,
}

/// What became of a frame forwarded to a viewer.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Forwarded {
    No,
    Sent,
    /// Sent, and the viewer's picture now comes from another layer.
    Switched,
}

impl ViewerSide {
    /// A viewer not connected yet: its media lines (once known), the relay's offer waiting
    /// for its answer, if any, whether it starts with sound, and whether its link's
    /// bandwidth is estimated.
    pub(super) fn new(
        (audio, video): (Option<Mid>, Option<Mid>),
        pending: Option<SdpPendingOffer>,
        (sound, estimated): (bool, bool),
    ) -> Self {
        Self {
            audio,
            video,
            pending,
            sound,
            connected: false,
            cannot_decode: false,
            layer: ViewerLayer::new(estimated),
            edge_rids: Vec::new(),
        }
    }

    /// It is another node, which takes every layer.
    pub(super) fn is_edge(&self) -> bool {
        !self.edge_rids.is_empty()
    }

    /// The broadcast's layers an edge receives, of `all` (best first).
    pub(super) fn edge_layers(&self, all: &[LayerId]) -> Vec<LayerId> {
        let count = all.len();
        (0..count)
            .filter(|rank| edge_layers::out_rid(&self.edge_rids, *rank, count).is_some())
            .map(|rank| all[rank])
            .collect()
    }

    /// The broadcast's layer (of `all`, best first) an edge's `rid` carries.
    pub(super) fn edge_layer(&self, rid: Rid, all: &[LayerId]) -> Option<LayerId> {
        edge_layers::rank_of(&self.edge_rids, rid, all.len())
            .and_then(|rank| all.get(rank).copied())
    }

    /// Forward one frame of the broadcast to this viewer (`member`, its connection `rtc`):
    /// sound only if it asked, picture of its layer, from a key frame on; to an edge, every
    /// layer, `place` telling the frame's (its rank, of how many). A codec it cannot play is
    /// said once, on `outbox`.
    pub(super) fn forward(
        &mut self,
        rtc: &mut Rtc,
        (member, outbox): (PeerId, &Outbox),
        (kind, place): (MediaKind, Option<(usize, usize)>),
        data: &MediaData,
    ) -> Result<Forwarded, RtcError> {
        if !self.connected {
            return Ok(Forwarded::No);
        }
        let mut out_rid = None;
        let (mid, time, switched) = match kind {
            MediaKind::Audio if !self.sound => return Ok(Forwarded::No),
            MediaKind::Audio => match self.audio {
                Some(mid) => (mid, data.time, false),
                None => return Ok(Forwarded::No),
            },
            MediaKind::Video if self.is_edge() => {
                let rid = place
                    .and_then(|(rank, count)| edge_layers::out_rid(&self.edge_rids, rank, count));
                match (rid, self.video) {
                    (Some(rid), Some(mid)) => {
                        // Each layer keeps its own stream and timeline, as a browser sends.
                        out_rid = Some(rid);
                        (mid, data.time, false)
                    }
                    _ => return Ok(Forwarded::No),
                }
            }
            MediaKind::Video => {
                // A codec str0m cannot tell key frames of is sent as it comes.
                let unknown = matches!(data.codec_extra, str0m::format::CodecExtra::None);
                let keyframe = data.is_keyframe() || unknown;
                let (time, switched) =
                    match self
                        .layer
                        .take(data.rid, data.time, data.network_time, keyframe)
                    {
                        Taken::Skip => return Ok(Forwarded::No),
                        Taken::Send(time) => (time, false),
                        Taken::Switched(time) => (time, true),
                    };
                match self.video {
                    Some(mid) => (mid, time, switched),
                    None => return Ok(Forwarded::No),
                }
            }
        };
        let Some(mut writer) = rtc.writer(mid) else {
            return Ok(Forwarded::No);
        };
        if let Some(rid) = out_rid {
            writer = writer.rid(rid);
        }
        // str0m matches against every codec the relay knows; send only one this viewer took.
        let pt = writer
            .match_params(data.params)
            .filter(|pt| writer.payload_params().any(|p| p.pt() == *pt));
        let Some(pt) = pt else {
            if kind == MediaKind::Video && !self.cannot_decode {
                self.cannot_decode = true;
                let codec = data.params.spec().codec;
                tracing::debug!("relay: member {member} cannot decode {codec:?}");
                outbox.send(&ServerMessage::error(
                    ErrorCode::UnsupportedCodec,
                    format!(
                        "This browser cannot play the broadcast's video ({codec:?}). \
                         Try another browser (Firefox plays H.264 once its OpenH264 plugin \
                         is installed)."
                    ),
                ));
            }
            return Ok(Forwarded::No);
        };
        // The broadcaster's capture times go on to the viewer, which shows its delay by them.
        let writer = match data.ext_vals.abs_capture_time {
            Some(captured) => writer.abs_capture_time(captured),
            None => writer,
        };
        writer.write(pt, data.network_time, time, data.data.clone())?;
        Ok(match switched {
            true => Forwarded::Switched,
            false => Forwarded::Sent,
        })
    }

    /// The layer this viewer waits for a key frame of, to start its picture.
    pub(super) fn waits_for_picture(&self) -> Option<LayerId> {
        match self.cannot_decode {
            true => None,
            false => self.layer.waits(),
        }
    }
}
