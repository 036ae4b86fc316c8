//! The fast path for what the server relays most: `offer`, `answer` and `candidate`.
//!
//! Parsing a message into the tagged [`ClientMessage`] buffers all of it first (serde must see
//! `type` before it knows the shape), and relaying it then escapes the SDP again on the way out.
//! Here only the routing fields are read, from the client's own text, and the payload goes out
//! as the client wrote it: the SDP as its JSON string, the candidate once its fields checked out.
//! Anything unusual (an escaped `type`, an SDP near its limit, a candidate with extra fields)
//! is not this path's business: [`parse`] says `None` and the full parser takes the message,
//! with its exact errors.
//!
//! [`ClientMessage`]: crate::protocol::ClientMessage

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::{
    protocol::{
        ClientKind, PeerId, ServerKind, MAX_CANDIDATE_BYTES, MAX_SDP_BYTES, MAX_SDP_MID_BYTES,
        RELAY_ID,
    },
    server::{outbox::Queued, rooms::Relay},
};

/// The relayed kind a client message kind is, if it is one: every kind is named here, so a
/// new one does not compile until this says whether the fast path takes it.
pub fn relay_of(kind: ClientKind) -> Option<Relay> {
    match kind {
        ClientKind::Offer => Some(Relay::Offer),
        ClientKind::Answer => Some(Relay::Answer),
        ClientKind::Candidate => Some(Relay::Candidate),
        ClientKind::Join
        | ClientKind::GoLive
        | ClientKind::OffAir
        | ClientKind::WantStream
        | ClientKind::SpareOffer
        | ClientKind::Hangup
        | ClientKind::Audio
        | ClientKind::Record
        | ClientKind::Chat
        | ClientKind::ChatName
        | ClientKind::DeleteChat
        | ClientKind::MuteChat
        | ClientKind::ClockPing
        | ClientKind::ClockOffset
        | ClientKind::ViewerSize
        | ClientKind::PinQuality => None,
    }
}

/// The server message a relayed one becomes for its recipient, and the field of its payload.
fn sent_as(kind: Relay) -> (ServerKind, &'static str) {
    match kind {
        Relay::Offer => (ServerKind::Offer, "sdp"),
        Relay::Answer => (ServerKind::Answer, "sdp"),
        Relay::Candidate => (ServerKind::Candidate, "candidate"),
    }
}

/// A relayed message: its kind, its recipient and its payload as JSON text.
#[derive(Debug)]
pub struct Relayed<'a> {
    pub kind: Relay,
    pub to: PeerId,
    payload: &'a str,
}

/// The fields the relay routes on; the rest of the message is skipped.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    to: PeerId,
    #[serde(borrow, default)]
    sdp: Option<&'a RawValue>,
    #[serde(borrow, default)]
    candidate: Option<&'a RawValue>,
}

/// A candidate as `RTCIceCandidateInit` has it, checked without copying its strings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CandidateFields<'a> {
    #[serde(borrow)]
    candidate: Cow<'a, str>,
    #[serde(borrow, default)]
    sdp_mid: Option<Cow<'a, str>>,
    #[serde(default)]
    #[allow(dead_code)] // checked for its type only
    sdp_m_line_index: Option<u16>,
}

/// `text` as a relayed message, if it is a plain one; `None` leaves it to the full parser.
pub fn parse(text: &str) -> Option<Relayed<'_>> {
    let envelope: Envelope = serde_json::from_str(text).ok()?;
    // What the media relay gets is read in full: it needs the SDP itself, not its JSON text.
    if envelope.to == RELAY_ID {
        return None;
    }
    let kind = relay_of(envelope.kind.parse().ok()?)?;
    let payload = match (kind, envelope.sdp, envelope.candidate) {
        (Relay::Offer | Relay::Answer, Some(sdp), None) => sdp.get(),
        (Relay::Candidate, None, Some(candidate)) => candidate.get(),
        _ => return None,
    };
    let plain = match kind {
        // A JSON string; its text is never shorter than the SDP it holds.
        Relay::Offer | Relay::Answer => {
            payload.starts_with('"') && payload.len() - 2 <= MAX_SDP_BYTES
        }
        Relay::Candidate => serde_json::from_str::<CandidateFields>(payload).is_ok_and(|c| {
            c.candidate.len() <= MAX_CANDIDATE_BYTES
                && c.sdp_mid.as_ref().map_or(0, |mid| mid.len()) <= MAX_SDP_MID_BYTES
        }),
    };
    plain.then_some(Relayed {
        kind,
        to: envelope.to,
        payload,
    })
}

impl Relayed<'_> {
    /// The message as its recipient gets it, from `from`: what `ServerMessage` would encode.
    pub fn encode(&self, from: PeerId) -> Queued {
        let (kind, field) = sent_as(self.kind);
        let tag = kind.tag();
        // Sized exactly up front: no regrowth while writing, and none when it becomes a box.
        let mut digits = [0u8; 20];
        let parts = [
            r#"{"type":""#,
            tag,
            r#"","from":"#,
            decimal(from, &mut digits),
            r#",""#,
            field,
            r#"":"#,
            self.payload,
            "}",
        ];
        let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
        parts.iter().for_each(|part| text.push_str(part));
        text.into_boxed_str()
    }
}

/// `n` in decimal, written into `digits` (the longest u64 has 20).
fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &str {
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&digits[start..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientMessage, IceCandidate, ServerMessage};

    /// What the fast path sends must be what the full path sends, read back.
    fn same_as_full_path(text: &str, from: PeerId) {
        let fast = parse(text).unwrap_or_else(|| panic!("not taken by the fast path: {text}"));
        let sent: ServerMessage = serde_json::from_str(&fast.encode(from)).unwrap();
        let full = match serde_json::from_str::<ClientMessage>(text).unwrap() {
            ClientMessage::Offer { to, sdp } => (to, ServerMessage::Offer { from, sdp }),
            ClientMessage::Answer { to, sdp } => (to, ServerMessage::Answer { from, sdp }),
            ClientMessage::Candidate { to, candidate } => {
                (to, ServerMessage::Candidate { from, candidate })
            }
            other => panic!("not a relayed message: {other:?}"),
        };
        assert_eq!((fast.to, sent), full, "{text}");
    }

    #[test]
    fn offers_answers_and_candidates_go_out_as_the_full_path_sends_them() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\na=\"quoted\" \\ é\r\n";
        for msg in [
            ClientMessage::Offer {
                to: 7,
                sdp: sdp.into(),
            },
            ClientMessage::Answer {
                to: 8,
                sdp: String::new(),
            },
            ClientMessage::Candidate {
                to: 9,
                candidate: IceCandidate {
                    candidate: "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                },
            },
            ClientMessage::Candidate {
                to: 9,
                candidate: IceCandidate {
                    candidate: String::new(),
                    sdp_mid: None,
                    sdp_m_line_index: None,
                },
            },
        ] {
            same_as_full_path(&serde_json::to_string(&msg).unwrap(), 42);
        }
        // Field order, spaces, a made-up `from` and unknown top-level fields do not matter.
        same_as_full_path(
            r#" { "sdp" : "v=0" , "from": 1, "to": 3, "type": "offer", "x": [1] } "#,
            5,
        );
        same_as_full_path(
            r#"{"type":"candidate","candidate":{"candidate":"c","sdp_m_line_index":null},"to":1}"#,
            5,
        );
    }

    /// Every kind of client message, in each of its samples, is taken by the fast path
    /// exactly when [`relay_of`] says so, and then goes out as the full path sends it.
    #[test]
    fn the_fast_path_knows_every_kind_of_message() {
        for msg in onair_protocol::samples::every_client_message() {
            let text = serde_json::to_string(&msg).unwrap();
            let expected = relay_of(ClientKind::from(&msg));
            assert_eq!(parse(&text).map(|fast| fast.kind), expected, "{text}");
            if expected.is_some() {
                same_as_full_path(&text, 42);
            }
        }
    }

    #[test]
    fn peer_ids_are_written_in_decimal() {
        for n in [0, 7, 10, 42, 1_000_000, u64::MAX] {
            assert_eq!(decimal(n, &mut [0; 20]), n.to_string());
        }
    }

    #[test]
    fn anything_unusual_is_left_to_the_full_parser() {
        let long_sdp = format!(
            r#"{{"type":"offer","to":1,"sdp":"{}"}}"#,
            "a".repeat(MAX_SDP_BYTES + 1)
        );
        let long_candidate = format!(
            r#"{{"type":"candidate","to":1,"candidate":{{"candidate":"{}"}}}}"#,
            "a".repeat(MAX_CANDIDATE_BYTES + 1)
        );
        for text in [
            "",
            "not json",
            r#"{"type":"join","role":"viewer"}"#,
            r#"{"type":"hangup","to":1}"#,
            r#"{"type":"offer","to":1}"#,
            r#"{"type":"offer","to":"1","sdp":"v=0"}"#,
            r#"{"type":"offer","to":1,"sdp":5}"#,
            r#"{"type":"offer","to":1,"sdp":"v=0","candidate":{"candidate":"c"}}"#,
            r#"{"type":"\u006ffer","to":1,"sdp":"v=0"}"#,
            r#"{"type":"candidate","to":1,"candidate":"c"}"#,
            r#"{"type":"candidate","to":1,"candidate":{"candidate":"c","extra":1}}"#,
            r#"{"type":"candidate","to":1,"candidate":{"candidate":"c","sdp_m_line_index":-1}}"#,
            &long_sdp,
            &long_candidate,
        ] {
            assert!(parse(text).is_none(), "{text}");
        }
        let at_limit = format!(
            r#"{{"type":"offer","to":1,"sdp":"{}"}}"#,
            "a".repeat(MAX_SDP_BYTES)
        );
        assert!(parse(&at_limit).is_some());
    }
}
