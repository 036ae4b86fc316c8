//! The agent: one task owns the node's Redis connection. Each round it writes this node's
//! announcement, its rooms and the broadcasts it holds, then reads the other nodes' into a
//! fresh view. A failed round drops the connection; the next one connects again.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use redis::{aio::MultiplexedConnection, AsyncConnectionConfig, Client, RedisResult, Script};
use tokio::sync::{watch, Notify};

use super::{
    keys::{self, Holder, NodeInfo, NodeRooms, RoomReport, LIVE_TTL_MIN, NODE_TTL, ROUND_EVERY},
    view::ClusterView,
    ClusterHooks, LocalClaim, LocalRooms,
};
use crate::server::shutdown::Shutdown;

/// A round (connecting included) that takes longer fails: Redis counts as away.
const ROUND_WITHIN: Duration = Duration::from_secs(2);
/// After a nudge, changes that come with it (a viewer count, a list) join the same round.
const NUDGE_GATHER: Duration = Duration::from_millis(30);
/// Keys one SCAN call asks for; and at most this many calls a round (a bound, not a limit
/// anyone reaches: 64 × 500 keys).
const SCAN_COUNT: usize = 500;
/// After Redis was away (a restart empties it), the nodes write everything again, each at its
/// next round: until all of them have, what a round reads is partial, and would look like
/// rooms ending. The view is left as it was (stale) this long.
const SETTLE: Duration = Duration::from_millis(1500);
const SCAN_CALLS: usize = 64;

pub(super) struct Agent {
    client: Client,
    info: NodeInfo,
    view: watch::Sender<Arc<ClusterView>>,
    nudge: Arc<Notify>,
    claim: Script,
    release: Script,
    connection: Option<MultiplexedConnection>,
    /// The rooms whose broadcast Redis says this node holds.
    held: HashSet<String>,
    /// Since when Redis has been away, if it is.
    away_since: Option<Instant>,
    /// Until when rounds after an outage read partial views (see [`SETTLE`]).
    settling_until: Option<Instant>,
}

/// What one round found: the view, and the rooms another node took from this one.
struct Round {
    view: ClusterView,
    lost: Vec<(String, String)>,
}

impl Agent {
    pub(super) fn new(
        client: Client,
        info: NodeInfo,
        view: watch::Sender<Arc<ClusterView>>,
        nudge: Arc<Notify>,
    ) -> Self {
        Self {
            client,
            info,
            view,
            nudge,
            claim: Script::new(keys::CLAIM_SCRIPT),
            release: Script::new(keys::RELEASE_SCRIPT),
            connection: None,
            held: HashSet::new(),
            away_since: None,
            settling_until: None,
        }
    }

    pub(super) async fn run(mut self, hooks: Weak<dyn ClusterHooks>, shutdown: Shutdown) {
        loop {
            let Some(local) = hooks.upgrade().map(|hooks| hooks.local_rooms()) else {
                return;
            };
            let round = tokio::time::timeout(ROUND_WITHIN, self.round(&local)).await;
            match round {
                Ok(Ok(round)) => {
                    self.back();
                    // Who holds a broadcast is Redis's word, settled or not; the others'
                    // rooms are not, until every node has written them again.
                    let settled = self.settled(Instant::now());
                    let changed = settled && **self.view.borrow() != round.view;
                    if settled {
                        self.view.send_replace(Arc::new(round.view));
                    }
                    if let Some(hooks) = hooks.upgrade() {
                        for (room, by) in &round.lost {
                            hooks.lost(room, by);
                        }
                        if changed {
                            hooks.view_changed();
                        }
                    }
                }
                Ok(Err(err)) => self.away(&err.to_string()),
                Err(_) => self.away("no answer within 2 s"),
            }
            tokio::select! {
                () = tokio::time::sleep(ROUND_EVERY) => {}
                () = self.nudge.notified() => tokio::time::sleep(NUDGE_GATHER).await,
                () = shutdown.wait() => {
                    self.leave().await;
                    return;
                }
            }
        }
    }

    /// Whether the rounds read whole views again, [`SETTLE`] after an outage.
    fn settled(&mut self, now: Instant) -> bool {
        if self.settling_until.is_some_and(|until| now < until) {
            return false;
        }
        self.settling_until = None;
        true
    }

    /// Redis answered again after being away.
    fn back(&mut self) {
        if let Some(since) = self.away_since.take() {
            self.settling_until = Some(Instant::now() + SETTLE);
            tracing::info!(
                "cluster: Redis is back after {:.1} s; node {} shares its rooms again",
                since.elapsed().as_secs_f64(),
                self.info.id
            );
        }
    }

    fn away(&mut self, why: &str) {
        self.connection = None;
        if self.away_since.is_none() {
            self.away_since = Some(Instant::now());
            tracing::warn!(
                "cluster: Redis is away ({why}); this node keeps its rooms, and refuses to \
                 start broadcasts until it is back"
            );
        }
    }

    async fn connection(&mut self) -> RedisResult<MultiplexedConnection> {
        if let Some(connection) = &self.connection {
            return Ok(connection.clone());
        }
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(ROUND_WITHIN))
            .set_response_timeout(Some(ROUND_WITHIN));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.connection = Some(connection.clone());
        Ok(connection)
    }

    async fn round(&mut self, local: &LocalRooms) -> RedisResult<Round> {
        let mut redis = self.connection().await?;
        let node_ttl = millis(NODE_TTL);
        let rooms = NodeRooms {
            node: self.info.id.clone(),
            rooms: local
                .rooms
                .iter()
                .map(|room| RoomReport {
                    room: room.name.clone(),
                    viewers: room.viewers,
                    on_air: room.on_air,
                })
                .collect(),
        };
        redis::pipe()
            .cmd("SET")
            .arg(keys::node_key(&self.info.id))
            .arg(to_json(&self.info))
            .arg("PX")
            .arg(node_ttl)
            .ignore()
            .cmd("SET")
            .arg(keys::rooms_key(&self.info.id))
            .arg(to_json(&rooms))
            .arg("PX")
            .arg(node_ttl)
            .ignore()
            .query_async::<()>(&mut redis)
            .await?;
        let lost = self.keep_claims(&mut redis, &local.claims).await?;
        let reports = read_all(&mut redis, keys::ROOMS_PATTERN).await?;
        let nodes = read_all(&mut redis, keys::NODE_PATTERN).await?;
        let holders = read_holders(&mut redis).await?;
        let view = ClusterView::build(
            &self.info.id,
            reports.values().filter_map(|v| from_json(v)).collect(),
            holders,
            nodes.values().filter_map(|v| from_json(v)).collect(),
            Instant::now(),
        );
        Ok(Round { view, lost })
    }

    /// Take or keep each broadcast held here, let go of those no longer held; the rooms
    /// another node has taken come back with who took them.
    async fn keep_claims(
        &mut self,
        redis: &mut MultiplexedConnection,
        claims: &[LocalClaim],
    ) -> RedisResult<Vec<(String, String)>> {
        let mut lost = Vec::new();
        let mut holding = HashSet::new();
        for claim in claims {
            let value = Holder {
                node: self.info.id.clone(),
                token: claim.token.clone(),
            }
            .encode();
            // Once held, only this node's own hold keeps it: a room taken over since is lost.
            let with = if self.held.contains(&claim.room) {
                ""
            } else {
                claim.claimed_with.as_deref().unwrap_or("")
            };
            let ttl = millis(LIVE_TTL_MIN).max(claim.hold_ms);
            let other: Option<String> = self
                .claim
                .key(keys::live_key(&claim.room))
                .arg(&self.info.id)
                .arg(value)
                .arg(ttl)
                .arg(with)
                .invoke_async(redis)
                .await?;
            match other {
                None => {
                    holding.insert(claim.room.clone());
                }
                Some(other) => {
                    let by = Holder::decode(&other).node;
                    tracing::info!("cluster: room {} is live through node {by} now", claim.room);
                    lost.push((claim.room.clone(), by));
                }
            }
        }
        for room in self.held.difference(&holding) {
            self.release
                .key(keys::live_key(room))
                .arg(&self.info.id)
                .invoke_async::<i64>(redis)
                .await?;
        }
        self.held = holding;
        Ok(lost)
    }

    /// Leaving on shutdown: this node's announcement and rooms go at once. The broadcasts it
    /// holds stay until they expire, so their broadcasters can reclaim them on another node.
    async fn leave(&mut self) {
        let Ok(mut redis) = self.connection().await else {
            return;
        };
        let mut gone = redis::cmd("DEL");
        gone.arg(keys::node_key(&self.info.id))
            .arg(keys::rooms_key(&self.info.id));
        let _ = tokio::time::timeout(ROUND_WITHIN, gone.query_async::<()>(&mut redis)).await;
    }
}

/// Every key matching `pattern` with its value (SCAN, in bounded steps).
async fn read_all(
    redis: &mut MultiplexedConnection,
    pattern: &str,
) -> RedisResult<HashMap<String, String>> {
    let mut found = Vec::new();
    let mut cursor = 0u64;
    for _ in 0..SCAN_CALLS {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(redis)
            .await?;
        found.extend(keys);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    found.sort();
    found.dedup();
    if found.is_empty() {
        return Ok(HashMap::new());
    }
    let values: Vec<Option<String>> = redis::cmd("MGET").arg(&found).query_async(redis).await?;
    // A key that expired between the SCAN and the MGET reads as nil: it is left out.
    Ok(found
        .into_iter()
        .zip(values)
        .filter_map(|(key, value)| value.map(|value| (key, value)))
        .collect())
}

/// Who holds each room's broadcast.
async fn read_holders(redis: &mut MultiplexedConnection) -> RedisResult<Vec<(String, Holder)>> {
    Ok(read_all(redis, keys::LIVE_PATTERN)
        .await?
        .into_iter()
        .filter_map(|(key, value)| {
            keys::room_of_live_key(&key).map(|room| (room.to_owned(), Holder::decode(&value)))
        })
        .collect())
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A value another node wrote; one this version cannot read is left out (and logged).
fn from_json<T: serde::de::DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_str(value)
        .map_err(|err| {
            tracing::debug!("cluster: a value in Redis is not one this node reads: {err}")
        })
        .ok()
}
