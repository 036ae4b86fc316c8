//! The signaling sessions: `GET /ws/<room>` upgraded to a WebSocket, one task per connection.
//!
//! - [`burst`]: the server's listener, whose sockets are read in bursts.
//! - [`admission`]: the Origin check and the per-IP cap, before the upgrade.
//! - [`socket`]: the connection's task (read, write, ping, close).
//! - [`session`]: its protocol state (join, rate limit, rule breaks, the wrong-key delay).
//! - [`relayed`]: the fast path for offers, answers and candidates.
//! - [`metrics`]: its figures for `/metrics`.

pub mod admission;
pub mod burst;
pub mod metrics;
pub mod relayed;
mod session;
mod socket;

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use axum::{
    extract::{ws::WebSocketUpgrade, ConnectInfo, Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use admission::Admission;
use metrics::SignalingMetrics;

use super::{config::SignalingSettings, rooms::Hub, shutdown::Shutdown};
use crate::protocol::{paths, RoomName, MAX_MESSAGE_BYTES};

/// Socket read buffer to start with: most signaling messages are a few hundred bytes, and each
/// connection's buffer is a large part of its memory. (It grows to fit a big SDP and stays so.)
/// A busy connection still gets one `recv` per burst, not per 512 bytes: see [`burst`].
const READ_BUFFER_BYTES: usize = 512;
/// Bytes tungstenite collects before it writes: a batch of queued messages leaves in one
/// `write` call instead of one call (and one loopback/NIC round of the kernel) per message.
const WRITE_BUFFER_BYTES: usize = 32 * 1024;

/// What every signaling connection shares.
pub struct Signaling {
    hub: Arc<Hub>,
    settings: SignalingSettings,
    admission: Admission,
    shutdown: Shutdown,
    metrics: SignalingMetrics,
}

impl Signaling {
    pub fn new(hub: Arc<Hub>, settings: SignalingSettings, shutdown: Shutdown) -> Arc<Self> {
        let media = hub.media();
        Arc::new(Self {
            hub,
            admission: Admission::new(
                settings.max_connections_per_ip(media),
                settings.max_pending_per_ip,
            ),
            settings,
            shutdown,
            metrics: SignalingMetrics::default(),
        })
    }

    pub fn metrics(&self) -> &SignalingMetrics {
        &self.metrics
    }
}

/// `GET /ws/{room}`: check the request, then hand the socket to its task.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    Path(room): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(mut query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    State(signaling): State<Arc<Signaling>>,
) -> Response {
    // The viewer's key for a private room (the page passes on its own ?key=).
    let key = paths::room_key(query.remove(paths::ROOM_KEY_PARAM));
    let room = match RoomName::parse(&room) {
        Ok(room) => room,
        Err(err) => {
            return (
                StatusCode::NOT_FOUND,
                format!("not a valid room name: {err}"),
            )
                .into_response()
        }
    };
    if !admission::origin_allowed(&headers, &signaling.settings.allowed_origins) {
        signaling.metrics.refused_connection("origin");
        return (
            StatusCode::FORBIDDEN,
            "refused: this WebSocket only accepts pages from its own site (Origin mismatch)",
        )
            .into_response();
    }
    if !signaling.shutdown.is_accepting() {
        signaling.metrics.refused_connection("shutting down");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
            .into_response();
    }
    let Some(ip_slot) = signaling.admission.admit(peer.ip()) else {
        signaling
            .metrics
            .refused_connection("too many from one address");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many signaling connections from your address",
        )
            .into_response();
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            socket::serve(socket, signaling, room, key, ip_slot).await;
        })
}
