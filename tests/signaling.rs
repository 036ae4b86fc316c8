//! The signaling server end to end: a real server on loopback per test, real WebSocket clients.
//!
//! Run with `cargo test --features ssr --test signaling`.

#![cfg(feature = "ssr")]

mod common;

use std::time::Duration;

use common::*;
use futures_util::{SinkExt, StreamExt};
use onair::protocol::{
    ClientMessage, ErrorCode, IceCandidate, OffAirReason, Role, ServerMessage, MAX_SDP_BYTES,
};
use serde_json::json;
use tokio::time::{sleep, timeout};
use tokio_tungstenite::tungstenite::{self, Message};

use ClientMessage as C;
use ServerMessage as S;

const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;
const ROOM_FULL: u16 = 4001;

/// A broadcaster live in `room` and `n` viewers, with every welcome and count consumed.
async fn live_room(server: &TestServer, room: &str, n: u32) -> (Peer, Vec<Peer>) {
    let mut broadcaster = server.join(room, Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut viewers = Vec::new();
    for count in 1..=n {
        let viewer = server.join(room, Role::Viewer).await;
        assert_eq!(viewer.on_air, Some(broadcaster.id));
        broadcaster.expect(S::ViewerCount { count }).await;
        viewers.push(viewer);
    }
    (broadcaster, viewers)
}

/// One round trip through the hub: broadcaster → viewer and viewer → broadcaster candidates.
async fn round_trip(broadcaster: &mut Peer, viewer: &mut Peer, tag: &str) {
    let down = candidate(&format!("down-{tag}"));
    broadcaster
        .send(C::Candidate {
            to: viewer.id,
            candidate: down.clone(),
        })
        .await;
    viewer
        .expect(S::Candidate {
            from: broadcaster.id,
            candidate: down,
        })
        .await;
    let up = candidate(&format!("up-{tag}"));
    viewer
        .send(C::Candidate {
            to: broadcaster.id,
            candidate: up.clone(),
        })
        .await;
    broadcaster
        .expect(S::Candidate {
            from: viewer.id,
            candidate: up,
        })
        .await;
}

/// A candidate as a client might send it, with a made-up `from` field added.
fn candidate_claiming(to: u64, from: u64, candidate: &IceCandidate) -> serde_json::Value {
    let mut value = serde_json::to_value(C::Candidate {
        to,
        candidate: candidate.clone(),
    })
    .expect("encode");
    value["from"] = json!(from);
    value
}

// 1 ─────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_join_and_leave_and_the_broadcaster_is_told() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("hall", Role::Broadcaster).await;
    assert_eq!(broadcaster.on_air, None);
    assert_eq!(broadcaster.viewers, 0);
    assert!(!broadcaster.needs_key);
    let token = broadcaster.go_live().await;
    assert!(
        token.len() >= 16,
        "a reclaim token should be unguessable: {token:?}"
    );

    let mut viewers = Vec::new();
    for count in 1..=3 {
        let viewer = server.join("hall", Role::Viewer).await;
        assert_eq!(
            viewer.on_air,
            Some(broadcaster.id),
            "welcome names who is on air"
        );
        assert_eq!(viewer.viewers, count);
        assert_eq!(viewer.max_viewers, 10);
        broadcaster.expect(S::ViewerCount { count }).await;
        viewers.push(viewer);
    }
    let mut ids: Vec<_> = viewers
        .iter()
        .map(|v| v.id)
        .chain([broadcaster.id])
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every connection gets its own id");

    // A polite close (close frame) …
    let leaving = viewers.pop().expect("three viewers");
    let gone = leaving.id;
    leaving.leave().await;
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 2 }, S::PeerLeft { peer: gone }])
        .await;

    // … and an abrupt one (socket dropped) both count as leaving.
    let dropped = viewers.pop().expect("two viewers");
    let gone = dropped.id;
    drop(dropped);
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 1 }, S::PeerLeft { peer: gone }])
        .await;

    // Viewers are not told about each other.
    viewers[0].expect_quiet().await;
    broadcaster.expect_quiet().await;
}

/// Connect to `room` and join as a viewer that asks for the stream in its `join` (what the
/// watch page sends); returns the socket, the viewer's id and who is on air.
async fn join_wanting_stream(server: &TestServer, room: &str) -> (Ws, u64, Option<u64>) {
    let mut ws = server.connect(room).await;
    let join = C::Join {
        role: Role::Viewer,
        want_stream: true,
        ticket: None,
    };
    send(&mut ws, &join).await;
    let S::Welcome { id, on_air, .. } = recv(&mut ws, room).await else {
        panic!("{room}: the first answer to a join is the welcome");
    };
    (ws, id, on_air)
}

/// A viewer's `join` with `want_stream` asks for the stream in the same message when the room is
/// live, and is just a join when it is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_with_want_stream_asks_the_broadcaster_at_once() {
    let server = TestServer::start(&[]).await;
    let (mut broadcaster, _viewers) = live_room(&server, "eager", 0).await;
    let (_ws, id, on_air) = join_wanting_stream(&server, "eager").await;
    assert_eq!(on_air, Some(broadcaster.id));
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 1 }, S::WantStream { from: id }])
        .await;
    broadcaster.expect_quiet().await;

    // Nobody on air: the same join is only a join, with no error for the viewer and no
    // want_stream for the broadcaster who is not live.
    let mut idle = server.join("quiet-room", Role::Broadcaster).await;
    let (mut ws, _, on_air) = join_wanting_stream(&server, "quiet-room").await;
    assert_eq!(on_air, None);
    expect_no_message_within(&mut ws, Duration::from_millis(300), "quiet-room viewer").await;
    idle.expect(S::ViewerCount { count: 1 }).await;
    idle.expect_quiet().await;
}

// 2 ─────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offers_answers_and_candidates_are_routed_and_stamped_with_the_true_sender() {
    let server = TestServer::start(&[]).await;
    let (mut broadcaster, mut viewers) = live_room(&server, "studio", 2).await;
    let mut bystander = viewers.pop().expect("two viewers");
    let mut viewer = viewers.pop().expect("one viewer");

    viewer.send(C::WantStream).await;
    broadcaster.expect(S::WantStream { from: viewer.id }).await;

    let offer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n".to_string();
    broadcaster
        .send(C::Offer {
            to: viewer.id,
            sdp: offer.clone(),
        })
        .await;
    viewer
        .expect(S::Offer {
            from: broadcaster.id,
            sdp: offer,
        })
        .await;

    let answer = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\ns=-\r\n".to_string();
    viewer
        .send(C::Answer {
            to: broadcaster.id,
            sdp: answer.clone(),
        })
        .await;
    broadcaster
        .expect(S::Answer {
            from: viewer.id,
            sdp: answer,
        })
        .await;

    // Candidates both ways, each claiming to come from someone else: the server stamps the
    // true sender.
    let up = candidate("up");
    viewer
        .send_json(candidate_claiming(broadcaster.id, bystander.id, &up))
        .await;
    broadcaster
        .expect(S::Candidate {
            from: viewer.id,
            candidate: up,
        })
        .await;
    let down = candidate("down");
    broadcaster
        .send_json(candidate_claiming(viewer.id, viewer.id, &down))
        .await;
    viewer
        .expect(S::Candidate {
            from: broadcaster.id,
            candidate: down,
        })
        .await;

    // A fake sender on an offer is ignored too.
    broadcaster
        .send_json(json!({"type": "offer", "to": viewer.id, "from": 424242, "sdp": "v=0"}))
        .await;
    viewer
        .expect(S::Offer {
            from: broadcaster.id,
            sdp: "v=0".into(),
        })
        .await;

    // Hang-ups both ways.
    viewer.send(C::Hangup { to: broadcaster.id }).await;
    broadcaster.expect(S::Hangup { from: viewer.id }).await;
    broadcaster.send(C::Hangup { to: viewer.id }).await;
    viewer
        .expect(S::Hangup {
            from: broadcaster.id,
        })
        .await;

    // Sound on and off: a viewer asks its broadcaster; a broadcaster cannot ask.
    for on in [true, false] {
        viewer
            .send(C::Audio {
                to: broadcaster.id,
                on,
            })
            .await;
        broadcaster
            .expect(S::Audio {
                from: viewer.id,
                on,
            })
            .await;
    }
    broadcaster
        .send(C::Audio {
            to: viewer.id,
            on: true,
        })
        .await;
    broadcaster.expect_error(ErrorCode::NotAllowed).await;

    // Only the addressee heard any of it.
    bystander.expect_quiet().await;
    broadcaster.expect_quiet().await;
    viewer.expect_quiet().await;
}

// 3 ─────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_in_another_room_cannot_be_reached() {
    let server = TestServer::start(&[]).await;
    let (mut a_broadcaster, mut a_viewers) = live_room(&server, "room-a", 1).await;
    let mut a_viewer = a_viewers.pop().expect("a viewer");
    let (mut b_broadcaster, mut b_viewers) = live_room(&server, "room-b", 1).await;
    let mut b_viewer = b_viewers.pop().expect("a viewer");

    // A viewer in B addresses A's broadcaster (and A's viewer) with everything it may send.
    let to = a_broadcaster.id;
    for msg in [
        C::Candidate {
            to,
            candidate: candidate("x"),
        },
        C::Answer {
            to,
            sdp: "v=0".into(),
        },
        C::Hangup { to },
        C::Candidate {
            to: a_viewer.id,
            candidate: candidate("y"),
        },
    ] {
        b_viewer.send(msg).await;
        b_viewer.expect_error(ErrorCode::NoSuchPeer).await;
    }
    // A viewer may not send offers at all, so an offer to another room is refused for that.
    b_viewer
        .send(C::Offer {
            to,
            sdp: "v=0".into(),
        })
        .await;
    b_viewer.expect_error(ErrorCode::NotAllowed).await;

    // B's live broadcaster addresses A's viewer and A's broadcaster.
    for to in [a_viewer.id, a_broadcaster.id] {
        for msg in [
            C::Offer {
                to,
                sdp: "v=0".into(),
            },
            C::Candidate {
                to,
                candidate: candidate("z"),
            },
            C::Hangup { to },
        ] {
            b_broadcaster.send(msg).await;
            b_broadcaster.expect_error(ErrorCode::NoSuchPeer).await;
        }
    }

    // B's viewer asking for the stream reaches B's broadcaster only.
    b_viewer.send(C::WantStream).await;
    b_broadcaster
        .expect(S::WantStream { from: b_viewer.id })
        .await;

    // Fence: every refusal above was answered, so anything leaked would already be queued
    // ahead of these: A's next messages must be A's own.
    a_viewer.send(C::WantStream).await;
    a_broadcaster
        .expect(S::WantStream { from: a_viewer.id })
        .await;
    a_broadcaster.send(C::Hangup { to: a_viewer.id }).await;
    a_viewer
        .expect(S::Hangup {
            from: a_broadcaster.id,
        })
        .await;
    a_broadcaster.expect_quiet().await;
    a_viewer.expect_quiet().await;
}

// 4 ─────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_may_only_send_its_own_messages() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("roles", Role::Broadcaster).await;
    let mut viewer = server.join("roles", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 1 }).await;

    // A broadcaster that is not live may not send offers; it never asks for or answers streams.
    broadcaster
        .send(C::Offer {
            to: viewer.id,
            sdp: "v=0".into(),
        })
        .await;
    broadcaster.expect_error(ErrorCode::NotAllowed).await;
    broadcaster.send(C::WantStream).await;
    broadcaster.expect_error(ErrorCode::NotAllowed).await;
    broadcaster
        .send(C::Answer {
            to: viewer.id,
            sdp: "v=0".into(),
        })
        .await;
    broadcaster.expect_error(ErrorCode::NotAllowed).await;

    broadcaster.go_live().await;
    viewer
        .expect(S::OnAir {
            broadcaster: broadcaster.id,
        })
        .await;

    // A viewer never offers, goes live or goes off air.
    viewer
        .send(C::Offer {
            to: broadcaster.id,
            sdp: "v=0".into(),
        })
        .await;
    viewer.expect_error(ErrorCode::NotAllowed).await;
    viewer
        .send(C::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    viewer.expect_error(ErrorCode::NotAllowed).await;
    viewer.send(C::OffAir).await;
    viewer.expect_error(ErrorCode::NotAllowed).await;
    // And nobody joins twice.
    viewer.send(C::join(Role::Broadcaster)).await;
    viewer.expect_error(ErrorCode::AlreadyJoined).await;

    // None of that reached the broadcaster; the next thing it hears is the viewer's request.
    viewer.send(C::WantStream).await;
    broadcaster.expect(S::WantStream { from: viewer.id }).await;
    // Still a viewer, still on air: the broadcaster's state did not change.
    broadcaster
        .send(C::Offer {
            to: viewer.id,
            sdp: "v=0".into(),
        })
        .await;
    viewer
        .expect(S::Offer {
            from: broadcaster.id,
            sdp: "v=0".into(),
        })
        .await;
}

// 5 ─────────────────────────────────────────────────────────────────────────────────────────

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

// 6 ─────────────────────────────────────────────────────────────────────────────────────────

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

// 7 ─────────────────────────────────────────────────────────────────────────────────────────

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

// 8 ─────────────────────────────────────────────────────────────────────────────────────────

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

// 9 ─────────────────────────────────────────────────────────────────────────────────────────

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

// 10 ────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn going_live_needs_the_publish_key_when_one_is_set() {
    let server = TestServer::start(&["--publish-key", "s3cret"]).await;
    let mut broadcaster = server.join("keyed", Role::Broadcaster).await;
    assert!(broadcaster.needs_key);
    let mut viewer = server.join("keyed", Role::Viewer).await;
    assert!(viewer.needs_key);
    broadcaster.expect(S::ViewerCount { count: 1 }).await;

    broadcaster
        .send(C::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    broadcaster.expect_error(ErrorCode::WrongKey).await;
    for wrong in ["s3cre", "s3cret!", "S3CRET", ""] {
        broadcaster
            .send(C::GoLive {
                key: Some(wrong.into()),
                reclaim: None,
            })
            .await;
        broadcaster.expect_error(ErrorCode::WrongKey).await;
    }
    viewer.expect_quiet().await;

    broadcaster.go_live_with(Some("s3cret"), None).await;
    viewer
        .expect(S::OnAir {
            broadcaster: broadcaster.id,
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn room_keys_and_private_rooms() {
    let server = TestServer::start(&["--room-key", "board=b0ard", "--private-room", "board"]).await;
    // Other rooms stay open to everyone: no server-wide key was set.
    let open_room = server.join("lobby", Role::Broadcaster).await;
    assert!(!open_room.needs_key);

    // Watching the private room needs its key in the socket URL.
    for url in ["board", "board?key=wrong", "board?key="] {
        let mut ws = server.connect(url).await;
        send(&mut ws, &C::join(Role::Viewer)).await;
        let message = expect_error(&mut ws, ErrorCode::WrongKey, url).await;
        assert!(message.contains("private"), "{message}");
        assert_eq!(expect_close(&mut ws, url).await, 4003, "{url}");
    }
    let mut viewer = Peer::join(
        server.connect("board?key=b0ard").await,
        "board",
        Role::Viewer,
    )
    .await;

    // Going live there needs the room's key, not any other.
    let mut broadcaster = server.join("board", Role::Broadcaster).await;
    assert!(broadcaster.needs_key);
    broadcaster
        .send(C::GoLive {
            key: Some("s3cret".into()),
            reclaim: None,
        })
        .await;
    broadcaster.expect_error(ErrorCode::WrongKey).await;
    broadcaster.go_live_with(Some("b0ard"), None).await;
    viewer
        .expect(S::OnAir {
            broadcaster: broadcaster.id,
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

// 11 ────────────────────────────────────────────────────────────────────────────────────────

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

// 12 ────────────────────────────────────────────────────────────────────────────────────────

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

// 13 ────────────────────────────────────────────────────────────────────────────────────────

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

// 14 ────────────────────────────────────────────────────────────────────────────────────────

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

// 15 ────────────────────────────────────────────────────────────────────────────────────────

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

// 16 ────────────────────────────────────────────────────────────────────────────────────────

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

// 17 ────────────────────────────────────────────────────────────────────────────────────────

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

// 18 ────────────────────────────────────────────────────────────────────────────────────────

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_answer_and_shutdown_tells_every_client() {
    let mut server = TestServer::start(&[]).await;
    assert_eq!(http_get(server.addr, "/healthz").await, (200, "ok".into()));
    assert_eq!(
        http_get(server.addr, "/readyz").await,
        (200, "ready".into())
    );

    let (broadcaster, viewers) = live_room(&server, "last", 2).await;
    let unjoined = server.connect("last").await;

    server.trigger_stop();

    // Each gets `shutting_down` and a 1001 close. What the others' departures queued for it
    // (counts, off air) may come around it, and nothing else.
    let mut clients: Vec<(String, Ws)> = vec![(broadcaster.name, broadcaster.ws)];
    clients.extend(viewers.into_iter().map(|v| (v.name, v.ws)));
    clients.push(("unjoined".into(), unjoined));
    for (who, mut ws) in clients {
        let mut told = false;
        loop {
            match next_event(&mut ws, STEP).await {
                Some(Event::Msg(S::ShuttingDown)) => told = true,
                Some(Event::Msg(S::ViewerCount { .. } | S::PeerLeft { .. } | S::OffAir { .. })) => {
                }
                Some(Event::Close(code)) => {
                    assert!(told, "{who}: closed without shutting_down");
                    assert_eq!(code, Some(GOING_AWAY), "{who}");
                    break;
                }
                other => panic!("{who}: unexpected {other:?}"),
            }
        }
    }
    server.finished().await.expect("a clean shutdown");
}

// 19 ────────────────────────────────────────────────────────────────────────────────────────

const SPARE_SDP: &str =
    "v=0\r\no=- 9 2 IN IP4 127.0.0.1\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n";

/// The offer in a watch page's HTML (`data-page-offer`), if it has one.
fn page_offer_in(html: &str) -> Option<onair::protocol::PageOffer> {
    let start = html.find("data-page-offer=\"")? + "data-page-offer=\"".len();
    let end = start + html[start..].find('"')?;
    let json = html[start..end]
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(serde_json::from_str(&json).expect("the page offer is JSON"))
}

/// Park a spare offer `id` for the live broadcaster (publish key `key`), and wait until the
/// server has it (a `go_live` while live is answered in order, after it).
async fn park_spare(broadcaster: &mut Peer, id: u64, key: Option<&str>) {
    broadcaster
        .send(C::SpareOffer {
            id,
            sdp: SPARE_SDP.into(),
        })
        .await;
    broadcaster.go_live_with(key, None).await;
}

/// The (only) viewer `id` on `viewer` took spare `spare`: the broadcaster hears so, with the
/// viewer count, and then gets the viewer's answer, as to any offer.
async fn took_spare_and_answers(broadcaster: &mut Peer, viewer: &mut Ws, id: u64, spare: u64) {
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 1 }, S::SpareTaken { spare, by: id }])
        .await;
    let answer = "v=0 answer".to_string();
    send(
        viewer,
        &C::Answer {
            to: broadcaster.id,
            sdp: answer.clone(),
        },
    )
    .await;
    broadcaster
        .expect(S::Answer {
            from: id,
            sdp: answer,
        })
        .await;
}

/// A viewer asking for the stream gets the spare offer from the server at once; the
/// broadcaster hears who took it, and the spare serves one viewer only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spare_offer_goes_to_the_next_viewer_without_the_broadcasters_turn() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("spare", Role::Broadcaster).await;
    broadcaster.go_live().await;
    park_spare(&mut broadcaster, 1, None).await;

    let (mut first, id, on_air) = join_wanting_stream(&server, "spare").await;
    assert_eq!(on_air, Some(broadcaster.id));
    assert_eq!(
        recv(&mut first, "first viewer").await,
        S::Offer {
            from: broadcaster.id,
            sdp: SPARE_SDP.into()
        }
    );
    // Answered like any offer.
    took_spare_and_answers(&mut broadcaster, &mut first, id, 1).await;

    let (_second, id2, _) = join_wanting_stream(&server, "spare").await;
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 2 }, S::WantStream { from: id2 }])
        .await;

    // Only the live broadcaster parks offers.
    let mut viewer = server.join("spare", Role::Viewer).await;
    viewer
        .send(C::SpareOffer {
            id: 5,
            sdp: SPARE_SDP.into(),
        })
        .await;
    viewer.expect_error(ErrorCode::NotAllowed).await;
}

/// A watch page served while the room is live comes with the spare offer and a ticket; the
/// page's socket claims it with its `join`, once, and is not sent another offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_page_comes_with_the_spare_offer_and_its_ticket_claims_it_once() {
    let server = TestServer::start(&["--ice-server", "stun:stun.example.org:3478"]).await;
    let page = |server: &TestServer| {
        let addr = server.addr;
        async move {
            let (status, html) = http_get(addr, "/watch/page").await;
            assert_eq!(status, 200);
            page_offer_in(&html)
        }
    };
    assert_eq!(page(&server).await, None, "not live: no offer in the page");
    // Joined by hand: `Peer::join` checks that no ICE servers are configured.
    let mut ws = server.connect("page").await;
    send(&mut ws, &C::join(Role::Broadcaster)).await;
    let S::Welcome { id, .. } = recv(&mut ws, "broadcaster").await else {
        panic!("the first answer to a join is the welcome");
    };
    let mut broadcaster = Peer {
        ws,
        name: "broadcaster".into(),
        id,
        on_air: None,
        viewers: 0,
        max_viewers: 10,
        needs_key: false,
    };
    broadcaster.go_live().await;
    assert_eq!(page(&server).await, None, "no spare yet: no offer");

    park_spare(&mut broadcaster, 7, None).await;
    let offer = page(&server)
        .await
        .expect("a page served live has the offer");
    assert_eq!(offer.sdp, SPARE_SDP);
    assert_eq!(
        offer.ice_servers[0].urls,
        ["stun:stun.example.org:3478"],
        "the page's connection needs the ICE servers before its welcome"
    );
    broadcaster.expect(S::SpareHeld { spare: 7 }).await;
    assert_eq!(page(&server).await, None, "one spare, one page");

    let join = |ticket: &str| C::Join {
        role: Role::Viewer,
        want_stream: true,
        ticket: Some(ticket.into()),
    };
    let mut ws = server.connect("page").await;
    send(&mut ws, &join(&offer.ticket)).await;
    let S::Welcome {
        id,
        on_air,
        page_offer,
        ..
    } = recv(&mut ws, "page viewer").await
    else {
        panic!("the first answer to a join is the welcome");
    };
    assert_eq!(on_air, Some(broadcaster.id));
    assert!(page_offer, "the welcome confirms the page's offer");
    took_spare_and_answers(&mut broadcaster, &mut ws, id, 7).await;
    expect_no_message_within(&mut ws, Duration::from_millis(200), "page viewer").await;

    // The same ticket again, or a made-up one: a plain join that asks for the stream.
    for ticket in [offer.ticket.as_str(), "0123456789abcdef"] {
        let mut again = server.connect("page").await;
        send(&mut again, &join(ticket)).await;
        let S::Welcome { id, page_offer, .. } = recv(&mut again, "again").await else {
            panic!("the first answer to a join is the welcome");
        };
        assert!(!page_offer, "a ticket claims its offer once");
        broadcaster.expect(S::ViewerCount { count: 2 }).await;
        broadcaster.expect(S::WantStream { from: id }).await;
        drop(again);
        broadcaster
            .expect_unordered(&[S::ViewerCount { count: 1 }, S::PeerLeft { peer: id }])
            .await;
    }

    // Going off air voids the spare: the next page has none.
    park_spare(&mut broadcaster, 8, None).await;
    broadcaster.send(C::OffAir).await;
    broadcaster.go_live().await;
    assert_eq!(
        page(&server).await,
        None,
        "a new broadcast has no old spare"
    );
}

/// A private room's page has the offer only with the room's key, and a room holds a bounded
/// number of offers for pages that never join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_offers_need_the_key_of_a_private_room_and_are_bounded() {
    let server = TestServer::start(&["--room-key", "board=b0ard", "--private-room", "board"]).await;
    let mut broadcaster = server.join("board", Role::Broadcaster).await;
    broadcaster.go_live_with(Some("b0ard"), None).await;
    park_spare(&mut broadcaster, 1, Some("b0ard")).await;
    for path in ["/watch/board", "/watch/board?key=wrong"] {
        let (status, html) = http_get(server.addr, path).await;
        assert_eq!(status, 200);
        assert_eq!(page_offer_in(&html), None, "{path}");
    }
    let pending = onair::server::hub::MAX_PENDING_PAGE_OFFERS as u64;
    for spare in 1..=pending + 1 {
        if spare > 1 {
            park_spare(&mut broadcaster, spare, Some("b0ard")).await;
        }
        let (_, html) = http_get(server.addr, "/watch/board?key=b0ard").await;
        let offer = page_offer_in(&html);
        if spare <= pending {
            assert!(offer.is_some(), "page {spare} has its offer");
            broadcaster.expect(S::SpareHeld { spare }).await;
        } else {
            assert_eq!(offer, None, "past {pending} pages waiting to join, none");
        }
    }
}
