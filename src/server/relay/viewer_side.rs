//! A viewer's side of the relay: the media lines its stream goes out on, whether it wants
//! sound, its simulcast layer, and forwarding one frame of the broadcast to it.

use str0m::{
    change::SdpPendingOffer,
    media::{MediaData, MediaKind, Mid},
};

use super::{
    peer::{Peer, Side},
    viewer_layer::{Taken, ViewerLayer},
};
use crate::protocol::{ErrorCode, ServerMessage};

pub(in crate::server::relay) struct ViewerSide {
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
    /// for its answer, if any, and whether it starts with sound.
    pub(super) fn new(
        (audio, video): (Option<Mid>, Option<Mid>),
        pending: Option<SdpPendingOffer>,
        sound: bool,
    ) -> Self {
        Self {
            audio,
            video,
            pending,
            sound,
            connected: false,
            cannot_decode: false,
            layer: ViewerLayer::default(),
        }
    }
}

impl Peer {
    /// The viewer's side (`None` for the ingest).
    pub(super) fn viewer_mut(&mut self) -> Option<&mut ViewerSide> {
        match &mut self.side {
            Side::Viewer(viewer) => Some(viewer),
            Side::Ingest => None,
        }
    }

    /// Forward one frame of the broadcast to this viewer: sound only if it asked, picture of
    /// its layer, from a key frame on.
    pub(super) fn forward(&mut self, kind: MediaKind, data: &MediaData) -> Forwarded {
        let Side::Viewer(viewer) = &mut self.side else {
            return Forwarded::No;
        };
        if !viewer.connected {
            return Forwarded::No;
        }
        let (mid, time, switched) = match kind {
            MediaKind::Audio if !viewer.sound => return Forwarded::No,
            MediaKind::Audio => match viewer.audio {
                Some(mid) => (mid, data.time, false),
                None => return Forwarded::No,
            },
            MediaKind::Video => {
                // A codec str0m cannot tell key frames of is sent as it comes.
                let unknown = matches!(data.codec_extra, str0m::format::CodecExtra::None);
                let keyframe = data.is_keyframe() || unknown;
                let (time, switched) =
                    match viewer
                        .layer
                        .take(data.rid, data.time, data.network_time, keyframe)
                    {
                        Taken::Skip => return Forwarded::No,
                        Taken::Send(time) => (time, false),
                        Taken::Switched(time) => (time, true),
                    };
                match viewer.video {
                    Some(mid) => (mid, time, switched),
                    None => return Forwarded::No,
                }
            }
        };
        let Some(writer) = self.rtc.writer(mid) else {
            return Forwarded::No;
        };
        // str0m matches against every codec the relay knows; send only one this viewer took.
        let pt = writer
            .match_params(data.params)
            .filter(|pt| writer.payload_params().any(|p| p.pt() == *pt));
        let Some(pt) = pt else {
            if kind == MediaKind::Video && !viewer.cannot_decode {
                viewer.cannot_decode = true;
                let codec = data.params.spec().codec;
                tracing::debug!("relay: member {} cannot decode {codec:?}", self.member);
                self.outbox.send(&ServerMessage::error(
                    ErrorCode::UnsupportedCodec,
                    format!(
                        "This browser cannot play the broadcast's video ({codec:?}). \
                         Try another browser (Firefox plays H.264 once its OpenH264 plugin \
                         is installed)."
                    ),
                ));
            }
            return Forwarded::No;
        };
        // The broadcaster's capture times go on to the viewer, which shows its delay by them.
        let writer = match data.ext_vals.abs_capture_time {
            Some(captured) => writer.abs_capture_time(captured),
            None => writer,
        };
        match writer.write(pt, data.network_time, time, data.data.clone()) {
            Ok(()) if switched => Forwarded::Switched,
            Ok(()) => Forwarded::Sent,
            Err(err) => {
                self.fail(&err);
                Forwarded::No
            }
        }
    }

    /// The layer this viewer waits for a key frame of, to start its picture.
    pub(super) fn waits_for_picture(&self) -> Option<super::layers::LayerId> {
        match &self.side {
            Side::Viewer(v) if !v.cannot_decode => v.layer.waits(),
            _ => None,
        }
    }
}
