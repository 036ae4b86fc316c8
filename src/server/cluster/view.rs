//! What this node knows of the others, as of its last round: their rooms, who holds each
//! broadcast, and the nodes themselves. A view older than [`NODE_TTL`] counts as none: the
//! keys it was read from would have expired by then too.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use super::keys::{Holder, NodeInfo, NodeRooms, NODE_TTL};

/// One room on the other nodes, all of them together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteRoom {
    pub viewers: u32,
    /// Its broadcaster is on air on one of them.
    pub on_air: bool,
}

#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    read_at: Option<Instant>,
    rooms: HashMap<String, RemoteRoom>,
    holders: HashMap<String, Holder>,
    /// The node each room is on air on.
    origins: HashMap<String, String>,
    nodes: Vec<NodeInfo>,
}

impl PartialEq for ClusterView {
    /// The same rooms, holders and nodes, read at any time.
    fn eq(&self, other: &Self) -> bool {
        self.rooms == other.rooms
            && self.holders == other.holders
            && self.origins == other.origins
            && self.nodes == other.nodes
    }
}

impl ClusterView {
    /// The view from node `me` of what was read at `now`: its own reports left out.
    pub fn build(
        me: &str,
        reports: Vec<NodeRooms>,
        holders: Vec<(String, Holder)>,
        mut nodes: Vec<NodeInfo>,
        now: Instant,
    ) -> Self {
        let mut rooms: HashMap<String, RemoteRoom> = HashMap::new();
        let mut on_air_on: HashMap<String, Vec<String>> = HashMap::new();
        for report in reports.into_iter().filter(|r| r.node != me) {
            for room in report.rooms {
                if room.on_air {
                    on_air_on
                        .entry(room.room.clone())
                        .or_default()
                        .push(report.node.clone());
                }
                let entry = rooms.entry(room.room).or_default();
                entry.viewers = entry.viewers.saturating_add(room.viewers);
                entry.on_air |= room.on_air;
            }
        }
        nodes.retain(|node| node.id != me);
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let holders: HashMap<String, Holder> = holders.into_iter().collect();
        let origins = on_air_on
            .into_iter()
            .filter_map(|(room, mut on)| {
                // Two nodes say they are on air for a moment when a broadcaster reclaimed its
                // room on another while the dead node's report lives on: the holder is right.
                on.sort();
                let holder = holders.get(&room).map(|h| &h.node);
                let origin = match holder.filter(|node| on.contains(node)) {
                    Some(node) => node.clone(),
                    None => on.into_iter().next()?,
                };
                Some((room, origin))
            })
            .collect();
        Self {
            read_at: Some(now),
            rooms,
            holders,
            origins,
            nodes,
        }
    }

    /// Whether the view is recent enough to go by at `now`.
    pub fn is_fresh(&self, now: Instant) -> bool {
        self.read_at
            .is_some_and(|at| now.saturating_duration_since(at) < NODE_TTL)
    }

    /// How old the view is at `now`, if there is one.
    pub fn age(&self, now: Instant) -> Option<Duration> {
        self.read_at.map(|at| now.saturating_duration_since(at))
    }

    /// `room` on the other nodes, while the view is fresh.
    pub fn remote_room(&self, room: &str, now: Instant) -> Option<RemoteRoom> {
        self.rooms.get(room).copied().filter(|_| self.is_fresh(now))
    }

    /// Every room the other nodes have members in, while the view is fresh.
    pub fn remote_rooms(&self, now: Instant) -> Vec<(&str, RemoteRoom)> {
        if !self.is_fresh(now) {
            return Vec::new();
        }
        self.rooms
            .iter()
            .map(|(name, room)| (name.as_str(), *room))
            .collect()
    }

    /// Who holds `room`'s broadcast, this node included, while the view is fresh.
    pub fn holder(&self, room: &str, now: Instant) -> Option<&Holder> {
        self.holders.get(room).filter(|_| self.is_fresh(now))
    }

    /// The other node `room` is on air on, while the view is fresh and that node is alive.
    pub fn origin(&self, room: &str, now: Instant) -> Option<&NodeInfo> {
        let node = self.origins.get(room).filter(|_| self.is_fresh(now))?;
        self.nodes.iter().find(|info| info.id == *node)
    }

    /// The other nodes alive at the last round.
    pub fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::cluster::keys::RoomReport;

    fn report(node: &str, rooms: &[(&str, u32, bool)]) -> NodeRooms {
        NodeRooms {
            node: node.into(),
            rooms: rooms
                .iter()
                .map(|&(room, viewers, on_air)| RoomReport {
                    room: room.into(),
                    viewers,
                    on_air,
                })
                .collect(),
        }
    }

    #[test]
    fn other_nodes_rooms_add_up_and_this_nodes_own_are_left_out() {
        let now = Instant::now();
        let view = ClusterView::build(
            "a",
            vec![
                report("a", &[("hall", 5, true)]),
                report("b", &[("hall", 2, false), ("side", 1, false)]),
                report("c", &[("hall", 3, false), ("side", 0, true)]),
            ],
            vec![(
                "hall".into(),
                Holder {
                    node: "a".into(),
                    token: "t".into(),
                },
            )],
            vec![
                NodeInfo {
                    id: "c".into(),
                    addr: "127.0.0.1:3".into(),
                },
                NodeInfo {
                    id: "a".into(),
                    addr: "127.0.0.1:1".into(),
                },
            ],
            now,
        );
        assert_eq!(
            view.remote_room("hall", now),
            Some(RemoteRoom {
                viewers: 5,
                on_air: false
            })
        );
        assert_eq!(
            view.remote_room("side", now),
            Some(RemoteRoom {
                viewers: 1,
                on_air: true
            })
        );
        assert_eq!(view.remote_rooms(now).len(), 2);
        assert_eq!(view.holder("hall", now).map(|h| h.node.as_str()), Some("a"));
        assert_eq!(
            view.origin("side", now).map(|n| n.addr.as_str()),
            Some("127.0.0.1:3"),
            "on air on c"
        );
        assert_eq!(view.origin("hall", now), None, "on air on a: this node");
        assert_eq!(view.nodes().len(), 1, "itself is not among the others");
    }

    #[test]
    fn a_room_on_air_on_two_nodes_comes_from_the_one_holding_it() {
        let now = Instant::now();
        let node = |id: &str| NodeInfo {
            id: id.into(),
            addr: format!("127.0.0.1:{}", id.len()),
        };
        let build = |holder: &str| {
            ClusterView::build(
                "a",
                vec![
                    report("b", &[("hall", 0, true)]),
                    report("cc", &[("hall", 0, true)]),
                ],
                vec![(
                    "hall".into(),
                    Holder {
                        node: holder.into(),
                        token: "t".into(),
                    },
                )],
                vec![node("b"), node("cc")],
                now,
            )
        };
        for holder in ["b", "cc"] {
            let view = build(holder);
            assert_eq!(
                view.origin("hall", now).map(|n| n.id.as_str()),
                Some(holder)
            );
        }
        // Held by a node that is not on air: one of those that are, the same every time.
        assert_eq!(
            build("d").origin("hall", now).map(|n| n.id.as_str()),
            Some("b")
        );
    }

    #[test]
    fn an_old_view_tells_nothing() {
        let now = Instant::now();
        let view = ClusterView::build(
            "a",
            vec![report("b", &[("hall", 2, true)])],
            Vec::new(),
            Vec::new(),
            now,
        );
        assert!(view.is_fresh(now));
        let later = now + NODE_TTL;
        assert!(!view.is_fresh(later));
        assert_eq!(view.remote_room("hall", later), None);
        assert!(view.remote_rooms(later).is_empty());
        assert!(!ClusterView::default().is_fresh(now));
    }
}
