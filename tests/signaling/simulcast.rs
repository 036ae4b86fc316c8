//! Simulcast's messages against the real server: a player's size and a pinned quality are
//! taken quietly wherever there is no layer to choose (peer to peer, nobody live, the
//! broadcaster's own page), and a relayed viewer hears which layer it gets. (Layers chosen
//! from real simulcast: end2end/tests/simulcast.spec.ts, with Chromium.)

use onair::protocol::{ClientMessage as C, Level, Role, ServerMessage as S};

use crate::{
    common::{Peer, TestServer},
    relay::{expect_picture, publisher, viewer},
};

/// Its wishes raise no error: the ping after them is the next thing answered.
async fn wishes_are_quiet(peer: &mut Peer) {
    peer.send(C::ViewerSize {
        width: 320,
        height: 180,
    })
    .await;
    peer.send(C::PinQuality {
        level: Some(Level::Low),
    })
    .await;
    peer.send(C::PinQuality { level: None }).await;
    peer.send(C::ClockPing { t: 7 }).await;
    loop {
        match peer.recv().await {
            S::ClockPong { t: 7, .. } => return,
            S::ViewerCount { .. } => {}
            other => panic!("expected the pong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn sizes_and_pins_are_taken_quietly_where_there_is_nothing_to_choose() {
    let p2p = TestServer::start(&["--media", "p2p"]).await;
    let mut broadcaster = p2p.join("p2p-sizes", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut watching = p2p.join("p2p-sizes", Role::Viewer).await;
    wishes_are_quiet(&mut watching).await;

    let relayed = TestServer::start(&["--media", "sfu"]).await;
    let mut waiting = relayed.join("nobody-live", Role::Viewer).await;
    wishes_are_quiet(&mut waiting).await;
    let mut own = relayed.join("nobody-live", Role::Broadcaster).await;
    wishes_are_quiet(&mut own).await;
}

#[tokio::test]
async fn a_relayed_viewer_hears_the_layer_it_gets_and_its_pin() {
    let server = TestServer::start(&["--media", "sfu"]).await;
    let (_broadcaster, _publishing) = publisher(&server, "one-layer").await;
    let (mut watching, mut media) = viewer(&server, "one-layer").await;
    expect_picture(&mut media, "viewer").await;
    // One layer (no simulcast): it is the high one, of one.
    let quality = |pinned| S::Quality {
        level: Level::High,
        of: 1,
        pinned,
    };
    watching.expect(quality(false)).await;
    watching
        .send(C::PinQuality {
            level: Some(Level::Low),
        })
        .await;
    watching.expect(quality(true)).await;
    watching.send(C::PinQuality { level: None }).await;
    watching.expect(quality(false)).await;
    expect_picture(&mut media, "viewer, after the pins").await;
}
