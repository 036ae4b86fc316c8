//! Which simulcast layer a viewer gets: a pure function of its bandwidth estimate, the size
//! its page shows the picture at, a level it pinned, and the layers there are. Margins on the
//! way up and down keep it from flapping between two layers.

use std::time::Duration;

use crate::protocol::Level;

/// Going up takes this much more than the layer needs: an estimate just at a layer's rate
/// would lose packets the moment the picture gets busy.
const UP_MARGIN: f64 = 1.3;
/// Staying takes this much of what the layer needs: estimates wobble.
const STAY_MARGIN: f64 = 0.85;
/// Sound, headers and feedback on top of the picture, in bit/s.
const OVERHEAD_BPS: f64 = 80_000.0;
/// After a step down, no step up for this long: the estimate that forced it may not be over.
pub(super) const HOLD_AFTER_DOWN: Duration = Duration::from_secs(4);
/// A viewer that could climb probes its link this often, for [`PROBE_FOR`].
pub(super) const PROBE_EVERY: Duration = Duration::from_secs(3);
pub(super) const PROBE_FOR: Duration = Duration::from_millis(1500);
/// A layer covers the picture on the page when it is at least this fraction of its width or
/// height (a little scaling up is not seen; half would be).
const COVERS: f64 = 0.8;

/// One layer the viewer could get, best first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Offered {
    /// What it sends, in bit/s (measured, or the plan's most for a layer not seen yet).
    pub(super) bps: u64,
    /// Its picture's size, once a key frame showed it.
    pub(super) size: Option<(u32, u32)>,
}

/// What the viewer's side says.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Wants {
    /// Its link's estimate, in bit/s (none yet: start low, where a picture comes at once).
    pub(super) estimate_bps: Option<u64>,
    /// The size its page shows the picture at, in device pixels.
    pub(super) shown: Option<(u32, u32)>,
    pub(super) pinned: Option<Level>,
    /// The layer it has now (an index into the offered ones).
    pub(super) current: Option<usize>,
    /// It stepped down less than [`HOLD_AFTER_DOWN`] ago.
    pub(super) held: bool,
}

/// The index of the layer to send.
pub(super) fn choose(layers: &[Offered], wants: &Wants) -> usize {
    let count = layers.len();
    let last = count.saturating_sub(1);
    if count <= 1 {
        return 0;
    }
    if let Some(level) = wants.pinned {
        return level.rank(count);
    }
    let best = best_for_size(layers, wants.shown);
    let Some(estimate) = wants.estimate_bps else {
        return wants.current.unwrap_or(last).clamp(best, last);
    };
    let estimate = estimate as f64;
    (best..count)
        .find(|&i| {
            let margin = match wants.current {
                Some(current) if i < current && wants.held => return false,
                Some(current) if i < current => UP_MARGIN,
                Some(current) if i == current => STAY_MARGIN,
                _ => 1.0,
            };
            estimate >= (layers[i].bps as f64 + OVERHEAD_BPS) * margin
        })
        .unwrap_or(last)
}

/// What to tell the viewer's bandwidth estimator, in bit/s (`minimum`, `desired`). While
/// `probing` (a short burst now and then, see [`PROBE_EVERY`]), look for enough for the best
/// layer worth sending, with padding up to the next layer up; otherwise ask for what the
/// layer it has needs, and pad nothing. Padding all the time would keep a slow link's queue
/// full: a viewer on a 300 kbit/s link waited half a second for its frames so.
pub(super) fn probe_for(
    layers: &[Offered],
    wants: &Wants,
    chosen: usize,
    probing: bool,
) -> (u64, u64) {
    let need = |i: usize| {
        layers
            .get(i)
            .map_or(0, |l| ((l.bps as f64 + OVERHEAD_BPS) * UP_MARGIN) as u64)
    };
    let best = best_allowed(layers, wants);
    if !probing || chosen <= best {
        return (0, need(chosen));
    }
    let desired = need(best);
    (need(chosen - 1).min(desired), desired)
}

/// Whether a viewer on layer `chosen` could climb: a better layer is worth sending to it.
pub(super) fn could_climb(layers: &[Offered], wants: &Wants, chosen: usize) -> bool {
    chosen > best_allowed(layers, wants) && !wants.held
}

/// The best layer this viewer may have: the one it pinned, else the best for its size.
fn best_allowed(layers: &[Offered], wants: &Wants) -> usize {
    match wants.pinned {
        Some(level) => level.rank(layers.len()),
        None => best_for_size(layers, wants.shown),
    }
}

/// The smallest layer that covers the picture as shown (the best when none does, or the size
/// is not known).
fn best_for_size(layers: &[Offered], shown: Option<(u32, u32)>) -> usize {
    let Some((width, height)) = shown.filter(|(w, h)| *w > 0 && *h > 0) else {
        return 0;
    };
    let covers = |(w, h): (u32, u32)| {
        f64::from(w) >= f64::from(width) * COVERS || f64::from(h) >= f64::from(height) * COVERS
    };
    layers
        .iter()
        .rposition(|layer| layer.size.is_some_and(covers))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 720p at 2 Mbit/s, 360p at 600 kbit/s, 180p at 150 kbit/s.
    fn layers() -> Vec<Offered> {
        [
            (2_000_000, 1280, 720),
            (600_000, 640, 360),
            (150_000, 320, 180),
        ]
        .map(|(bps, w, h)| Offered {
            bps,
            size: Some((w, h)),
        })
        .to_vec()
    }

    fn with_estimate(kbps: u64, current: Option<usize>) -> Wants {
        Wants {
            estimate_bps: Some(kbps * 1000),
            current,
            ..Wants::default()
        }
    }

    #[test]
    fn the_estimate_picks_the_best_layer_that_fits() {
        let layers = layers();
        assert_eq!(choose(&layers, &with_estimate(10_000, None)), 0);
        assert_eq!(choose(&layers, &with_estimate(1_000, None)), 1);
        assert_eq!(choose(&layers, &with_estimate(300, None)), 2);
        assert_eq!(
            choose(&layers, &with_estimate(50, None)),
            2,
            "the lowest at worst"
        );
    }

    #[test]
    fn no_estimate_yet_starts_low_and_keeps_what_it_has() {
        let layers = layers();
        assert_eq!(choose(&layers, &Wants::default()), 2);
        let wants = Wants {
            current: Some(0),
            ..Wants::default()
        };
        assert_eq!(choose(&layers, &wants), 0);
    }

    #[test]
    fn margins_keep_it_from_flapping() {
        let layers = layers();
        // 2.2 Mbit/s fits the top layer's 2.08 but not with the margin to climb to it...
        assert_eq!(choose(&layers, &with_estimate(2_200, Some(1))), 1);
        // ...and once there, it stays at a little less.
        assert_eq!(choose(&layers, &with_estimate(2_200, Some(0))), 0);
        assert_eq!(choose(&layers, &with_estimate(1_850, Some(0))), 0);
        assert_eq!(choose(&layers, &with_estimate(1_700, Some(0))), 1);
        assert_eq!(choose(&layers, &with_estimate(2_800, Some(1))), 0);
    }

    #[test]
    fn after_a_step_down_it_holds() {
        let layers = layers();
        let mut wants = with_estimate(10_000, Some(1));
        wants.held = true;
        assert_eq!(choose(&layers, &wants), 1, "no step up while held");
        wants.estimate_bps = Some(200_000);
        assert_eq!(choose(&layers, &wants), 2, "stepping down is never held");
    }

    #[test]
    fn a_small_picture_gets_a_small_layer_whatever_the_link() {
        let layers = layers();
        let mut wants = with_estimate(10_000, None);
        wants.shown = Some((320, 180));
        assert_eq!(choose(&layers, &wants), 2);
        wants.shown = Some((640, 360));
        assert_eq!(choose(&layers, &wants), 1);
        wants.shown = Some((700, 394));
        assert_eq!(choose(&layers, &wants), 1, "a little scaling up is fine");
        wants.shown = Some((1000, 562));
        assert_eq!(choose(&layers, &wants), 0);
        wants.shown = Some((3840, 2160));
        assert_eq!(choose(&layers, &wants), 0, "none covers it: the best");
        wants.shown = Some((320, 180));
        wants.estimate_bps = Some(100_000);
        assert_eq!(choose(&layers, &wants), 2);
    }

    #[test]
    fn a_layer_of_unknown_size_does_not_count_for_the_size() {
        let mut layers = layers();
        layers[2].size = None;
        let mut wants = with_estimate(10_000, None);
        wants.shown = Some((320, 180));
        assert_eq!(choose(&layers, &wants), 1);
    }

    #[test]
    fn a_pinned_level_wins() {
        let layers = layers();
        let mut wants = with_estimate(100, Some(2));
        wants.pinned = Some(Level::High);
        assert_eq!(choose(&layers, &wants), 0);
        wants.pinned = Some(Level::Medium);
        assert_eq!(choose(&layers, &wants), 1);
        wants.pinned = Some(Level::Low);
        assert_eq!(choose(&layers, &with_estimate(10_000, None)), 0);
        assert_eq!(choose(&layers, &wants), 2);
        assert_eq!(choose(&layers[..2], &wants), 1);
        assert_eq!(choose(&layers[..1], &wants), 0, "one layer is all there is");
    }

    #[test]
    fn the_estimator_probes_for_the_next_layer_up_only_in_bursts() {
        let layers = layers();
        let need = |bps: f64| ((bps + OVERHEAD_BPS) * UP_MARGIN) as u64;
        let wants = with_estimate(300, Some(2));
        assert_eq!(
            probe_for(&layers, &wants, 2, false),
            (0, need(150_000.0)),
            "no padding"
        );
        assert_eq!(
            probe_for(&layers, &wants, 2, true),
            (need(600_000.0), need(2_000_000.0)),
            "a burst pads up to the next layer and looks for the best"
        );
        let small = Wants {
            shown: Some((320, 180)),
            ..wants
        };
        assert!(
            !could_climb(&layers, &small, 2),
            "the best for its size already"
        );
        assert_eq!(probe_for(&layers, &small, 2, true), (0, need(150_000.0)));
        assert!(could_climb(&layers, &wants, 2));
        assert!(!could_climb(
            &layers,
            &Wants {
                held: true,
                ..wants
            },
            2
        ));
        let top = with_estimate(3_000, Some(0));
        assert_eq!(
            probe_for(&layers, &top, 0, true),
            (0, need(2_000_000.0)),
            "at the top"
        );
    }
}
