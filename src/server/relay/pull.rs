//! A pull: the relay takes a room's stream from the node it is live on (its origin), as that
//! room's ingest here, and forwards it to the viewers here (a cascade, see `server::cascade`).
//!
//! A pull is a peer like the broadcaster's ingest, with two differences. The relay offers
//! (receive only) and checks (full ICE, against the origin's ICE lite). And its datagrams go
//! through a socket of its own, which the cascade's task reads and hands in as commands: the
//! origin sends every pull from its one media port, so on the relay's port two pulls from one
//! origin would share the source address the relay tells peers apart by.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use str0m::{
    media::{Direction, MediaKind, Simulcast, SimulcastLayer},
    Candidate, IceCreds,
};
use tokio::{net::UdpSocket, sync::oneshot};

use super::{
    edge_layers,
    engine::Engine,
    peer::{config, Local, Peer, PeerError, Side},
    pull_link::PullLink,
    udp::Datagram,
};
use crate::{
    protocol::{PeerId, RoomName},
    server::outbox::Outbox,
};

impl Peer {
    /// A pull of `room` through `socket`, and the offer for its origin.
    fn pull(
        member: PeerId,
        room: RoomName,
        outbox: Outbox,
        socket: Arc<UdpSocket>,
        (local, now): (&Local, Instant),
    ) -> Result<(Self, String), PeerError> {
        let address = socket
            .local_addr()
            .map_err(|err| PeerError::Socket(err.to_string()))?;
        let creds = IceCreds::new();
        let ufrag = creds.ufrag.clone();
        let mut rtc = config(local, false)
            .set_local_ice_credentials(creds)
            .build(now);
        let candidate =
            Candidate::host(address, "udp").map_err(|err| PeerError::Socket(err.to_string()))?;
        rtc.add_local_candidate(candidate);
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        // Every layer of the broadcast, for the viewers here to choose among.
        let mut layers = Simulcast::new();
        for rid in edge_layers::pulled_rids() {
            layers.add_recv_layer(SimulcastLayer::new(&rid));
        }
        change.add_media(
            MediaKind::Video,
            Direction::RecvOnly,
            None,
            None,
            Some(layers),
        );
        let (offer, pending) = change
            .apply()
            .ok_or_else(|| PeerError::BadSdp("nothing to offer".into()))?;
        let mut peer = Self::new(member, room, outbox, Side::Ingest, rtc, ufrag, now);
        peer.pull = Some(PullLink {
            socket,
            pending: Some(pending),
        });
        Ok((peer, offer.to_sdp_string()))
    }
}

impl Engine {
    /// Start pulling `room` as `member`: it becomes the room's ingest here (replacing any
    /// other), and its offer goes to `reply`.
    pub(super) fn start_pull(
        &mut self,
        (room_name, member): (RoomName, PeerId),
        socket: Arc<UdpSocket>,
        outbox: Outbox,
        reply: oneshot::Sender<Result<String, String>>,
        now: Instant,
    ) {
        // A broadcaster here comes first: a pull that was on its way finds the room taken.
        if self
            .rooms
            .get(&room_name)
            .is_some_and(|room| room.broadcaster.is_some())
        {
            let _ = reply.send(Err("the room is live here now".into()));
            return;
        }
        let pulled = Peer::pull(
            member,
            room_name.clone(),
            outbox,
            socket,
            (&self.local, now),
        );
        let (peer, offer) = match pulled {
            Ok(pulled) => pulled,
            Err(err) => {
                let _ = reply.send(Err(err.to_string()));
                return;
            }
        };
        let room = self.rooms.entry(room_name).or_default();
        // The origin records the broadcast, where it went live.
        room.not_recorded = true;
        let old = room.ingest;
        room.set_ingest(Some(member));
        self.add_peer(peer);
        if let Some(old) = old.filter(|old| *old != member) {
            self.remove_peer(old);
        }
        let _ = reply.send(Ok(offer));
    }

    /// A datagram `member`'s socket read, from `source` to `destination`.
    pub(super) fn pull_datagram(
        &mut self,
        member: PeerId,
        (source, destination): (SocketAddr, SocketAddr),
        contents: &[u8],
        now: Instant,
    ) {
        let Some(peer) = self
            .peers
            .get_mut(&member)
            .filter(|peer| peer.pull.is_some())
        else {
            return;
        };
        let datagram = Datagram {
            source,
            destination,
            contents,
        };
        if peer.receive(now, &datagram) {
            self.touched.push(member);
        }
    }
}
