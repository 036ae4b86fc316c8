//! Several nodes sharing rooms through a real Redis: the room list and its counts over every
//! node, one broadcaster per room whichever node it reaches, the viewer cap over all of
//! them, a dead node's rooms leaving the list and its broadcaster reclaiming on another, and
//! Redis going away and coming back.

use std::time::{Duration, Instant};

use onair::protocol::{ClientMessage, ErrorCode, Role, ServerMessage};

use crate::cluster_nodes::*;
use crate::common::*;
use crate::rooms::{round_trip, ROOM_FULL};
use ServerMessage as S;

/// Read the broadcaster's counts until one is `n` (of every node's viewers).
async fn count_reaches(broadcaster: &mut Peer, n: u32) {
    let until = Instant::now() + AGREE_WITHIN;
    loop {
        match broadcaster.recv().await {
            S::ViewerCount { count } if count == n => return,
            S::ViewerCount { .. } => {}
            other => panic!("broadcaster: unexpected {other:?}"),
        }
        assert!(Instant::now() < until, "the count never reached {n}");
    }
}

async fn node(redis: &Redis, flags: &[&str]) -> TestServer {
    let url = redis.url();
    let mut all = vec!["--redis", url.as_str()];
    all.extend_from_slice(flags);
    TestServer::start(&all).await
}

const HALL_3: &str = r#"[{"name":"hall","viewers":3}]"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_nodes_list_shows_a_room_live_on_one_with_the_viewers_of_all() {
    let redis = Redis::start();
    let a = node(&redis, &[]).await;
    let b = node(&redis, &[]).await;
    let mut broadcaster = a.join("hall", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let _on_a = a.join("hall", Role::Viewer).await;
    let _on_b = [
        b.join("hall", Role::Viewer).await,
        b.join("hall", Role::Viewer).await,
    ];
    wait_for_rooms(b.addr, HALL_3, AGREE_WITHIN).await;
    wait_for_rooms(a.addr, HALL_3, AGREE_WITHIN).await;
    // The broadcaster's own count is of every node's viewers.
    count_reaches(&mut broadcaster, 3).await;
    // A room with viewers on B but nobody on air anywhere is not listed.
    let _waiting = b.join("empty-stage", Role::Viewer).await;
    wait_for_rooms(a.addr, HALL_3, AGREE_WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_broadcaster_is_refused_whichever_node_it_reaches() {
    let redis = Redis::start();
    let a = node(&redis, &[]).await;
    let b = node(&redis, &[]).await;
    let mut first = a.join("hall", Role::Broadcaster).await;
    first.go_live().await;
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":0}]"#, AGREE_WITHIN).await;
    let mut second = b.join("hall", Role::Broadcaster).await;
    second
        .send(ClientMessage::GoLive {
            key: None,
            reclaim: Some("a-guess".into()),
        })
        .await;
    let why = second.expect_error(ErrorCode::AlreadyLive).await;
    assert!(why.contains("another onair node"), "{why}");
    // The first one is still on air, alone.
    first.expect_quiet().await;
    wait_for_rooms(a.addr, r#"[{"name":"hall","viewers":0}]"#, AGREE_WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_broadcasters_at_once_on_two_nodes_end_with_one_on_air() {
    let redis = Redis::start();
    let a = node(&redis, &[]).await;
    let b = node(&redis, &[]).await;
    let mut on_a = a.join("race", Role::Broadcaster).await;
    let mut on_b = b.join("race", Role::Broadcaster).await;
    let go = || ClientMessage::GoLive {
        key: None,
        reclaim: None,
    };
    tokio::join!(on_a.send(go()), on_b.send(go()));
    // Each is granted here or refused at once; a granted one may be told at the next round
    // that the other node took the room first.
    let mut on_air = 0;
    for broadcaster in [&mut on_a, &mut on_b] {
        let mut refused = false;
        match broadcaster.recv().await {
            S::Live { .. } => {
                if let Some(Event::Msg(S::Error { code, message })) =
                    next_event(&mut broadcaster.ws, Duration::from_secs(3)).await
                {
                    assert_eq!(code, ErrorCode::AlreadyLive, "{message}");
                    refused = true;
                }
            }
            S::Error {
                code: ErrorCode::AlreadyLive,
                ..
            } => refused = true,
            other => panic!("{}: unexpected {other:?}", broadcaster.name),
        }
        on_air += usize::from(!refused);
    }
    assert_eq!(on_air, 1, "exactly one broadcaster stays on air");
    wait_for_rooms(a.addr, r#"[{"name":"race","viewers":0}]"#, AGREE_WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_cap_holds_over_every_node() {
    let redis = Redis::start();
    let a = node(&redis, &["--max-viewers", "2"]).await;
    let b = node(&redis, &["--max-viewers", "2"]).await;
    let mut broadcaster = a.join("hall", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let _on_a = a.join("hall", Role::Viewer).await;
    let _on_b = b.join("hall", Role::Viewer).await;
    let two = r#"[{"name":"hall","viewers":2}]"#;
    wait_for_rooms(a.addr, two, AGREE_WITHIN).await;
    wait_for_rooms(b.addr, two, AGREE_WITHIN).await;
    for server in [&a, &b] {
        let mut ws = server.connect("hall").await;
        send(&mut ws, &ClientMessage::join(Role::Viewer)).await;
        assert_eq!(
            recv(&mut ws, "third viewer").await,
            S::RoomFull { max_viewers: 2 }
        );
        assert_eq!(expect_close(&mut ws, "third viewer").await, ROOM_FULL);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_room_leaves_the_list_and_its_broadcaster_reclaims_it_elsewhere() {
    let redis = Redis::start();
    let mut a = Node::start(&redis, &["--reclaim-seconds", "30"]).await;
    let b = node(&redis, &["--reclaim-seconds", "30"]).await;
    let mut broadcaster = join_at(a.addr, "hall", Role::Broadcaster).await;
    let token = broadcaster.go_live().await;
    let mut viewer = b.join("hall", Role::Viewer).await;
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":1}]"#, AGREE_WITHIN).await;

    a.kill();
    wait_for_rooms(b.addr, "[]", AGREE_WITHIN).await;
    // While its broadcaster may come back, nobody else takes the room.
    let mut intruder = b.join("hall", Role::Broadcaster).await;
    intruder
        .send(ClientMessage::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    intruder.expect_error(ErrorCode::AlreadyLive).await;
    // Its broadcaster, reconnected through the load balancer to B, takes it back.
    let mut back = b.join("hall", Role::Broadcaster).await;
    back.go_live_with(None, Some(&token)).await;
    assert_eq!(
        viewer.recv().await,
        S::OnAir {
            broadcaster: back.id
        }
    );
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":1}]"#, AGREE_WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_stay_live_while_redis_is_away_and_the_cluster_recovers_without_leaks() {
    let mut redis = Redis::start();
    let mut a = node(&redis, &["--reclaim-seconds", "2"]).await;
    let mut b = node(&redis, &["--reclaim-seconds", "2"]).await;
    let mut broadcaster = a.join("hall", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut viewer = a.join("hall", Role::Viewer).await;
    let _on_b = b.join("hall", Role::Viewer).await;
    let both = r#"[{"name":"hall","viewers":2}]"#;
    wait_for_rooms(b.addr, both, AGREE_WITHIN).await;
    count_reaches(&mut broadcaster, 2).await;
    let before = redis.keys();
    assert_eq!(
        before.len(),
        5,
        "two nodes, their rooms and one broadcast: {before:?}"
    );

    let outage = Instant::now();
    redis.stop();
    // B no longer knows of A's room, and cannot start one: that needs the cluster.
    wait_for_rooms(b.addr, "[]", AGREE_WITHIN).await;
    let mut refused = b.join("side", Role::Broadcaster).await;
    refused
        .send(ClientMessage::GoLive {
            key: None,
            reclaim: None,
        })
        .await;
    let why = refused.expect_error(ErrorCode::Unavailable).await;
    assert!(why.contains("Redis"), "{why}");
    // A's broadcast goes on: its broadcaster and viewer still talk through A.
    round_trip(&mut broadcaster, &mut viewer, "during the outage").await;
    wait_for_rooms(a.addr, r#"[{"name":"hall","viewers":1}]"#, AGREE_WITHIN).await;
    // Ten seconds away, as an operator restarting Redis might take.
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(outage.elapsed())).await;

    redis.restart();
    wait_for_rooms(b.addr, both, Duration::from_secs(5)).await;
    wait_for_rooms(a.addr, both, Duration::from_secs(5)).await;
    redis.wait_for_keys(&before, STEP).await;
    assert!(
        redis.ttls().iter().all(|(_, ttl)| *ttl > 0),
        "every key has a time to live: {:?}",
        redis.ttls()
    );
    // B can start a broadcast again.
    let mut side = b.join("side", Role::Broadcaster).await;
    side.go_live().await;

    // Stopped nodes take their keys along; what they held expires.
    drop(side);
    drop(broadcaster);
    a.trigger_stop();
    b.trigger_stop();
    a.finished().await.expect("a clean stop");
    b.finished().await.expect("a clean stop");
    redis.wait_for_keys(&[], AGREE_WITHIN).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_nginx_a_peer_to_peer_room_stays_on_one_node_and_moves_when_that_node_dies() {
    let redis = Redis::start();
    let mut nodes = [
        Node::start(&redis, &["--reclaim-seconds", "30"]).await,
        Node::start(&redis, &["--reclaim-seconds", "30"]).await,
    ];
    let balancer =
        LoadBalancer::start_with(&[nodes[0].addr, nodes[1].addr], &lb_conf_peer_to_peer()).await;
    let mut broadcaster = join_at(balancer.addr, "hall", Role::Broadcaster).await;
    let token = broadcaster.go_live().await;
    let mut viewer = join_at(balancer.addr, "hall", Role::Viewer).await;
    assert_eq!(
        viewer.on_air,
        Some(broadcaster.id),
        "both reached the same node"
    );
    broadcaster.expect(S::ViewerCount { count: 1 }).await;
    round_trip(&mut broadcaster, &mut viewer, "through nginx").await;

    // The node that took it writes it down at its next round.
    let until = Instant::now() + AGREE_WITHIN;
    let origin = loop {
        if let Some(origin) = holder_addr(&redis, "hall") {
            break origin;
        }
        assert!(Instant::now() < until, "Redis never named the room's node");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dead = nodes
        .iter_mut()
        .find(|node| node.addr == origin)
        .expect("the holder is one of the nodes");
    dead.kill();
    // Both pages lose their sockets, and come back through nginx, to the other node.
    for ws in [&mut broadcaster.ws, &mut viewer.ws] {
        match next_event(ws, STEP).await {
            Some(Event::Close(_) | Event::Ended(_)) => {}
            other => panic!("expected the socket to end, got {other:?}"),
        }
    }
    let mut viewer = join_at(balancer.addr, "hall", Role::Viewer).await;
    let mut broadcaster = join_at(balancer.addr, "hall", Role::Broadcaster).await;
    broadcaster.go_live_with(None, Some(&token)).await;
    assert_eq!(
        viewer.recv().await,
        S::OnAir {
            broadcaster: broadcaster.id
        }
    );
    round_trip(&mut broadcaster, &mut viewer, "after the move").await;
    let survivor = nodes
        .iter()
        .find(|node| node.addr != origin)
        .map(|node| node.addr)
        .expect("the other node");
    wait_for_rooms(survivor, r#"[{"name":"hall","viewers":1}]"#, AGREE_WITHIN).await;
    let until = Instant::now() + AGREE_WITHIN;
    while holder_addr(&redis, "hall") != Some(survivor) {
        assert!(
            Instant::now() < until,
            "Redis names {:?} for the room, not {survivor} (the dead one was {origin}): {:?}",
            holder_addr(&redis, "hall"),
            redis.keys()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
