//! A broadcast from start to end: one broadcaster on air, the viewer cap, going live and off air, a dropped broadcaster taking its room back, a whole room joining at once.

use onair::protocol::{ClientMessage, ErrorCode, OffAirReason, Role, ServerMessage};

use crate::common::*;
use crate::rooms::*;
use ClientMessage as C;
use ServerMessage as S;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_has_one_broadcaster_on_air() {
    let server = TestServer::start(&[]).await;
    let mut first = server.join("solo", Role::Broadcaster).await;
    first.go_live().await;
    let mut second = server.join("solo", Role::Broadcaster).await;
    assert_eq!(second.on_air, Some(first.id));

    second
        .send(C::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    second.expect_error(ErrorCode::AlreadyLive).await;

    let mut viewer = server.join("solo", Role::Viewer).await;
    assert_eq!(viewer.on_air, Some(first.id));
    first.expect(S::ViewerCount { count: 1 }).await;
    second.expect(S::ViewerCount { count: 1 }).await;

    // The first keeps relaying; the second reaches nobody.
    viewer.send(C::WantStream).await;
    first.expect(S::WantStream { from: viewer.id }).await;
    first
        .send(C::Offer {
            to: viewer.id,
            sdp: "v=0".into(),
        })
        .await;
    viewer
        .expect(S::Offer {
            from: first.id,
            sdp: "v=0".into(),
        })
        .await;
    second
        .send(C::Offer {
            to: viewer.id,
            sdp: "v=1".into(),
        })
        .await;
    second.expect_error(ErrorCode::NotAllowed).await;
    second
        .send(C::Candidate {
            to: viewer.id,
            candidate: candidate("2nd"),
        })
        .await;
    second.expect_error(ErrorCode::NoSuchPeer).await;
    viewer
        .send(C::Answer {
            to: first.id,
            sdp: "v=0".into(),
        })
        .await;
    first
        .expect(S::Answer {
            from: viewer.id,
            sdp: "v=0".into(),
        })
        .await;
    round_trip(&mut first, &mut viewer, "first").await;
    second.expect_quiet().await;

    // Once the first goes off air (by choice, so no reclaim hold), the second may go live.
    first.send(C::OffAir).await;
    viewer
        .expect(S::OffAir {
            reason: OffAirReason::Stopped,
        })
        .await;
    second.go_live().await;
    viewer
        .expect(S::OnAir {
            broadcaster: second.id,
        })
        .await;
    first
        .send(C::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    first.expect_error(ErrorCode::AlreadyLive).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_the_next_viewer_with_room_full_and_4001() {
    let server = TestServer::start(&["--max-viewers", "2"]).await;
    let (mut broadcaster, mut viewers) = live_room(&server, "small", 2).await;
    assert_eq!(viewers[1].max_viewers, 2);

    let mut third = server.connect("small").await;
    send(&mut third, &C::join(Role::Viewer)).await;
    assert_eq!(
        recv(&mut third, "third viewer").await,
        S::RoomFull { max_viewers: 2 }
    );
    assert_eq!(expect_close(&mut third, "third viewer").await, ROOM_FULL);
    broadcaster.expect_quiet().await;

    // A broadcaster is not a viewer: it still gets in.
    let spare = server.join("small", Role::Broadcaster).await;
    assert_eq!(spare.viewers, 2);

    // A seat frees up when a viewer leaves.
    let leaving = viewers.pop().expect("two viewers");
    let gone = leaving.id;
    drop(leaving);
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 1 }, S::PeerLeft { peer: gone }])
        .await;
    let fourth = server.join("small", Role::Viewer).await;
    assert_eq!(fourth.viewers, 2);
    broadcaster.expect(S::ViewerCount { count: 2 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_who_came_early_is_told_when_the_broadcast_starts() {
    let server = TestServer::start(&[]).await;
    let mut viewer = server.join("early", Role::Viewer).await;
    assert_eq!(viewer.on_air, None);
    assert_eq!(viewer.viewers, 1);

    viewer.send(C::WantStream).await;
    viewer.expect_error(ErrorCode::OutOfOrder).await;

    let mut broadcaster = server.join("early", Role::Broadcaster).await;
    assert_eq!(broadcaster.viewers, 1);
    assert_eq!(broadcaster.on_air, None);
    viewer.expect_quiet().await;

    broadcaster.go_live().await;
    viewer
        .expect(S::OnAir {
            broadcaster: broadcaster.id,
        })
        .await;
    viewer.send(C::WantStream).await;
    broadcaster.expect(S::WantStream { from: viewer.id }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_learn_why_the_broadcast_ended() {
    let server = TestServer::start(&[]).await;
    let (mut broadcaster, mut viewers) = live_room(&server, "ending", 2).await;

    broadcaster.send(C::OffAir).await;
    for viewer in &mut viewers {
        viewer
            .expect(S::OffAir {
                reason: OffAirReason::Stopped,
            })
            .await;
    }
    broadcaster.send(C::OffAir).await;
    broadcaster.expect_error(ErrorCode::OutOfOrder).await;
    viewers[0].send(C::WantStream).await;
    viewers[0].expect_error(ErrorCode::OutOfOrder).await;
    // The stream's peers are forgotten: an answer to the old offer goes nowhere.
    viewers[0]
        .send(C::Answer {
            to: broadcaster.id,
            sdp: "v=0".into(),
        })
        .await;
    viewers[0].expect_error(ErrorCode::NoSuchPeer).await;

    // Back on air, then the broadcaster's page vanishes.
    broadcaster.go_live().await;
    for viewer in &mut viewers {
        viewer
            .expect(S::OnAir {
                broadcaster: broadcaster.id,
            })
            .await;
    }
    drop(broadcaster);
    for viewer in &mut viewers {
        viewer
            .expect(S::OffAir {
                reason: OffAirReason::Disconnected,
            })
            .await;
        viewer.expect_quiet().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_broadcaster_can_take_its_room_back_with_its_token() {
    let server = TestServer::start(&[]).await;
    let (mut original, mut viewers) = live_room(&server, "reclaim", 1).await;
    let mut viewer = viewers.pop().expect("a viewer");
    let token = original.go_live().await; // asking again repeats the same token
    let mut rival = server.join("reclaim", Role::Broadcaster).await;
    assert_eq!(rival.on_air, Some(original.id));

    drop(original);
    viewer
        .expect(S::OffAir {
            reason: OffAirReason::Disconnected,
        })
        .await;

    // Within the grace the room is held: no token, or a wrong one, is refused.
    rival
        .send(C::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    let message = rival.expect_error(ErrorCode::AlreadyLive).await;
    assert!(message.contains("try again"), "{message}");
    rival
        .send(C::GoLive {
            key: None,
            reclaim: Some("0".repeat(32)),
        })
        .await;
    rival.expect_error(ErrorCode::AlreadyLive).await;
    viewer.expect_quiet().await;

    // The reconnected broadcaster presents its token and is live again.
    let mut back = server.join("reclaim", Role::Broadcaster).await;
    assert_eq!(back.on_air, None);
    let new_token = back.go_live_with(None, Some(&token)).await;
    assert_ne!(new_token, token, "a reclaim token is good for one reclaim");
    viewer
        .expect(S::OnAir {
            broadcaster: back.id,
        })
        .await;
    viewer.send(C::WantStream).await;
    back.expect(S::WantStream { from: viewer.id }).await;

    // It drops again: now only the new token takes the room; the old one is spent.
    drop(back);
    viewer
        .expect(S::OffAir {
            reason: OffAirReason::Disconnected,
        })
        .await;
    rival
        .send(C::GoLive {
            key: None,
            reclaim: Some(token.clone()),
        })
        .await;
    rival.expect_error(ErrorCode::AlreadyLive).await;
    rival.go_live_with(None, Some(&new_token)).await;
    viewer
        .expect(S::OnAir {
            broadcaster: rival.id,
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_grace_a_dropped_broadcasters_room_is_free_at_once() {
    let server = TestServer::start(&["--reclaim-seconds", "0"]).await;
    let (original, mut viewers) = live_room(&server, "nograce", 1).await;
    let mut viewer = viewers.pop().expect("a viewer");
    let mut next = server.join("nograce", Role::Broadcaster).await;
    drop(original);
    viewer
        .expect(S::OffAir {
            reason: OffAirReason::Disconnected,
        })
        .await;
    next.go_live().await;
    viewer
        .expect(S::OnAir {
            broadcaster: next.id,
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_room_joining_at_once_does_not_cut_the_broadcaster_off() {
    let server =
        TestServer::start(&["--max-viewers", "150", "--messages-per-second", "10000"]).await;
    let mut broadcaster = server.join("rush", Role::Broadcaster).await;
    broadcaster.go_live().await;
    // 150 viewers join and ask for the stream at the same moment: for the broadcaster that is
    // 300 messages (viewer count + want_stream each) queued faster than it can be sent.
    let joins = (0..150).map(|_| {
        let url = server.url("rush");
        tokio::spawn(async move {
            let (ws, _) = tokio_tungstenite::connect_async(url)
                .await
                .expect("connect");
            let mut viewer = Peer::join(ws, "rush", Role::Viewer).await;
            viewer.send(C::WantStream).await;
            viewer
        })
    });
    let mut viewers = Vec::new();
    for join in joins {
        viewers.push(join.await.expect("viewer task"));
    }
    let mut asked = 0;
    while asked < 150 {
        match broadcaster.recv().await {
            S::WantStream { .. } => asked += 1,
            S::ViewerCount { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // Still connected and live: a new viewer is told who is on air.
    drop(viewers);
    let late = server.join("rush", Role::Viewer).await;
    assert_eq!(late.on_air, Some(broadcaster.id));
}
