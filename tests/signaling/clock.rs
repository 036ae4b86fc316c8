//! Clocks against the real server: a `clock_ping` is answered with the server's time, only the
//! broadcaster on air says its clock's offset, and viewers hear it when they join and when it
//! changes. Also: the pre-flight check's rooms stay out of the room list.

use std::time::{SystemTime, UNIX_EPOCH};

use onair::protocol::{
    paths::CHECK_ROOM_PREFIX, ClientMessage as C, ErrorCode, Role, ServerMessage as S,
};

use crate::common::{http_get, TestServer};

#[tokio::test]
async fn a_clock_ping_gets_the_servers_time_back_with_its_own() {
    let server = TestServer::start(&[]).await;
    let mut viewer = server.join("time", Role::Viewer).await;
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    viewer.send(C::ClockPing { t: 12_345 }).await;
    match viewer.recv().await {
        S::ClockPong { t, server_us } => {
            assert_eq!(t, 12_345);
            let after = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_micros() as u64;
            assert!(
                (before..=after).contains(&server_us),
                "{before} {server_us} {after}"
            );
        }
        other => panic!("expected a clock_pong, got {other:?}"),
    }
}

#[tokio::test]
async fn the_broadcasters_clock_reaches_its_viewers_and_nobody_elses_is_taken() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("clocks", Role::Broadcaster).await;
    let mut early = server.join("clocks", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 1 }).await;
    // Not on air: its clock is nobody's business yet.
    broadcaster.send(C::ClockOffset { offset_us: 5 }).await;
    broadcaster.expect_error(ErrorCode::NotAllowed).await;
    broadcaster.go_live().await;
    early
        .expect(S::OnAir {
            broadcaster: broadcaster.id,
        })
        .await;
    early.send(C::ClockOffset { offset_us: 5 }).await;
    early.expect_error(ErrorCode::NotAllowed).await;
    // A clock more than a day off is refused, not spread.
    broadcaster
        .send(C::ClockOffset {
            offset_us: 90_000_000_000,
        })
        .await;
    broadcaster.expect_error(ErrorCode::BadMessage).await;

    broadcaster.send(C::ClockOffset { offset_us: -1_500 }).await;
    early
        .expect(S::BroadcasterClock { offset_us: -1_500 })
        .await;
    // A viewer that joins later hears it right after its welcome (with the room news).
    let mut late = server.join("clocks", Role::Viewer).await;
    loop {
        match late.recv_news().await {
            S::BroadcasterClock { offset_us } => {
                assert_eq!(offset_us, -1_500);
                break;
            }
            S::ChatBacklog { .. } | S::OnAir { .. } => continue,
            other => panic!("expected the broadcaster's clock, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn the_checks_rooms_are_not_in_the_room_list() {
    let server = TestServer::start(&[]).await;
    let check_room = format!("{CHECK_ROOM_PREFIX}1f2e");
    let mut check = server.join(&check_room, Role::Broadcaster).await;
    check.go_live().await;
    let mut shown = server.join("listed-hall", Role::Broadcaster).await;
    shown.go_live().await;
    let (status, list) = http_get(server.addr, "/").await;
    assert_eq!(status, 200);
    assert!(list.contains("listed-hall"), "a live room is listed");
    assert!(!list.contains(&check_room), "the check's room is not");
}
