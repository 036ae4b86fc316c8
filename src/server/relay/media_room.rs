//! One room as the relay sees it: who broadcasts, its ingest, its viewers' peers, and the
//! key frames they wait for.

use std::time::{Duration, Instant};

use str0m::media::Mid;

use super::layers::{LayerId, Layers};

use crate::{
    protocol::{PeerId, ServerMessage, RELAY_ID},
    server::outbox::Outbox,
};

/// At most one key-frame request to the broadcaster per this long: every joining viewer
/// wants one, and each costs the broadcaster's encoder a large frame.
pub(super) const KEYFRAME_EVERY: Duration = Duration::from_millis(500);
/// How long after a lost ingest the broadcaster is asked for its stream again.
pub(super) const ASK_AGAIN_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct MediaRoom {
    /// The broadcaster on air, by its connection, and its outbox.
    pub(super) broadcaster: Option<(PeerId, Outbox)>,
    /// The broadcaster's peer (its member id), once it sent its offer.
    pub(super) ingest: Option<PeerId>,
    /// The ingest's video media lines (for key-frame requests).
    pub(super) ingest_video: Vec<Mid>,
    /// The ingest picture's simulcast layers (one without simulcast).
    pub(super) layers: Layers,
    pub(super) viewers: Vec<PeerId>,
    /// The layers a key frame is wanted of.
    keyframe_wanted: Vec<LayerId>,
    last_keyframe_request: Option<Instant>,
    ask_again_at: Option<Instant>,
    /// The log said once that this room's codec is not recorded.
    pub(super) unrecordable_said: bool,
    /// The broadcaster turned recording off.
    pub(super) not_recorded: bool,
}

impl MediaRoom {
    pub(super) fn is_empty(&self) -> bool {
        self.broadcaster.is_none() && self.ingest.is_none() && self.viewers.is_empty()
    }

    /// A new ingest (or none): what was known of the old one's media lines and layers goes.
    pub(super) fn set_ingest(&mut self, ingest: Option<PeerId>) {
        self.ingest = ingest;
        self.ingest_video.clear();
        self.layers.clear();
    }

    pub(super) fn broadcaster_id(&self) -> Option<PeerId> {
        self.broadcaster.as_ref().map(|(id, _)| *id)
    }

    /// Ask the broadcaster for its stream: the relay is its one viewer, and wants sound.
    pub(super) fn ask_broadcaster(&mut self) {
        self.ask_again_at = None;
        if let Some((_, outbox)) = &self.broadcaster {
            outbox.send(&ServerMessage::WantStream { from: RELAY_ID });
            outbox.send(&ServerMessage::Audio {
                from: RELAY_ID,
                on: true,
            });
        }
    }

    /// The ingest ended while the broadcaster is still on air: ask it again in a moment.
    pub(super) fn ask_again_later(&mut self, now: Instant) {
        if self.broadcaster.is_some() {
            self.ask_again_at = Some(now + ASK_AGAIN_AFTER);
        }
    }

    /// Whether asking again is due now.
    pub(super) fn ask_due(&self, now: Instant) -> bool {
        self.ask_again_at.is_some_and(|at| at <= now)
    }

    /// A key frame of `layer` is wanted.
    pub(super) fn want_keyframe(&mut self, layer: LayerId) {
        if !self.keyframe_wanted.contains(&layer) {
            self.keyframe_wanted.push(layer);
        }
    }

    /// A key frame of every layer is wanted (a new ingest, a viewer's decoder that lost it).
    pub(super) fn want_keyframes(&mut self) {
        for layer in self.layers.all() {
            self.want_keyframe(layer);
        }
    }

    /// The layers whose wanted key-frame request may go now; they count as sent.
    pub(super) fn keyframe_due(&mut self, now: Instant) -> Vec<LayerId> {
        let due = !self.keyframe_wanted.is_empty()
            && self.ingest.is_some()
            && self
                .last_keyframe_request
                .is_none_or(|last| now >= last + KEYFRAME_EVERY);
        if !due {
            return Vec::new();
        }
        self.last_keyframe_request = Some(now);
        std::mem::take(&mut self.keyframe_wanted)
    }

    /// When this room next has something to do on its own.
    pub(super) fn wake_at(&self) -> Option<Instant> {
        let keyframe = (!self.keyframe_wanted.is_empty() && self.ingest.is_some()).then(|| {
            self.last_keyframe_request
                .map_or_else(Instant::now, |last| last + KEYFRAME_EVERY)
        });
        [keyframe, self.ask_again_at].into_iter().flatten().min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframe_requests_are_throttled_not_lost() {
        let mut room = MediaRoom {
            ingest: Some(1),
            ..MediaRoom::default()
        };
        let start = Instant::now();
        let (h, l) = (Some("h".into()), Some("l".into()));
        assert!(room.keyframe_due(start).is_empty(), "none wanted");
        room.want_keyframe(h);
        assert_eq!(room.keyframe_due(start), [h]);
        room.want_keyframe(l);
        room.want_keyframe(h);
        room.want_keyframe(l);
        assert!(room.keyframe_due(start + KEYFRAME_EVERY / 2).is_empty());
        assert_eq!(room.wake_at(), Some(start + KEYFRAME_EVERY));
        assert_eq!(
            room.keyframe_due(start + KEYFRAME_EVERY),
            [l, h],
            "both, once each"
        );
        assert_eq!(room.wake_at(), None);
    }
}
