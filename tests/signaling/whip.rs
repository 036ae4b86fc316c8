//! WHIP over plain HTTP against the real server: a str0m publisher posts its offer, a relay
//! viewer gets the picture, `DELETE` ends the broadcast; and every refusal has its status.

use onair::protocol::{OffAirReason, Role, ServerMessage as S};

use crate::{
    common::TestServer,
    http::{request, Reply},
    media_peer::{MediaPeer, Seen},
    relay::{expect_picture, viewer},
};

const SDP: (&str, &str) = ("Content-Type", "application/sdp");
const FRAGMENT: (&str, &str) = ("Content-Type", "application/trickle-ice-sdpfrag");

async fn post_offer(server: &TestServer, room: &str, offer: &str, auth: Option<&str>) -> Reply {
    let bearer = auth.map(|key| format!("Bearer {key}"));
    let mut headers = vec![SDP];
    if let Some(bearer) = &bearer {
        headers.push(("Authorization", bearer));
    }
    request(
        server.addr,
        "POST",
        &format!("/whip/{room}"),
        &headers,
        offer.as_bytes(),
    )
    .await
}

#[tokio::test]
async fn a_whip_broadcast_reaches_viewers_and_delete_ends_it() {
    let server = TestServer::start(&["--media", "sfu"]).await;
    let (offer, finish) = MediaPeer::publish().await;
    let reply = post_offer(&server, "obs", &offer, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/sdp"));
    let location = reply.header("location").expect("a Location").to_owned();
    assert!(location.starts_with("/whip/obs/"), "{location}");
    assert!(reply.header("etag").is_some());
    // OBS never trickles: the answer holds the relay's candidates.
    assert!(reply.body.contains("a=candidate:"), "{}", reply.body);
    let mut publishing = finish(reply.body);
    publishing
        .wait_for("whip publisher", |seen| *seen == Seen::Connected)
        .await;

    // To a viewer it is a broadcast like any other.
    let (mut watcher, mut watching) = viewer(&server, "obs").await;
    expect_picture(&mut watching, "viewer of a WHIP broadcast").await;
    let (status, list) = crate::common::http_get(server.addr, "/").await;
    assert_eq!(status, 200);
    assert!(list.contains("obs"), "the room list shows the WHIP room");

    let patch = request(
        server.addr,
        "PATCH",
        &location,
        &[FRAGMENT],
        b"a=candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host\r\n",
    )
    .await;
    assert_eq!(patch.status, 204, "{}", patch.body);

    let deleted = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    loop {
        match watcher.recv().await {
            S::OffAir { reason } => {
                assert_eq!(reason, OffAirReason::Stopped);
                break;
            }
            S::Offer { .. } | S::Candidate { .. } | S::Quality { .. } => {}
            other => panic!("viewer: expected off_air, got {other:?}"),
        }
    }
    let again = request(server.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(again.status, 404);
    // The room is free again: a new WHIP broadcast may start.
    let (offer, _finish) = MediaPeer::publish().await;
    assert_eq!(post_offer(&server, "obs", &offer, None).await.status, 201);
}

/// A WHIP client that changed networks restarts ICE with `PATCH` (RFC 9725 §4.3.2): the relay
/// answers with new credentials under a new `ETag`, the picture goes on from the client's new
/// address (its old socket is closed), and a `PATCH` naming the old tag is refused.
#[tokio::test]
async fn a_whip_client_restarts_ice_from_a_new_address() {
    let server = TestServer::start(&["--media", "sfu"]).await;
    let (offer, finish) = MediaPeer::publish().await;
    let reply = post_offer(&server, "moving", &offer, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let location = reply.header("location").expect("a Location").to_owned();
    let first_tag = reply.header("etag").expect("an ETag").to_owned();
    let first_ufrag = ice_ufrag(&reply.body);
    let publishing = finish(reply.body);
    let (_watcher, mut watching) = viewer(&server, "moving").await;
    expect_picture(&mut watching, "viewer before the restart").await;

    let restart = publishing.restart_ice().await;
    let patched = request(
        server.addr,
        "PATCH",
        &location,
        &[FRAGMENT, ("If-Match", "*")],
        restart.fragment.as_bytes(),
    )
    .await;
    assert_eq!(patched.status, 200, "{}", patched.body);
    assert_eq!(patched.header("content-type"), Some(FRAGMENT.1));
    let new_tag = patched.header("etag").expect("a new ETag").to_owned();
    assert_ne!(new_tag, first_tag);
    assert_ne!(ice_ufrag(&patched.body), first_ufrag, "{}", patched.body);
    assert!(patched.body.contains("a=candidate:"), "{}", patched.body);
    restart.answer.send(patched.body).unwrap();

    // Only the new path is open now: frames still coming went over it.
    let last = last_index(&mut watching);
    watching
        .wait_for(
            "viewer after the restart",
            |seen| matches!(seen, Seen::Index(index) if *index > last + 30),
        )
        .await;

    let candidate = b"a=candidate:1 1 udp 2122260223 127.0.0.1 5000 typ host\r\n";
    let stale = request(
        server.addr,
        "PATCH",
        &location,
        &[FRAGMENT, ("If-Match", &first_tag)],
        candidate,
    )
    .await;
    assert_eq!(stale.status, 412, "{}", stale.body);
    assert!(stale.body.contains(&new_tag), "{}", stale.body);
    let current = request(
        server.addr,
        "PATCH",
        &location,
        &[FRAGMENT, ("If-Match", &new_tag)],
        candidate,
    )
    .await;
    assert_eq!(current.status, 204, "{}", current.body);
    let half = request(
        server.addr,
        "PATCH",
        &location,
        &[FRAGMENT],
        b"a=ice-ufrag:abcd\r\n",
    )
    .await;
    assert_eq!(half.status, 400, "{}", half.body);
    assert!(half.body.contains("a=ice-pwd"), "{}", half.body);
}

fn ice_ufrag(sdp: &str) -> String {
    sdp.lines()
        .find_map(|line| line.trim_end().strip_prefix("a=ice-ufrag:"))
        .expect("an a=ice-ufrag line")
        .to_owned()
}

/// The index of the newest video frame `media` saw so far.
fn last_index(media: &mut MediaPeer) -> u32 {
    media
        .drain()
        .into_iter()
        .filter_map(|seen| match seen {
            Seen::Index(index) => Some(index),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

/// OBS closed without a `DELETE`: once the relay's ICE gives up on it, the broadcast ends for
/// its viewers and the room is free.
#[tokio::test]
async fn a_whip_client_that_vanishes_ends_its_broadcast() {
    let server = TestServer::start(&["--media", "sfu"]).await;
    let (offer, finish) = MediaPeer::publish().await;
    let reply = post_offer(&server, "gone", &offer, None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let publishing = finish(reply.body);
    let (mut watcher, mut watching) = viewer(&server, "gone").await;
    expect_picture(&mut watching, "viewer").await;
    drop(publishing);
    // ICE lite gives a silent peer 15 s; a bounded wait, not a timed assertion.
    let ended = loop {
        match crate::common::next_event(&mut watcher.ws, std::time::Duration::from_secs(40)).await {
            Some(crate::common::Event::Msg(S::OffAir { reason })) => break reason,
            Some(crate::common::Event::Msg(_)) => {}
            other => panic!("viewer: expected off_air, got {other:?}"),
        }
    };
    assert_eq!(ended, OffAirReason::Stopped);
    let (offer, _finish) = MediaPeer::publish().await;
    assert_eq!(post_offer(&server, "gone", &offer, None).await.status, 201);
}

#[tokio::test]
async fn whip_refusals_say_why_with_their_status() {
    let server = TestServer::start(&["--media", "sfu", "--publish-key", "s3cret"]).await;
    let (offer, _finish) = MediaPeer::publish().await;

    let none = post_offer(&server, "keyed", &offer, None).await;
    assert_eq!(none.status, 401, "{}", none.body);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = post_offer(&server, "keyed", &offer, Some("nope")).await;
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert!(wrong.body.contains("wrong publish key"), "{}", wrong.body);

    let live = post_offer(&server, "keyed", &offer, Some("s3cret")).await;
    assert_eq!(live.status, 201, "{}", live.body);
    let (second, _f) = MediaPeer::publish().await;
    let taken = post_offer(&server, "keyed", &second, Some("s3cret")).await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    // A talk page is refused too, as for any live room.
    let mut talk = server.join("keyed", Role::Broadcaster).await;
    talk.send(onair::protocol::ClientMessage::GoLive {
        key: Some("s3cret".into()),
        reclaim: None,
    })
    .await;
    talk.expect_error(onair::protocol::ErrorCode::AlreadyLive)
        .await;

    let bad = post_offer(&server, "bad", "v=0\r\nnonsense\r\n", Some("s3cret")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("SDP"), "{}", bad.body);
    // The failed offer left the room free.
    let (offer, _f) = MediaPeer::publish().await;
    assert_eq!(
        post_offer(&server, "bad", &offer, Some("s3cret"))
            .await
            .status,
        201
    );

    let text = request(
        server.addr,
        "POST",
        "/whip/plain",
        &[("Content-Type", "text/plain")],
        offer.as_bytes(),
    )
    .await;
    assert_eq!(text.status, 415);
    let huge = vec![b'a'; 40 * 1024];
    let big = request(server.addr, "POST", "/whip/big", &[SDP], &huge).await;
    assert_eq!(big.status, 413);
    let bad_room = post_offer(&server, "no%20such", &offer, Some("s3cret")).await;
    assert_eq!(bad_room.status, 404, "{}", bad_room.body);
    let unknown = request(server.addr, "DELETE", "/whip/keyed/nosuchsession", &[], b"").await;
    assert_eq!(unknown.status, 404);
    let get = request(server.addr, "GET", "/whip/keyed", &[], b"").await;
    assert_eq!(get.status, 405);

    let preflight = request(
        server.addr,
        "OPTIONS",
        "/whip/keyed",
        &[
            ("Origin", "https://player.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    )
    .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    assert!(preflight
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST") && m.contains("DELETE")));
    assert!(preflight
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("Authorization")));
    assert!(live
        .header("access-control-expose-headers")
        .is_some_and(|h| h.contains("Location")));
}

#[tokio::test]
async fn the_ice_servers_come_as_link_headers() {
    let server = TestServer::start(&[
        "--media",
        "sfu",
        "--ice-server",
        "stun:127.0.0.1:3479",
        "--ice-server",
        "turn:127.0.0.1:3478",
        "--turn-username",
        "u",
        "--turn-credential",
        "p",
    ])
    .await;
    let links = [
        "<stun:127.0.0.1:3479>; rel=\"ice-server\"",
        "<turn:127.0.0.1:3478>; rel=\"ice-server\"; username=\"u\"; credential=\"p\"; credential-type=\"password\"",
    ];
    let preflight = request(server.addr, "OPTIONS", "/whip/links", &[], b"").await;
    assert_eq!(preflight.all("link"), links);
    let (offer, _finish) = MediaPeer::publish().await;
    let created = post_offer(&server, "links", &offer, None).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.all("link"), links);
}

#[tokio::test]
async fn whip_needs_the_relay() {
    let server = TestServer::start(&[]).await; // peer to peer
    let (offer, _finish) = MediaPeer::publish().await;
    let reply = post_offer(&server, "p2p", &offer, None).await;
    assert_eq!(reply.status, 503);
    assert!(reply.body.contains("--media sfu"), "{}", reply.body);
}
