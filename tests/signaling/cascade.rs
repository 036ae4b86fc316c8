//! The cascade: a room live on one node and watched on others. Each other node pulls the
//! broadcast from the origin once, over real WebRTC between the two relays, and serves its
//! own viewers (str0m clients) from it; the servers' counters show once per node.

use std::time::{Duration, Instant};

use onair::protocol::{ClientMessage, Role, ServerMessage, RELAY_ID};

use crate::cluster_nodes::*;
use crate::common::*;
use crate::http::request;
use crate::media_peer::MediaPeer;
use crate::relay::{
    expect_metric, expect_picture, is_audio, is_video, metric_at, publish, publisher, viewer, watch,
};

/// A node that relays the media, sharing its rooms through `redis`.
async fn relaying_node(redis: &Redis) -> TestServer {
    let url = redis.url();
    TestServer::start(&["--media", "sfu", "--redis", url.as_str()]).await
}

/// Wait (within [`AGREE_WITHIN`]) for the viewer to hear the broadcast ended.
async fn expect_off_air(viewer: &mut Peer) {
    let until = tokio::time::Instant::now() + AGREE_WITHIN;
    loop {
        let left = until.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, viewer.recv()).await {
            Ok(ServerMessage::OffAir { .. }) => return,
            Ok(_) => {}
            Err(_) => panic!("the viewer never heard the broadcast end"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_on_other_nodes_play_a_broadcast_each_node_pulls_once() {
    let redis = Redis::start();
    let a = relaying_node(&redis).await;
    let b = relaying_node(&redis).await;
    let c = relaying_node(&redis).await;
    let (mut broadcaster, _stream) = publisher(&a, "hall").await;
    wait_for_rooms(c.addr, r#"[{"name":"hall","viewers":0}]"#, AGREE_WITHIN).await;

    let mut viewers: Vec<(Peer, MediaPeer)> = Vec::new();
    for (node, who) in [(&b, "B"), (&b, "B"), (&c, "C"), (&c, "C")] {
        let (mut peer, mut media) = viewer(node, "hall").await;
        expect_picture(&mut media, &format!("a viewer on node {who}")).await;
        // Sound crosses too, once the viewer asks for it.
        peer.send(ClientMessage::Audio {
            to: RELAY_ID,
            on: true,
        })
        .await;
        media.wait_for(who, is_audio).await;
        viewers.push((peer, media));
    }
    // Every node lists the room with the viewers of all.
    wait_for_rooms(c.addr, r#"[{"name":"hall","viewers":4}]"#, AGREE_WITHIN).await;
    wait_for_rooms(a.addr, r#"[{"name":"hall","viewers":4}]"#, AGREE_WITHIN).await;

    // The origin sends the stream once per node that pulls it, not once per viewer: its
    // relay has the broadcaster's ingest and one peer per edge node.
    expect_metric(&a, "onair_cluster_nodes", 3.0).await;
    expect_metric(&a, "onair_cascade_edges", 2.0).await;
    expect_metric(&a, "onair_relay_peers", 3.0).await;
    expect_metric(&a, "onair_viewers", 0.0).await;
    for edge in [&b, &c] {
        expect_metric(edge, "onair_cascade_pulls", 1.0).await;
        // Its pull and its two viewers.
        expect_metric(edge, "onair_relay_peers", 3.0).await;
        expect_metric(edge, "onair_viewers", 2.0).await;
    }

    // Off air at the origin: every node's viewers hear it ended, and the pulls stop.
    broadcaster.send(ClientMessage::OffAir).await;
    for (peer, _) in &mut viewers {
        expect_off_air(peer).await;
    }
    for edge in [&b, &c] {
        expect_metric(edge, "onair_cascade_pulls", 0.0).await;
        // The viewers' connections end with the broadcast, as on one node.
        expect_metric(edge, "onair_relay_peers", 0.0).await;
    }
    expect_metric(&a, "onair_cascade_edges", 0.0).await;
    expect_metric(&a, "onair_relay_peers", 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_viewer_leaving_a_node_stops_its_pull() {
    let redis = Redis::start();
    let a = relaying_node(&redis).await;
    let b = relaying_node(&redis).await;
    let (_broadcaster, _stream) = publisher(&a, "hall").await;
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":0}]"#, AGREE_WITHIN).await;
    let (peer, mut media) = viewer(&b, "hall").await;
    expect_picture(&mut media, "the viewer on B").await;
    expect_metric(&a, "onair_cascade_edges", 1.0).await;
    peer.leave().await;
    expect_metric(&b, "onair_cascade_pulls", 0.0).await;
    expect_metric(&b, "onair_relay_peers", 0.0).await;
    expect_metric(&a, "onair_cascade_edges", 0.0).await;
    // The origin's relay keeps only the broadcaster's ingest.
    expect_metric(&a, "onair_relay_peers", 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_names_a_node_of_the_cluster_or_is_refused() {
    let redis = Redis::start();
    let a = relaying_node(&redis).await;
    let (_broadcaster, _stream) = publisher(&a, "hall").await;
    let (offer, _finish) = MediaPeer::play().await;
    let headers = [
        ("Content-Type", "application/sdp"),
        ("onair-edge", "not-a-node"),
    ];
    let reply = request(a.addr, "POST", "/whep/hall", &headers, offer.as_bytes()).await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert!(
        reply.body.contains("not a node of this cluster"),
        "{}",
        reply.body
    );
    // Nothing of it stays: the broadcaster's ingest is the relay's only peer.
    expect_metric(&a, "onair_cascade_edges", 0.0).await;
    expect_metric(&a, "onair_relay_peers", 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_node_dies_the_broadcast_follows_its_broadcaster_and_viewers_play_again() {
    let redis = Redis::start();
    let relaying = ["--media", "sfu"];
    let mut a = Node::start(&redis, &relaying).await;
    let mut b = Node::start(&redis, &relaying).await;
    let c = Node::start(&redis, &relaying).await;
    let mut broadcaster = join_at(a.addr, "hall", Role::Broadcaster).await;
    let token = broadcaster.go_live().await;
    let (_broadcaster, _stream) = publish(broadcaster).await;
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":0}]"#, AGREE_WITHIN).await;
    let (_on_b, mut seen_on_b) = watch(join_at(b.addr, "hall", Role::Viewer).await).await;
    expect_picture(&mut seen_on_b, "the viewer on B").await;

    // The origin dies. Its broadcaster reclaims the room on C (as the talk page does when
    // it reconnects), and B, which kept its viewer's connection, now pulls from C.
    a.kill();
    let mut broadcaster = join_at(c.addr, "hall", Role::Broadcaster).await;
    broadcaster.go_live_with(None, Some(&token)).await;
    let (_broadcaster, _stream) = publish(broadcaster).await;
    seen_on_b.drain();
    expect_picture(&mut seen_on_b, "the viewer on B, from the new origin").await;
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":1}]"#, AGREE_WITHIN).await;

    // B dies: its viewer comes back through C (as the watch page does through the load
    // balancer) and plays again within 10 s.
    b.kill();
    let died = Instant::now();
    let (_on_c, mut seen_on_c) = watch(join_at(c.addr, "hall", Role::Viewer).await).await;
    expect_picture(&mut seen_on_c, "B's viewer, back through C").await;
    let back = died.elapsed();
    println!(
        "B's viewer played again through C {} ms after B died",
        back.as_millis()
    );
    assert!(back < Duration::from_secs(10), "{back:?}");
    wait_for_rooms(c.addr, r#"[{"name":"hall","viewers":1}]"#, AGREE_WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_the_audience_spreads_over_the_nodes_and_every_viewer_plays() {
    let redis = Redis::start();
    let nodes = [
        relaying_node(&redis).await,
        relaying_node(&redis).await,
        relaying_node(&redis).await,
    ];
    let addrs: Vec<_> = nodes.iter().map(|node| node.addr).collect();
    let balancer = LoadBalancer::start(&addrs).await;
    let mut broadcaster = join_at(balancer.addr, "hall", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let (_broadcaster, _stream) = publish(broadcaster).await;
    wait_for_every_node(&addrs, r#"[{"name":"hall","viewers":0}]"#).await;
    let mut viewers = Vec::new();
    for n in 0..6 {
        let (peer, mut media) = watch(join_at(balancer.addr, "hall", Role::Viewer).await).await;
        expect_picture(&mut media, &format!("viewer {n} through nginx")).await;
        viewers.push((peer, media));
    }
    let want = r#"[{"name":"hall","viewers":6}]"#;
    wait_for_every_node(&addrs, want).await;
    wait_for_rooms(balancer.addr, want, AGREE_WITHIN).await;
    let mut spread = Vec::new();
    for node in &nodes {
        spread.push(metric_at(node.addr, "onair_viewers").await);
    }
    println!("viewers per node: {spread:?}");
    assert_eq!(spread.iter().sum::<f64>(), 6.0);

    // A WHEP player through nginx: its session's requests reach the node that made it.
    let (offer, finish) = MediaPeer::play().await;
    let headers = [("Content-Type", "application/sdp")];
    let reply = request(
        balancer.addr,
        "POST",
        "/whep/hall",
        &headers,
        offer.as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let mut player = finish(reply.body.clone());
    expect_picture(&mut player, "the WHEP player through nginx").await;
    let location = reply.header("location").expect("a Location").to_owned();
    let ended = request(balancer.addr, "DELETE", &location, &[], b"").await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    wait_for_rooms(balancer.addr, want, AGREE_WITHIN).await;
}

/// Wait until every node at `addrs` lists `want`.
async fn wait_for_every_node(addrs: &[std::net::SocketAddr], want: &str) {
    for addr in addrs {
        wait_for_rooms(*addr, want, AGREE_WITHIN).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pulled_broadcast_plays_on_while_redis_is_away() {
    let mut redis = Redis::start();
    let a = relaying_node(&redis).await;
    let b = relaying_node(&redis).await;
    let (_broadcaster, _stream) = publisher(&a, "hall").await;
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":0}]"#, AGREE_WITHIN).await;
    let (_on_b, mut seen_on_b) = viewer(&b, "hall").await;
    expect_picture(&mut seen_on_b, "the viewer on B").await;
    let one = r#"[{"name":"hall","viewers":1}]"#;
    wait_for_rooms(a.addr, one, AGREE_WITHIN).await;

    let outage = Instant::now();
    redis.stop();
    // Ten seconds away, as an operator restarting Redis might take: B's picture goes on
    // from A all the while (the wait is for frames, each within a few seconds).
    while outage.elapsed() < Duration::from_secs(10) {
        seen_on_b
            .wait_for("the viewer on B, Redis away", is_video)
            .await;
    }
    expect_metric(&b, "onair_cascade_pulls", 1.0).await;
    expect_metric(&b, "onair_cluster_redis_up", 0.0).await;
    redis.restart();
    wait_for_rooms(a.addr, one, Duration::from_secs(5)).await;
    wait_for_rooms(b.addr, one, Duration::from_secs(5)).await;
    seen_on_b.drain();
    seen_on_b
        .wait_for("the viewer on B, Redis back", is_video)
        .await;
    expect_metric(&b, "onair_cluster_redis_up", 1.0).await;
    expect_metric(&b, "onair_cluster_nodes", 2.0).await;
    expect_metric(&a, "onair_cascade_edges", 1.0).await;
}
