//! Simulcast: the layers a talk page sends the relay, and what the relay tells the pages of
//! them. The relay forwards each viewer one layer, chosen from the viewer's bandwidth and the
//! size its page shows the picture at (or pinned by hand), and tells the broadcaster which
//! layers anyone receives, so that the others are paused.

use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString, IntoStaticStr};

/// A layer's place among a broadcast's layers, as a viewer picks or sees it.
#[derive(
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    EnumIter,
    EnumString,
    IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Level {
    High,
    Medium,
    Low,
}

impl Level {
    /// The level of the layer `rank` (0 the best) of `count`: the best is high, the last low,
    /// one between them medium.
    pub fn of_rank(rank: usize, count: usize) -> Self {
        if rank == 0 || count <= 1 {
            Self::High
        } else if rank + 1 >= count {
            Self::Low
        } else {
            Self::Medium
        }
    }

    /// The rank (0 the best) this level picks of `count` layers: medium is the middle one, or
    /// the lower of two.
    pub fn rank(self, count: usize) -> usize {
        let last = count.saturating_sub(1);
        match self {
            Self::High => 0,
            Self::Medium => count / 2,
            Self::Low => last,
        }
        .min(last)
    }

    /// The wire name (`high`, `medium`, `low`).
    pub fn tag(self) -> &'static str {
        self.into()
    }
}

/// One layer as the talk page encodes it: `rid` names it in the SDP.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerPlan {
    pub rid: &'static str,
    /// Its size: the source's divided by this.
    pub scale_down: f64,
    /// The most it may send, in kbit/s.
    pub max_kbps: u32,
    /// The most frames a second (a screen's lower layers keep their sharpness and drop
    /// frames instead).
    pub max_fps: Option<f64>,
}

/// A camera's layers, best first: full size, half, a quarter (720p, 360p, 180p for HD).
pub const CAMERA_LAYERS: [LayerPlan; 3] = [
    LayerPlan {
        rid: "h",
        scale_down: 1.0,
        max_kbps: 2_500,
        max_fps: None,
    },
    LayerPlan {
        rid: "m",
        scale_down: 2.0,
        max_kbps: 700,
        max_fps: None,
    },
    LayerPlan {
        rid: "l",
        scale_down: 4.0,
        max_kbps: 200,
        max_fps: None,
    },
];

/// A shared screen's layers, best first: text must stay legible, so the lower layers give up
/// frames before pixels.
pub const SCREEN_LAYERS: [LayerPlan; 3] = [
    LayerPlan {
        rid: "h",
        scale_down: 1.0,
        max_kbps: 2_500,
        max_fps: Some(30.0),
    },
    LayerPlan {
        rid: "m",
        scale_down: 1.5,
        max_kbps: 700,
        max_fps: Some(8.0),
    },
    LayerPlan {
        rid: "l",
        scale_down: 2.0,
        max_kbps: 250,
        max_fps: Some(3.0),
    },
];

/// How many layers a source `height` pixels high is worth: three from 540 up, two from 360,
/// else one (no simulcast: a quarter of a small picture is too small to watch).
pub fn layer_count(height: u32) -> usize {
    match height {
        540.. => 3,
        360.. => 2,
        _ => 1,
    }
}

/// A talk page's layer by its rid (the relay knows their order and their bitrates so).
pub fn planned(rid: &str) -> Option<(usize, &'static LayerPlan)> {
    CAMERA_LAYERS
        .iter()
        .enumerate()
        .find(|(_, plan)| plan.rid == rid)
}

/// One layer of the broadcast, as the broadcaster's page hears of it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LayerUse {
    pub rid: String,
    /// Viewers receiving it now.
    pub viewers: u32,
    /// Other nodes of a cluster that pull it for their viewers (each keeps it running).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nodes: u32,
    /// Whether to send it: nobody receives a paused layer (the lowest always runs, to start
    /// new viewers at once).
    pub active: bool,
    /// Its picture's height, once the relay has seen a key frame of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn levels_and_ranks_agree() {
        for count in 1..=3 {
            for level in Level::iter() {
                let rank = level.rank(count);
                assert!(rank < count);
                if count == 3 {
                    assert_eq!(Level::of_rank(rank, count), level);
                }
            }
        }
        assert_eq!(Level::Medium.rank(2), 1);
        assert_eq!(Level::of_rank(1, 2), Level::Low);
        assert_eq!(Level::High.rank(0), 0);
    }

    #[test]
    fn layers_are_best_first_and_rids_unique() {
        for layers in [CAMERA_LAYERS, SCREEN_LAYERS] {
            assert!(layers.windows(2).all(|w| w[0].scale_down < w[1].scale_down));
            assert!(layers.windows(2).all(|w| w[0].max_kbps > w[1].max_kbps));
            assert_eq!(
                layers.map(|l| l.rid),
                CAMERA_LAYERS.map(|l| l.rid),
                "a screen's rids are a camera's"
            );
        }
        assert_eq!(planned("m").map(|(rank, _)| rank), Some(1));
        assert_eq!(planned("x"), None);
        assert_eq!(
            (layer_count(720), layer_count(480), layer_count(240)),
            (3, 2, 1)
        );
    }
}
