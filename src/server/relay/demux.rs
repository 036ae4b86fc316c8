//! Which peer a datagram is for, found by a map lookup, not by asking every peer.
//!
//! A browser's first datagrams are STUN binding requests whose USERNAME starts with the
//! relay's ICE ufrag for that peer, which only the admitted member got in its SDP. Once a
//! peer accepted a datagram from an address, the address maps to it. Anything else (an unknown
//! source that is not a STUN request for a known ufrag) is dropped without a reply and without
//! allocating.

use std::{collections::HashMap, net::SocketAddr};

use prometheus_client::metrics::counter::Counter;
use str0m::ice::StunMessage;

use crate::protocol::PeerId;

#[derive(Default)]
pub(super) struct Demux {
    by_ufrag: HashMap<String, PeerId>,
    by_source: HashMap<SocketAddr, PeerId>,
    /// Datagrams from sources nobody knows.
    unknown: Counter,
}

impl Demux {
    pub(super) fn new(unknown: Counter) -> Self {
        Self {
            unknown,
            ..Self::default()
        }
    }

    pub(super) fn add_ufrag(&mut self, ufrag: String, member: PeerId) {
        self.by_ufrag.insert(ufrag, member);
    }

    /// `member`'s ICE restarted: its checks now name `new`, no more `old`.
    pub(super) fn change_ufrag(&mut self, old: &str, new: String, member: PeerId) {
        if self.by_ufrag.get(old) == Some(&member) {
            self.by_ufrag.remove(old);
        }
        self.by_ufrag.insert(new, member);
    }

    /// The member a datagram from `source` is for, if any.
    pub(super) fn route(&mut self, source: SocketAddr, contents: &[u8]) -> Option<PeerId> {
        if let Some(member) = self.by_source.get(&source) {
            return Some(*member);
        }
        let member = self.stun_member(contents);
        if member.is_none() {
            self.unknown.inc();
        }
        member
    }

    /// `member`'s peer accepted a datagram from `source`: later ones go straight to it.
    pub(super) fn learn(&mut self, source: SocketAddr, member: PeerId) {
        self.by_source.entry(source).or_insert(member);
    }

    /// Forget everything that leads to `member` (its peer ended).
    pub(super) fn forget(&mut self, member: PeerId, ufrag: &str, sources: &[SocketAddr]) {
        if self.by_ufrag.get(ufrag) == Some(&member) {
            self.by_ufrag.remove(ufrag);
        }
        for source in sources {
            if self.by_source.get(source) == Some(&member) {
                self.by_source.remove(source);
            }
        }
    }

    pub(super) fn sources(&self) -> usize {
        self.by_source.len()
    }
}

impl Demux {
    /// The member whose ufrag a STUN binding request names ("ours:theirs").
    fn stun_member(&self, contents: &[u8]) -> Option<PeerId> {
        // STUN starts with two zero bits (RFC 7983); RTP, RTCP and DTLS do not.
        if contents.first().is_none_or(|b| *b > 3) {
            return None;
        }
        let message = StunMessage::parse(contents).ok()?;
        if !message.is_binding_request() {
            return None;
        }
        let (ours, _) = message.split_username()?;
        self.by_ufrag.get(ours).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn junk_is_unknown() {
        let unknown = Counter::default();
        let mut demux = Demux::new(unknown.clone());
        demux.add_ufrag("abcd".into(), 7);
        let source: SocketAddr = "192.0.2.1:5000".parse().unwrap();
        assert_eq!(demux.route(source, b""), None);
        assert_eq!(demux.route(source, &[0x80; 40]), None);
        assert_eq!(demux.route(source, &[0x00; 40]), None);
        assert_eq!(unknown.get(), 3);
        demux.learn(source, 7);
        assert_eq!(demux.route(source, b"anything"), Some(7));
        demux.forget(7, "abcd", &[source]);
        assert_eq!(demux.route(source, b"anything"), None);
        assert_eq!(demux.sources(), 0);
    }
}
