//! The relay's figures: shared atomics the engine updates and a scrape reads.

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Loss fractions a viewer's receiver reports are sorted into.
const LOSS_BUCKETS: [f64; 7] = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
/// Round trips to viewers, in seconds.
const RTT_BUCKETS: [f64; 8] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Clone, Debug)]
pub struct RelayMetrics {
    /// Peer connections the relay holds (ingests and viewers).
    pub(super) peers: Gauge,
    /// Rooms whose media the relay carries.
    pub(super) rooms: Gauge,
    /// Browser addresses the relay routes datagrams from.
    pub(super) sources: Gauge,
    /// Datagrams from unknown sources, dropped without a reply.
    pub(super) unknown_datagrams: Counter,
    /// Datagrams the socket would not take at once, dropped rather than queued.
    pub(super) dropped_datagrams: Counter,
    /// Frames forwarded to viewers (one per viewer).
    pub(super) forwarded_frames: Counter,
    /// Key-frame requests sent to broadcasters.
    pub(super) keyframe_requests: Counter,
    /// What crossed the media port.
    pub(super) traffic: Traffic,
    /// Repair: NACKs viewers sent the relay, and NACKs the relay sent broadcasters.
    pub(super) nacks_received: Counter,
    pub(super) nacks_sent: Counter,
    /// Each viewer's video loss and round trip, once a second.
    pub(super) viewer_loss: Histogram,
    pub(super) viewer_rtt: Histogram,
    /// Frames the recording's disk could not take in time, dropped.
    pub(super) recording_dropped: Counter,
}

impl Default for RelayMetrics {
    fn default() -> Self {
        Self {
            peers: Gauge::default(),
            rooms: Gauge::default(),
            sources: Gauge::default(),
            unknown_datagrams: Counter::default(),
            dropped_datagrams: Counter::default(),
            forwarded_frames: Counter::default(),
            keyframe_requests: Counter::default(),
            traffic: Traffic::default(),
            nacks_received: Counter::default(),
            nacks_sent: Counter::default(),
            viewer_loss: Histogram::new(LOSS_BUCKETS),
            viewer_rtt: Histogram::new(RTT_BUCKETS),
            recording_dropped: Counter::default(),
        }
    }
}

/// Datagrams and bytes in and out of the media port.
#[derive(Clone, Default, Debug)]
pub(super) struct Traffic {
    pub(super) received_datagrams: Counter,
    pub(super) received_bytes: Counter,
    pub(super) sent_datagrams: Counter,
    pub(super) sent_bytes: Counter,
}

impl RelayMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "peers",
            "Peer connections the relay holds",
            self.peers.clone(),
        );
        registry.register(
            "rooms",
            "Rooms whose media the relay carries",
            self.rooms.clone(),
        );
        registry.register(
            "sources",
            "Browser addresses the relay routes datagrams from",
            self.sources.clone(),
        );
        registry.register(
            "unknown_datagrams",
            "Datagrams from unknown sources, dropped without a reply",
            self.unknown_datagrams.clone(),
        );
        registry.register(
            "dropped_datagrams",
            "Datagrams the socket would not take at once, dropped",
            self.dropped_datagrams.clone(),
        );
        registry.register(
            "forwarded_frames",
            "Frames forwarded to viewers, one per viewer",
            self.forwarded_frames.clone(),
        );
        registry.register(
            "keyframe_requests",
            "Key-frame requests sent to broadcasters",
            self.keyframe_requests.clone(),
        );
        registry.register(
            "nacks_received",
            "NACKs (repair requests) viewers sent the relay",
            self.nacks_received.clone(),
        );
        registry.register(
            "nacks_sent",
            "NACKs the relay sent broadcasters",
            self.nacks_sent.clone(),
        );
        registry.register(
            "viewer_loss_ratio",
            "Each viewer's video loss as its receiver reports it, once a second",
            self.viewer_loss.clone(),
        );
        registry.register(
            "viewer_rtt_seconds",
            "Each viewer's round trip from the relay, once a second",
            self.viewer_rtt.clone(),
        );
        registry.register(
            "recording_dropped_frames",
            "Frames the recording disk could not take in time, dropped",
            self.recording_dropped.clone(),
        );
        let traffic = &self.traffic;
        registry.register(
            "received_datagrams",
            "Datagrams read on the media port",
            traffic.received_datagrams.clone(),
        );
        registry.register(
            "received_bytes",
            "Bytes read on the media port",
            traffic.received_bytes.clone(),
        );
        registry.register(
            "sent_datagrams",
            "Datagrams sent on the media port",
            traffic.sent_datagrams.clone(),
        );
        registry.register(
            "sent_bytes",
            "Bytes sent on the media port",
            traffic.sent_bytes.clone(),
        );
    }
}
