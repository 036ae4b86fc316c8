//! What the chat and the audience list carry: a room's messages, and its viewers as the
//! broadcaster sees them.

use serde::{Deserialize, Serialize};

use crate::PeerId;

/// One chat message, as the room keeps it and everyone gets it. The server stamps `from`,
/// `name`, `broadcaster` and `at`; a client only says `text`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ChatEntry {
    pub id: u64,
    pub from: PeerId,
    pub name: String,
    pub text: String,
    /// Said by the room's broadcaster.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub broadcaster: bool,
    /// When the server got it, in milliseconds since the Unix epoch.
    pub at: u64,
}

/// One viewer, as the broadcaster's audience list shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AudienceMember {
    pub id: PeerId,
    pub name: String,
    /// When it joined, in milliseconds since the Unix epoch.
    pub since: u64,
    /// The broadcaster muted its chat.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub muted: bool,
}

/// How well one viewer receives the broadcast, for the broadcaster's audience list: from the
/// relay's stats of its link, or (peer to peer) the talk page's own `getStats`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct ViewerQuality {
    pub id: PeerId,
    /// Round trip to it, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<u32>,
    /// Of the packets sent to it, the thousandths lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_permille: Option<u32>,
    /// What it receives, in kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kbps: Option<u32>,
}
