//! Limits against abuse and slow clients: join and ping deadlines, a viewer that does not read, the rate limit, Origin, per-IP and room caps.

use std::time::Duration;

use futures_util::SinkExt;
use onair::protocol::{ClientMessage, ErrorCode, Role, ServerMessage};
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::common::*;
use crate::rooms::*;
use ClientMessage as C;
use ServerMessage as S;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_joins_is_closed_with_1008() {
    let server = TestServer::start(&["--join-timeout-ms", "300"]).await;
    let mut member = server.join("lobby", Role::Viewer).await;
    let mut loiterer = server.connect("lobby").await;
    assert_eq!(expect_close(&mut loiterer, "loiterer").await, POLICY);

    // The deadline is for joining only: the member, connected earlier, is still served.
    member.send(C::WantStream).await;
    member.expect_error(ErrorCode::OutOfOrder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_answer_pings_is_dropped() {
    let server =
        TestServer::start(&["--ping-interval-ms", "100", "--idle-timeout-ms", "300"]).await;
    let mut broadcaster = server.join("pings", Role::Broadcaster).await;
    broadcaster.go_live().await;

    // This viewer reads all the time, so tungstenite answers every ping for it.
    let responsive = server.join("pings", Role::Viewer).await;
    let responsive_id = responsive.id;
    broadcaster.expect(S::ViewerCount { count: 1 }).await;
    let mut responsive_ws = responsive.ws;
    let reader = tokio::spawn(async move {
        let msg = recv(&mut responsive_ws, "responsive viewer").await;
        (responsive_ws, msg)
    });

    // This one never reads again, so it never answers a ping.
    let mut deaf = server.join("pings", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 2 }).await;
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 1 }, S::PeerLeft { peer: deaf.id }])
        .await;

    // The responsive viewer outlived it and is still served.
    broadcaster.send(C::Hangup { to: responsive_id }).await;
    let (_ws, msg) = timeout(STEP, reader)
        .await
        .expect("responsive viewer timed out")
        .expect("reader panicked");
    assert_eq!(
        msg,
        S::Hangup {
            from: broadcaster.id
        }
    );

    // The server pinged the deaf one and then closed it as going away. (Nobody reads the
    // others from here on, so they may be dropped too now.)
    let frames = raw_frames_until_eof(&mut deaf.ws).await;
    assert!(
        frames.iter().any(|(op, _)| *op == 0x9),
        "expected pings: {frames:?}"
    );
    let (op, payload) = frames.last().expect("frames before the close");
    assert_eq!(*op, 0x8, "the last frame is a close: {frames:?}");
    assert_eq!(close_code_of(payload), Some(GOING_AWAY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_does_not_read_is_cut_off_and_the_room_goes_on() {
    let server = TestServer::start(&["--messages-per-second", "1000000"]).await;
    let (mut broadcaster, mut viewers) = live_room(&server, "flood", 2).await;
    let mut reader = viewers.pop().expect("two viewers");
    let mut stalled = viewers.pop().expect("one viewer");

    // Candidates of about 1 KiB to the viewer that never reads, until the server drops it.
    let mut big = candidate("flood");
    big.candidate.push_str(&"x".repeat(900));
    let text = serde_json::to_string(&C::Candidate {
        to: stalled.id,
        candidate: big,
    })
    .expect("encode");
    let mut sent = 0;
    let mut dropped = false;
    while !dropped {
        assert!(
            sent < 300_000,
            "the stalled viewer was never dropped after {sent} messages"
        );
        for _ in 0..50 {
            broadcaster
                .ws
                .feed(Message::text(text.clone()))
                .await
                .expect("feed");
        }
        broadcaster.ws.flush().await.expect("flush");
        sent += 50;
        while let Some(event) = next_event(&mut broadcaster.ws, Duration::from_millis(1)).await {
            match event {
                Event::Msg(S::PeerLeft { peer }) if peer == stalled.id => dropped = true,
                Event::Msg(S::ViewerCount { count: 1 }) => {}
                Event::Msg(S::Error {
                    code: ErrorCode::NoSuchPeer,
                    ..
                }) => {}
                other => panic!("broadcaster: unexpected {other:?} after {sent} messages"),
            }
        }
    }

    // Refusals for candidates still in flight may follow. Asking to go live again (it is live)
    // is answered with `live` after all of them: a fence.
    broadcaster
        .send(C::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    loop {
        match broadcaster.recv().await {
            S::Live { .. } => break,
            S::ViewerCount { count: 1 }
            | S::Error {
                code: ErrorCode::NoSuchPeer,
                ..
            } => {}
            other => panic!("broadcaster: unexpected {other:?}"),
        }
    }

    // The other viewer and the broadcaster carry on.
    reader.send(C::WantStream).await;
    broadcaster.expect(S::WantStream { from: reader.id }).await;
    broadcaster
        .send(C::Offer {
            to: reader.id,
            sdp: "v=0".into(),
        })
        .await;
    reader
        .expect(S::Offer {
            from: broadcaster.id,
            sdp: "v=0".into(),
        })
        .await;
    round_trip(&mut broadcaster, &mut reader, "after-flood").await;

    // The stalled viewer's socket was closed: reading it now ends after what was buffered.
    let mut buffered = 0;
    loop {
        match next_event(&mut stalled.ws, STEP).await {
            Some(Event::Msg(S::Candidate { .. })) => buffered += 1,
            Some(Event::Close(_) | Event::Ended(_)) => break,
            other => panic!("stalled viewer: unexpected {other:?}"),
        }
    }
    assert!(buffered < sent, "it cannot have received everything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_over_the_rate_limit_is_refused_with_rate_limited() {
    let server = TestServer::start(&["--messages-per-second", "5"]).await;
    let mut broadcaster = server.join("calm", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut viewer = server.join("calm", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 1 }).await;

    for n in 0..50 {
        let msg = C::Candidate {
            to: broadcaster.id,
            candidate: candidate(&n.to_string()),
        };
        let text = serde_json::to_string(&msg).expect("encode");
        viewer.ws.feed(Message::text(text)).await.expect("feed");
    }
    viewer.ws.flush().await.expect("flush");
    let message = viewer.expect_error(ErrorCode::RateLimited).await;
    assert!(message.contains('5'), "the error says the limit: {message}");
    viewer.expect_quiet().await;

    // Only some got through, the first among them.
    let mut relayed = Vec::new();
    while let Some(event) = next_event(&mut broadcaster.ws, QUIET).await {
        match event {
            Event::Msg(S::Candidate { from, candidate }) if from == viewer.id => {
                relayed.push(candidate.candidate);
            }
            other => panic!("broadcaster: unexpected {other:?}"),
        }
    }
    assert!(
        !relayed.is_empty() && relayed.len() < 50,
        "{} of 50 relayed",
        relayed.len()
    );
    assert_eq!(relayed[0], candidate("0").candidate);

    // The connection stays open; once the bucket refills, messages flow again.
    sleep(Duration::from_millis(1200)).await;
    viewer.send(C::WantStream).await;
    broadcaster.expect(S::WantStream { from: viewer.id }).await;

    // A client that keeps flooding far past the limit is closed.
    let mut flooder = server.join("calm", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 2 }).await;
    for _ in 0..300 {
        let text = serde_json::to_string(&C::WantStream).expect("encode");
        flooder.ws.feed(Message::text(text)).await.expect("feed");
    }
    flooder.ws.flush().await.expect("flush");
    flooder.expect_error(ErrorCode::RateLimited).await;
    // (Should a token refill mid-flood, the count starts over with another warning.)
    loop {
        match next_event(&mut flooder.ws, STEP).await {
            Some(Event::Msg(S::Error {
                code: ErrorCode::RateLimited,
                ..
            })) => {}
            Some(Event::Close(code)) => {
                assert_eq!(code, Some(POLICY));
                break;
            }
            other => panic!("flooder: unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_sites_own_origin_or_an_allowed_one_may_open_the_socket() {
    let server = TestServer::start(&["--allow-origin", "https://studio.example"]).await;
    let status = |result: Result<Ws, tungstenite::Error>| match result {
        Ok(_) => 101,
        Err(tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(err) => panic!("unexpected handshake error: {err}"),
    };

    let evil = server
        .try_connect("o", &[("origin", "http://evil.example")])
        .await;
    assert_eq!(status(evil), 403);
    let lookalike = format!("http://{}.evil.example", server.addr);
    assert_eq!(
        status(server.try_connect("o", &[("origin", &lookalike)]).await),
        403
    );

    let own = format!("http://{}", server.addr);
    let ws = server
        .try_connect("o", &[("origin", &own)])
        .await
        .expect("same origin");
    Peer::join(ws, "o", Role::Viewer).await;
    let ws = server
        .try_connect("o", &[("origin", "https://studio.example")])
        .await
        .expect("allowed origin");
    Peer::join(ws, "o", Role::Viewer).await;
    let ws = server
        .try_connect("o", &[])
        .await
        .expect("no origin (not a browser)");
    Peer::join(ws, "o", Role::Broadcaster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_per_ip_are_capped_with_429() {
    let server = TestServer::start(&["--max-connections-per-ip", "2"]).await;
    let first = server.join("crowd", Role::Viewer).await;
    let _second = server.connect("crowd").await;
    match server.try_connect("crowd", &[]).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 429),
        Ok(_) => panic!("a third connection from one address was accepted"),
        Err(err) => panic!("unexpected handshake error: {err}"),
    }

    // Closing one frees its slot (once the server has noticed).
    first.leave().await;
    let mut attempts = 0;
    loop {
        match server.try_connect("crowd", &[]).await {
            Ok(ws) => {
                Peer::join(ws, "crowd", Role::Viewer).await;
                break;
            }
            Err(tungstenite::Error::Http(response)) if response.status().as_u16() == 429 => {
                attempts += 1;
                assert!(attempts < 100, "the slot was never freed");
                sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("unexpected handshake error: {err}"),
        }
    }
}

/// A whole office behind one address may watch, but one address cannot hold open a pile of
/// sockets that never join: those have a tighter cap of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_waiting_to_join_have_a_tighter_cap_than_joined_ones() {
    let server =
        TestServer::start(&["--max-connections-per-ip", "5", "--max-pending-per-ip", "2"]).await;
    let idle = [
        server.connect("office").await,
        server.connect("office").await,
    ];
    let refused = |result: Result<Ws, tungstenite::Error>| match result {
        Err(tungstenite::Error::Http(response)) => response.status().as_u16() == 429,
        _ => false,
    };
    assert!(
        refused(server.try_connect("office", &[]).await),
        "a third idle connection was accepted"
    );
    // Joined connections do not count as waiting: the crowd grows to the address's cap.
    drop(idle);
    let mut joined = Vec::new();
    for _ in 0..5 {
        let mut attempts = 0;
        loop {
            match server.try_connect("office", &[]).await {
                Ok(ws) => {
                    joined.push(Peer::join(ws, "office", Role::Viewer).await);
                    break;
                }
                // The two idle sockets are freed once the server has noticed they closed.
                Err(tungstenite::Error::Http(response)) if response.status().as_u16() == 429 => {
                    attempts += 1;
                    assert!(attempts < 100, "a slot was never freed");
                    sleep(Duration::from_millis(50)).await;
                }
                Err(err) => panic!("unexpected handshake error: {err}"),
            }
        }
    }
    assert!(
        refused(server.try_connect("office", &[]).await),
        "a sixth connection from one address was accepted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_room_cap_refuses_a_new_room_with_server_full() {
    let server = TestServer::start(&["--max-rooms", "1"]).await;
    let first = server.join("only", Role::Broadcaster).await;
    let same_room = server.join("only", Role::Viewer).await;

    let mut other = server.connect("another").await;
    send(&mut other, &C::join(Role::Viewer)).await;
    expect_error(&mut other, ErrorCode::ServerFull, "another room").await;
    assert_eq!(expect_close(&mut other, "another room").await, POLICY);
    drop(first);
    drop(same_room);

    // Once the only room is empty it is gone and another can take its place.
    let mut attempts = 0;
    loop {
        let mut ws = server.connect("another").await;
        send(&mut ws, &C::join(Role::Viewer)).await;
        match recv(&mut ws, "another room").await {
            S::Welcome { .. } => break,
            S::Error {
                code: ErrorCode::ServerFull,
                ..
            } => {
                attempts += 1;
                assert!(attempts < 100, "the empty room was never removed");
                sleep(Duration::from_millis(50)).await;
            }
            other => panic!("another room: unexpected {other:?}"),
        }
    }
}
