//! A viewer's side of the relay: the media lines its stream goes out on, whether it wants
//! sound, its simulcast layer, and forwarding one frame of the broadcast to it.

use str0m::{
    change::SdpPendingOffer,
    media::{MediaData, MediaKind, Mid},
    Rtc, RtcError,
};

use super::{
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
        }
    }

    /// Forward one frame of the broadcast to this viewer (`member`, its connection `rtc`):
    /// sound only if it asked, picture of its layer, from a key frame on. A codec it cannot
    /// play is said once, on `outbox`.
    pub(super) fn forward(
        &mut self,
        rtc: &mut Rtc,
        (member, outbox): (PeerId, &Outbox),
        kind: MediaKind,
        data: &MediaData,
    ) -> Result<Forwarded, RtcError> {
        if !self.connected {
            return Ok(Forwarded::No);
        }
        let (mid, time, switched) = match kind {
            MediaKind::Audio if !self.sound => return Ok(Forwarded::No),
            MediaKind::Audio => match self.audio {
                Some(mid) => (mid, data.time, false),
                None => return Ok(Forwarded::No),
            },
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
        let Some(writer) = rtc.writer(mid) else {
            return Ok(Forwarded::No);
        };
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
