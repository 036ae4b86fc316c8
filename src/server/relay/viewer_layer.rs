//! Which layer of the broadcast one viewer gets, and the switch between two: the new layer
//! starts at its next key frame (the old one plays until then, so the picture never stops),
//! and its frames are retimed onto the viewer's one timeline (each layer has its own RTP
//! clock offset; a jump in it would stall the viewer's jitter buffer).

use std::time::{Duration, Instant};

use str0m::media::MediaTime;

use super::{layer_choice::Wants, layers::LayerId};
use crate::protocol::Level;

/// An estimate that has not moved this long while the viewer could climb is stuck.
const STUCK_AFTER: Duration = Duration::from_secs(6);
/// A stuck estimator is started afresh at most this often.
const RESTART_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(super) struct ViewerLayer {
    /// The layer forwarded now.
    pub(super) current: Option<LayerId>,
    /// The layer to switch to at its next key frame.
    pub(super) next: Option<LayerId>,
    /// Added to the current layer's times, in its clock's ticks.
    offset: i64,
    /// The last time sent and when its frame came.
    last_sent: Option<(i64, Instant)>,
    estimate_bps: Option<u64>,
    /// When its estimate last moved, and when its estimator was last started afresh.
    estimate_moved: Option<Instant>,
    restarted: Option<Instant>,
    /// Its link's bandwidth is estimated. (One that is not, which joined a broadcast without
    /// layers that has them now, is taken to carry any.)
    pub(super) estimated: bool,
    pub(super) shown: Option<(u32, u32)>,
    pub(super) pinned: Option<Level>,
    /// When it last stepped down.
    stepped_down: Option<Instant>,
    /// The probe of its link under way (until then), and when the next may start.
    probe_until: Option<Instant>,
    next_probe: Option<Instant>,
    /// What the viewer was last told it gets (level, of how many, pinned).
    pub(super) told: Option<(Level, u32, bool)>,
}

/// What became of a frame.
#[derive(Debug, PartialEq)]
pub(super) enum Taken {
    /// Send it, at this time.
    Send(MediaTime),
    /// Send it at this time: the viewer now gets this frame's layer.
    Switched(MediaTime),
    /// Not this viewer's layer.
    Skip,
}

impl ViewerLayer {
    /// A viewer with no layer yet; `estimated`: its link's bandwidth is.
    pub(super) fn new(estimated: bool) -> Self {
        Self {
            estimated,
            ..Self::default()
        }
    }

    /// What the choice needs from this viewer, its layer found among `offered`.
    pub(super) fn wants(&self, offered: &[LayerId], now: Instant) -> Wants {
        let held = self.stepped_down.is_some_and(|at| {
            now.saturating_duration_since(at) < super::layer_choice::HOLD_AFTER_DOWN
        });
        Wants {
            estimate_bps: match self.estimated {
                true => self.estimate_bps,
                false => Some(u64::MAX),
            },
            shown: self.shown,
            pinned: self.pinned,
            current: self
                .next
                .or(self.current)
                .and_then(|id| offered.iter().position(|o| *o == id)),
            held,
        }
    }

    /// Switch to `id` at its next key frame (or stay, if it is the current one). `down`: it
    /// is a step down. `true` if a key frame of it is now awaited.
    pub(super) fn aim(&mut self, id: LayerId, down: bool, now: Instant) -> bool {
        if self.current == Some(id) {
            self.next = None;
            return false;
        }
        if self.next == Some(id) {
            return false;
        }
        if down {
            self.stepped_down = Some(now);
        }
        self.next = Some(id);
        true
    }

    /// Whether a frame of layer `rid` at `time`, come at `arrived`, goes to this viewer, and
    /// at what time. `keyframe`: it starts a picture (or its codec cannot tell, and any frame
    /// does).
    pub(super) fn take(
        &mut self,
        rid: LayerId,
        time: MediaTime,
        arrived: Instant,
        keyframe: bool,
    ) -> Taken {
        let frequency = time.frequency();
        let ticks = i64::try_from(time.numer()).unwrap_or(i64::MAX);
        let mut switched = false;
        if self.next == Some(rid) && keyframe {
            // Where the timeline would be now, had the old layer gone on.
            let at = match self.last_sent {
                Some((sent, sent_at)) => {
                    let gap = arrived.saturating_duration_since(sent_at);
                    let gap = (gap.as_secs_f64() * f64::from(frequency.get())) as i64;
                    sent + gap.max(1)
                }
                None => ticks,
            };
            self.offset = at - ticks;
            tracing::debug!(
                "relay: a viewer switches from {:?} to {rid:?}",
                self.current
            );
            self.current = Some(rid);
            self.next = None;
            switched = true;
        }
        if self.current != Some(rid) {
            return Taken::Skip;
        }
        let out = ticks.saturating_add(self.offset).max(0);
        self.last_sent = Some((out, arrived));
        let time = MediaTime::new(out as u64, frequency);
        if switched {
            Taken::Switched(time)
        } else {
            Taken::Send(time)
        }
    }

    /// Whether its link is being probed now: a burst of [`PROBE_FOR`] every [`PROBE_EVERY`]
    /// while it `could_climb`.
    ///
    /// [`PROBE_FOR`]: super::layer_choice::PROBE_FOR
    /// [`PROBE_EVERY`]: super::layer_choice::PROBE_EVERY
    pub(super) fn probing(&mut self, now: Instant, could_climb: bool) -> bool {
        use super::layer_choice::{PROBE_EVERY, PROBE_FOR};
        if self.probe_until.is_some_and(|until| now < until) {
            return could_climb;
        }
        self.probe_until = None;
        if !could_climb || self.next_probe.is_some_and(|next| now < next) {
            return false;
        }
        self.probe_until = Some(now + PROBE_FOR);
        self.next_probe = Some(now + PROBE_EVERY);
        true
    }

    /// Its link's estimate is now `bps` (the estimator says only when it moves).
    pub(super) fn estimate(&mut self, bps: u64, now: Instant) {
        self.estimate_bps = Some(bps);
        self.estimate_moved = Some(now);
    }

    /// Whether its estimator should start afresh, now that it probes: its estimate has not
    /// moved for [`STUCK_AFTER`] (and it was not restarted in the last [`RESTART_EVERY`]).
    /// After losses, str0m's loss-based estimate stays down and stops the probes, while the
    /// little a low layer sends cannot raise it: a viewer whose link came back could stay
    /// on a low layer for half a minute.
    pub(super) fn stuck(&mut self, now: Instant) -> bool {
        let since = |at: Option<Instant>, wait| {
            at.is_none_or(|at: Instant| now.saturating_duration_since(at) >= wait)
        };
        let stuck = self.estimate_bps.is_some()
            && since(self.estimate_moved, STUCK_AFTER)
            && since(self.restarted, RESTART_EVERY);
        if stuck {
            self.restarted = Some(now);
            self.estimate_moved = Some(now);
        }
        stuck
    }

    /// No layer was chosen for it yet.
    pub(super) fn unaimed(&self) -> bool {
        self.current.is_none() && self.next.is_none()
    }

    /// The viewer waits for its first picture.
    pub(super) fn waits(&self) -> Option<LayerId> {
        match self.current {
            None => self.next,
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use str0m::media::{Frequency, Rid};

    use super::*;

    fn at(ticks: u64) -> MediaTime {
        MediaTime::new(ticks, Frequency::NINETY_KHZ)
    }

    #[test]
    fn a_switch_waits_for_a_key_frame_and_keeps_one_timeline() {
        let (h, l) = (Some(Rid::from("h")), Some(Rid::from("l")));
        let start = Instant::now();
        let mut viewer = ViewerLayer::new(true);
        assert!(viewer.aim(l, false, start));
        assert_eq!(viewer.waits(), Some(l));
        assert_eq!(
            viewer.take(l, at(1_000), start, false),
            Taken::Skip,
            "not a key frame"
        );
        assert_eq!(
            viewer.take(l, at(4_000), start, true),
            Taken::Switched(at(4_000))
        );
        assert_eq!(viewer.waits(), None);
        let frame = Duration::from_millis(33);
        assert_eq!(
            viewer.take(l, at(7_000), start + frame, false),
            Taken::Send(at(7_000))
        );
        // Up to h, whose clock is far from l's: l plays until h's key frame.
        assert!(viewer.aim(h, false, start));
        assert!(!viewer.aim(h, false, start), "already aimed at");
        assert_eq!(
            viewer.take(h, at(900_000), start + frame, false),
            Taken::Skip
        );
        assert_eq!(
            viewer.take(l, at(10_000), start + frame * 2, false),
            Taken::Send(at(10_000))
        );
        // h's key frame a frame later goes on l's timeline, a frame's ticks on.
        let Taken::Switched(time) = viewer.take(h, at(906_000), start + frame * 3, true) else {
            panic!("the key frame switches");
        };
        assert_eq!(time.numer(), 10_000 + 2_970);
        assert_eq!(
            viewer.take(l, at(13_000), start + frame * 3, true),
            Taken::Skip
        );
        let Taken::Send(next) = viewer.take(h, at(909_000), start + frame * 4, false) else {
            panic!("h's frames go on");
        };
        assert_eq!(next.numer(), time.numer() + 3_000);
    }

    #[test]
    fn aiming_at_the_current_layer_cancels_a_switch_and_a_step_down_holds() {
        let (h, l) = (Some(Rid::from("h")), Some(Rid::from("l")));
        let now = Instant::now();
        let mut viewer = ViewerLayer::new(true);
        viewer.aim(h, false, now);
        viewer.take(h, at(0), now, true);
        assert!(viewer.aim(l, true, now));
        assert!(viewer.wants(&[h, l], now).held);
        assert_eq!(
            viewer.wants(&[h, l], now).current,
            Some(1),
            "the layer it goes to"
        );
        assert!(!viewer.aim(h, false, now));
        assert_eq!(viewer.next, None);
        assert!(!viewer.wants(&[h, l], now + Duration::from_secs(10)).held);
    }

    #[test]
    fn a_viewer_that_could_climb_probes_in_bursts() {
        use super::super::layer_choice::{PROBE_EVERY, PROBE_FOR};
        let start = Instant::now();
        let mut viewer = ViewerLayer::new(true);
        assert!(!viewer.probing(start, false), "nothing to climb to");
        assert!(viewer.probing(start, true));
        assert!(
            viewer.probing(start + PROBE_FOR / 2, true),
            "the burst goes on"
        );
        assert!(!viewer.probing(start + PROBE_FOR, true), "and ends");
        assert!(!viewer.probing(start + PROBE_EVERY - Duration::from_millis(1), true));
        assert!(viewer.probing(start + PROBE_EVERY, true), "the next one");
    }

    #[test]
    fn an_estimate_that_does_not_move_is_stuck_now_and_then() {
        let start = Instant::now();
        let mut viewer = ViewerLayer::new(true);
        assert!(!viewer.stuck(start), "no estimate yet");
        viewer.estimate(300_000, start);
        assert!(!viewer.stuck(start + STUCK_AFTER / 2), "it moved just now");
        assert!(viewer.stuck(start + STUCK_AFTER));
        let restarted = start + STUCK_AFTER;
        assert!(
            !viewer.stuck(restarted + STUCK_AFTER),
            "not again so soon after a restart"
        );
        assert!(viewer.stuck(restarted + RESTART_EVERY));
        viewer.estimate(900_000, restarted + RESTART_EVERY * 2);
        assert!(
            !viewer.stuck(restarted + RESTART_EVERY * 2 + STUCK_AFTER / 2),
            "it moves again"
        );
    }
}
