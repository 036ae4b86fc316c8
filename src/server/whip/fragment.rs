//! The `application/trickle-ice-sdpfrag` bodies of a session's `PATCH` (RFC 8840, RFC 9725
//! §4.3): trickled candidates, or an ICE restart's new credentials; the full offer a restart
//! makes of the session's first one; and the fragment that answers it.

/// What a `PATCH` body holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Fragment {
    /// The client's ICE credentials (ufrag, password): the ones in use name the ICE session
    /// trickled candidates belong to; new ones restart ICE.
    pub(super) credentials: Option<(String, String)>,
    /// `candidate:…` attributes, without their `a=`.
    pub(super) candidates: Vec<String>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    #[error("an ICE restart needs both a=ice-ufrag and a=ice-pwd")]
    HalfCredentials,
}

impl Fragment {
    pub(super) fn parse(text: &str) -> Result<Self, FragmentError> {
        let attribute = |name: &str| {
            text.lines()
                .find_map(|line| line.trim().strip_prefix(name))
                .map(|value| value.trim().to_owned())
        };
        let credentials = match (attribute("a=ice-ufrag:"), attribute("a=ice-pwd:")) {
            (Some(ufrag), Some(pwd)) => Some((ufrag, pwd)),
            (None, None) => None,
            _ => return Err(FragmentError::HalfCredentials),
        };
        let candidates = text
            .lines()
            .filter_map(|line| line.trim().strip_prefix("a="))
            .filter(|attribute| attribute.starts_with("candidate:"))
            .map(str::to_owned)
            .collect();
        Ok(Self {
            credentials,
            candidates,
        })
    }

    /// New credentials, not those of `offer` (the session's as it stands): an ICE restart.
    pub(super) fn restart(&self, offer: &str) -> Option<(&str, &str)> {
        let (ufrag, pwd) = self.credentials.as_ref()?;
        let current = offer
            .lines()
            .find_map(|line| line.trim().strip_prefix("a=ice-ufrag:"))
            .map(str::trim);
        (current != Some(ufrag.as_str())).then_some((ufrag.as_str(), pwd.as_str()))
    }
}

/// The session's `offer` as it stands after an ICE restart: the new credentials in place of
/// the old, the new candidates in place of any it had. Everything else (media, codecs, the
/// DTLS fingerprint) is unchanged, which is what a restart means.
pub(super) fn restarted_offer(
    offer: &str,
    (ufrag, pwd): (&str, &str),
    candidates: &[String],
) -> String {
    let mut lines: Vec<String> = Vec::new();
    let end_section = |lines: &mut Vec<String>, in_media: bool| {
        if in_media {
            lines.extend(candidates.iter().map(|c| format!("a={c}")));
        }
    };
    let mut in_media = false;
    for line in offer.lines().map(str::trim_end) {
        if line.starts_with("m=") {
            end_section(&mut lines, in_media);
            in_media = true;
        }
        if line.starts_with("a=ice-ufrag:") {
            lines.push(format!("a=ice-ufrag:{ufrag}"));
        } else if line.starts_with("a=ice-pwd:") {
            lines.push(format!("a=ice-pwd:{pwd}"));
        } else if !line.starts_with("a=candidate:")
            && line != "a=end-of-candidates"
            && !line.is_empty()
        {
            lines.push(line.to_owned());
        }
    }
    end_section(&mut lines, in_media);
    let mut sdp = lines.join("\r\n");
    sdp.push_str("\r\n");
    sdp
}

/// The fragment that answers an ICE restart (RFC 9725 §4.3.2): the server's new credentials
/// and its candidates, on the first media line of its `answer`.
pub(super) fn answer_fragment(answer: &str) -> String {
    let lines: Vec<&str> = answer.lines().map(str::trim_end).collect();
    let first = |prefix: &str| lines.iter().find(|line| line.starts_with(prefix)).copied();
    let mut fragment: Vec<&str> = Vec::new();
    fragment.extend(first("a=ice-lite"));
    fragment.extend(first("a=group:BUNDLE"));
    fragment.extend(first("m="));
    fragment.extend(first("a=mid:"));
    fragment.extend(first("a=ice-ufrag:"));
    fragment.extend(first("a=ice-pwd:"));
    let first_media = lines
        .iter()
        .skip_while(|line| !line.starts_with("m="))
        .enumerate()
        .take_while(|(at, line)| *at == 0 || !line.starts_with("m="))
        .map(|(_, line)| *line);
    fragment.extend(first_media.filter(|line| line.starts_with("a=candidate:")));
    fragment.push("a=end-of-candidates");
    let mut text = fragment.join("\r\n");
    text.push_str("\r\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\n\
        a=fingerprint:sha-256 AA\r\na=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n\
        a=end-of-candidates\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\n";

    #[test]
    fn trickled_candidates_are_read() {
        let fragment = Fragment::parse(
            "a=mid:0\r\na=candidate:1 1 udp 2 192.0.2.1 5000 typ host\r\na=end-of-candidates\r\n",
        )
        .unwrap();
        assert_eq!(fragment.credentials, None);
        assert_eq!(fragment.restart(OFFER), None);
        assert_eq!(
            fragment.candidates,
            ["candidate:1 1 udp 2 192.0.2.1 5000 typ host"]
        );
    }

    #[test]
    fn new_credentials_are_a_restart_and_must_come_in_pairs() {
        let fragment = Fragment::parse("a=ice-ufrag:new\r\na=ice-pwd:newpwd\r\n").unwrap();
        assert_eq!(fragment.restart(OFFER), Some(("new", "newpwd")));
        // The credentials in use name the ICE session of trickled candidates (RFC 8840).
        let trickle = Fragment::parse("a=ice-ufrag:old\r\na=ice-pwd:oldpwd\r\n").unwrap();
        assert_eq!(trickle.restart(OFFER), None);
        assert_eq!(
            Fragment::parse("a=ice-ufrag:new\r\n"),
            Err(FragmentError::HalfCredentials)
        );
    }

    #[test]
    fn a_restarted_offer_has_only_the_new_credentials_and_candidates() {
        let new = ["candidate:2 1 udp 3 192.0.2.9 6000 typ host".to_owned()];
        let offer = restarted_offer(OFFER, ("new", "newpwd"), &new);
        assert!(!offer.contains("old"), "{offer}");
        assert!(!offer.contains("10.0.0.1"), "{offer}");
        assert_eq!(offer.matches("a=ice-ufrag:new\r\n").count(), 2);
        assert_eq!(offer.matches("a=ice-pwd:newpwd\r\n").count(), 2);
        // Each media section gets the candidates, after its own lines.
        assert_eq!(offer.matches("192.0.2.9 6000").count(), 2, "{offer}");
        assert!(offer.contains("a=fingerprint:sha-256 AA\r\n"));
        assert!(offer.ends_with("typ host\r\n"), "{offer}");
    }

    #[test]
    fn the_answer_fragment_names_the_first_media_line() {
        let answer =
            "v=0\r\na=ice-lite\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
            a=mid:0\r\na=ice-ufrag:srv\r\na=ice-pwd:srvpwd\r\n\
            a=candidate:1 1 udp 9 192.0.2.5 3000 typ host\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n\
            a=candidate:1 1 udp 9 192.0.2.5 3000 typ host\r\n";
        assert_eq!(
            answer_fragment(answer),
            "a=ice-lite\r\na=group:BUNDLE 0 1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n\
             a=ice-ufrag:srv\r\na=ice-pwd:srvpwd\r\n\
             a=candidate:1 1 udp 9 192.0.2.5 3000 typ host\r\na=end-of-candidates\r\n"
        );
    }
}
