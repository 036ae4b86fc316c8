//! Small edits the talk page makes to a viewer's answer before applying it. Plain text in, text
//! out, so that the native unit tests below check them.

/// The bit rate a new connection's video starts at, in kbit/s (Chromium starts at 300).
///
/// At 300 kbit/s the first key frame reaches the viewer 30–40 ms after it is encoded, because
/// the sender paces its packets at the estimated rate; at 1,000 kbit/s, 15–25 ms (measured
/// here with the fake camera; BENCHMARKS.md, fifth round). The estimate then follows the real
/// link as usual. 1 Mbit/s is what a LAN or any home uplink carries at once; a slower path
/// loses some packets of the first second and the estimate drops to match it.
pub const START_KBPS: u32 = 1_000;

/// Codecs that carry no picture of their own: a start rate on them means nothing.
const NOT_PICTURE: [&str; 4] = ["rtx", "red", "ulpfec", "flexfec-03"];

/// `sdp` with `x-google-start-bitrate=<kbps>` on every video codec of its video sections: a
/// Chromium sender reads it from the remote description (other browsers ignore the unknown
/// parameter). Codecs without an `a=fmtp` line get one after their `a=rtpmap`; a codec that
/// already names a start rate keeps it.
pub fn with_start_bitrate(sdp: &str, kbps: u32) -> String {
    if !sdp.ends_with("\r\n") {
        // Not SDP as browsers write it (CRLF lines): applied as it came.
        return sdp.to_owned();
    }
    let param = format!("x-google-start-bitrate={kbps}");
    let lines: Vec<&str> = sdp.split_terminator("\r\n").collect();
    let mut out = String::with_capacity(sdp.len() + 256);
    let mut section_start = 0;
    for end in 1..=lines.len() {
        if end == lines.len() || lines[end].starts_with("m=") {
            add_to_section(&lines[section_start..end], &param, &mut out);
            section_start = end;
        }
    }
    out
}

/// One section (from its `m=` line, or the session part) into `out`, changed if it is video.
fn add_to_section(section: &[&str], param: &str, out: &mut String) {
    let is_video = section
        .first()
        .is_some_and(|line| line.starts_with("m=video "));
    let picture_codecs: Vec<&str> = if is_video {
        section
            .iter()
            .filter_map(|line| rtpmap(line))
            .filter(|(_, name)| !NOT_PICTURE.iter().any(|n| n.eq_ignore_ascii_case(name)))
            .map(|(pt, _)| pt)
            .collect()
    } else {
        Vec::new()
    };
    if picture_codecs.is_empty() {
        for line in section {
            out.push_str(line);
            out.push_str("\r\n");
        }
        return;
    }
    let with_fmtp: Vec<&str> = section
        .iter()
        .filter_map(|line| fmtp(line))
        .map(|(pt, _)| pt)
        .collect();
    for line in section {
        out.push_str(line);
        if let Some((pt, params)) = fmtp(line) {
            if picture_codecs.contains(&pt) && !params.contains("x-google-start-bitrate") {
                out.push(';');
                out.push_str(param);
            }
        }
        out.push_str("\r\n");
        if let Some((pt, _)) = rtpmap(line) {
            if picture_codecs.contains(&pt) && !with_fmtp.contains(&pt) {
                out.push_str("a=fmtp:");
                out.push_str(pt);
                out.push(' ');
                out.push_str(param);
                out.push_str("\r\n");
            }
        }
    }
}

/// `a=rtpmap:<pt> <name>/<clock>...` as (pt, name).
fn rtpmap(line: &str) -> Option<(&str, &str)> {
    let (pt, codec) = line.strip_prefix("a=rtpmap:")?.split_once(' ')?;
    Some((pt, codec.split('/').next()?))
}

/// `a=fmtp:<pt> <parameters>` as (pt, parameters).
fn fmtp(line: &str) -> Option<(&str, &str)> {
    line.strip_prefix("a=fmtp:")?.split_once(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "v=0\r\n\
        o=- 1 2 IN IP4 127.0.0.1\r\n\
        s=-\r\n\
        t=0 0\r\n\
        a=group:BUNDLE 0 1\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
        a=mid:0\r\n\
        a=rtpmap:111 opus/48000/2\r\n\
        a=fmtp:111 minptime=10;useinbandfec=1\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101\r\n\
        a=mid:1\r\n\
        a=rtpmap:96 H264/90000\r\n\
        a=rtcp-fb:96 nack\r\n\
        a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n\
        a=rtpmap:97 rtx/90000\r\n\
        a=fmtp:97 apt=96\r\n\
        a=rtpmap:98 VP8/90000\r\n\
        a=rtcp-fb:98 nack\r\n\
        a=rtpmap:99 rtx/90000\r\n\
        a=fmtp:99 apt=98\r\n\
        a=rtpmap:100 red/90000\r\n\
        a=rtpmap:101 ulpfec/90000\r\n";

    #[test]
    fn every_video_codec_gets_the_start_rate_and_nothing_else_changes() {
        let out = with_start_bitrate(ANSWER, 1000);
        let expected = ANSWER
            .replace(
                "profile-level-id=42e01f\r\n",
                "profile-level-id=42e01f;x-google-start-bitrate=1000\r\n",
            )
            .replace(
                "a=rtpmap:98 VP8/90000\r\n",
                "a=rtpmap:98 VP8/90000\r\na=fmtp:98 x-google-start-bitrate=1000\r\n",
            );
        assert_eq!(out, expected);
    }

    #[test]
    fn audio_retransmission_and_a_rate_already_set_are_left_alone() {
        let out = with_start_bitrate(ANSWER, 1000);
        assert!(out.contains("a=fmtp:111 minptime=10;useinbandfec=1\r\n"));
        assert!(out.contains("a=fmtp:97 apt=96\r\n"));
        assert!(!out.contains("a=fmtp:100"));
        assert_eq!(with_start_bitrate(&out, 2000), out);
    }

    #[test]
    fn text_without_video_is_returned_unchanged() {
        let audio_only = ANSWER.split("m=video").next().unwrap_or_default();
        assert_eq!(with_start_bitrate(audio_only, 1000), audio_only);
        assert_eq!(with_start_bitrate("", 1000), "");
        let lf_only = ANSWER.replace("\r\n", "\n");
        assert_eq!(with_start_bitrate(&lf_only, 1000), lf_only);
    }
}
