//! The cascade: a room live on another node (its origin) and watched here is pulled from the
//! origin once, and this node's relay serves it to every viewer here.
//!
//! Server to server it is WebRTC, the origin's relay and this one: the pull is a WHEP session
//! at the origin (`POST /whep/<room>`, as an edge of the cluster), so it takes the path every
//! player takes there, SRTP, NACKs and key-frame requests included, and needs no other port.
//! The pull asks to receive simulcast: the origin sends it every layer (see
//! `relay::edge_layers`), and this node's relay chooses each viewer's here. The origin does
//! not count an edge as a viewer: this node counts its own viewers, for the whole cluster.
//!
//! The rooms decide what is pulled (see `rooms::clustered`); this module keeps one task per
//! pulled room, which retries until it is told to stop.
//!
//! - [`pull`]: one room's pull: its socket, its session at the origin, its datagrams.
//! - [`origin_http`]: the requests to the origin.

mod origin_http;
mod pull;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{atomic::AtomicU64, Arc, Mutex, MutexGuard},
};

use hyper::StatusCode;
use tokio::sync::watch;

use super::relay::MediaRelay;
use crate::protocol::{PeerId, RoomName};

/// The header that makes a WHEP `POST` a pull of another node: its node id in the cluster.
pub const EDGE_HEADER: &str = "onair-edge";

/// The relay's member ids for pulls: far above the hub's, which count up from 1.
const FIRST_PULL_MEMBER: PeerId = 1 << 62;

/// Why a pull attempt failed; the task says so in the log and tries again.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("the origin's address {0} is not an IP address and port")]
    BadAddress(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP: {0}")]
    Http(#[from] hyper::Error),
    #[error("the request: {0}")]
    Request(String),
    #[error("the origin did not answer within 5 s")]
    Timeout,
    #[error("the origin refused ({status}): {why}")]
    Refused { status: StatusCode, why: String },
    #[error("the origin sent {0}")]
    Unexpected(&'static str),
    #[error("this node's relay: {0}")]
    Relay(String),
}

/// What the rooms hold: the pulls running, by room.
pub struct Cascade {
    relay: MediaRelay,
    node: Arc<str>,
    next_member: Arc<AtomicU64>,
    pulls: Mutex<HashMap<RoomName, Pulling>>,
}

struct Pulling {
    origin: SocketAddr,
    /// Dropped to stop the task.
    _stop: watch::Sender<()>,
}

impl Cascade {
    /// Pulls for this node, `node` in the cluster, into `relay`.
    pub fn new(relay: MediaRelay, node: &str) -> Self {
        Self {
            relay,
            node: node.into(),
            next_member: Arc::new(AtomicU64::new(FIRST_PULL_MEMBER)),
            pulls: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<RoomName, Pulling>> {
        self.pulls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Pull `room` from the node announced at `origin` (call inside tokio); a pull of it
    /// from another node stops.
    pub fn follow(&self, room: &RoomName, origin: &str) -> Result<(), PullError> {
        let origin: SocketAddr = origin
            .parse()
            .map_err(|_| PullError::BadAddress(origin.to_owned()))?;
        let mut pulls = self.lock();
        if pulls.get(room).is_some_and(|p| p.origin == origin) {
            return Ok(());
        }
        let (stop, stopped) = watch::channel(());
        let job = pull::Job {
            room: room.clone(),
            origin,
            node: self.node.clone(),
            relay: self.relay.clone(),
            members: self.next_member.clone(),
        };
        tracing::info!("cascade: {room} is live on {origin}; pulling it for the viewers here");
        tokio::spawn(job.run(stopped));
        pulls.insert(
            room.clone(),
            Pulling {
                origin,
                _stop: stop,
            },
        );
        Ok(())
    }

    /// Stop pulling `room`, if it is pulled.
    pub fn stop(&self, room: &RoomName) {
        if self.lock().remove(room).is_some() {
            tracing::info!("cascade: {room} is no longer pulled");
        }
    }

    /// How many rooms are pulled now.
    pub fn pulls(&self) -> usize {
        self.lock().len()
    }
}
