//! A room's signaling across nodes, through a real Redis: its chat and its audience list reach
//! its members on every node, stamped by the sender's node, and nothing reaches another room.

use std::time::Instant;

use onair::protocol::{ClientMessage, ErrorCode, Role, ServerMessage};

use crate::cluster_nodes::*;
use crate::common::*;
use ServerMessage as S;

async fn node(redis: &Redis) -> TestServer {
    let url = redis.url();
    TestServer::start(&["--redis", url.as_str()]).await
}

/// The first message, room news included, that `pick` takes, within [`AGREE_WITHIN`].
async fn until<T>(peer: &mut Peer, what: &str, pick: impl Fn(S) -> Option<T>) -> T {
    let deadline = Instant::now() + AGREE_WITHIN;
    loop {
        assert!(Instant::now() < deadline, "{}: no {what}", peer.name);
        if let Some(found) = pick(peer.recv_news().await) {
            return found;
        }
    }
}

/// Send chat `text` and wait for its own echo: it went out.
async fn say(peer: &mut Peer, text: &str) {
    peer.send(ClientMessage::Chat { text: text.into() }).await;
    let me = peer.id;
    until(peer, "echo of its own chat", |msg| match msg {
        S::Chat { message } if message.from == me => Some(()),
        _ => None,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_reaches_the_room_on_every_node_stamped_and_no_other_room() {
    let redis = Redis::start();
    let (a, b, c) = (node(&redis).await, node(&redis).await, node(&redis).await);
    let mut broadcaster = a.join("hall", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut on_b = b.join("hall", Role::Viewer).await;
    let mut on_c = c.join("hall", Role::Viewer).await;
    let mut elsewhere = [
        b.join("side", Role::Viewer).await,
        c.join("side", Role::Viewer).await,
    ];
    let ids = [
        broadcaster.id,
        on_b.id,
        on_c.id,
        elsewhere[0].id,
        elsewhere[1].id,
    ];
    for (n, id) in ids.iter().enumerate() {
        assert!(
            !ids[n + 1..].contains(id),
            "member ids are the cluster's: {ids:?}"
        );
    }
    wait_for_rooms(b.addr, r#"[{"name":"hall","viewers":2}]"#, AGREE_WITHIN).await;

    // A viewer on B says something: stamped on B (its id and name), heard on A and C.
    say(&mut on_b, "hello from B").await;
    let from_b = on_b.id;
    let mut said_on_b = 0;
    for peer in [&mut broadcaster, &mut on_c] {
        let message = until(peer, "B's chat", |msg| match msg {
            S::Chat { message } => Some(message),
            _ => None,
        })
        .await;
        assert_eq!(message.from, from_b);
        assert_eq!(message.text, "hello from B");
        assert_eq!(message.name, "viewer 1");
        assert!(!message.broadcaster);
        said_on_b = message.id;
    }
    // The broadcaster answers, and deletes the message: both reach B and C.
    say(&mut broadcaster, "welcome").await;
    for peer in [&mut on_b, &mut on_c] {
        let message = until(peer, "the broadcaster's chat", |msg| match msg {
            S::Chat { message } if message.text == "welcome" => Some(message),
            _ => None,
        })
        .await;
        assert!(message.broadcaster, "stamped as the broadcaster's");
    }
    broadcaster
        .send(ClientMessage::DeleteChat { id: said_on_b })
        .await;
    for peer in [&mut on_b, &mut on_c] {
        until(peer, "the deletion", |msg| {
            matches!(msg, S::ChatDeleted { id } if id == said_on_b).then_some(())
        })
        .await;
    }
    // A late joiner on C finds B's line gone and the broadcaster's in the backlog.
    let mut late = c.join("hall", Role::Viewer).await;
    let backlog = until(&mut late, "the backlog", |msg| match msg {
        S::ChatBacklog { messages } => Some(messages),
        _ => None,
    })
    .await;
    let texts: Vec<&str> = backlog.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["welcome"]);
    // The other room heard none of it.
    for peer in &mut elsewhere {
        peer.expect_quiet().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broadcaster_sees_and_mutes_viewers_on_other_nodes() {
    let redis = Redis::start();
    let (a, b) = (node(&redis).await, node(&redis).await);
    let mut broadcaster = a.join("hall", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut on_b = b.join("hall", Role::Viewer).await;
    let joined = until(
        &mut broadcaster,
        "B's viewer in the audience",
        |msg| match msg {
            S::AudienceJoined { viewer } => Some(viewer),
            _ => None,
        },
    )
    .await;
    assert_eq!(joined.id, on_b.id);

    on_b.send(ClientMessage::ChatName { name: "Ada".into() })
        .await;
    let renamed = until(&mut broadcaster, "B's viewer renamed", |msg| match msg {
        S::AudienceJoined { viewer } if viewer.name == "Ada" => Some(viewer),
        _ => None,
    })
    .await;
    assert_eq!(renamed.id, on_b.id);

    // Muted from A: B mutes it, tells it, and its chat is refused there.
    broadcaster
        .send(ClientMessage::MuteChat {
            member: on_b.id,
            muted: true,
        })
        .await;
    until(&mut on_b, "its mute", |msg| {
        matches!(msg, S::ChatMuted { muted: true }).then_some(())
    })
    .await;
    until(&mut broadcaster, "the muted viewer", |msg| match msg {
        S::AudienceJoined { viewer } if viewer.muted => Some(()),
        _ => None,
    })
    .await;
    on_b.send(ClientMessage::Chat { text: "hi".into() }).await;
    let code = until(&mut on_b, "the refusal", |msg| match msg {
        S::Error { code, .. } => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, ErrorCode::Muted);
    // Nobody can mute a member no node has.
    broadcaster
        .send(ClientMessage::MuteChat {
            member: on_b.id + 1_000_000,
            muted: true,
        })
        .await;
    let code = until(&mut broadcaster, "the refusal", |msg| match msg {
        S::Error { code, .. } => Some(code),
        _ => None,
    })
    .await;
    assert_eq!(code, ErrorCode::NoSuchPeer);

    // A broadcaster page that joins later (on another node) is told who watches on B.
    let c = node(&redis).await;
    wait_for_rooms(c.addr, r#"[{"name":"hall","viewers":1}]"#, AGREE_WITHIN).await;
    let mut second_page = c.join("hall", Role::Broadcaster).await;
    let seen = until(&mut second_page, "B's viewer", |msg| match msg {
        S::AudienceJoined { viewer } => Some(viewer),
        S::Audience { viewers } => viewers.into_iter().find(|v| v.name == "Ada"),
        _ => None,
    })
    .await;
    assert_eq!((seen.id, seen.name.as_str()), (on_b.id, "Ada"));

    // The viewer leaves: the broadcaster's list loses it.
    let gone = on_b.id;
    on_b.leave().await;
    until(&mut broadcaster, "B's viewer leaving", |msg| {
        matches!(msg, S::AudienceLeft { id } if id == gone).then_some(())
    })
    .await;
}
