//! The media relay end to end: str0m clients as the broadcaster and the viewers, over real
//! WebRTC (ICE, DTLS, SRTP) through a real server's UDP port on loopback.

use std::time::Duration;

use onair::protocol::{ClientMessage as C, ErrorCode, Role, ServerMessage as S, RELAY_ID};
use str0m::media::MediaKind;
use tokio::{net::UdpSocket, time::Instant};

use crate::{
    common::{http_get, Peer, TestServer, QUIET, STEP},
    media_peer::{MediaPeer, Seen, Video},
};

async fn relay_server() -> TestServer {
    TestServer::start(&["--media", "sfu"]).await
}

/// The next message that is not a viewer count.
async fn next_not_count(peer: &mut Peer) -> S {
    loop {
        match peer.recv().await {
            S::ViewerCount { .. } => {}
            other => return other,
        }
    }
}

/// A broadcaster on air whose stream reaches the relay: the relay asks for it (with sound),
/// answers its offer, and ICE and DTLS complete.
pub async fn publisher(server: &TestServer, room: &str) -> (Peer, MediaPeer) {
    let mut broadcaster = server.join(room, Role::Broadcaster).await;
    broadcaster.go_live().await;
    publish(broadcaster).await
}

/// The broadcaster's stream, once it is on air: asked for by the relay, offered, connected.
pub async fn publish(mut broadcaster: Peer) -> (Peer, MediaPeer) {
    assert_eq!(
        next_not_count(&mut broadcaster).await,
        S::WantStream { from: RELAY_ID }
    );
    assert_eq!(
        next_not_count(&mut broadcaster).await,
        S::Audio {
            from: RELAY_ID,
            on: true
        }
    );
    let (offer, finish) = MediaPeer::publish().await;
    broadcaster
        .send(C::Offer {
            to: RELAY_ID,
            sdp: offer,
        })
        .await;
    let answer = match next_not_count(&mut broadcaster).await {
        S::Answer { from, sdp } if from == RELAY_ID => sdp,
        other => panic!("publisher: expected the relay's answer, got {other:?}"),
    };
    let mut media = finish(answer);
    media
        .wait_for("publisher", |seen| *seen == Seen::Connected)
        .await;
    (broadcaster, media)
}

/// A viewer that asked for the stream and answered the relay's offer.
pub async fn viewer(server: &TestServer, room: &str) -> (Peer, MediaPeer) {
    watch(server.join(room, Role::Viewer).await).await
}

/// A joined viewer asks for the stream and answers the relay's offer.
pub async fn watch(mut viewer: Peer) -> (Peer, MediaPeer) {
    viewer.send(C::WantStream).await;
    let offer = match viewer.recv().await {
        S::Offer { from, sdp } if from == RELAY_ID => sdp,
        other => panic!("viewer: expected the relay's offer, got {other:?}"),
    };
    let (answer, media) = MediaPeer::answer(&offer).await;
    viewer
        .send(C::Answer {
            to: RELAY_ID,
            sdp: answer,
        })
        .await;
    (viewer, media)
}

pub fn is_video(seen: &Seen) -> bool {
    matches!(
        seen,
        Seen::Frame {
            kind: MediaKind::Video,
            ..
        }
    )
}

pub fn is_audio(seen: &Seen) -> bool {
    matches!(
        seen,
        Seen::Frame {
            kind: MediaKind::Audio,
            ..
        }
    )
}

/// A key frame comes (the relay asks the broadcaster for one when a viewer starts; a frame
/// before it can only be one whose start was lost while the connection came up), and more
/// frames follow.
pub async fn expect_picture(media: &mut MediaPeer, who: &str) {
    media
        .wait_for(who, |seen| {
            *seen
                == Seen::Frame {
                    kind: MediaKind::Video,
                    keyframe: true,
                }
        })
        .await;
    for _ in 0..5 {
        media.wait_for(who, is_video).await;
    }
}

/// A figure from `/metrics`, by its full name.
async fn metric(server: &TestServer, name: &str) -> f64 {
    metric_at(server.addr, name).await
}

/// A figure from `/metrics` of the server at `addr`, by its full name.
pub async fn metric_at(addr: std::net::SocketAddr, name: &str) -> f64 {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{body}"))
}

/// Wait (bounded by [`STEP`]) until the figure `name` is `want`.
pub async fn expect_metric(server: &TestServer, name: &str, want: f64) {
    let deadline = Instant::now() + STEP;
    loop {
        let got = metric(server, name).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A muted viewer: up to its next video frame, no sound came.
async fn expect_no_sound_so_far(media: &mut MediaPeer, who: &str) {
    media.wait_for(who, is_video).await;
    assert!(
        !media.drain().iter().any(is_audio),
        "{who} is muted and got sound"
    );
}

#[tokio::test]
async fn a_publisher_reaches_three_viewers_and_only_an_unmuted_one_gets_sound() {
    let server = relay_server().await;
    let (_broadcaster, _publishing) = publisher(&server, "three").await;
    let mut viewers = Vec::new();
    for i in 0..3 {
        let (peer, mut media) = viewer(&server, "three").await;
        expect_picture(&mut media, &format!("viewer {i}")).await;
        viewers.push((peer, media));
    }
    // Muted pages (every page starts muted) get no audio packets at all.
    for (i, (_, media)) in viewers.iter_mut().enumerate() {
        expect_no_sound_so_far(media, &format!("viewer {i}")).await;
    }
    let (first, media) = &mut viewers[0];
    first
        .send(C::Audio {
            to: RELAY_ID,
            on: true,
        })
        .await;
    media.wait_for("unmuted viewer", is_audio).await;
    // The others stay without sound.
    for (i, (_, media)) in viewers.iter_mut().enumerate().skip(1) {
        expect_no_sound_so_far(media, &format!("viewer {i}")).await;
    }
    let (first, media) = &mut viewers[0];
    first
        .send(C::Audio {
            to: RELAY_ID,
            on: false,
        })
        .await;
    // Muted again: once the request and the frames in flight are through, video comes and
    // sound does not (five video frames, ten audio frames' time, in a row without sound).
    let deadline = Instant::now() + STEP;
    loop {
        media.drain();
        for _ in 0..5 {
            media.wait_for("muted again", is_video).await;
        }
        if !media.drain().iter().any(is_audio) {
            break;
        }
        assert!(Instant::now() < deadline, "muted again, and sound goes on");
    }
}

#[tokio::test]
async fn a_viewer_starting_asks_the_publisher_for_a_key_frame() {
    let server = relay_server().await;
    let (_broadcaster, mut publishing) = publisher(&server, "keyframe").await;
    // The relay asks once the ingest's video is known; let that pass.
    publishing
        .wait_for("publisher", |seen| *seen == Seen::KeyframeRequest)
        .await;
    let requests_before = metric(&server, "onair_relay_keyframe_requests_total").await;
    let (_viewer, mut watching) = viewer(&server, "keyframe").await;
    publishing
        .wait_for("publisher", |seen| *seen == Seen::KeyframeRequest)
        .await;
    expect_picture(&mut watching, "viewer").await;
    assert!(metric(&server, "onair_relay_keyframe_requests_total").await > requests_before);
}

/// A viewer whose browser cannot decode the broadcast's codec (Firefox without H.264, say) is
/// told so, with the codec's name; a viewer beside it plays.
#[tokio::test]
async fn a_viewer_that_cannot_decode_the_codec_is_told_which() {
    let server = relay_server().await;
    let (_broadcaster, _publishing) = publisher(&server, "codec").await;
    let mut refused = server.join("codec", Role::Viewer).await;
    refused.send(C::WantStream).await;
    let offer = match refused.recv().await {
        S::Offer { from, sdp } if from == RELAY_ID => sdp,
        other => panic!("viewer: expected the relay's offer, got {other:?}"),
    };
    let (answer, _refused_media) = MediaPeer::answer_with(&offer, None, Video::H264).await;
    refused
        .send(C::Answer {
            to: RELAY_ID,
            sdp: answer,
        })
        .await;
    let (code, message) = loop {
        match refused.recv().await {
            S::Error { code, message } => break (code, message),
            S::Candidate { .. } | S::ViewerCount { .. } => {}
            other => panic!("viewer: expected an error, got {other:?}"),
        }
    };
    assert_eq!(code, ErrorCode::UnsupportedCodec);
    assert!(message.contains("Vp8"), "{message}");
    let (_other, mut playing) = viewer(&server, "codec").await;
    expect_picture(&mut playing, "the other viewer").await;
}

#[tokio::test]
async fn a_viewer_leaving_frees_its_peer_and_the_broadcast_ending_frees_the_rest() {
    let server = relay_server().await;
    let (broadcaster, _publishing) = publisher(&server, "leave").await;
    let (first, mut first_media) = viewer(&server, "leave").await;
    let (_second, mut second_media) = viewer(&server, "leave").await;
    expect_picture(&mut first_media, "first viewer").await;
    expect_picture(&mut second_media, "second viewer").await;
    expect_metric(&server, "onair_relay_peers", 3.0).await;
    first.leave().await;
    expect_metric(&server, "onair_relay_peers", 2.0).await;
    // The other viewer does not notice.
    for _ in 0..5 {
        second_media.wait_for("second viewer", is_video).await;
    }
    broadcaster.leave().await;
    expect_metric(&server, "onair_relay_peers", 0.0).await;
    expect_metric(&server, "onair_relay_rooms", 0.0).await;
    expect_metric(&server, "onair_relay_sources", 0.0).await;
}

/// A viewer whose link loses every 7th packet still gets every frame (the relay resends what
/// it NACKs), and the viewer beside it on a good link notices nothing.
#[tokio::test]
async fn a_lossy_viewer_is_repaired_and_the_other_does_not_notice() {
    let server = relay_server().await;
    let (_broadcaster, _publishing) = publisher(&server, "lossy").await;
    let mut lossy = server.join("lossy", Role::Viewer).await;
    lossy.send(C::WantStream).await;
    let offer = match lossy.recv().await {
        S::Offer { from, sdp } if from == RELAY_ID => sdp,
        other => panic!("lossy viewer: expected the relay's offer, got {other:?}"),
    };
    let (answer, mut lossy_media) = MediaPeer::answer_dropping(&offer, Some(7)).await;
    lossy
        .send(C::Answer {
            to: RELAY_ID,
            sdp: answer,
        })
        .await;
    let (_clean, mut clean_media) = viewer(&server, "lossy").await;
    for (media, who) in [(&mut lossy_media, "lossy"), (&mut clean_media, "clean")] {
        expect_picture(media, who).await;
        // 60 frames in a row (2 s), each of 2-3 packets: without repair about every third
        // would be missing on the lossy link.
        let first = next_index(media, who).await;
        for expected in first + 1..first + 60 {
            assert_eq!(
                next_index(media, who).await,
                expected,
                "{who}: a frame is missing"
            );
        }
    }
}

async fn next_index(media: &mut MediaPeer, who: &str) -> u32 {
    match media
        .wait_for(who, |seen| matches!(seen, Seen::Index(_)))
        .await
    {
        Seen::Index(index) => index,
        other => panic!("{who}: {other:?}"),
    }
}

#[tokio::test]
async fn unknown_udp_gets_no_reply_and_a_flood_of_it_does_not_stop_the_broadcast() {
    let server = relay_server().await;
    let (_broadcaster, _publishing) = publisher(&server, "flood").await;
    let (_viewer, mut watching) = viewer(&server, "flood").await;
    expect_picture(&mut watching, "viewer").await;

    let junk = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let relay = std::net::SocketAddr::from(([127, 0, 0, 1], server.addr.port()));
    // A STUN binding request for a ufrag nobody was given, DTLS and RTP look-alikes, noise.
    let mut stun = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun.extend_from_slice(&[7; 12]);
    stun.extend_from_slice(&[0x00, 0x06, 0x00, 0x08]);
    stun.extend_from_slice(b"nobody:x");
    let shapes: [Vec<u8>; 4] = [stun, vec![22; 100], vec![0x80; 1200], vec![0xff; 7]];
    for round in 0..5_000 {
        for shape in &shapes {
            let _ = junk.send_to(shape, relay).await;
        }
        if round % 500 == 0 {
            // The broadcast goes on during the flood.
            watching.wait_for("viewer during the flood", is_video).await;
        }
    }
    let mut reply = [0u8; 64];
    assert!(
        tokio::time::timeout(QUIET, junk.recv_from(&mut reply))
            .await
            .is_err(),
        "the relay answered junk"
    );
    assert!(metric(&server, "onair_relay_unknown_datagrams_total").await > 0.0);
    watching.drain();
    for _ in 0..10 {
        watching.wait_for("viewer after the flood", is_video).await;
    }
    assert_eq!(metric(&server, "onair_relay_peers").await, 2.0);
}
