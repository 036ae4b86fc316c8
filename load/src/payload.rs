//! The stamp every relayed message carries, inside the SDP text or the candidate line:
//! `@load k=<kind> f=<sender id> t=<recipient id> q=<sequence> ns=<send time> ;`.

use std::fmt::Write;

#[cfg(test)]
use onair_protocol::IceCandidate;
use onair_protocol::PeerId;

/// Which message a stamp was sent in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Offer,
    Answer,
    Candidate,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Offer, Kind::Answer, Kind::Candidate];

    pub fn index(self) -> usize {
        match self {
            Kind::Offer => 0,
            Kind::Answer => 1,
            Kind::Candidate => 2,
        }
    }

    fn letter(self) -> char {
        match self {
            Kind::Offer => 'o',
            Kind::Answer => 'a',
            Kind::Candidate => 'c',
        }
    }

    fn from_letter(letter: &str) -> Option<Self> {
        match letter {
            "o" => Some(Kind::Offer),
            "a" => Some(Kind::Answer),
            "c" => Some(Kind::Candidate),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamp {
    pub kind: Kind,
    pub from: PeerId,
    pub to: PeerId,
    pub seq: u64,
    /// Nanoseconds since the run's shared clock started.
    pub sent_ns: u64,
}

const MARK: &str = "@load ";

fn write_stamp(out: &mut String, stamp: &Stamp) {
    let _ = write!(
        out,
        "{MARK}k={} f={} t={} q={} ns={} ;",
        stamp.kind.letter(),
        stamp.from,
        stamp.to,
        stamp.seq,
        stamp.sent_ns
    );
}

/// Find and read the stamp in an SDP body or a candidate line.
pub fn parse(text: &str) -> Option<Stamp> {
    let start = text.find(MARK)? + MARK.len();
    let body = &text[start..];
    let body = &body[..body.find(';')?];
    let (mut kind, mut from, mut to, mut seq, mut sent_ns) = (None, None, None, None, None);
    for field in body.split_whitespace() {
        let (name, value) = field.split_once('=')?;
        match name {
            "k" => kind = Kind::from_letter(value),
            "f" => from = value.parse().ok(),
            "t" => to = value.parse().ok(),
            "q" => seq = value.parse().ok(),
            "ns" => sent_ns = value.parse().ok(),
            _ => return None,
        }
    }
    Some(Stamp {
        kind: kind?,
        from: from?,
        to: to?,
        seq: seq?,
        sent_ns: sent_ns?,
    })
}

/// A host candidate line of about `size` bytes (never shorter than its stamp needs), as the
/// object `candidate_message` writes.
#[cfg(test)]
pub fn candidate(stamp: &Stamp, size: usize) -> IceCandidate {
    let mut line = String::with_capacity(size.max(160));
    write_candidate_line(&mut line, stamp, size);
    IceCandidate {
        candidate: line,
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

/// Append the line `candidate` makes: `size` bytes from where it starts.
fn write_candidate_line(out: &mut String, stamp: &Stamp, size: usize) {
    let start = out.len();
    let _ = write!(
        out,
        "candidate:{} 1 udp 2122260223 192.0.2.{} {} typ host generation 0 ",
        stamp.seq % 4_000_000_000,
        stamp.from % 250 + 1,
        40_000 + stamp.seq % 20_000
    );
    write_stamp(out, stamp);
    if out.len() - start + 1 < size {
        out.push_str(" x-pad ");
        let padded = start + size;
        out.extend(std::iter::repeat_n('x', padded.saturating_sub(out.len())));
    }
}

/// The tail of a candidate object as `candidate` makes it and serde writes it.
const CANDIDATE_TAIL: &str = r#"","sdp_mid":"0","sdp_m_line_index":0}"#;

/// The `candidate` message to `to`, as JSON text: what serde makes of
/// `ClientMessage::Candidate`, written directly into one string, since the tool sends little
/// else and its CPU time is taken from the server's on a shared machine. (The line needs no
/// escaping.)
pub fn candidate_message(to: PeerId, stamp: &Stamp, size: usize) -> String {
    let mut text = String::with_capacity(size.max(160) + 96);
    let _ = write!(
        text,
        r#"{{"type":"candidate","to":{to},"candidate":{{"candidate":""#
    );
    write_candidate_line(&mut text, stamp, size);
    text.push_str(CANDIDATE_TAIL);
    text.push('}');
    text
}

/// A relayed candidate as the server sends it, `{"type":"candidate","from":N,"candidate":{…}}`
/// with the candidate object `candidate_message` wrote: its sender and candidate line, read
/// without the JSON parser. Anything else is `None`, for the parser to read.
pub fn relayed_candidate(text: &str) -> Option<(PeerId, &str)> {
    let rest = text.strip_prefix(r#"{"type":"candidate","from":"#)?;
    let (from, rest) = rest.split_once(',')?;
    let from = from.parse().ok()?;
    let line = rest
        .strip_prefix(r#""candidate":{"candidate":""#)?
        .strip_suffix("}")?
        .strip_suffix(CANDIDATE_TAIL)?;
    // A quote or escape would make it other JSON than the tool sent. (Bytes, not chars: this
    // runs for every message received, and a char search is several times slower.)
    (!line.bytes().any(|b| b == b'"' || b == b'\\')).then_some((from, line))
}

/// An SDP offer or answer of `size` bytes (or a little more when `size` is very small).
pub fn sdp(stamp: &Stamp, size: usize) -> String {
    let mut sdp = String::with_capacity(size.max(512));
    let _ = write!(
        sdp,
        "v=0\r\no=- {} 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
         a=msid-semantic: WMS onair\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97\r\n\
         c=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:load\r\n\
         a=ice-pwd:onairloadonairloadonairl\r\na=setup:actpass\r\na=x-onair-load:",
        stamp.from
    );
    write_stamp(&mut sdp, stamp);
    sdp.push_str("\r\n");
    // Filler lines like the codec and SSRC attributes of a real description, to the byte.
    const LINE: usize = 80; // bytes per filler line, CRLF included
    const MIN: usize = 10; // "a=x-pad:" and CRLF
    loop {
        let remaining = size.saturating_sub(sdp.len());
        if remaining < MIN {
            break;
        }
        let len = if remaining >= LINE + MIN {
            LINE
        } else {
            remaining
        };
        sdp.push_str("a=x-pad:");
        for _ in MIN..len {
            sdp.push('x');
        }
        sdp.push_str("\r\n");
    }
    sdp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(kind: Kind) -> Stamp {
        Stamp {
            kind,
            from: 17,
            to: 4,
            seq: 99,
            sent_ns: 123_456_789,
        }
    }

    #[test]
    fn candidates_are_written_and_read_as_serde_would() {
        use onair_protocol::{ClientMessage, ServerMessage};
        let stamp = stamp(Kind::Candidate);
        for size in [0, 200, 1024] {
            let text = candidate_message(4, &stamp, size);
            let candidate = candidate(&stamp, size);
            let expected = ClientMessage::Candidate {
                to: 4,
                candidate: candidate.clone(),
            };
            assert_eq!(text, serde_json::to_string(&expected).unwrap());
            let relayed = serde_json::to_string(&ServerMessage::Candidate {
                from: 17,
                candidate: candidate.clone(),
            })
            .unwrap();
            assert_eq!(
                relayed_candidate(&relayed),
                Some((17, candidate.candidate.as_str()))
            );
        }
        // Anything else goes to the parser.
        for other in [
            r#"{"type":"candidate","from":17,"candidate":{"candidate":"a\"b","sdp_mid":"0","sdp_m_line_index":0}}"#,
            r#"{"type":"candidate","from":17,"candidate":{"candidate":"a","sdp_mid":"1","sdp_m_line_index":0}}"#,
            r#"{"type":"candidate","from":"17","candidate":{"candidate":"a","sdp_mid":"0","sdp_m_line_index":0}}"#,
            r#"{"type":"offer","from":17,"sdp":"v=0"}"#,
            r#"{"type":"candidate","from":17,"candidate":{"candidate":"a","sdp_mid":"0","sdp_m_line_index":0}"#,
        ] {
            assert_eq!(relayed_candidate(other), None, "{other}");
        }
    }

    #[test]
    fn stamps_survive_the_round_trip() {
        for size in [0, 100, 200, 1024] {
            let c = candidate(&stamp(Kind::Candidate), size);
            assert_eq!(parse(&c.candidate), Some(stamp(Kind::Candidate)));
            assert!(c.candidate.len() >= size, "{size}");
            assert!(size < 200 || c.candidate.len() == size, "{size}");
        }
        for size in [0, 400, 4096, 32768] {
            let s = sdp(&stamp(Kind::Offer), size);
            assert_eq!(parse(&s), Some(stamp(Kind::Offer)));
            assert!(size < 600 || s.len() == size, "{size}: {}", s.len());
        }
        assert_eq!(parse("candidate:1 1 udp 1 127.0.0.1 1 typ host"), None);
        assert_eq!(parse("@load k=c f=1 t=2 q=x ns=1 ;"), None);
    }
}
