//! A request a room refuses: the session reports it to its client as an `error` message.

use crate::protocol::{ErrorCode, PeerId};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: ErrorCode,
    pub message: String,
}

pub(super) fn refuse(code: ErrorCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

pub(super) fn no_such_peer(to: PeerId) -> Refusal {
    refuse(
        ErrorCode::NoSuchPeer,
        format!("there is no peer {to} in your room that you may reach"),
    )
}
