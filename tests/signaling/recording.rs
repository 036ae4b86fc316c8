//! Recording's controls against the real server: who may turn it on or off, what the
//! broadcaster's welcome says, and who may list a room's recordings. (The files themselves,
//! from a real browser's broadcast, are checked by ffprobe in `end2end/tests/recording.spec.ts`.)

use onair::protocol::{ClientMessage as C, ErrorCode, Role, ServerMessage as S};

use crate::common::{http_get, recv, send, TestServer};

fn record_dir() -> String {
    let dir = std::env::temp_dir().join(format!(
        "onair-record-test-{}",
        onair::server::secrets::new_token()
    ));
    dir.to_string_lossy().into_owned()
}

/// The welcome's `recording` for `role` in `room`.
async fn welcome_recording(server: &TestServer, room: &str, role: Role) -> Option<bool> {
    let mut ws = server.connect(room).await;
    send(&mut ws, &C::join(role)).await;
    match recv(&mut ws, "joining").await {
        S::Welcome { recording, .. } => recording,
        other => panic!("expected a welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn the_broadcaster_turns_recording_off_and_on_and_nobody_else_may() {
    let dir = record_dir();
    let server = TestServer::start(&["--media", "sfu", "--record", &dir]).await;
    assert_eq!(
        welcome_recording(&server, "rec", Role::Broadcaster).await,
        Some(true)
    );
    assert_eq!(welcome_recording(&server, "rec", Role::Viewer).await, None);

    let mut broadcaster = server.join("rec", Role::Broadcaster).await;
    broadcaster.send(C::Record { on: false }).await;
    broadcaster.expect(S::Recording { on: false }).await;
    // The room remembers: a broadcaster page that joins now is told it is off.
    assert_eq!(
        welcome_recording(&server, "rec", Role::Broadcaster).await,
        Some(false)
    );
    broadcaster.send(C::Record { on: true }).await;
    broadcaster.expect(S::Recording { on: true }).await;

    let mut viewer = server.join("rec", Role::Viewer).await;
    viewer.send(C::Record { on: false }).await;
    viewer.expect_error(ErrorCode::NotAllowed).await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn without_record_there_is_no_recording_to_turn_on_or_list() {
    let server = TestServer::start(&["--media", "sfu"]).await;
    assert_eq!(
        welcome_recording(&server, "plain", Role::Broadcaster).await,
        None
    );
    let mut broadcaster = server.join("plain", Role::Broadcaster).await;
    broadcaster.send(C::Record { on: true }).await;
    let message = broadcaster.expect_error(ErrorCode::NotAllowed).await;
    assert!(message.contains("--record"), "{message}");
    assert_eq!(http_get(server.addr, "/recordings/plain").await.0, 404);
}

#[tokio::test]
async fn a_keyed_rooms_recordings_need_its_key() {
    let dir = record_dir();
    let server = TestServer::start(&[
        "--media",
        "sfu",
        "--record",
        &dir,
        "--publish-key",
        "s3cret",
    ])
    .await;
    let (status, body) = http_get(server.addr, "/recordings/keyed").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("publish key"), "{body}");
    assert_eq!(
        http_get(server.addr, "/recordings/keyed?key=nope").await.0,
        403
    );
    let (status, body) = http_get(server.addr, "/recordings/keyed?key=s3cret").await;
    assert_eq!((status, body.as_str()), (200, "[]"));
    let missing = "/recordings/keyed/keyed-20261201T170425Z.webm?key=s3cret";
    assert_eq!(http_get(server.addr, missing).await.0, 404);
    let _ = std::fs::remove_dir_all(dir);
}
