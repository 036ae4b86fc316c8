//! How well each viewer receives the broadcast, from str0m's stats of its link (once a
//! second), told to the broadcaster's page every few seconds for its audience list.

use std::time::{Duration, Instant};

use str0m::stats::{MediaEgressStats, PeerStats};

use crate::protocol::{PeerId, ViewerQuality};

/// How often the broadcaster's page hears its viewers' figures.
pub(super) const REPORT_EVERY: Duration = Duration::from_secs(2);

/// One viewer link's latest figures.
#[derive(Debug, Default)]
pub(super) struct Quality {
    rtt: Option<Duration>,
    loss: Option<f32>,
    kbps: Option<u32>,
    /// Bytes sent by then, for the next bitrate.
    sent: Option<(u64, Instant)>,
}

impl Quality {
    /// The picture's round trip and loss, from the viewer's receiver reports.
    pub(super) fn video(&mut self, stats: &MediaEgressStats) {
        if stats.rtt.is_some() {
            self.rtt = stats.rtt;
        }
        if stats.loss.is_some() {
            self.loss = stats.loss;
        }
    }

    /// What the link carries, from its byte count.
    pub(super) fn link(&mut self, stats: &PeerStats) {
        if let Some((bytes, at)) = self.sent {
            let seconds = stats.timestamp.saturating_duration_since(at).as_secs_f64();
            if seconds > 0.0 {
                let bits = stats.bytes_tx.saturating_sub(bytes) as f64 * 8.0;
                self.kbps = Some((bits / seconds / 1000.0).round() as u32);
            }
        }
        self.sent = Some((stats.bytes_tx, stats.timestamp));
    }

    pub(super) fn report(&self, id: PeerId) -> ViewerQuality {
        ViewerQuality {
            id,
            rtt_ms: self
                .rtt
                .map(|rtt| rtt.as_millis().min(u128::from(u32::MAX)) as u32),
            loss_permille: self
                .loss
                .map(|loss| (f64::from(loss.clamp(0.0, 1.0)) * 1000.0).round() as u32),
            kbps: self.kbps,
        }
    }
}
