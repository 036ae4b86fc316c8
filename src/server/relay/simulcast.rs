//! Simulcast for one viewer: choosing its layer among what its room offers now, and what it
//! is told of the layer it gets. (The engine's rounds over every viewer: [`super::layer_rounds`].)

use std::time::{Duration, Instant};

use super::{
    layer_choice::{self, Offered},
    layers::LayerId,
    media_room::MediaRoom,
    peer::Peer,
};
use crate::protocol::{Level, ServerMessage};

/// How often every viewer's layer is looked at again, and the broadcaster told of changes.
pub(super) const CHOOSE_EVERY: Duration = Duration::from_secs(1);

/// Choose `peer`'s layer among what `room` offers now; the layer it is newly aimed at, whose
/// key frame it then waits for.
pub(super) fn choose_for(room: &MediaRoom, peer: &mut Peer, now: Instant) -> Option<LayerId> {
    let offered = room.layers.offered(now);
    if offered.is_empty() {
        return None;
    }
    let (ids, options): (Vec<LayerId>, Vec<Offered>) = offered.into_iter().unzip();
    let member = peer.member;
    let viewer = peer.viewer_mut().filter(|viewer| !viewer.is_edge())?;
    if viewer.layer.unaimed() {
        // The first picture comes from the lowest layer, which always runs: at once, where a
        // paused one would first have to start. The next round climbs.
        let lowest = *ids.last()?;
        viewer.layer.aim(lowest, false, now);
        return Some(lowest);
    }
    let wants = viewer.layer.wants(&ids, now);
    let chosen = layer_choice::choose(&options, &wants);
    tracing::trace!("relay: layers {options:?} for {member}, {wants:?}: {chosen}");
    // A step down the viewer pinned is its choice, not its link's: no hold after it.
    let down = wants.pinned.is_none() && wants.current.is_some_and(|current| chosen > current);
    let id = *ids.get(chosen)?;
    let aimed = viewer.layer.aim(id, down, now);
    if options.len() > 1 && viewer.layer.estimated {
        let climb = layer_choice::could_climb(&options, &wants, chosen);
        let probing = viewer.layer.probing(now, climb);
        let stuck = probing && viewer.layer.stuck(now);
        let rates = layer_choice::probe_for(&options, &wants, chosen, probing);
        tracing::trace!("relay: {member}'s estimator keeps up and looks for {rates:?}");
        peer.probe(rates);
        if let (true, Some(estimate)) = (stuck, wants.estimate_bps) {
            tracing::debug!("relay: {member}'s estimate is stuck at {estimate} bit/s: afresh");
            peer.restart_estimator(estimate);
        }
    }
    aimed.then_some(id)
}

/// What a viewer is told of the layer it gets now (`None` if it was told already).
pub(super) fn quality_news(room: &MediaRoom, peer: &mut Peer) -> Option<ServerMessage> {
    let count = room.layers.count();
    let viewer = peer.viewer_mut()?;
    let rank = room.layers.rank(viewer.layer.current?)?;
    let news = (
        Level::of_rank(rank, count),
        u32::try_from(count).unwrap_or(u32::MAX),
        viewer.layer.pinned.is_some(),
    );
    if viewer.layer.told == Some(news) {
        return None;
    }
    viewer.layer.told = Some(news);
    let (level, of, pinned) = news;
    Some(ServerMessage::Quality { level, of, pinned })
}
