//! Publish keys, room keys and private rooms.

use onair::protocol::{ClientMessage, ErrorCode, Role, ServerMessage};

use crate::common::*;
use ClientMessage as C;
use ServerMessage as S;

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
