//! One signaling connection's task: it reads the client's messages, writes its queue, pings
//! it, and closes it when a rule says so, each with its deadline.

use std::{sync::Arc, time::Duration};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::time::{sleep, timeout, Instant};

use super::{
    admission::IpSlot,
    session::{Flow, Session},
    Signaling,
};
use crate::{
    protocol::{close_code, ErrorCode, RoomName, ServerMessage},
    server::outbox::{encode, Outbox, Queue, Queued},
};

/// Queued messages written before one flush. Bounded so one busy connection cannot hold its
/// worker thread for long.
const MAX_BATCH: usize = 64;

/// Serve one connection until it closes, breaks a rule, or the server shuts down.
/// Generic over the socket so tests can drive it with any Sink/Stream pair.
pub async fn serve<S, E>(
    socket: S,
    signaling: Arc<Signaling>,
    room: RoomName,
    key: Option<String>,
    ip_slot: IpSlot,
) where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
    E: std::error::Error + 'static,
{
    let timing = signaling.settings.timing();
    let metrics = signaling.metrics.clone();
    let _open = metrics.open();
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queue) = Outbox::new(signaling.hub.outbox_capacity());
    let mut session = Session::new(
        signaling.hub.clone(),
        room,
        key,
        outbox,
        signaling.settings.messages_per_second,
        Some(ip_slot),
    )
    .counting(metrics.clone());
    // Lives across loop turns: re-creating it on every message costs a lock and a waiter
    // registration each time. (It also fires for a connection that arrives as shutdown begins.)
    let shutdown = signaling.shutdown.wait();
    tokio::pin!(shutdown);
    // The reply the session holds back (a wrong key's), when one is held: until then the
    // connection reads nothing more.
    let release = sleep(Duration::ZERO);
    tokio::pin!(release);
    let mut holding = false;
    let join_deadline = sleep(timing.join_within);
    tokio::pin!(join_deadline);
    let mut ping = tokio::time::interval_at(Instant::now() + timing.ping_every, timing.ping_every);
    let mut last_heard = Instant::now();

    let close: Option<(u16, &'static str)> = loop {
        tokio::select! {
            biased;
            out = queue.recv() => match out {
                Some(text) => {
                    if !write_batch(&mut sink, &mut queue, text, timing.write_within).await {
                        break None;
                    }
                }
                None => {
                    tracing::debug!("dropping a client that does not read its messages");
                    metrics.closed("does not read its messages");
                    break None;
                }
            },
            _ = &mut release, if holding => {
                holding = false;
                if let Flow::Close(code, reason) = session.release() {
                    break Some((code, reason));
                }
            }
            frame = stream.next(), if !holding => {
                let Some(frame) = frame else { break None };
                let msg = match frame {
                    Ok(msg) => msg,
                    Err(err) => {
                        if is_too_big(&err) {
                            break Some((close_code::TOO_BIG, "message too big (limit 64 KiB)"));
                        }
                        tracing::debug!(%err, "websocket read failed");
                        break None;
                    }
                };
                last_heard = Instant::now();
                let flow = match msg {
                    Message::Text(text) => {
                        metrics.message();
                        session.on_text(text.as_str())
                    }
                    Message::Binary(_) => session.violation(
                        ErrorCode::BadMessage,
                        "binary frames are not part of the protocol; send JSON text".into(),
                    ),
                    Message::Close(_) => {
                        // Send the close reply tungstenite queued, completing the handshake.
                        let _ = timeout(timing.write_within, sink.flush()).await;
                        break None;
                    }
                    Message::Ping(_) | Message::Pong(_) => Flow::Continue,
                };
                match flow {
                    Flow::Continue => {}
                    Flow::Close(code, reason) => break Some((code, reason)),
                    Flow::Hold(until) => {
                        release.as_mut().reset(until);
                        holding = true;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() >= timing.idle_limit {
                    break Some((close_code::GOING_AWAY, "no answer to pings"));
                }
                if !matches!(timeout(timing.write_within, sink.send(Message::Ping(Default::default()))).await, Ok(Ok(()))) {
                    break None;
                }
            }
            // A join that is being refused late (a private room's wrong key) came in time.
            _ = &mut join_deadline, if session.membership.is_none() && !holding => {
                break Some((close_code::POLICY, "no join message in time"));
            }
            _ = &mut shutdown => {
                if holding {
                    // Queue the held answer: it goes out before the close, with the rest.
                    let _ = session.release();
                }
                let _ = timeout(timing.write_within, sink.send(text_message(encode(&ServerMessage::ShuttingDown)))).await;
                break Some((close_code::GOING_AWAY, "server restarting; reconnect shortly"));
            }
        }
    };

    // Leave the room first, so nobody waits on a socket that is closing.
    drop(session);
    if let Some((code, reason)) = close {
        metrics.closed(reason);
        // Flush what is queued before the close (e.g. "room full"), within the deadline.
        while let Some(Some(text)) = queue.try_recv() {
            if !matches!(
                timeout(timing.write_within, sink.send(text_message(text))).await,
                Ok(Ok(()))
            ) {
                return;
            }
        }
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        if !matches!(
            timeout(timing.write_within, sink.send(Message::Close(Some(frame)))).await,
            Ok(Ok(()))
        ) {
            return;
        }
        // Wait (briefly) for the client's close reply, dropping what it still sends. Closing a
        // socket with unread input resets it, and the reset can discard our close frame.
        let _ = timeout(timing.write_within, async {
            while let Some(Ok(msg)) = stream.next().await {
                if matches!(msg, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// Write `first` and what else is already queued (up to [`MAX_BATCH`]) with one flush, within
/// `within`. Under load one `write` carries many messages; when idle it is one message, as before.
async fn write_batch<K>(sink: &mut K, queue: &mut Queue, first: Queued, within: Duration) -> bool
where
    K: Sink<Message> + Unpin,
{
    if queue.is_empty() {
        // Let the connections that are ready to be read run first: under load they are about
        // to queue more for us, and one write then carries them all. When the server is idle
        // this returns at once.
        tokio::task::yield_now().await;
    }
    let batch = async {
        sink.feed(text_message(first)).await?;
        for _ in 1..MAX_BATCH {
            let Some(Some(text)) = queue.try_recv() else {
                break;
            };
            sink.feed(text_message(text)).await?;
        }
        sink.flush().await
    };
    tokio::pin!(batch);
    // Most writes fit in the socket's buffer and finish at once: they need no timer. (Arming
    // one per write made the runtime wake its I/O driver for each: a new deadline earlier than
    // the driver's next one.)
    if let Some(done) = batch.as_mut().now_or_never() {
        return done.is_ok();
    }
    matches!(timeout(within, batch).await, Ok(Ok(())))
}

/// A queued text as a WebSocket message (no copy: `Box<str>` → `String` → `Utf8Bytes`).
fn text_message(text: Queued) -> Message {
    Message::Text(Utf8Bytes::from(String::from(text)))
}

/// Whether a read failed for a message over the size limit: tungstenite's capacity error,
/// wherever it is in the chain of sources (axum wraps it).
fn is_too_big(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if matches!(
            err.downcast_ref::<tungstenite::Error>(),
            Some(tungstenite::Error::Capacity(_))
        ) {
            return true;
        }
        cause = err.source();
    }
    false
}
