//! Bad input gets a clear error and harms nobody else: size limits, malformed messages, repeated violations, garbage floods.

use futures_util::{SinkExt, StreamExt};
use onair::protocol::{ClientMessage, ErrorCode, Role, ServerMessage, MAX_SDP_BYTES};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;
use crate::rooms::*;
use ClientMessage as C;
use ServerMessage as S;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_64_kib_closes_with_1009() {
    let server = TestServer::start(&[]).await;
    let (mut broadcaster, mut viewers) = live_room(&server, "sizes", 1).await;
    let mut viewer = viewers.pop().expect("a viewer");

    let big = server.join("sizes", Role::Viewer).await;
    let big_id = big.id;
    broadcaster.expect(S::ViewerCount { count: 2 }).await;
    // Well-formed JSON, 1 MiB: the size limit applies before any parsing.
    let huge = serde_json::to_string(&C::Answer {
        to: broadcaster.id,
        sdp: "a".repeat(1 << 20),
    })
    .expect("encode");
    let (mut sink, mut stream) = big.ws.split();
    // The server stops reading mid-message, so the write may block or fail: do it aside.
    let writer = tokio::spawn(async move { sink.send(Message::text(huge)).await });
    assert_eq!(expect_close(&mut stream, "sender of 1 MiB").await, TOO_BIG);
    writer.abort();

    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 1 }, S::PeerLeft { peer: big_id }])
        .await;
    round_trip(&mut broadcaster, &mut viewer, "after-big").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_over_their_own_limits_are_bad_messages() {
    let server = TestServer::start(&[]).await;
    let (mut broadcaster, mut viewers) = live_room(&server, "fields", 1).await;
    let mut viewer = viewers.pop().expect("a viewer");

    // An SDP over 32 KiB in a message under 64 KiB.
    let too_long = "a".repeat(MAX_SDP_BYTES + 1);
    broadcaster
        .send(C::Offer {
            to: viewer.id,
            sdp: too_long.clone(),
        })
        .await;
    broadcaster.expect_error(ErrorCode::BadMessage).await;
    viewer
        .send(C::Answer {
            to: broadcaster.id,
            sdp: too_long,
        })
        .await;
    viewer.expect_error(ErrorCode::BadMessage).await;
    // A candidate line over 1 KiB, a key over 256 bytes.
    let mut long = candidate("long");
    long.candidate.push_str(&"x".repeat(1024));
    broadcaster
        .send(C::Candidate {
            to: viewer.id,
            candidate: long,
        })
        .await;
    broadcaster.expect_error(ErrorCode::BadMessage).await;
    broadcaster
        .send(C::GoLive {
            key: Some("k".repeat(257)),
            reclaim: None,
        })
        .await;
    broadcaster.expect_error(ErrorCode::BadMessage).await;

    // Nothing was relayed; an SDP of exactly the limit is.
    let at_limit = "a".repeat(MAX_SDP_BYTES);
    broadcaster
        .send(C::Offer {
            to: viewer.id,
            sdp: at_limit.clone(),
        })
        .await;
    viewer
        .expect(S::Offer {
            from: broadcaster.id,
            sdp: at_limit,
        })
        .await;
    round_trip(&mut broadcaster, &mut viewer, "after-fields").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_out_of_order_messages_get_clear_errors() {
    let server = TestServer::start(&[]).await;
    let (mut broadcaster, _viewers) = live_room(&server, "strict", 0).await;

    // Before joining: only `join` is accepted.
    let mut early = server.connect("strict").await;
    send(&mut early, &C::WantStream).await;
    expect_error(&mut early, ErrorCode::NotJoined, "not yet joined").await;
    let mut viewer = Peer::join(early, "strict", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 1 }).await;

    let bad_message = [
        "this is not JSON",
        "{\"type\":\"want_stream\"",
        "{\"type\":\"teleport\",\"to\":1}",
        "{\"type\":\"candidate\",\"to\":\"seven\",\"candidate\":{\"candidate\":\"c\"}}",
        "{\"type\":\"answer\",\"to\":1}",
        "{\"type\":\"join\",\"role\":\"admin\"}",
    ];
    for text in bad_message {
        viewer.send_raw(text).await;
        let message = viewer.expect_error(ErrorCode::BadMessage).await;
        assert!(
            message.starts_with("not a valid message"),
            "{text}: {message}"
        );
    }
    // Binary frames are not the protocol either. (Eight violations so far: still open.)
    viewer
        .ws
        .send(Message::binary(vec![1u8, 2, 3]))
        .await
        .expect("send binary");
    viewer.expect_error(ErrorCode::BadMessage).await;

    // Well-formed but out of order, or to nobody: refused, not counted as violations.
    viewer
        .send(C::Answer {
            to: broadcaster.id,
            sdp: "v=0".into(),
        })
        .await;
    viewer.expect_error(ErrorCode::OutOfOrder).await;
    for _ in 0..5 {
        viewer
            .send(C::Candidate {
                to: 999_999,
                candidate: candidate("lost"),
            })
            .await;
        viewer.expect_error(ErrorCode::NoSuchPeer).await;
    }
    broadcaster.send(C::Hangup { to: 999_999 }).await;
    broadcaster.expect_error(ErrorCode::NoSuchPeer).await;

    // Still connected and working.
    viewer.send(C::WantStream).await;
    broadcaster.expect(S::WantStream { from: viewer.id }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_protocol_violations_close_with_1002() {
    let server = TestServer::start(&[]).await;
    let mut viewer = server.join("rude", Role::Viewer).await;
    for n in 0..10 {
        viewer.send_raw(&format!("garbage {n}")).await;
    }
    for _ in 0..10 {
        viewer.expect_error(ErrorCode::BadMessage).await;
    }
    assert_eq!(viewer.expect_close().await, PROTOCOL_ERROR);

    // Role violations count the same way.
    let mut other = server.join("rude", Role::Viewer).await;
    for _ in 0..10 {
        other.send(C::OffAir).await;
    }
    for _ in 0..10 {
        other.expect_error(ErrorCode::NotAllowed).await;
    }
    assert_eq!(other.expect_close().await, PROTOCOL_ERROR);
}

/// Frames a client might throw at the server; none is a valid message.
const GARBAGE: [&str; 9] = [
    "",
    "garbage",
    "{",
    "null",
    "[1,2,3]",
    "{\"type\":\"dance\"}",
    "{\"type\":\"join\",\"role\":\"admin\"}",
    "{\"type\":\"offer\",\"to\":\"x\",\"sdp\":1}",
    "{\"to\":1}",
];

/// One connection sends `frames` garbage frames at once and must end up closed.
async fn blast(server_url: String, frames: usize) {
    let (ws, _) = timeout(STEP, tokio_tungstenite::connect_async(server_url))
        .await
        .expect("connect timed out")
        .expect("connect");
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        for n in 0..frames {
            let frame = if n % 10 == 9 {
                Message::binary(vec![0xff; 16])
            } else {
                Message::text(GARBAGE[n % GARBAGE.len()])
            };
            if sink.feed(frame).await.is_err() {
                return;
            }
        }
        let _ = sink.flush().await;
    });
    // Ten errors, then the close; a client still writing may see the socket reset instead.
    let mut errors = 0;
    loop {
        match next_event(&mut stream, STEP).await {
            Some(Event::Msg(S::Error {
                code: ErrorCode::BadMessage,
                ..
            })) => errors += 1,
            Some(Event::Close(code)) => {
                assert_eq!(code, Some(PROTOCOL_ERROR));
                assert_eq!(errors, 10);
                break;
            }
            Some(Event::Ended(_)) if frames > 10 => break,
            other => panic!("garbage sender: unexpected {other:?}"),
        }
    }
    writer.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_garbage_frames_do_not_disturb_another_room() {
    let server = TestServer::start(&[
        "--messages-per-second",
        "100000",
        "--max-connections-per-ip",
        "1000",
    ])
    .await;
    let (mut broadcaster, mut viewers) = live_room(&server, "steady", 1).await;
    let mut viewer = viewers.pop().expect("a viewer");

    // One client tries to send 10,000 at once (the server cuts it off after ten); then 10,000
    // more are spread over a thousand connections of ten each, ten connections at a time.
    let url = server.url("noise");
    let flood = tokio::spawn(async move {
        blast(url.clone(), 10_000).await;
        let workers: Vec<_> = (0..10)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move {
                    for _ in 0..100 {
                        blast(url.clone(), 10).await;
                    }
                })
            })
            .collect();
        for worker in workers {
            worker.await.expect("a garbage worker panicked");
        }
    });

    let mut rounds = 0;
    while !flood.is_finished() {
        round_trip(&mut broadcaster, &mut viewer, &rounds.to_string()).await;
        rounds += 1;
    }
    flood.await.expect("the garbage flood panicked");
    assert!(rounds > 0);
    round_trip(&mut broadcaster, &mut viewer, "after").await;
    broadcaster.expect_quiet().await;
    viewer.expect_quiet().await;
    assert_eq!(http_get(server.addr, "/healthz").await, (200, "ok".into()));
}
