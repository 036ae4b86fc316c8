//! The signaling figures for `/metrics`: sockets open, messages read, and what was refused or
//! closed, each by a reason from a fixed set (never a room name or an address, so the series
//! stay few).

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use crate::protocol::ErrorCode;

/// Why something was refused or closed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: String,
}

#[derive(Clone, Default, Debug)]
pub struct SignalingMetrics {
    /// Signaling sockets open now.
    connections: Gauge,
    /// Messages read from clients.
    messages: Counter,
    /// Messages refused, by error code.
    refused_messages: Family<Reason, Counter>,
    /// Socket upgrades refused, by reason.
    refused_connections: Family<Reason, Counter>,
    /// Sockets the server closed, by the reason it gave.
    closed_connections: Family<Reason, Counter>,
}

/// Counts a socket as open until dropped.
pub struct Open(Gauge);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl SignalingMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "connections",
            "Signaling sockets open",
            self.connections.clone(),
        );
        registry.register(
            "messages",
            "Signaling messages read from clients",
            self.messages.clone(),
        );
        registry.register(
            "refused_messages",
            "Signaling messages refused, by error code",
            self.refused_messages.clone(),
        );
        registry.register(
            "refused_connections",
            "Signaling sockets refused before the upgrade, by reason",
            self.refused_connections.clone(),
        );
        registry.register(
            "closed_connections",
            "Signaling sockets the server closed, by reason",
            self.closed_connections.clone(),
        );
    }

    pub(super) fn open(&self) -> Open {
        self.connections.inc();
        Open(self.connections.clone())
    }

    pub(super) fn message(&self) {
        self.messages.inc();
    }

    pub(super) fn refused(&self, code: ErrorCode) {
        // The code as the wire spells it (`rate_limited`).
        let reason = serde_json::to_value(code)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        self.refused_messages
            .get_or_create(&Reason { reason })
            .inc();
    }

    pub(super) fn refused_connection(&self, reason: &'static str) {
        let reason = reason.to_owned();
        self.refused_connections
            .get_or_create(&Reason { reason })
            .inc();
    }

    pub(super) fn closed(&self, reason: &'static str) {
        let reason = reason.to_owned();
        self.closed_connections
            .get_or_create(&Reason { reason })
            .inc();
    }
}
