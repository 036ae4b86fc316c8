//! The signaling messages: every message the server and the pages exchange.
//!
//! JSON text frames over one WebSocket per page, at `/ws/<room>`; each message is an object
//! tagged by `"type"`. The server assigns every connection a [`PeerId`] and stamps it as `from`
//! on everything it relays, so a client never names itself.
//!
//! A viewer never assumes the "broadcaster side" is a browser: it says `want_stream`, answers
//! whatever `offer` arrives (or the [`PageOffer`] its page came with, once the welcome confirms
//! it) and sends its answer and candidates back to that offer's `from`. The server already
//! hands out the broadcaster's spare offers itself; a server-side relay (SFU) can later take
//! that side for viewers without changing the pages.

use serde::{Deserialize, Serialize};
use strum::{EnumDiscriminants, EnumIter, EnumString, IntoStaticStr};

use crate::chat::{AudienceMember, ChatEntry, ViewerQuality};
use crate::error_code::ErrorCode;
use crate::simulcast::{LayerUse, Level};

/// A connection's id, assigned by the server, unique for the life of the process.
pub type PeerId = u64;

/// The `from` of the server's media relay: with [`MediaMode::Sfu`] it is the broadcaster
/// side for every viewer, and the one viewer of the broadcaster. No connection has this id.
pub const RELAY_ID: PeerId = 0;

/// How a room's media travels, as the welcome tells every page.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, EnumIter, EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MediaMode {
    /// The server relays it: the broadcaster sends one stream to the server ([`RELAY_ID`]),
    /// which forwards it to each viewer.
    #[default]
    Sfu,
    /// The broadcaster's page sends it to each viewer itself.
    P2p,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Role {
    /// A talk page: may go on air, sends offers to viewers.
    Broadcaster,
    /// A watch page: receives the broadcast.
    Viewer,
}

/// One trickled ICE candidate, as `RTCIceCandidateInit` has it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_mid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdp_m_line_index: Option<u16>,
}

/// A STUN or TURN server handed to the pages, as `RTCIceServer` has it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Client → server. Unknown fields (a `from` a client made up, say) are ignored.
///
/// [`ClientKind`] names each variant without its fields (its `type` tag); code that must know
/// every kind matches on it, so a new variant does not compile until it does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, EnumDiscriminants)]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum_discriminants(
    name(ClientKind),
    derive(EnumIter, EnumString, IntoStaticStr, Hash),
    strum(serialize_all = "snake_case")
)]
pub enum ClientMessage {
    /// The first message on every connection. A viewer that sets `want_stream` also asks for
    /// the stream when the room is live, as a `want_stream` right after would: the broadcaster
    /// side starts its offer one round trip sooner. (In a room that is not live it does nothing.)
    Join {
        role: Role,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        want_stream: bool,
        /// Viewer: the ticket of the offer its page came with ([`PageOffer`]). When the
        /// server accepts it, the welcome says `page_offer` and no other offer comes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<String>,
    },
    /// Broadcaster: go on air. `key` is the publish key where one is set; `reclaim` is the
    /// token from an earlier `live`, to take the room back after a dropped connection.
    GoLive {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reclaim: Option<String>,
    },
    /// Broadcaster: end the broadcast and stay connected.
    OffAir,
    /// Viewer: ask the broadcaster side for the stream; an `offer` comes back.
    WantStream,
    /// Broadcaster: the offer of a connection made ahead of the next viewer, with its ICE
    /// candidates in it (sent once gathering completes). The server hands it to the next
    /// viewer itself, in the watch page's HTML ([`PageOffer`]) or in answer to its
    /// `want_stream`, and says so with `spare_held` / `spare_taken`; until then the
    /// connection is the server's to give, and `id` names it.
    SpareOffer {
        id: u64,
        sdp: String,
    },
    Offer {
        to: PeerId,
        sdp: String,
    },
    Answer {
        to: PeerId,
        sdp: String,
    },
    Candidate {
        to: PeerId,
        candidate: IceCandidate,
    },
    /// This side closed its peer connection with `to`.
    Hangup {
        to: PeerId,
    },
    /// Viewer: whether the broadcaster side `to` should send it sound. A watch page starts
    /// muted (browsers only autoplay muted video) and asks for sound when unmuted; until then
    /// it gets none, which spares the broadcaster an audio encode and half the packets per
    /// muted viewer.
    Audio {
        to: PeerId,
        on: bool,
    },
    /// Broadcaster, where the server records: record this room's broadcasts (`on`) or not.
    Record {
        on: bool,
    },
    /// Say `text` in the room's chat (at most [`MAX_CHAT_CHARS`](crate::MAX_CHAT_CHARS)).
    Chat {
        text: String,
    },
    /// This connection's name in the chat and the audience list (at most
    /// [`MAX_NAME_CHARS`](crate::MAX_NAME_CHARS)); an empty one goes back to the default.
    ChatName {
        name: String,
    },
    /// Broadcaster: take the chat message `id` away, for everyone.
    DeleteChat {
        id: u64,
    },
    /// Broadcaster: stop viewer `member` from chatting (`muted`), or let it again.
    MuteChat {
        member: PeerId,
        muted: bool,
    },
    /// What time is it on the server? `t` is the page's own clock (ms), echoed back in the
    /// `clock_pong`, so the page learns its clock's offset from the server's.
    ClockPing {
        t: u64,
    },
    /// Broadcaster on air: its clock's offset from the server's (server − page, in µs), for
    /// viewers to read the capture times of its frames on their own clocks.
    ClockOffset {
        offset_us: i64,
    },
    /// Viewer: the size its page shows the picture at, in device pixels (sent when it
    /// changes): the relay sends no bigger a layer than that needs.
    ViewerSize {
        width: u32,
        height: u32,
    },
    /// Viewer: always receive the layer at `level`, or (`null`) let the relay choose.
    PinQuality {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<Level>,
    },
}

impl ClientKind {
    /// The `type` tag of this kind on the wire.
    pub fn tag(self) -> &'static str {
        self.into()
    }
}

impl ServerKind {
    /// The `type` tag of this kind on the wire.
    pub fn tag(self) -> &'static str {
        self.into()
    }
}

impl ClientMessage {
    /// A `join` as `role` that asks for nothing more.
    pub fn join(role: Role) -> Self {
        Self::Join {
            role,
            want_stream: false,
            ticket: None,
        }
    }
}

/// Why a broadcast ended, for the viewer's status line.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, EnumIter, EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OffAirReason {
    /// The broadcaster pressed stop.
    Stopped,
    /// The broadcaster's page closed or lost its connection.
    Disconnected,
}

/// Server → client. [`ServerKind`] names each variant, as [`ClientKind`] does.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, EnumDiscriminants)]
#[serde(tag = "type", rename_all = "snake_case")]
#[strum_discriminants(
    name(ServerKind),
    derive(EnumIter, EnumString, IntoStaticStr, Hash),
    strum(serialize_all = "snake_case")
)]
pub enum ServerMessage {
    /// The answer to `join`.
    Welcome {
        id: PeerId,
        role: Role,
        /// Who is on air right now, if anyone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_air: Option<PeerId>,
        viewers: u32,
        max_viewers: u32,
        ice_servers: Vec<IceServer>,
        /// Whether going live here needs a publish key.
        needs_key: bool,
        /// How the media travels: through the server's relay or peer to peer.
        #[serde(default)]
        media: MediaMode,
        /// The join's ticket was good: the offer the page came with is `on_air`'s, for this
        /// connection. Send the answer to it; no other offer comes.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        page_offer: bool,
        /// Broadcaster, where the server records (`--record`): whether this room's
        /// broadcasts are recorded. Absent where the server does not record.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recording: Option<bool>,
        /// Broadcaster: the server's address as the audience reaches it (`--public-url`, or
        /// the machine's LAN address), e.g. `http://192.168.1.20:3000`, for the watch link.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        public_url: Option<String>,
    },
    /// Broadcaster: you are on air. Keep `reclaim` to take the room back after a reconnect.
    Live {
        reclaim: String,
    },
    /// Viewer: someone went on air; ask for the stream with `want_stream`.
    OnAir {
        broadcaster: PeerId,
    },
    /// Viewer: the broadcast ended.
    OffAir {
        reason: OffAirReason,
    },
    /// Broadcaster: viewer `from` wants the stream; send it an offer.
    WantStream {
        from: PeerId,
    },
    /// Broadcaster: the spare offer `spare` went into a watch page being served; keep its
    /// connection for `spare_taken`, or close it if none comes within [`SPARE_HELD_MS`](crate::SPARE_HELD_MS).
    SpareHeld {
        spare: u64,
    },
    /// Broadcaster: viewer `by` has the spare offer `spare` (from its page or from the
    /// server); its answer follows. Send it the connection's later candidates, if any.
    SpareTaken {
        spare: u64,
        by: PeerId,
    },
    Offer {
        from: PeerId,
        sdp: String,
    },
    Answer {
        from: PeerId,
        sdp: String,
    },
    Candidate {
        from: PeerId,
        candidate: IceCandidate,
    },
    Hangup {
        from: PeerId,
    },
    /// Broadcaster: viewer `from` wants sound (`on`) or no more sound.
    Audio {
        from: PeerId,
        on: bool,
    },
    /// Broadcaster: whether this room's broadcasts are recorded now (after a `record`).
    Recording {
        on: bool,
    },
    /// Broadcaster: viewer `peer` left; close its peer connection.
    PeerLeft {
        peer: PeerId,
    },
    /// Broadcaster: how many viewers are connected now.
    ViewerCount {
        count: u32,
    },
    /// The room has its maximum of viewers; the server closes the connection after this.
    RoomFull {
        max_viewers: u32,
    },
    /// A request was refused; the connection stays open unless a close follows.
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The server is stopping; reconnect in a moment.
    ShuttingDown,
    /// A new chat message in the room.
    Chat {
        message: ChatEntry,
    },
    /// Right after the welcome: the room's latest chat messages, oldest first (at most
    /// [`CHAT_BACKLOG`](crate::CHAT_BACKLOG)).
    ChatBacklog {
        messages: Vec<ChatEntry>,
    },
    /// The broadcaster took chat message `id` away.
    ChatDeleted {
        id: u64,
    },
    /// Viewer: the broadcaster muted (`muted`) or unmuted your chat.
    ChatMuted {
        muted: bool,
    },
    /// Broadcaster, right after the welcome: who is watching.
    Audience {
        viewers: Vec<AudienceMember>,
    },
    /// Broadcaster: a viewer joined, or changed its name or mute (same `id`: replace it).
    AudienceJoined {
        viewer: AudienceMember,
    },
    /// Broadcaster: viewer `id` left.
    AudienceLeft {
        id: PeerId,
    },
    /// Broadcaster, every few seconds where the server relays: how well each viewer
    /// receives the broadcast.
    ViewerStats {
        viewers: Vec<ViewerQuality>,
    },
    /// The answer to `clock_ping`: its `t`, and the server's clock then (µs since the Unix
    /// epoch).
    ClockPong {
        t: u64,
        server_us: u64,
    },
    /// Viewer: the broadcaster's clock offset from the server's (see `clock_offset`), when it
    /// joins and whenever it changes.
    BroadcasterClock {
        offset_us: i64,
    },
    /// Broadcaster, when it changes, where the server relays a simulcast: each layer, how many
    /// viewers receive it, and whether to send it.
    Layers {
        layers: Vec<LayerUse>,
    },
    /// Viewer, when it changes: the layer the relay sends it now, at `level` of `of` layers,
    /// and whether that was pinned.
    Quality {
        level: Level,
        of: u32,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        pinned: bool,
    },
}

/// The broadcaster's spare offer, served in a watch page's HTML so the page can answer it
/// while its socket opens, instead of asking for an offer once it has. `ticket` claims it in
/// the page's `join`, once, within [`TICKET_MS`](crate::TICKET_MS).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PageOffer {
    pub ticket: String,
    pub sdp: String,
    /// The welcome's ICE servers, which the page's connection needs before its socket is open.
    pub ice_servers: Vec<IceServer>,
}

/// A live room as the room list shows it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct RoomSummary {
    pub name: String,
    pub viewers: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::samples;
    use strum::IntoEnumIterator;

    /// The kinds' names (strum) and the `type` tags on the wire (serde) are one set of names.
    #[test]
    fn every_kind_is_named_as_serde_tags_it() {
        for kind in ClientKind::iter() {
            for msg in samples::client(kind) {
                let json = serde_json::to_value(&msg).unwrap();
                assert_eq!(json["type"], kind.tag(), "{json}");
                assert_eq!(ClientKind::from(&msg), kind);
                assert_eq!(kind.tag().parse::<ClientKind>(), Ok(kind));
                assert_eq!(serde_json::from_value::<ClientMessage>(json).unwrap(), msg);
            }
        }
        for kind in ServerKind::iter() {
            for msg in samples::server(kind) {
                let json = serde_json::to_value(&msg).unwrap();
                assert_eq!(json["type"], kind.tag(), "{json}");
                assert_eq!(ServerKind::from(&msg), kind);
                assert_eq!(kind.tag().parse::<ServerKind>(), Ok(kind));
                assert_eq!(serde_json::from_value::<ServerMessage>(json).unwrap(), msg);
            }
        }
    }

    #[test]
    fn wire_format_is_tagged_snake_case() {
        let msg = ClientMessage::Candidate {
            to: 7,
            candidate: IceCandidate {
                candidate: "candidate:1 1 udp 1 127.0.0.1 5000 typ host".into(),
                sdp_mid: Some("0".into()),
                sdp_m_line_index: Some(0),
            },
        };
        let json = serde_json::to_string(&msg).unwrap();
        assert!(json.starts_with(r#"{"type":"candidate","to":7,"#), "{json}");
        assert_eq!(serde_json::from_str::<ClientMessage>(&json).unwrap(), msg);
        let live: ClientMessage = serde_json::from_str(r#"{"type":"go_live"}"#).unwrap();
        assert_eq!(
            live,
            ClientMessage::GoLive {
                key: None,
                reclaim: None
            }
        );
    }

    #[test]
    fn a_made_up_sender_field_is_ignored() {
        let msg: ClientMessage =
            serde_json::from_str(r#"{"type":"offer","to":3,"from":99,"sdp":"v=0"}"#).unwrap();
        assert_eq!(
            msg,
            ClientMessage::Offer {
                to: 3,
                sdp: "v=0".into()
            }
        );
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        for bad in [
            "",
            "null",
            "[]",
            r#"{"type":"nope"}"#,
            r#"{"type":"offer","to":"x","sdp":"v=0"}"#,
            r#"{"type":"join","role":"admin"}"#,
            r#"{"to":1}"#,
        ] {
            assert!(serde_json::from_str::<ClientMessage>(bad).is_err(), "{bad}");
        }
    }
}
