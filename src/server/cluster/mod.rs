//! Several nodes sharing one set of rooms through Redis (`--redis`).
//!
//! Each node runs one [`agent`] task that owns its Redis connection. Every round (a second,
//! or sooner after a change here) it writes what this node holds and reads what the others
//! do, into a [`view::ClusterView`] the rooms read without waiting: the room list's totals,
//! the viewer cap and the room cap across nodes, and who may go live.
//!
//! A room's broadcast is held by one node at a time (`onair:live:<room>`, taken atomically by
//! a script): a broadcaster granted here and refused by Redis in the same instant is told
//! so at the next round. When Redis is away, the rooms here go on; going live, which needs
//! the cluster, is refused with a message that says why, and the node catches up by itself.
//!
//! - [`keys`]: the keys, their lifetimes and the scripts.
//! - [`view`]: the other nodes, as of the last round.
//! - [`agent`]: the loop.
//! - [`bus`]: what a room's members on other nodes must hear (chat, audience, clock), over
//!   pub/sub.

mod agent;
pub mod bus;
pub mod keys;
pub mod view;

use std::{
    net::SocketAddr,
    sync::{Arc, Weak},
    time::Instant,
};

use tokio::sync::{mpsc, watch, Notify};

use super::{config::ClusterSettings, secrets, shutdown::Shutdown};
pub use bus::RoomEvent;
pub use view::{ClusterView, RemoteRoom};

/// What the agent asks of the rooms (the hub implements it): it never holds their locks.
pub trait ClusterHooks: Send + Sync {
    /// This node's rooms, and the broadcasts it holds.
    fn local_rooms(&self) -> LocalRooms;
    /// Another node took `room`'s broadcast (`by`): end it here.
    fn lost(&self, room: &str, by: &str);
    /// The other nodes' rooms changed: the room list is due again.
    fn view_changed(&self);
    /// Node `node` published `event` for `room`'s members here.
    fn room_event(&self, node: &str, room: &str, event: RoomEvent);
}

/// One room here, for the other nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRoom {
    pub name: String,
    pub viewers: u32,
    pub on_air: bool,
}

/// A broadcast this node holds: on air, or waiting for its broadcaster to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalClaim {
    pub room: String,
    pub token: String,
    /// The reclaim token it went live with, when it took the room over from another node.
    pub claimed_with: Option<String>,
    /// How long the hold outlives this node's last round: the reclaim grace.
    pub hold_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalRooms {
    pub rooms: Vec<LocalRoom>,
    pub claims: Vec<LocalClaim>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("--redis {url}: {source}")]
    BadUrl {
        url: String,
        source: redis::RedisError,
    },
}

/// Why going live here is refused by the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GoLiveRefusal {
    #[error("this node cannot reach the cluster's Redis, and going live needs it; try again in a few seconds")]
    Unreachable,
    #[error("someone else is already live in this room, through another onair node; the room has one broadcaster")]
    LiveElsewhere,
}

/// The handle the rooms hold: the view, and a nudge for the agent.
#[derive(Clone)]
pub struct Cluster {
    node: Arc<str>,
    view: watch::Receiver<Arc<ClusterView>>,
    nudge: Arc<Notify>,
    events: mpsc::Sender<bus::Envelope>,
}

/// The agent and the bus, made with their handle and started once the hub exists.
pub struct Starting {
    agent: agent::Agent,
    bus: bus::Bus,
}

impl Cluster {
    /// A handle and its agent for `settings.redis`, if set. `listen` is the HTTP server's
    /// address, announced where no `--node-addr` is given.
    pub fn new(
        settings: &ClusterSettings,
        listen: SocketAddr,
    ) -> Result<Option<(Self, Starting)>, ClusterError> {
        let Some(url) = &settings.redis else {
            return Ok(None);
        };
        let client = redis::Client::open(url.as_str()).map_err(|source| ClusterError::BadUrl {
            url: url.clone(),
            source,
        })?;
        let node: Arc<str> = secrets::new_token()[..12].into();
        let addr = settings.node_addr.unwrap_or_else(|| announced(listen));
        let (view_tx, view) = watch::channel(Arc::new(ClusterView::default()));
        let nudge = Arc::new(Notify::new());
        let info = keys::NodeInfo {
            id: node.to_string(),
            addr: addr.to_string(),
        };
        tracing::info!("cluster: node {node} at {addr}, through {}", redacted(url));
        let (events, outgoing) = mpsc::channel(bus::OUTGOING);
        let bus = bus::Bus {
            client: client.clone(),
            node: node.to_string(),
            outgoing,
        };
        let agent = agent::Agent::new(client, info, view_tx, nudge.clone());
        let cluster = Self {
            node,
            view,
            nudge,
            events,
        };
        Ok(Some((cluster, Starting { agent, bus })))
    }

    /// This node's id in the cluster.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The other nodes, as of the last round.
    pub fn view(&self) -> Arc<ClusterView> {
        self.view.borrow().clone()
    }

    /// Wait (at most a few seconds) for the agent's first round, so a node that has just
    /// started knows the others before it takes a broadcast.
    pub async fn first_round(&self) {
        let mut view = self.view.clone();
        let read = view.wait_for(|view| view.age(Instant::now()).is_some());
        if tokio::time::timeout(keys::NODE_TTL, read).await.is_err() {
            tracing::warn!("cluster: no answer from Redis yet; serving this node's own rooms");
        }
    }

    /// Tell `room`'s members on the other nodes (without waiting: a full queue drops it).
    pub fn publish(&self, room: &str, event: RoomEvent) {
        let envelope = bus::Envelope {
            node: self.node.to_string(),
            room: room.to_owned(),
            event,
        };
        if self.events.try_send(envelope).is_err() {
            tracing::debug!("cluster: a room event for {room} was dropped (Redis is slow or away)");
        }
    }

    /// Something here changed: the agent's next round comes now.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }

    /// May a broadcaster go live in `room` here, with the reclaim token `reclaim`, as far as
    /// the last round knows? Redis decides at the next one (see `keys::CLAIM_SCRIPT`).
    pub fn may_go_live(&self, room: &str, reclaim: Option<&str>) -> Result<(), GoLiveRefusal> {
        let now = Instant::now();
        let view = self.view();
        if !view.is_fresh(now) {
            return Err(GoLiveRefusal::Unreachable);
        }
        match view.holder(room, now) {
            Some(holder)
                if holder.node != *self.node && !secrets::equal(&holder.token, reclaim) =>
            {
                Err(GoLiveRefusal::LiveElsewhere)
            }
            _ => Ok(()),
        }
    }
}

impl Starting {
    /// Run the agent and the bus for `hooks` until the server shuts down (call inside tokio).
    pub fn spawn(self, hooks: Weak<dyn ClusterHooks>, shutdown: Shutdown) {
        tokio::spawn(self.bus.run(hooks.clone(), shutdown.clone()));
        tokio::spawn(self.agent.run(hooks, shutdown));
    }
}

/// The address to announce for a server listening on `listen`: a specific one as it is, an
/// unspecified one as the machine's first LAN address.
fn announced(listen: SocketAddr) -> SocketAddr {
    if !listen.ip().is_unspecified() {
        return listen;
    }
    if_addrs::get_if_addrs()
        .ok()
        .and_then(|interfaces| {
            interfaces
                .into_iter()
                .map(|i| i.ip())
                .find(|ip| ip.is_ipv4() == listen.is_ipv4() && !ip.is_loopback())
        })
        .map_or(listen, |ip| SocketAddr::new(ip, listen.port()))
}

/// `url` without its password, for the log.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_never_shows_a_redis_password() {
        assert_eq!(
            redacted("redis://:secret@10.0.0.5:6379"),
            "redis://…@10.0.0.5:6379"
        );
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn a_specific_listening_address_is_announced_as_it_is() {
        let addr: SocketAddr = "127.0.0.1:3000"
            .parse()
            .unwrap_or(SocketAddr::from(([0; 4], 0)));
        assert_eq!(announced(addr), addr);
    }
}
