//! The sizes and times both sides of the protocol hold to.

/// Largest WebSocket message either side sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest SDP body we relay (real ones are 3–6 KB; simulcast with many codecs stays far below).
pub const MAX_SDP_BYTES: usize = 32 * 1024;
/// Largest ICE candidate line we relay (real ones are about 200 bytes).
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// Largest `sdp_mid` of a candidate (real ones are "0", "1" or a short name).
pub const MAX_SDP_MID_BYTES: usize = 64;
/// Largest publish key, room key, reclaim token or ticket.
pub const MAX_KEY_BYTES: usize = 256;

/// How long a ticket of a [`PageOffer`](crate::PageOffer) is good for, from the moment the
/// page is served.
pub const TICKET_MS: u64 = 10_000;
/// How long the broadcaster keeps a held spare connection: past the ticket, so that a viewer
/// the server accepted always finds it.
pub const SPARE_HELD_MS: u32 = 15_000;

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 500;
/// Longest chat name, in characters.
pub const MAX_NAME_CHARS: usize = 40;
/// Chat messages a room keeps for whoever joins.
pub const CHAT_BACKLOG: usize = 100;
