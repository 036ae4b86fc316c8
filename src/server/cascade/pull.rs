//! One room's pull from its origin, in a task of its own: a socket towards the origin, the
//! relay's offer for it, the session at the origin, then the datagrams carried into the relay
//! until the pull is stopped or its connection ends. An attempt that fails is tried again,
//! a little later each time, for as long as the room wants the pull.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use tokio::{
    net::UdpSocket,
    sync::{oneshot, watch},
};

use super::{origin_http, PullError};
use crate::{
    protocol::{PeerId, RoomName, ServerMessage, RELAY_ID},
    server::{
        outbox::{Outbox, Queue},
        relay::{Command, MediaRelay},
    },
};

/// The first wait before trying again, doubled up to [`MOST_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MOST_BACKOFF: Duration = Duration::from_secs(4);
/// Room for one datagram.
const DATAGRAM_ROOM: usize = 2048;
/// Messages the relay sends a pull: its hang-up, or why it refused.
const OUTBOX_CAPACITY: usize = 16;

/// What one pull needs.
pub(super) struct Job {
    pub(super) room: RoomName,
    pub(super) origin: SocketAddr,
    pub(super) node: Arc<str>,
    pub(super) relay: MediaRelay,
    pub(super) members: Arc<AtomicU64>,
}

/// How an attempt ended, when it did not fail.
enum Ended {
    Stopped,
    /// The connection to the origin ended (the origin's session, or ICE, timed out).
    Lost,
}

impl Job {
    /// Pull until `stop`'s sender is dropped.
    pub(super) async fn run(self, mut stop: watch::Receiver<()>) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let why = match self.attempt(&mut stop).await {
                Ok(Ended::Stopped) => return,
                Ok(Ended::Lost) => {
                    backoff = FIRST_BACKOFF;
                    "the connection to it ended".to_owned()
                }
                Err(err) => err.to_string(),
            };
            tracing::info!(
                "cascade: pulling {} from {}: {why}; trying again in {} ms",
                self.room,
                self.origin,
                backoff.as_millis()
            );
            tokio::select! {
                _ = stop.changed() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MOST_BACKOFF);
        }
    }

    /// One pull, from a fresh socket and member to its end.
    async fn attempt(&self, stop: &mut watch::Receiver<()>) -> Result<Ended, PullError> {
        // Stopped while waiting to try again: no new pull may reach the relay after that.
        if stop.has_changed().is_err() {
            return Ok(Ended::Stopped);
        }
        let socket = Arc::new(bind_towards(self.origin.ip())?);
        let local = socket.local_addr()?;
        let member = self.members.fetch_add(1, Ordering::Relaxed);
        let (outbox, mut queue) = Outbox::new(OUTBOX_CAPACITY);
        let (reply, offer) = oneshot::channel();
        self.tell_relay(Command::Pull {
            room: self.room.clone(),
            member,
            socket: socket.clone(),
            outbox,
            reply,
        })?;
        let offer = offer
            .await
            .map_err(|_| PullError::Relay("it stopped".into()))?
            .map_err(PullError::Relay)?;
        let session = match origin_http::open(self.origin, &self.room, &self.node, offer).await {
            Ok(session) => session,
            Err(err) => {
                let _ = self.tell_relay(Command::Left { member });
                return Err(err);
            }
        };
        let carried = match self.tell_relay(Command::Answer {
            member,
            sdp: session.answer,
        }) {
            Ok(()) => self.carry(member, (&socket, local), &mut queue, stop).await,
            Err(err) => Err(err),
        };
        let _ = self.tell_relay(Command::Left { member });
        // At once, rather than at the origin's ICE timeout; it ends either way.
        if let Err(err) = origin_http::close(self.origin, &session.location).await {
            tracing::debug!("cascade: closing {}'s session: {err}", self.room);
        }
        carried
    }

    /// Carry the origin's datagrams into the relay until the pull stops or ends.
    async fn carry(
        &self,
        member: PeerId,
        (socket, local): (&UdpSocket, SocketAddr),
        queue: &mut Queue,
        stop: &mut watch::Receiver<()>,
    ) -> Result<Ended, PullError> {
        let mut buffer = vec![0; DATAGRAM_ROOM];
        loop {
            tokio::select! {
                _ = stop.changed() => return Ok(Ended::Stopped),
                read = socket.recv_from(&mut buffer) => {
                    let (length, source) = read?;
                    let contents = buffer.get(..length).unwrap_or_default().to_vec();
                    // A relay too busy for it drops it, as its own socket would.
                    self.relay.send_datagram(Command::PullDatagram {
                        member,
                        source,
                        destination: local,
                        contents,
                    });
                }
                text = queue.recv() => {
                    let Some(text) = text else { return Ok(Ended::Lost) };
                    match serde_json::from_str::<ServerMessage>(&text) {
                        Ok(ServerMessage::Hangup { from: RELAY_ID }) => return Ok(Ended::Lost),
                        Ok(ServerMessage::Error { message, .. }) => {
                            return Err(PullError::Relay(message))
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    fn tell_relay(&self, command: Command) -> Result<(), PullError> {
        self.relay
            .send(command)
            .map_err(|busy| PullError::Relay(busy.to_string()))
    }
}

/// A socket on the address this machine reaches `origin` from (a socket on the unspecified
/// address would not know its own, which the pull's ICE candidate must name).
fn bind_towards(origin: IpAddr) -> std::io::Result<UdpSocket> {
    let any: IpAddr = match origin {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    // Connecting a UDP socket sends nothing: it only picks the route, and with it the address.
    let probe = std::net::UdpSocket::bind((any, 0))?;
    probe.connect((origin, 9))?;
    let socket = std::net::UdpSocket::bind((probe.local_addr()?.ip(), 0))?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}
