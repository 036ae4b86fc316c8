//! The relay's figures: shared atomics the engine updates and a scrape reads.

use prometheus_client::{
    metrics::{counter::Counter, gauge::Gauge},
    registry::Registry,
};

#[derive(Clone, Default, Debug)]
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
    }
}
