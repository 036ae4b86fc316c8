//! Reading a [`ServerMessage`] from JSON the browser has already parsed (`JSON.parse`).
//!
//! Why not serde in the browser: `ServerMessage` is an internally tagged enum (`"type": …`
//! beside the fields), and serde reads those by first copying every field into a generic
//! buffer. That machinery was about 21 KB of the gzipped wasm, 8 % of it. The server and the
//! tests keep using serde; the tests below check that this reader agrees with serde on samples
//! of every message kind. The reader dispatches on [`ServerKind`] with an exhaustive `match`: a
//! new kind of server message does not compile until the reader knows it.
//!
//! The browser's side of [`JsonValue`] (for `wasm_bindgen::JsValue`) is in the app's `client`.

use crate::{
    AudienceMember, ChatEntry, ErrorCode, IceCandidate, IceServer, LayerUse, Level, MediaMode,
    OffAirReason, PageOffer, Role, RoomSummary, ServerKind, ServerMessage, ViewerQuality,
};

/// What the reader needs from a parsed JSON value. `field` is `None` for a missing or `null`
/// field, as serde treats an absent `Option`.
pub trait JsonValue: Sized {
    fn field(&self, name: &str) -> Option<Self>;
    fn string(&self) -> Option<String>;
    fn number(&self) -> Option<f64>;
    fn boolean(&self) -> Option<bool>;
    fn items(&self) -> Option<Vec<Self>>;
}

/// Why a server message could not be read (shown in the browser console only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError(String);

impl ReadError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self(reason.into())
    }
}

impl std::error::Error for ReadError {}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

type Result<T> = std::result::Result<T, ReadError>;

fn missing(name: &str) -> ReadError {
    ReadError(format!("missing or mistyped field `{name}`"))
}

fn string<V: JsonValue>(v: &V, name: &str) -> Result<String> {
    v.field(name)
        .and_then(|f| f.string())
        .ok_or_else(|| missing(name))
}

fn opt_string<V: JsonValue>(v: &V, name: &str) -> Result<Option<String>> {
    v.field(name)
        .map(|f| f.string().ok_or_else(|| missing(name)))
        .transpose()
}

/// A whole number in `0..=max` (JSON numbers are doubles in the browser).
fn whole<V: JsonValue>(v: &V, name: &str, max: f64) -> Result<Option<f64>> {
    v.field(name)
        .map(|f| {
            f.number()
                .filter(|n| n.fract() == 0.0 && (0.0..=max).contains(n))
                .ok_or_else(|| missing(name))
        })
        .transpose()
}

/// Largest integer a double holds exactly; peer ids are counters far below it.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

fn id<V: JsonValue>(v: &V, name: &str) -> Result<u64> {
    whole(v, name, MAX_EXACT)?
        .map(|n| n as u64)
        .ok_or_else(|| missing(name))
}

/// A whole number that may be negative (an offset).
fn signed<V: JsonValue>(v: &V, name: &str) -> Result<i64> {
    v.field(name)
        .and_then(|f| f.number())
        .filter(|n| n.fract() == 0.0 && n.abs() <= MAX_EXACT)
        .map(|n| n as i64)
        .ok_or_else(|| missing(name))
}

fn count<V: JsonValue>(v: &V, name: &str) -> Result<u32> {
    whole(v, name, f64::from(u32::MAX))?
        .map(|n| n as u32)
        .ok_or_else(|| missing(name))
}

fn boolean<V: JsonValue>(v: &V, name: &str) -> Result<bool> {
    v.field(name)
        .and_then(|f| f.boolean())
        .ok_or_else(|| missing(name))
}

/// A unit enum (`Role`, `ErrorCode`, …) by its wire name. Read with its `FromStr` (strum), a
/// plain string match: serde's reader for the same enum is several times its size in the
/// wasm. The tests check that both agree on every value.
fn named<V: JsonValue, T: std::str::FromStr>(v: &V, name: &str) -> Result<T> {
    let text = string(v, name)?;
    text.parse()
        .map_err(|_| ReadError(format!("unknown `{name}`: {text}")))
}

fn candidate<V: JsonValue>(v: &V) -> Result<IceCandidate> {
    let c = v.field("candidate").ok_or_else(|| missing("candidate"))?;
    Ok(IceCandidate {
        candidate: string(&c, "candidate")?,
        sdp_mid: opt_string(&c, "sdp_mid")?,
        sdp_m_line_index: whole(&c, "sdp_m_line_index", f64::from(u16::MAX))?.map(|n| n as u16),
    })
}

fn ice_servers<V: JsonValue>(v: &V) -> Result<Vec<IceServer>> {
    list(v, "ice_servers", |server| {
        Ok(IceServer {
            urls: list(server, "urls", |url| {
                url.string().ok_or_else(|| missing("urls"))
            })?,
            username: opt_string(server, "username")?,
            credential: opt_string(server, "credential")?,
        })
    })
}

/// One server message; unknown fields are ignored, as serde does.
pub fn server_message<V: JsonValue>(v: &V) -> Result<ServerMessage> {
    let tag = string(v, "type")?;
    let kind: ServerKind = tag
        .parse()
        .map_err(|_| ReadError(format!("unknown message type `{tag}`")))?;
    Ok(match kind {
        ServerKind::Welcome => ServerMessage::Welcome {
            id: id(v, "id")?,
            role: named::<_, Role>(v, "role")?,
            on_air: v.field("on_air").map(|_| id(v, "on_air")).transpose()?,
            viewers: count(v, "viewers")?,
            max_viewers: count(v, "max_viewers")?,
            ice_servers: ice_servers(v)?,
            needs_key: boolean(v, "needs_key")?,
            media: v
                .field("media")
                .map(|_| named::<_, MediaMode>(v, "media"))
                .transpose()?
                .unwrap_or_default(),
            page_offer: v
                .field("page_offer")
                .map(|_| boolean(v, "page_offer"))
                .transpose()?
                .unwrap_or(false),
            recording: v
                .field("recording")
                .map(|_| boolean(v, "recording"))
                .transpose()?,
            public_url: opt_string(v, "public_url")?,
        },
        ServerKind::Live => ServerMessage::Live {
            reclaim: string(v, "reclaim")?,
        },
        ServerKind::OnAir => ServerMessage::OnAir {
            broadcaster: id(v, "broadcaster")?,
        },
        ServerKind::OffAir => ServerMessage::OffAir {
            reason: named::<_, OffAirReason>(v, "reason")?,
        },
        ServerKind::WantStream => ServerMessage::WantStream {
            from: id(v, "from")?,
        },
        ServerKind::SpareHeld => ServerMessage::SpareHeld {
            spare: id(v, "spare")?,
        },
        ServerKind::SpareTaken => ServerMessage::SpareTaken {
            spare: id(v, "spare")?,
            by: id(v, "by")?,
        },
        ServerKind::Offer => ServerMessage::Offer {
            from: id(v, "from")?,
            sdp: string(v, "sdp")?,
        },
        ServerKind::Answer => ServerMessage::Answer {
            from: id(v, "from")?,
            sdp: string(v, "sdp")?,
        },
        ServerKind::Candidate => ServerMessage::Candidate {
            from: id(v, "from")?,
            candidate: candidate(v)?,
        },
        ServerKind::Hangup => ServerMessage::Hangup {
            from: id(v, "from")?,
        },
        ServerKind::Audio => ServerMessage::Audio {
            from: id(v, "from")?,
            on: boolean(v, "on")?,
        },
        ServerKind::Recording => ServerMessage::Recording {
            on: boolean(v, "on")?,
        },
        ServerKind::PeerLeft => ServerMessage::PeerLeft {
            peer: id(v, "peer")?,
        },
        ServerKind::ViewerCount => ServerMessage::ViewerCount {
            count: count(v, "count")?,
        },
        ServerKind::RoomFull => ServerMessage::RoomFull {
            max_viewers: count(v, "max_viewers")?,
        },
        ServerKind::Error => ServerMessage::Error {
            code: named::<_, ErrorCode>(v, "code")?,
            message: string(v, "message")?,
        },
        ServerKind::ShuttingDown => ServerMessage::ShuttingDown,
        ServerKind::Chat => ServerMessage::Chat {
            message: chat_entry(&field(v, "message")?)?,
        },
        ServerKind::ChatBacklog => ServerMessage::ChatBacklog {
            messages: list(v, "messages", chat_entry)?,
        },
        ServerKind::ChatDeleted => ServerMessage::ChatDeleted { id: id(v, "id")? },
        ServerKind::ChatMuted => ServerMessage::ChatMuted {
            muted: boolean(v, "muted")?,
        },
        ServerKind::Audience => ServerMessage::Audience {
            viewers: list(v, "viewers", audience_member)?,
        },
        ServerKind::AudienceJoined => ServerMessage::AudienceJoined {
            viewer: audience_member(&field(v, "viewer")?)?,
        },
        ServerKind::AudienceLeft => ServerMessage::AudienceLeft { id: id(v, "id")? },
        ServerKind::ClockPong => ServerMessage::ClockPong {
            t: id(v, "t")?,
            server_us: id(v, "server_us")?,
        },
        ServerKind::BroadcasterClock => ServerMessage::BroadcasterClock {
            offset_us: signed(v, "offset_us")?,
        },
        ServerKind::ViewerStats => ServerMessage::ViewerStats {
            viewers: list(v, "viewers", viewer_quality)?,
        },
        ServerKind::Layers => ServerMessage::Layers {
            layers: list(v, "layers", layer_use)?,
        },
        ServerKind::Quality => ServerMessage::Quality {
            level: named::<_, Level>(v, "level")?,
            of: count(v, "of")?,
            pinned: flag(v, "pinned")?,
        },
    })
}

fn field<V: JsonValue>(v: &V, name: &str) -> Result<V> {
    v.field(name).ok_or_else(|| missing(name))
}

/// The list `name`, each item read by `read`.
fn list<V: JsonValue, T>(v: &V, name: &str, read: impl Fn(&V) -> Result<T>) -> Result<Vec<T>> {
    v.field(name)
        .and_then(|f| f.items())
        .ok_or_else(|| missing(name))?
        .iter()
        .map(read)
        .collect()
}

/// An absent `false` flag, as serde skips it.
fn flag<V: JsonValue>(v: &V, name: &str) -> Result<bool> {
    v.field(name)
        .map(|_| boolean(v, name))
        .transpose()
        .map(Option::unwrap_or_default)
}

fn chat_entry<V: JsonValue>(v: &V) -> Result<ChatEntry> {
    Ok(ChatEntry {
        id: id(v, "id")?,
        from: id(v, "from")?,
        name: string(v, "name")?,
        text: string(v, "text")?,
        broadcaster: flag(v, "broadcaster")?,
        at: id(v, "at")?,
    })
}

fn viewer_quality<V: JsonValue>(v: &V) -> Result<ViewerQuality> {
    let figure = |name| -> Result<Option<u32>> {
        whole(v, name, f64::from(u32::MAX)).map(|n| n.map(|n| n as u32))
    };
    Ok(ViewerQuality {
        id: id(v, "id")?,
        rtt_ms: figure("rtt_ms")?,
        loss_permille: figure("loss_permille")?,
        kbps: figure("kbps")?,
    })
}

fn layer_use<V: JsonValue>(v: &V) -> Result<LayerUse> {
    Ok(LayerUse {
        rid: string(v, "rid")?,
        viewers: count(v, "viewers")?,
        nodes: whole(v, "nodes", f64::from(u32::MAX))?.map_or(0, |n| n as u32),
        active: boolean(v, "active")?,
        height: whole(v, "height", f64::from(u32::MAX))?.map(|n| n as u32),
    })
}

fn audience_member<V: JsonValue>(v: &V) -> Result<AudienceMember> {
    Ok(AudienceMember {
        id: id(v, "id")?,
        name: string(v, "name")?,
        since: id(v, "since")?,
        muted: flag(v, "muted")?,
    })
}

/// The offer a watch page came with (`data-page-offer`, see [`PageOffer`]).
pub fn page_offer<V: JsonValue>(v: &V) -> Result<PageOffer> {
    Ok(PageOffer {
        ticket: string(v, "ticket")?,
        sdp: string(v, "sdp")?,
        ice_servers: ice_servers(v)?,
    })
}

/// The room list as the server sends it: `[{"name": …, "viewers": …}, …]`.
pub fn room_list<V: JsonValue>(v: &V) -> Result<Vec<RoomSummary>> {
    v.items()
        .ok_or_else(|| ReadError("the room list is not a list".to_owned()))?
        .iter()
        .map(|room| {
            Ok(RoomSummary {
                name: string(room, "name")?,
                viewers: count(room, "viewers")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    impl JsonValue for Value {
        fn field(&self, name: &str) -> Option<Self> {
            self.get(name).filter(|v| !v.is_null()).cloned()
        }
        fn string(&self) -> Option<String> {
            self.as_str().map(str::to_owned)
        }
        fn number(&self) -> Option<f64> {
            self.as_f64()
        }
        fn boolean(&self) -> Option<bool> {
            self.as_bool()
        }
        fn items(&self) -> Option<Vec<Self>> {
            self.as_array().cloned()
        }
    }

    #[test]
    fn reads_what_serde_writes_for_every_message() {
        for msg in crate::samples::every_server_message() {
            let json = serde_json::to_value(&msg).unwrap();
            assert_eq!(server_message(&json), Ok(msg), "{json}");
        }
    }

    #[test]
    fn reads_the_room_list() {
        let rooms = vec![
            RoomSummary {
                name: "hall".into(),
                viewers: 3,
            },
            RoomSummary {
                name: "a-b_c".into(),
                viewers: 0,
            },
        ];
        let json = serde_json::to_value(&rooms).unwrap();
        assert_eq!(room_list(&json), Ok(rooms));
        assert_eq!(room_list(&serde_json::json!([])), Ok(vec![]));
        assert!(room_list(&serde_json::json!({"name": "x"})).is_err());
        assert!(room_list(&serde_json::json!([{"name": "x"}])).is_err());
    }

    #[test]
    fn reads_the_page_offer() {
        let offer = PageOffer {
            ticket: "t0k".into(),
            sdp: "v=0\r\na=candidate:1 1 udp 1 10.0.0.2 5000 typ host\r\n".into(),
            ice_servers: vec![IceServer {
                urls: vec!["stun:stun.example.org:3478".into()],
                username: None,
                credential: None,
            }],
        };
        let json = serde_json::to_value(&offer).unwrap();
        assert_eq!(page_offer(&json), Ok(offer));
        assert!(page_offer(&serde_json::json!({"ticket": "t", "sdp": "v=0"})).is_err());
        assert!(page_offer(&serde_json::json!({"sdp": "v=0", "ice_servers": []})).is_err());
    }

    #[test]
    fn refuses_what_serde_refuses() {
        for text in [
            r#"{"type":"nope"}"#,
            r#"{"from":1}"#,
            r#"{"type":"offer","from":"1","sdp":"v=0"}"#,
            r#"{"type":"offer","from":1.5,"sdp":"v=0"}"#,
            r#"{"type":"offer","from":-1,"sdp":"v=0"}"#,
            r#"{"type":"offer","sdp":"v=0"}"#,
            r#"{"type":"off_air","reason":"bored"}"#,
            r#"{"type":"viewer_count","count":4294967296}"#,
            r#"{"type":"candidate","from":1,"candidate":{"sdp_mid":"0"}}"#,
        ] {
            let json: Value = serde_json::from_str(text).unwrap();
            assert!(server_message(&json).is_err(), "{text}");
            assert!(
                serde_json::from_value::<ServerMessage>(json).is_err(),
                "{text}"
            );
        }
    }
}
