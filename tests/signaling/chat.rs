//! The chat and the audience list against the real server: messages reach the sender's room
//! only, stamped by the server; the backlog reaches a late joiner; the broadcaster on air (and
//! only it) deletes messages and mutes viewers, enforced by the server; text limits and the
//! rate limit refuse with reasons; the broadcaster hears who comes, is called what, and goes.

use onair::protocol::{
    AudienceMember, ChatEntry, ClientMessage as C, ErrorCode, Role, ServerMessage as S,
    MAX_CHAT_CHARS,
};

use crate::common::{Peer, TestServer};

/// The next chat message `peer` gets (past viewer counts, which a broadcaster also gets).
async fn chat_of(peer: &mut Peer) -> ChatEntry {
    loop {
        match peer.recv().await {
            S::Chat { message } => return message,
            S::ViewerCount { .. } => continue,
            other => panic!("{}: expected a chat message, got {other:?}", peer.name),
        }
    }
}

/// The next room news of `peer` (backlog, audience) that is not a viewer count.
async fn news_of(peer: &mut Peer) -> S {
    loop {
        match peer.recv_news().await {
            S::ViewerCount { .. } => continue,
            other => return other,
        }
    }
}

async fn say(peer: &mut Peer, text: &str) {
    peer.send(C::Chat { text: text.into() }).await;
}

#[tokio::test]
async fn a_message_reaches_its_room_only_stamped_with_its_sender() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("hall", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut first = server.join("hall", Role::Viewer).await;
    let mut second = server.join("hall", Role::Viewer).await;
    let mut elsewhere = server.join("other", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 1 }).await;
    broadcaster.expect(S::ViewerCount { count: 2 }).await;

    // A made-up sender is ignored: the server says who sent it.
    first
        .send_json(serde_json::json!({"type": "chat", "text": " <b>hi</b> ", "from": 999}))
        .await;
    let first_id = first.id;
    for peer in [&mut broadcaster, &mut first, &mut second] {
        let message = chat_of(peer).await;
        assert_eq!(message.from, first_id);
        assert_eq!(message.name, "viewer 1");
        // Text stays text, as sent (trimmed): the pages show it as text.
        assert_eq!(message.text, "<b>hi</b>");
        assert!(!message.broadcaster);
    }
    elsewhere.expect_quiet().await;

    // The broadcaster on air is marked; messages come in the order the server took them.
    say(&mut broadcaster, "welcome").await;
    say(&mut second, "thanks").await;
    let mut texts = Vec::new();
    for _ in 0..2 {
        let message = chat_of(&mut first).await;
        texts.push((message.text, message.broadcaster));
    }
    assert_eq!(
        texts,
        [("welcome".to_owned(), true), ("thanks".to_owned(), false)]
    );
}

#[tokio::test]
async fn a_late_joiner_gets_the_backlog_without_what_was_deleted() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("class", Role::Broadcaster).await;
    broadcaster.go_live().await;
    let mut viewer = server.join("class", Role::Viewer).await;
    for text in ["one", "two", "three"] {
        say(&mut viewer, text).await;
        chat_of(&mut viewer).await;
    }
    assert_eq!(chat_of(&mut broadcaster).await.text, "one");
    let two = chat_of(&mut broadcaster).await;
    assert_eq!(two.text, "two");
    broadcaster.send(C::DeleteChat { id: two.id }).await;
    viewer.expect(S::ChatDeleted { id: two.id }).await;

    let mut late = server.join("class", Role::Viewer).await;
    match late.recv_news().await {
        S::ChatBacklog { messages } => {
            let texts: Vec<&str> = messages.iter().map(|m| m.text.as_str()).collect();
            assert_eq!(texts, ["one", "three"]);
        }
        other => panic!("expected the backlog, got {other:?}"),
    }
}

#[tokio::test]
async fn only_the_broadcaster_on_air_moderates_and_a_mute_holds_on_the_server() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("mod", Role::Broadcaster).await;
    let mut viewer = server.join("mod", Role::Viewer).await;
    let mut other = server.join("mod", Role::Viewer).await;
    broadcaster.expect(S::ViewerCount { count: 1 }).await;
    broadcaster.expect(S::ViewerCount { count: 2 }).await;
    // Not on air yet: another page could have opened /talk/mod; it may not moderate.
    broadcaster
        .send(C::MuteChat {
            member: viewer.id,
            muted: true,
        })
        .await;
    broadcaster.expect_error(ErrorCode::NotAllowed).await;
    say(&mut broadcaster, "hello").await;
    assert!(!chat_of(&mut viewer).await.broadcaster);
    chat_of(&mut other).await;
    chat_of(&mut broadcaster).await;

    broadcaster.go_live().await;
    let on_air = S::OnAir {
        broadcaster: broadcaster.id,
    };
    viewer.expect(on_air.clone()).await;
    other.expect(on_air).await;
    // A viewer may not moderate either.
    other
        .send(C::MuteChat {
            member: viewer.id,
            muted: true,
        })
        .await;
    other.expect_error(ErrorCode::NotAllowed).await;
    other.send(C::DeleteChat { id: 1 }).await;
    other.expect_error(ErrorCode::NotAllowed).await;

    broadcaster
        .send(C::MuteChat {
            member: viewer.id,
            muted: true,
        })
        .await;
    viewer.expect(S::ChatMuted { muted: true }).await;
    say(&mut viewer, "let me talk").await;
    viewer.expect_error(ErrorCode::Muted).await;
    other.expect_quiet().await;

    broadcaster
        .send(C::MuteChat {
            member: viewer.id,
            muted: false,
        })
        .await;
    viewer.expect(S::ChatMuted { muted: false }).await;
    say(&mut viewer, "thank you").await;
    assert_eq!(chat_of(&mut other).await.text, "thank you");
}

#[tokio::test]
async fn empty_overlong_and_flooding_messages_are_refused_with_a_reason() {
    let server = TestServer::start(&[]).await;
    let mut viewer = server.join("limits", Role::Viewer).await;
    say(&mut viewer, "   ").await;
    viewer.expect_error(ErrorCode::ChatRefused).await;
    say(&mut viewer, &"x".repeat(MAX_CHAT_CHARS + 1)).await;
    let why = viewer.expect_error(ErrorCode::ChatRefused).await;
    assert!(why.contains("500"), "{why}");
    viewer
        .send(C::ChatName {
            name: "n".repeat(41),
        })
        .await;
    viewer.expect_error(ErrorCode::ChatRefused).await;

    // The longest message goes, and so do four more at once; the next is one too many.
    say(&mut viewer, &"é".repeat(MAX_CHAT_CHARS)).await;
    assert_eq!(
        chat_of(&mut viewer).await.text.chars().count(),
        MAX_CHAT_CHARS
    );
    for n in 0..4 {
        say(&mut viewer, &format!("burst {n}")).await;
        chat_of(&mut viewer).await;
    }
    say(&mut viewer, "one too many").await;
    let why = viewer.expect_error(ErrorCode::SlowDown).await;
    assert!(why.starts_with("slow down"), "{why}");
    // The socket stays open: a refused chat message is not a protocol error.
    viewer.send(C::ChatName { name: "Ada".into() }).await;
    viewer.expect_quiet().await;
}

#[tokio::test]
async fn the_broadcaster_hears_who_watches_under_which_name_and_who_leaves() {
    let server = TestServer::start(&[]).await;
    let first = server.join("crowd", Role::Viewer).await;
    let mut broadcaster = server.join("crowd", Role::Broadcaster).await;
    // On joining: who is there already.
    match news_of(&mut broadcaster).await {
        S::ChatBacklog { messages } => assert!(messages.is_empty()),
        other => panic!("expected the backlog, got {other:?}"),
    }
    match news_of(&mut broadcaster).await {
        S::Audience { viewers } => {
            let names: Vec<(u64, &str)> = viewers.iter().map(|v| (v.id, v.name.as_str())).collect();
            assert_eq!(names, [(first.id, "viewer 1")]);
        }
        other => panic!("expected the audience, got {other:?}"),
    }

    let mut second = server.join("crowd", Role::Viewer).await;
    let joined = match news_of(&mut broadcaster).await {
        S::AudienceJoined { viewer } => viewer,
        other => panic!("expected a viewer joining, got {other:?}"),
    };
    assert_eq!((joined.id, joined.name.as_str()), (second.id, "viewer 2"));

    // A chosen name replaces the number, in the list and on messages.
    second
        .send(C::ChatName {
            name: " Grace\u{7} ".into(),
        })
        .await;
    assert_eq!(
        news_of(&mut broadcaster).await,
        S::AudienceJoined {
            viewer: AudienceMember {
                name: "Grace".into(),
                ..joined
            }
        }
    );
    say(&mut second, "hi").await;
    assert_eq!(chat_of(&mut second).await.name, "Grace");

    let first_id = first.id;
    drop(first);
    let gone = loop {
        match news_of(&mut broadcaster).await {
            S::Chat { .. } => continue,
            other => break other,
        }
    };
    assert_eq!(gone, S::AudienceLeft { id: first_id });
}
