//! A broadcast's simulcast layers as the relay sees them: which there are (best first), what
//! each sends and how big its picture is, whether it is flowing, and which the broadcaster
//! was asked to send. A broadcast without simulcast is one layer, without a rid.

use std::time::{Duration, Instant};

use str0m::{format::Codec, media::MediaData};

use super::layer_choice::Offered;
use crate::{
    protocol::{simulcast, LayerUse},
    server::frame_size,
};

/// A layer: its rid in the SDP (none without simulcast).
pub(super) type LayerId = Option<str0m::media::Rid>;

/// A layer that sent nothing for this long is not offered to viewers (its sender stopped
/// it: a broadcaster's encoder short of bandwidth drops its top layer).
const STALLED_AFTER: Duration = Duration::from_secs(2);
/// A gap this long between frames is a pause (the layer was stopped, or just started).
const PAUSE: Duration = Duration::from_millis(500);
/// A layer's measured bitrate counts once it has flowed this long.
const SETTLED_AFTER: Duration = Duration::from_secs(2);
/// How long a bitrate is measured over.
const METER_WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug)]
pub(super) struct Layer {
    pub(super) id: LayerId,
    /// Its bitrate, once measured.
    bps: Option<u64>,
    /// Its bitrate when last measured after it had flowed a while: what it will take again
    /// when it starts after a pause. (Taking its plan's figure instead, the choice climbed
    /// to a layer by its last figure, then found it dearer once it started, and stepped down.)
    settled_bps: Option<u64>,
    window: (u64, Option<Instant>),
    pub(super) size: Option<(u32, u32)>,
    last_frame: Option<Instant>,
    /// Since when it has sent without a pause: a layer just started sends little at first,
    /// and its figure would lie.
    flowing_since: Option<Instant>,
    /// Whether the broadcaster was told to send it (all are, until told otherwise).
    pub(super) active: bool,
}

impl Layer {
    fn new(id: LayerId) -> Self {
        Self {
            id,
            bps: None,
            settled_bps: None,
            window: (0, None),
            size: None,
            last_frame: None,
            flowing_since: None,
            active: true,
        }
    }

    /// The most its plan lets it send (a talk page's layers have one).
    fn plan_max_bps(&self) -> Option<u64> {
        let rid = self.id?;
        simulcast::planned(&rid).map(|(_, plan)| u64::from(plan.max_kbps) * 1000)
    }

    /// What it sends, for the choice: measured once it has flowed a while (within its plan's
    /// most: a key frame's burst is not its rate); before that, what it sent when last
    /// measured so, else a share of its plan's most, which an encoder reaches only on a busy
    /// picture.
    fn bps(&self, now: Instant) -> u64 {
        let planned = self.plan_max_bps();
        let measured = match self.settled(now) {
            true => self.bps,
            false => self.settled_bps,
        };
        match measured {
            Some(measured) => planned.map_or(measured, |max| measured.min(max)),
            None => planned.map(|max| max * 3 / 5).or(self.bps).unwrap_or(0),
        }
    }

    /// It has flowed long enough for its figure to tell.
    fn settled(&self, now: Instant) -> bool {
        self.flowing_since
            .is_some_and(|since| now.saturating_duration_since(since) >= SETTLED_AFTER)
    }

    /// Viewers may be sent it: it flows, or it was paused here and starts when asked.
    fn offered(&self, now: Instant) -> bool {
        !self.active
            || self
                .last_frame
                .is_some_and(|at| now.saturating_duration_since(at) < STALLED_AFTER)
    }

    fn frame(&mut self, data: &MediaData, now: Instant) {
        let paused = self
            .last_frame
            .is_none_or(|at| now.saturating_duration_since(at) > PAUSE);
        if paused {
            self.flowing_since = Some(now);
            self.window = (0, None);
        }
        self.last_frame = Some(now);
        let (bytes, since) = &mut self.window;
        *bytes += data.data.len() as u64;
        match *since {
            None => *since = Some(now),
            Some(start) if now.saturating_duration_since(start) >= METER_WINDOW => {
                let seconds = now.saturating_duration_since(start).as_secs_f64();
                let measured = (*bytes as f64 * 8.0 / seconds) as u64;
                // Smoothed: one busy second of a scene change should not move every viewer.
                self.bps = Some(self.bps.map_or(measured, |old| (old + measured) / 2));
                self.window = (0, Some(now));
                if self.settled(now) {
                    self.settled_bps = self.bps;
                }
            }
            Some(_) => {}
        }
        if data.is_keyframe() {
            let size = match data.params.spec().codec {
                Codec::Vp8 => frame_size::vp8_size(&data.data),
                Codec::H264 => frame_size::h264_size(&data.data),
                _ => None,
            };
            if size.is_some() && size != self.size {
                tracing::debug!("relay: layer {:?} is {size:?}", self.id);
                self.size = size;
            }
        }
    }
}

/// The layers of one broadcast's picture, best first.
#[derive(Debug, Default)]
pub(super) struct Layers {
    layers: Vec<Layer>,
    /// What the broadcaster was last told.
    told: Vec<LayerUse>,
    /// Pulled from another node, under these rids: the layers are known as they flow, and
    /// none is paused here (the origin keeps what this node's viewers get running).
    pulled: Vec<str0m::media::Rid>,
}

impl Layers {
    /// The layers the broadcaster's offer names (`a=simulcast`), or none: one layer then.
    pub(super) fn declare(&mut self, rids: Vec<str0m::media::Rid>) {
        self.layers = if rids.is_empty() {
            vec![Layer::new(None)]
        } else {
            rids.into_iter().map(|rid| Layer::new(Some(rid))).collect()
        };
        self.told.clear();
        self.pulled.clear();
        self.sort();
    }

    /// The layers come from another node under `rids` (see `edge_layers`): those that flow.
    pub(super) fn pull(&mut self, rids: Vec<str0m::media::Rid>) {
        self.clear();
        self.pulled = rids;
    }

    pub(super) fn clear(&mut self) {
        self.layers.clear();
        self.told.clear();
        self.pulled.clear();
    }

    /// Best first: a talk page's by its plan, others by picture size, then by bitrate.
    fn sort(&mut self) {
        self.layers.sort_by_key(|layer| {
            let planned = layer
                .id
                .and_then(|rid| simulcast::planned(&rid).map(|(rank, _)| rank));
            let pixels = layer.size.map_or(0, |(w, h)| u64::from(w) * u64::from(h));
            (
                planned.unwrap_or(usize::MAX),
                std::cmp::Reverse(pixels),
                std::cmp::Reverse(layer.bps.unwrap_or(0)),
            )
        });
    }

    /// A frame of the picture came in.
    pub(super) fn frame(&mut self, data: &MediaData, now: Instant) {
        let position = match self.layers.iter().position(|l| l.id == data.rid) {
            Some(position) => position,
            None => {
                // A pulled layer's first frame, or a broadcaster's that its offer did not name.
                let mut layer = Layer::new(data.rid);
                layer.frame(data, now);
                self.layers.push(layer);
                self.sort();
                return;
            }
        };
        let before = self.layers[position].size;
        self.layers[position].frame(data, now);
        if self.layers[position].size != before {
            self.sort();
        }
    }

    /// Every layer's id.
    pub(super) fn all(&self) -> Vec<LayerId> {
        if !self.pulled.is_empty() {
            return self.pulled.iter().map(|rid| Some(*rid)).collect();
        }
        match self.layers.is_empty() {
            true => vec![None],
            false => self.layers.iter().map(|layer| layer.id).collect(),
        }
    }

    /// How many layers there are.
    pub(super) fn count(&self) -> usize {
        self.layers.len()
    }

    /// The layers a viewer may get now, best first, with what the choice needs of them.
    pub(super) fn offered(&self, now: Instant) -> Vec<(LayerId, Offered)> {
        self.layers
            .iter()
            .filter(|layer| layer.offered(now))
            .map(|layer| {
                (
                    layer.id,
                    Offered {
                        bps: layer.bps(now),
                        size: layer.size,
                    },
                )
            })
            .collect()
    }

    /// The best layer (the one recorded).
    pub(super) fn best(&self) -> Option<LayerId> {
        self.layers.first().map(|layer| layer.id)
    }

    /// Where `id` stands, best first, among all the layers.
    pub(super) fn rank(&self, id: LayerId) -> Option<usize> {
        self.layers.iter().position(|layer| layer.id == id)
    }

    /// Which layers to send, given the layers the viewers get (`receiving`) and are about to
    /// (`wanted`), and those other nodes pull (`pulled`, once per node): those, the lowest (a
    /// new viewer starts on it at once), and the best when `recorded`. `Some` when the
    /// broadcaster has to hear it.
    pub(super) fn usage(
        &mut self,
        (receiving, wanted): (&[LayerId], &[LayerId]),
        pulled: &[LayerId],
        recorded: bool,
    ) -> Option<Vec<LayerUse>> {
        if !self.pulled.is_empty() {
            // Nobody here to tell: the origin sends every layer.
            return None;
        }
        let last = self.layers.len().saturating_sub(1);
        let uses = self
            .layers
            .iter_mut()
            .enumerate()
            .filter_map(|(rank, layer)| {
                let rid = layer.id?;
                let viewers = receiving.iter().filter(|id| **id == layer.id).count();
                let nodes = pulled.iter().filter(|id| **id == layer.id).count();
                layer.active = viewers > 0
                    || nodes > 0
                    || wanted.contains(&layer.id)
                    || rank == last
                    || (recorded && rank == 0);
                Some(LayerUse {
                    rid: rid.to_string(),
                    viewers: u32::try_from(viewers).unwrap_or(u32::MAX),
                    nodes: u32::try_from(nodes).unwrap_or(u32::MAX),
                    active: layer.active,
                    height: layer.size.map(|(_, h)| h),
                })
            })
            .collect::<Vec<_>>();
        if uses.is_empty() || uses == self.told {
            return None;
        }
        self.told = uses.clone();
        Some(uses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use str0m::media::Rid;

    fn rids(names: &[&str]) -> Vec<Rid> {
        names.iter().map(|name| Rid::from(*name)).collect()
    }

    #[test]
    fn a_talk_pages_layers_are_ranked_by_plan_whatever_the_sdp_order() {
        let mut layers = Layers::default();
        layers.declare(rids(&["l", "m", "h"]));
        let order: Vec<_> = layers.layers.iter().map(|l| l.id).collect();
        assert_eq!(
            order,
            rids(&["h", "m", "l"])
                .into_iter()
                .map(Some)
                .collect::<Vec<_>>()
        );
        assert_eq!(layers.best(), Some(Some(Rid::from("h"))));
    }

    #[test]
    fn usage_keeps_the_lowest_and_the_recorded_best_and_says_only_changes() {
        let mut layers = Layers::default();
        layers.declare(rids(&["h", "m", "l"]));
        let m = Some(Rid::from("m"));
        let uses = layers
            .usage((&[m, m], &[]), &[], false)
            .expect("first time");
        let active: Vec<_> = uses
            .iter()
            .map(|u| (u.rid.as_str(), u.viewers, u.active))
            .collect();
        assert_eq!(active, [("h", 0, false), ("m", 2, true), ("l", 0, true)]);
        assert_eq!(
            layers.usage((&[m, m], &[m]), &[], false),
            None,
            "nothing changed"
        );
        let now = Instant::now();
        let offered: Vec<_> = layers.offered(now).into_iter().map(|(id, _)| id).collect();
        assert_eq!(
            offered,
            [Some(Rid::from("h"))],
            "paused here: it starts when asked"
        );
        let uses = layers.usage((&[m], &[]), &[], true).expect("changed");
        assert!(uses[0].active, "the recorded layer runs");
        assert_eq!(uses[1].viewers, 1);
        assert!(
            layers.offered(now).is_empty(),
            "asked to run, none flows yet"
        );
    }

    #[test]
    fn a_layers_rate_counts_once_it_has_flowed_a_while_and_within_its_plan() {
        let now = Instant::now();
        let mut h = Layer::new(Some(Rid::from("h")));
        assert_eq!(
            h.bps(now),
            1_500_000,
            "not measured: a share of the plan's 2.5 Mbit/s"
        );
        h.bps = Some(40_000);
        h.flowing_since = Some(now);
        assert_eq!(h.bps(now), 1_500_000, "just started: its figure would lie");
        h.flowing_since = Some(now - SETTLED_AFTER);
        assert_eq!(h.bps(now), 40_000);
        h.bps = Some(5_000_000);
        assert_eq!(h.bps(now), 2_500_000, "a key frame's burst is not its rate");
        h.settled_bps = Some(600_000);
        h.flowing_since = Some(now);
        assert_eq!(
            h.bps(now),
            600_000,
            "started again after a pause: what it took when last measured so"
        );
        let mut other = Layer::new(Some(Rid::from("q")));
        other.bps = Some(800_000);
        assert_eq!(other.bps(now), 800_000, "no plan: what it was measured at");
    }

    #[test]
    fn a_layer_another_node_pulls_runs_and_says_so_without_viewers_here() {
        let mut layers = Layers::default();
        layers.declare(rids(&["h", "m", "l"]));
        let (h, m, l) = (
            Some(Rid::from("h")),
            Some(Rid::from("m")),
            Some(Rid::from("l")),
        );
        let uses = layers
            .usage((&[], &[]), &[h, m, l, h, m, l], false)
            .expect("first time");
        let told: Vec<_> = uses
            .iter()
            .map(|u| (u.rid.as_str(), u.viewers, u.nodes, u.active))
            .collect();
        assert_eq!(
            told,
            [("h", 0, 2, true), ("m", 0, 2, true), ("l", 0, 2, true)]
        );
        let uses = layers
            .usage((&[], &[]), &[], false)
            .expect("the nodes left");
        assert!(!uses[0].active && !uses[1].active && uses[2].active);
    }

    #[test]
    fn no_simulcast_is_one_layer_and_nothing_to_tell() {
        let mut layers = Layers::default();
        layers.declare(vec![]);
        assert_eq!(layers.count(), 1);
        assert_eq!(layers.best(), Some(None));
        assert_eq!(layers.usage((&[None], &[]), &[], false), None);
    }
}
