//! Steps many tests share: a live room, a message round trip, a viewer joining for the stream;
//! and the close codes the tests expect, written out (the wire contract, not the server's constants).

use onair::protocol::{ClientMessage, Role, ServerMessage};

use crate::common::*;
use ClientMessage as C;
use ServerMessage as S;

pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const ROOM_FULL: u16 = 4001;

/// A broadcaster live in `room` and `n` viewers, with every welcome and count consumed.
pub async fn live_room(server: &TestServer, room: &str, n: u32) -> (Peer, Vec<Peer>) {
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
pub async fn round_trip(broadcaster: &mut Peer, viewer: &mut Peer, tag: &str) {
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

/// Connect to `room` and join as a viewer that asks for the stream in its `join` (what the
/// watch page sends); returns the socket, the viewer's id and who is on air.
pub async fn join_wanting_stream(server: &TestServer, room: &str) -> (Ws, u64, Option<u64>) {
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
