//! A pull's own socket, which the peer sends through (see [`pull`](super::pull)).

use std::{net::SocketAddr, sync::Arc};

use str0m::change::SdpPendingOffer;
use tokio::net::UdpSocket;

/// A pull's own socket, and its offer until the origin's answer comes.
pub(super) struct PullLink {
    pub(super) socket: Arc<UdpSocket>,
    pub(super) pending: Option<SdpPendingOffer>,
}

impl PullLink {
    /// Without waiting, as on the relay's port: a full buffer drops, and RTP recovers.
    pub(super) fn send(&self, destination: SocketAddr, contents: &[u8]) {
        let _ = self.socket.try_send_to(contents, destination);
    }
}
