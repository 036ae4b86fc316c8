//! What the nodes keep in Redis, in one place: key names, how long each lives, the values'
//! shapes, and the scripts that change a room's holder atomically.
//!
//! - `onair:node:<node>`: the node's announcement ([`NodeInfo`]), refreshed every round.
//! - `onair:rooms:<node>`: the node's rooms and their viewers ([`NodeRooms`]), every round.
//! - `onair:live:<room>`: who holds the room's broadcast, `<node>|<reclaim token>`, kept by
//!   its node while the broadcaster is on air or may come back.
//!
//! Every key has a time to live, so a node that dies leaves nothing behind for long.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often a node writes what it holds and reads what the others do.
pub const ROUND_EVERY: Duration = Duration::from_secs(1);
/// How long a node's keys outlive its last round: a dead node's rooms leave every list
/// within this.
pub const NODE_TTL: Duration = Duration::from_secs(4);
/// The shortest life of a room's holder key: a few rounds, so a slow round does not lose it.
pub const LIVE_TTL_MIN: Duration = Duration::from_secs(4);

pub const NODE_PATTERN: &str = "onair:node:*";
pub const ROOMS_PATTERN: &str = "onair:rooms:*";
pub const LIVE_PATTERN: &str = "onair:live:*";

pub fn node_key(node: &str) -> String {
    format!("onair:node:{node}")
}

pub fn rooms_key(node: &str) -> String {
    format!("onair:rooms:{node}")
}

pub fn live_key(room: &str) -> String {
    format!("onair:live:{room}")
}

/// The room of a `onair:live:<room>` key.
pub fn room_of_live_key(key: &str) -> Option<&str> {
    key.strip_prefix("onair:live:")
}

/// A node as the others see it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub id: String,
    /// Where the other nodes reach its HTTP server.
    pub addr: String,
}

/// One room as the node that has members in it reports it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RoomReport {
    pub room: String,
    pub viewers: u32,
    /// Its broadcaster is on air on this node.
    pub on_air: bool,
}

/// The value of `onair:rooms:<node>`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeRooms {
    pub node: String,
    pub rooms: Vec<RoomReport>,
}

/// Who holds a room's broadcast: a node, and the token its broadcaster reclaims it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub node: String,
    pub token: String,
}

impl Holder {
    pub fn encode(&self) -> String {
        format!("{}|{}", self.node, self.token)
    }

    /// A value another version of onair wrote may have no token: it holds the room all the same.
    pub fn decode(value: &str) -> Self {
        let (node, token) = value.split_once('|').unwrap_or((value, ""));
        Self {
            node: node.to_owned(),
            token: token.to_owned(),
        }
    }
}

/// Take or keep a room's broadcast. KEYS[1]: its `onair:live:` key. ARGV: this node, the new
/// value, its time to live in ms, and the reclaim token the broadcaster came with ("" for
/// none). Free, held by this node, or held by another under that token: set, and nil back.
/// Otherwise the holder's value comes back and nothing changes.
pub const CLAIM_SCRIPT: &str = r"
local held = redis.call('GET', KEYS[1])
if held then
  local sep = string.find(held, '|', 1, true)
  local node = held
  local token = ''
  if sep then
    node = string.sub(held, 1, sep - 1)
    token = string.sub(held, sep + 1)
  end
  if node ~= ARGV[1] and (ARGV[4] == '' or token ~= ARGV[4]) then
    return held
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return false
";

/// Let a room go, if this node (ARGV[1]) still holds it. KEYS[1]: its `onair:live:` key.
pub const RELEASE_SCRIPT: &str = r"
local held = redis.call('GET', KEYS[1])
if held and string.sub(held, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. '|' then
  redis.call('DEL', KEYS[1])
end
return 0
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_reads_back_as_written_and_a_bare_node_holds_too() {
        let holder = Holder {
            node: "n1".into(),
            token: "abc".into(),
        };
        assert_eq!(holder.encode(), "n1|abc");
        assert_eq!(Holder::decode(&holder.encode()), holder);
        assert_eq!(
            Holder::decode("n2"),
            Holder {
                node: "n2".into(),
                token: String::new()
            }
        );
        assert_eq!(room_of_live_key(&live_key("hall")), Some("hall"));
        assert_eq!(room_of_live_key("onair:rooms:n1"), None);
    }

    #[test]
    fn reports_are_json_with_named_fields() {
        let rooms = NodeRooms {
            node: "n1".into(),
            rooms: vec![RoomReport {
                room: "hall".into(),
                viewers: 3,
                on_air: true,
            }],
        };
        let json = serde_json::to_string(&rooms).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"node":"n1","rooms":[{"room":"hall","viewers":3,"on_air":true}]}"#
        );
        assert_eq!(serde_json::from_str::<NodeRooms>(&json).ok(), Some(rooms));
    }
}
