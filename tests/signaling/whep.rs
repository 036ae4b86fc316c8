//! WHEP over plain HTTP against the real server: a str0m player posts its own offer and plays a
//! talk page's broadcast, with sound; it counts as a viewer; its session ends with `DELETE` or
//! with the broadcast.

use std::time::Duration;

use tokio::time::{sleep, Instant};

use crate::{
    common::{TestServer, STEP},
    http::{request, Reply},
    media_peer::MediaPeer,
    relay::{expect_metric, expect_picture, is_audio, publisher},
};

async fn post_offer(server: &TestServer, room: &str, offer: &str, key: Option<&str>) -> Reply {
    let bearer = key.map(|key| format!("Bearer {key}"));
    let mut headers = vec![("Content-Type", "application/sdp")];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer));
    }
    request(
        server.addr,
        "POST",
        &format!("/whep/{room}"),
        &headers,
        offer.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn a_whep_player_plays_a_broadcast_with_sound_and_counts_as_a_viewer() {
    let server = TestServer::start(&["--media", "sfu"]).await;
    let (_broadcaster, _publishing) = publisher(&server, "show").await;
    let (offer, finish) = MediaPeer::play().await;
    let reply = post_offer(&server, "show", &offer, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let location = reply.header("location").expect("a Location").to_owned();
    assert!(location.starts_with("/whep/show/"), "{location}");
    assert!(reply.body.contains("a=candidate:"), "{}", reply.body);
    let mut playing = finish(reply.body);
    expect_picture(&mut playing, "whep player").await;
    playing.wait_for("whep player", is_audio).await;
    expect_metric(&server, "onair_viewers", 1.0).await;
    expect_metric(&server, "onair_relay_peers", 2.0).await;

    let deleted = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(deleted.status, 200);
    expect_metric(&server, "onair_viewers", 0.0).await;
    expect_metric(&server, "onair_relay_peers", 1.0).await;
}

#[tokio::test]
async fn a_whep_session_ends_with_its_broadcast() {
    let server = TestServer::start(&["--media", "sfu"]).await;
    let (broadcaster, _publishing) = publisher(&server, "ends").await;
    let (offer, finish) = MediaPeer::play().await;
    let reply = post_offer(&server, "ends", &offer, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let location = reply.header("location").expect("a Location").to_owned();
    let mut playing = finish(reply.body);
    expect_picture(&mut playing, "whep player").await;
    broadcaster.leave().await;
    let deadline = Instant::now() + STEP;
    loop {
        let gone = request(server.addr, "DELETE", &location, &[], b"").await;
        if gone.status == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the session outlived its broadcast"
        );
        sleep(Duration::from_millis(20)).await;
    }
    expect_metric(&server, "onair_viewers", 0.0).await;
}

#[tokio::test]
async fn whep_refusals_say_why() {
    let server = TestServer::start(&[
        "--media",
        "sfu",
        "--room-key",
        "secret=k3y",
        "--private-room",
        "secret",
        "--max-viewers",
        "1",
    ])
    .await;
    let (offer, _finish) = MediaPeer::play().await;
    let idle = post_offer(&server, "idle", &offer, None).await;
    assert_eq!(idle.status, 404, "{}", idle.body);
    assert!(idle.body.contains("nobody is live"), "{}", idle.body);
    let private = post_offer(&server, "secret", &offer, None).await;
    assert_eq!(private.status, 401, "{}", private.body);
    let keyed = post_offer(&server, "secret", &offer, Some("k3y")).await;
    assert_eq!(
        keyed.status, 404,
        "the key lets it in; nobody is live: {}",
        keyed.body
    );

    let (_broadcaster, _publishing) = publisher(&server, "full").await;
    let first = post_offer(&server, "full", &offer, None).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let (second_offer, _f) = MediaPeer::play().await;
    let second = post_offer(&server, "full", &second_offer, None).await;
    assert_eq!(second.status, 503, "{}", second.body);
    assert!(second.body.contains("room is full"), "{}", second.body);
    let bad = {
        let (_b, _p) = publisher(&server, "bad").await;
        post_offer(&server, "bad", "v=0\r\nnonsense\r\n", None).await
    };
    assert_eq!(bad.status, 400, "{}", bad.body);
}
