//! `/metrics`: what the server is doing, in the Prometheus text format.
//!
//! Each part owns its figures (signaling and the relay their counters, the hub its census) and
//! registers them here once; a scrape reads the hub's census and encodes the registry. No label
//! holds a room name or an address: the series stay few however the server is used.

use std::sync::Arc;

use prometheus_client::{encoding::text::encode, metrics::gauge::Gauge, registry::Registry};

use super::{relay::RelayMetrics, rooms::Hub, signaling::metrics::SignalingMetrics};

/// The registry and the figures read at scrape time.
pub struct Metrics {
    registry: Registry,
    rooms: Gauge,
    live_rooms: Gauge,
    viewers: Gauge,
    tasks: Gauge,
    edges: Gauge,
    pulls: Gauge,
    cluster_nodes: Gauge,
    redis_up: Gauge,
}

impl Metrics {
    /// The server's metrics, the relay's among them when it runs.
    pub fn new(signaling: &SignalingMetrics, relay: Option<&RelayMetrics>) -> Arc<Self> {
        let mut registry = Registry::with_prefix("onair");
        let rooms = Gauge::default();
        let live_rooms = Gauge::default();
        let viewers = Gauge::default();
        let tasks = Gauge::default();
        let edges = Gauge::default();
        let pulls = Gauge::default();
        let cluster_nodes = Gauge::default();
        let redis_up = Gauge::default();
        registry.register("rooms", "Rooms open (live or waiting)", rooms.clone());
        registry.register(
            "live_rooms",
            "Rooms with a broadcaster on air",
            live_rooms.clone(),
        );
        registry.register("viewers", "Watch pages connected", viewers.clone());
        registry.register(
            "tasks",
            "Tasks alive in the server's runtime",
            tasks.clone(),
        );
        let cascade = registry.sub_registry_with_prefix("cascade");
        cascade.register(
            "edges",
            "Other nodes pulling a broadcast from this one (one per node and room)",
            edges.clone(),
        );
        cascade.register(
            "pulls",
            "Broadcasts live on another node, pulled from it for the viewers here",
            pulls.clone(),
        );
        let cluster = registry.sub_registry_with_prefix("cluster");
        cluster.register(
            "nodes",
            "Nodes in the cluster, this one included, as of the last round (1 without --redis)",
            cluster_nodes.clone(),
        );
        cluster.register(
            "redis_up",
            "Whether this node's last round with Redis succeeded (1 without --redis too)",
            redis_up.clone(),
        );
        signaling.register(registry.sub_registry_with_prefix("signaling"));
        if let Some(relay) = relay {
            relay.register(registry.sub_registry_with_prefix("relay"));
        }
        Arc::new(Self {
            registry,
            rooms,
            live_rooms,
            viewers,
            tasks,
            edges,
            pulls,
            cluster_nodes,
            redis_up,
        })
    }

    /// The text a scrape gets.
    pub fn scrape(&self, hub: &Hub) -> String {
        let census = hub.census();
        self.rooms.set(census.rooms as i64);
        self.live_rooms.set(census.live_rooms as i64);
        self.viewers.set(census.viewers as i64);
        self.edges.set(census.edges as i64);
        self.pulls.set(census.pulled_rooms as i64);
        let (nodes, up) = hub.cluster_health();
        self.cluster_nodes.set(nodes as i64);
        self.redis_up.set(i64::from(up));
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.tasks.set(runtime.metrics().num_alive_tasks() as i64);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
