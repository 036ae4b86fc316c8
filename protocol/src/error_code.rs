//! Why a request was refused, as the `error` message says it to a machine (its `message`
//! says it to a person).

use serde::{Deserialize, Serialize};
use strum::{EnumIter, EnumString};

use crate::ServerMessage;

/// Machine-readable reason of an [`ServerMessage::Error`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, EnumIter, EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, unknown type, wrong field types, or a field too long.
    BadMessage,
    /// The first message must be `join`, and only the first.
    NotJoined,
    AlreadyJoined,
    /// The sender's role may not send this.
    NotAllowed,
    /// Someone else is on air in this room.
    AlreadyLive,
    /// Nobody of that id in the sender's room, or not one the sender may address.
    NoSuchPeer,
    /// Out of order: an answer with no offer, a candidate for no peer, `want_stream` off air.
    OutOfOrder,
    /// Missing or wrong publish key.
    WrongKey,
    /// Too many messages per second.
    RateLimited,
    /// The server has as many rooms or connections as it takes.
    ServerFull,
    /// This viewer's browser cannot decode the codec the broadcast is in.
    UnsupportedCodec,
    /// A chat message or name that is empty or too long.
    ChatRefused,
    /// Chat messages faster than the room takes them: slow down.
    SlowDown,
    /// The broadcaster muted this connection's chat.
    Muted,
    /// The server cannot do this now (a node whose cluster store is away): try again soon.
    Unavailable,
}

impl ServerMessage {
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error {
            code,
            message: message.into(),
        }
    }
}
