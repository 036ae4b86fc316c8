//! The server as whoever runs it sees it: health checks and a graceful shutdown.

use onair::protocol::ServerMessage;

use crate::common::*;
use crate::rooms::*;
use ServerMessage as S;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_answer_and_shutdown_tells_every_client() {
    let mut server = TestServer::start(&[]).await;
    assert_eq!(http_get(server.addr, "/healthz").await, (200, "ok".into()));
    assert_eq!(
        http_get(server.addr, "/readyz").await,
        (200, "ready".into())
    );

    let (broadcaster, viewers) = live_room(&server, "last", 2).await;
    let unjoined = server.connect("last").await;

    server.trigger_stop();

    // Each gets `shutting_down` and a 1001 close. What the others' departures queued for it
    // (counts, off air) may come around it, and nothing else.
    let mut clients: Vec<(String, Ws)> = vec![(broadcaster.name, broadcaster.ws)];
    clients.extend(viewers.into_iter().map(|v| (v.name, v.ws)));
    clients.push(("unjoined".into(), unjoined));
    for (who, mut ws) in clients {
        let mut told = false;
        loop {
            match next_event(&mut ws, STEP).await {
                Some(Event::Msg(S::ShuttingDown)) => told = true,
                Some(Event::Msg(S::ViewerCount { .. } | S::PeerLeft { .. } | S::OffAir { .. })) => {
                }
                Some(Event::Close(code)) => {
                    assert!(told, "{who}: closed without shutting_down");
                    assert_eq!(code, Some(GOING_AWAY), "{who}");
                    break;
                }
                other => panic!("{who}: unexpected {other:?}"),
            }
        }
    }
    server.finished().await.expect("a clean shutdown");
}
