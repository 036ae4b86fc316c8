//! A recording's clock: where each frame falls in the file, whichever container holds it.
//!
//! Each track keeps its own RTP clock, anchored where its first frame arrived, so sound and
//! picture stay in step even though their RTP clocks start at unrelated values.

use std::time::Instant;

use super::Frame;

/// When a track's first frame came, on its own clock and on the wall clock.
#[derive(Clone, Copy)]
struct Anchor {
    micros: u64,
    at: Instant,
}

pub(super) struct Timeline {
    /// The first key frame's arrival: time zero of the file.
    origin: Instant,
    video: Option<Anchor>,
    audio: Option<Anchor>,
}

impl Timeline {
    pub(super) fn starting_at(first: &Frame) -> Self {
        Self {
            origin: first.at,
            video: None,
            audio: None,
        }
    }

    /// The frame's time in the file, in nanoseconds (not yet ordered against other frames).
    pub(super) fn nanos(&mut self, frame: &Frame) -> u64 {
        let slot = if frame.codec.is_video() {
            &mut self.video
        } else {
            &mut self.audio
        };
        let anchor = *slot.get_or_insert(Anchor {
            micros: frame.micros,
            at: frame.at,
        });
        let since_origin = anchor.at.saturating_duration_since(self.origin).as_nanos() as u64;
        since_origin + frame.micros.saturating_sub(anchor.micros) * 1_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::recording::Codec;
    use std::time::Duration;

    fn frame(codec: Codec, micros: u64, at: Instant) -> Frame {
        Frame {
            codec,
            keyframe: true,
            micros,
            at,
            data: Vec::new().into(),
        }
    }

    #[test]
    fn each_track_runs_on_its_own_clock_from_where_it_joined() {
        let start = Instant::now();
        let key = frame(Codec::Vp8, 5_000_000, start);
        let mut timeline = Timeline::starting_at(&key);
        assert_eq!(timeline.nanos(&key), 0);
        // Sound joins 20 ms later on a clock that starts elsewhere.
        let later = start + Duration::from_millis(20);
        assert_eq!(timeline.nanos(&frame(Codec::Opus, 900, later)), 20_000_000);
        // Its next frame is 20 ms on, by its own clock, whenever it arrives.
        assert_eq!(
            timeline.nanos(&frame(Codec::Opus, 20_900, start)),
            40_000_000
        );
        assert_eq!(
            timeline.nanos(&frame(Codec::Vp8, 5_033_000, start)),
            33_000_000
        );
    }
}
