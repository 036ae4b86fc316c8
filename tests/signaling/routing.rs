//! Who reaches whom: joins and leaves, offers, answers and candidates stamped with the true sender, rooms kept apart, each role to its own messages.

use std::time::Duration;

use onair::protocol::{ClientMessage, ErrorCode, IceCandidate, Role, ServerMessage};
use serde_json::json;

use crate::common::*;
use crate::rooms::*;
use ClientMessage as C;
use ServerMessage as S;

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
