//! Spare offers: the broadcaster's ready connection handed to the next viewer by the server, or served in the watch page with a ticket.

use std::time::Duration;

use onair::protocol::{ClientMessage, ErrorCode, Role, ServerMessage};

use crate::common::*;
use crate::rooms::*;
use ClientMessage as C;
use ServerMessage as S;

const SPARE_SDP: &str =
    "v=0\r\no=- 9 2 IN IP4 127.0.0.1\r\na=candidate:1 1 udp 1 127.0.0.1 5000 typ host\r\n";

/// The offer in a watch page's HTML (`data-page-offer`), if it has one.
fn page_offer_in(html: &str) -> Option<onair::protocol::PageOffer> {
    let start = html.find("data-page-offer=\"")? + "data-page-offer=\"".len();
    let end = start + html[start..].find('"')?;
    let json = html[start..end]
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(serde_json::from_str(&json).expect("the page offer is JSON"))
}

/// Park a spare offer `id` for the live broadcaster (publish key `key`), and wait until the
/// server has it (a `go_live` while live is answered in order, after it).
async fn park_spare(broadcaster: &mut Peer, id: u64, key: Option<&str>) {
    broadcaster
        .send(C::SpareOffer {
            id,
            sdp: SPARE_SDP.into(),
        })
        .await;
    broadcaster.go_live_with(key, None).await;
}

/// The (only) viewer `id` on `viewer` took spare `spare`: the broadcaster hears so, with the
/// viewer count, and then gets the viewer's answer, as to any offer.
async fn took_spare_and_answers(broadcaster: &mut Peer, viewer: &mut Ws, id: u64, spare: u64) {
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 1 }, S::SpareTaken { spare, by: id }])
        .await;
    let answer = "v=0 answer".to_string();
    send(
        viewer,
        &C::Answer {
            to: broadcaster.id,
            sdp: answer.clone(),
        },
    )
    .await;
    broadcaster
        .expect(S::Answer {
            from: id,
            sdp: answer,
        })
        .await;
}

/// A viewer asking for the stream gets the spare offer from the server at once; the
/// broadcaster hears who took it, and the spare serves one viewer only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spare_offer_goes_to_the_next_viewer_without_the_broadcasters_turn() {
    let server = TestServer::start(&[]).await;
    let mut broadcaster = server.join("spare", Role::Broadcaster).await;
    broadcaster.go_live().await;
    park_spare(&mut broadcaster, 1, None).await;

    let (mut first, id, on_air) = join_wanting_stream(&server, "spare").await;
    assert_eq!(on_air, Some(broadcaster.id));
    assert_eq!(
        recv(&mut first, "first viewer").await,
        S::Offer {
            from: broadcaster.id,
            sdp: SPARE_SDP.into()
        }
    );
    // Answered like any offer.
    took_spare_and_answers(&mut broadcaster, &mut first, id, 1).await;

    let (_second, id2, _) = join_wanting_stream(&server, "spare").await;
    broadcaster
        .expect_unordered(&[S::ViewerCount { count: 2 }, S::WantStream { from: id2 }])
        .await;

    // Only the live broadcaster parks offers.
    let mut viewer = server.join("spare", Role::Viewer).await;
    viewer
        .send(C::SpareOffer {
            id: 5,
            sdp: SPARE_SDP.into(),
        })
        .await;
    viewer.expect_error(ErrorCode::NotAllowed).await;
}

/// A watch page served while the room is live comes with the spare offer and a ticket; the
/// page's socket claims it with its `join`, once, and is not sent another offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_page_comes_with_the_spare_offer_and_its_ticket_claims_it_once() {
    let server = TestServer::start(&["--ice-server", "stun:stun.example.org:3478"]).await;
    let page = |server: &TestServer| {
        let addr = server.addr;
        async move {
            let (status, html) = http_get(addr, "/watch/page").await;
            assert_eq!(status, 200);
            page_offer_in(&html)
        }
    };
    assert_eq!(page(&server).await, None, "not live: no offer in the page");
    // Joined by hand: `Peer::join` checks that no ICE servers are configured.
    let mut ws = server.connect("page").await;
    send(&mut ws, &C::join(Role::Broadcaster)).await;
    let S::Welcome { id, .. } = recv(&mut ws, "broadcaster").await else {
        panic!("the first answer to a join is the welcome");
    };
    let mut broadcaster = Peer {
        ws,
        name: "broadcaster".into(),
        id,
        on_air: None,
        viewers: 0,
        max_viewers: 10,
        needs_key: false,
    };
    broadcaster.go_live().await;
    assert_eq!(page(&server).await, None, "no spare yet: no offer");

    park_spare(&mut broadcaster, 7, None).await;
    let offer = page(&server)
        .await
        .expect("a page served live has the offer");
    assert_eq!(offer.sdp, SPARE_SDP);
    assert_eq!(
        offer.ice_servers[0].urls,
        ["stun:stun.example.org:3478"],
        "the page's connection needs the ICE servers before its welcome"
    );
    broadcaster.expect(S::SpareHeld { spare: 7 }).await;
    assert_eq!(page(&server).await, None, "one spare, one page");

    let join = |ticket: &str| C::Join {
        role: Role::Viewer,
        want_stream: true,
        ticket: Some(ticket.into()),
    };
    let mut ws = server.connect("page").await;
    send(&mut ws, &join(&offer.ticket)).await;
    let S::Welcome {
        id,
        on_air,
        page_offer,
        ..
    } = recv(&mut ws, "page viewer").await
    else {
        panic!("the first answer to a join is the welcome");
    };
    assert_eq!(on_air, Some(broadcaster.id));
    assert!(page_offer, "the welcome confirms the page's offer");
    took_spare_and_answers(&mut broadcaster, &mut ws, id, 7).await;
    expect_no_message_within(&mut ws, Duration::from_millis(200), "page viewer").await;

    // The same ticket again, or a made-up one: a plain join that asks for the stream.
    for ticket in [offer.ticket.as_str(), "0123456789abcdef"] {
        let mut again = server.connect("page").await;
        send(&mut again, &join(ticket)).await;
        let S::Welcome { id, page_offer, .. } = recv(&mut again, "again").await else {
            panic!("the first answer to a join is the welcome");
        };
        assert!(!page_offer, "a ticket claims its offer once");
        broadcaster.expect(S::ViewerCount { count: 2 }).await;
        broadcaster.expect(S::WantStream { from: id }).await;
        drop(again);
        broadcaster
            .expect_unordered(&[S::ViewerCount { count: 1 }, S::PeerLeft { peer: id }])
            .await;
    }

    // Going off air voids the spare: the next page has none.
    park_spare(&mut broadcaster, 8, None).await;
    broadcaster.send(C::OffAir).await;
    broadcaster.go_live().await;
    assert_eq!(
        page(&server).await,
        None,
        "a new broadcast has no old spare"
    );
}

/// A private room's page has the offer only with the room's key, and a room holds a bounded
/// number of offers for pages that never join.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_offers_need_the_key_of_a_private_room_and_are_bounded() {
    let server = TestServer::start(&["--room-key", "board=b0ard", "--private-room", "board"]).await;
    let mut broadcaster = server.join("board", Role::Broadcaster).await;
    broadcaster.go_live_with(Some("b0ard"), None).await;
    park_spare(&mut broadcaster, 1, Some("b0ard")).await;
    for path in ["/watch/board", "/watch/board?key=wrong"] {
        let (status, html) = http_get(server.addr, path).await;
        assert_eq!(status, 200);
        assert_eq!(page_offer_in(&html), None, "{path}");
    }
    let pending = onair::server::rooms::spares::MAX_PENDING_PAGE_OFFERS as u64;
    for spare in 1..=pending + 1 {
        if spare > 1 {
            park_spare(&mut broadcaster, spare, Some("b0ard")).await;
        }
        let (_, html) = http_get(server.addr, "/watch/board?key=b0ard").await;
        let offer = page_offer_in(&html);
        if spare <= pending {
            assert!(offer.is_some(), "page {spare} has its offer");
            broadcaster.expect(S::SpareHeld { spare }).await;
        } else {
            assert_eq!(offer, None, "past {pending} pages waiting to join, none");
        }
    }
}
