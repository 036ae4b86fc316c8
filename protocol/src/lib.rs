//! onair's wire format, in one place: what the pages, the server and the load tool exchange.
//!
//! - [`message`]: every signaling message (JSON over one WebSocket per page, at `/ws/<room>`).
//! - [`chat`]: the chat's messages and the audience list, as messages carry them.
//! - [`limits`]: the sizes and times both sides hold to.
//! - [`paths`]: where the pages reach the server, and the `?key=` of a private room.
//! - [`close_code`]: the WebSocket close codes the server ends a connection with.
//! - [`error_code`]: why a request was refused, in the `error` message.
//! - [`room_name`]: the one rule for room names.
//! - [`simulcast`]: the layers a talk page sends, and the quality each viewer gets.
//! - [`reader`]: reading a server message from JSON the browser already parsed (no serde
//!   reader in the wasm), checked against serde for every message kind.

pub mod chat;
pub mod close_code;
pub mod error_code;
pub mod limits;
pub mod message;
pub mod paths;
pub mod reader;
pub mod room_name;
#[cfg(any(test, feature = "samples"))]
pub mod samples;
pub mod simulcast;

pub use chat::{AudienceMember, ChatEntry, ViewerQuality};
pub use error_code::ErrorCode;
pub use limits::*;
pub use message::*;
pub use room_name::{RoomName, RoomNameError};
pub use simulcast::{LayerUse, Level};
