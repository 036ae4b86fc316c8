//! One signaling connection: the upgrade checks, then a single task that reads the client's
//! messages, writes its queue, pings it, and enforces the protocol's limits.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use axum::{
    extract::{
        ws::{CloseFrame, Message, Utf8Bytes, WebSocketUpgrade},
        ConnectInfo, Path, Query, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use tokio::time::{sleep, timeout, Instant};

use super::{
    hub::{close_code, outbox_capacity, Hub, JoinError, Membership, Refusal},
    outbox::{encode, Outbox, Queue, Queued},
    relayed, AppState,
};
use crate::{
    protocol::{
        ClientMessage, ErrorCode, Role, ServerMessage, MAX_CANDIDATE_BYTES, MAX_KEY_BYTES,
        MAX_MESSAGE_BYTES, MAX_SDP_BYTES, MAX_SDP_MID_BYTES,
    },
    room_name::RoomName,
};

/// Socket read buffer to start with: most signaling messages are a few hundred bytes, and each
/// connection's buffer is a large part of its memory. (It grows to fit a big SDP and stays so.)
/// A busy connection still gets one `recv` per burst, not per 512 bytes: see `burst.rs`.
const READ_BUFFER_BYTES: usize = 512;
/// Bytes tungstenite collects before it writes: a batch of queued messages leaves in one
/// `write` call instead of one call (and one loopback/NIC round of the kernel) per message.
const WRITE_BUFFER_BYTES: usize = 32 * 1024;
/// Queued messages written before one flush. Bounded so one busy connection cannot hold its
/// worker thread for long.
const MAX_BATCH: usize = 64;
/// Protocol violations (bad JSON, wrong role, …) a connection may make before it is closed.
const MAX_VIOLATIONS: u32 = 10;
/// Messages over the rate limit in a row before the connection is closed.
const MAX_OVER_LIMIT: u32 = 200;
/// Wait before answering a wrong publish key, so keys cannot be guessed quickly.
const WRONG_KEY_DELAY: Duration = Duration::from_millis(200);

/// `GET /ws/{room}`: check the request, then hand the socket to [`serve`].
pub async fn upgrade(
    ws: WebSocketUpgrade,
    Path(room): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    State(state): State<AppState>,
) -> Response {
    // The viewer's key for a private room: /ws/ROOM?key=… (the page passes on its own ?key=).
    let key = query
        .get("key")
        .filter(|key| key.len() <= MAX_KEY_BYTES)
        .cloned();
    let hub = state.hub;
    let room = match RoomName::parse(&room) {
        Ok(room) => room,
        Err(err) => {
            return (
                StatusCode::NOT_FOUND,
                format!("not a valid room name: {err}"),
            )
                .into_response()
        }
    };
    if !origin_allowed(&headers, &hub.config().allowed_origins) {
        return (
            StatusCode::FORBIDDEN,
            "refused: this WebSocket only accepts pages from its own site (Origin mismatch)",
        )
            .into_response();
    }
    if !hub.is_accepting() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
            .into_response();
    }
    let Some(ip_slot) = hub.admit(peer.ip()) else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            "too many signaling connections from your address",
        )
            .into_response();
    };
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| async move {
            serve(socket, hub, room, key).await;
            drop(ip_slot);
        })
}

/// Browsers always send `Origin`; it must be this site (the `Host` it asked for) or one the
/// server allows. Clients without `Origin` (OBS, tools) are not browsers and cannot be hijacked.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let own = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| {
            origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"))
                == Some(host)
        });
    own || allowed.iter().any(|a| a.trim_end_matches('/') == origin)
}

/// What the connection does after a client message.
enum Flow {
    Continue,
    Close(u16, &'static str),
}

/// Serve one connection until it closes, breaks a rule, or the server shuts down.
/// Generic over the socket so tests can drive it with any Sink/Stream pair.
pub async fn serve<S, E>(socket: S, hub: Arc<Hub>, room: RoomName, key: Option<String>)
where
    S: Stream<Item = Result<Message, E>> + Sink<Message> + Unpin,
    E: std::fmt::Display,
{
    let timing = hub.config().timing();
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut queue) = Outbox::new(outbox_capacity(hub.config().max_viewers));
    let mut session = Session::new(hub.clone(), room, key, outbox);
    // wait_for, not changed: a connection that arrives as shutdown begins still sees it.
    let mut shutdown = hub.shutdown_signal();
    // Lives across loop turns: re-creating it on every message costs a lock and a waiter
    // registration each time.
    let shutdown = async { shutdown.wait_for(|stopping| *stopping).await.is_ok() };
    tokio::pin!(shutdown);
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
                    break None;
                }
            },
            frame = stream.next() => {
                let Some(frame) = frame else { break None };
                let msg = match frame {
                    Ok(msg) => msg,
                    Err(err) => {
                        let err = err.to_string();
                        if err.contains("too long") || err.contains("Space limit") {
                            break Some((close_code::TOO_BIG, "message too big (limit 64 KiB)"));
                        }
                        tracing::debug!(%err, "websocket read failed");
                        break None;
                    }
                };
                last_heard = Instant::now();
                let flow = match msg {
                    Message::Text(text) => session.on_text(text.as_str()).await,
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
                if let Flow::Close(code, reason) = flow {
                    break Some((code, reason));
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
            _ = &mut join_deadline, if session.membership.is_none() => {
                break Some((close_code::POLICY, "no join message in time"));
            }
            _ = &mut shutdown => {
                let _ = timeout(timing.write_within, sink.send(text_message(encode(&ServerMessage::ShuttingDown)))).await;
                break Some((close_code::GOING_AWAY, "server restarting; reconnect shortly"));
            }
        }
    };

    // Leave the room first, so nobody waits on a socket that is closing.
    drop(session);
    if let Some((code, reason)) = close {
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

/// The protocol state of one connection: before and after joining, its rate limit and its
/// count of rule breaks.
struct Session {
    hub: Arc<Hub>,
    room: RoomName,
    key: Option<String>,
    outbox: Outbox,
    membership: Option<Membership>,
    bucket: TokenBucket,
    over_limit: u32,
    violations: u32,
}

impl Session {
    fn new(hub: Arc<Hub>, room: RoomName, key: Option<String>, outbox: Outbox) -> Self {
        let rate = hub.config().messages_per_second;
        Self {
            hub,
            room,
            key,
            outbox,
            membership: None,
            bucket: TokenBucket::new(f64::from(rate), f64::from(rate) * 2.0),
            over_limit: 0,
            violations: 0,
        }
    }

    async fn on_text(&mut self, text: &str) -> Flow {
        if !self.bucket.take() {
            self.over_limit += 1;
            if self.over_limit >= MAX_OVER_LIMIT {
                return Flow::Close(close_code::POLICY, "too many messages");
            }
            if self.over_limit == 1 {
                self.outbox.send(&ServerMessage::error(
                    ErrorCode::RateLimited,
                    format!(
                        "slow down: at most {} messages per second",
                        self.hub.config().messages_per_second
                    ),
                ));
            }
            return Flow::Continue;
        }
        self.over_limit = 0;
        if let (Some(membership), Some(relayed)) = (&self.membership, relayed::parse(text)) {
            return match membership.handle_relayed(&relayed) {
                Ok(()) => Flow::Continue,
                Err(refusal) => self.refused(refusal).await,
            };
        }
        let msg = match serde_json::from_str::<ClientMessage>(text) {
            Ok(msg) => msg,
            Err(err) => {
                let mut reason = format!("not a valid message: {err}");
                reason.truncate(200);
                return self.violation(ErrorCode::BadMessage, reason);
            }
        };
        if let Err(reason) = check_sizes(&msg) {
            return self.violation(ErrorCode::BadMessage, reason);
        }
        let Some(membership) = &self.membership else {
            return self.join(msg).await;
        };
        match membership.handle(msg) {
            Ok(()) => Flow::Continue,
            Err(refusal) => self.refused(refusal).await,
        }
    }

    /// Answer a refused request; only real rule breaks count towards closing the connection.
    async fn refused(&mut self, refusal: Refusal) -> Flow {
        match refusal.code {
            ErrorCode::WrongKey => {
                sleep(WRONG_KEY_DELAY).await;
                self.outbox
                    .send(&ServerMessage::error(refusal.code, refusal.message));
                Flow::Continue
            }
            // Races (a candidate for a viewer that just left) are normal; do not count them.
            ErrorCode::NoSuchPeer | ErrorCode::OutOfOrder | ErrorCode::AlreadyLive => {
                self.outbox
                    .send(&ServerMessage::error(refusal.code, refusal.message));
                Flow::Continue
            }
            code => self.violation(code, refusal.message),
        }
    }

    async fn join(&mut self, msg: ClientMessage) -> Flow {
        let ClientMessage::Join {
            role,
            want_stream,
            ticket,
        } = msg
        else {
            return self.violation(
                ErrorCode::NotJoined,
                "the first message must be {\"type\":\"join\",\"role\":...}".into(),
            );
        };
        match self.hub.join(
            &self.room,
            role,
            self.outbox.clone(),
            self.key.as_deref(),
            ticket.as_deref(),
        ) {
            Ok(membership) => {
                if want_stream && role == Role::Viewer && !membership.has_offer() {
                    // Only refused when nobody is on air, which the welcome already said.
                    let _ = membership.handle(ClientMessage::WantStream);
                }
                self.membership = Some(membership);
                Flow::Continue
            }
            Err(JoinError::RoomFull(max_viewers)) => {
                self.outbox.send(&ServerMessage::RoomFull { max_viewers });
                Flow::Close(close_code::ROOM_FULL, "room is full")
            }
            Err(err @ JoinError::TooManyRooms(_)) => {
                self.outbox.send(&ServerMessage::error(
                    ErrorCode::ServerFull,
                    err.to_string(),
                ));
                Flow::Close(close_code::POLICY, "server has too many rooms")
            }
            Err(err @ JoinError::Private) => {
                sleep(WRONG_KEY_DELAY).await;
                self.outbox
                    .send(&ServerMessage::error(ErrorCode::WrongKey, err.to_string()));
                Flow::Close(close_code::PRIVATE, "this room is private")
            }
            Err(JoinError::ShuttingDown) => {
                self.outbox.send(&ServerMessage::ShuttingDown);
                Flow::Close(
                    close_code::GOING_AWAY,
                    "server restarting; reconnect shortly",
                )
            }
        }
    }

    /// Tell the client what it did wrong; close the connection once it keeps doing it.
    fn violation(&mut self, code: ErrorCode, message: String) -> Flow {
        self.violations += 1;
        self.outbox.send(&ServerMessage::error(code, message));
        if self.violations >= MAX_VIOLATIONS {
            Flow::Close(close_code::PROTOCOL_ERROR, "too many protocol errors")
        } else {
            Flow::Continue
        }
    }
}

/// Field limits beyond the frame size: SDP, candidates and keys each have their own.
fn check_sizes(msg: &ClientMessage) -> Result<(), String> {
    let too_long = |what: &str, len: usize, max: usize| {
        if len > max {
            Err(format!("{what} is {len} bytes; the limit is {max}"))
        } else {
            Ok(())
        }
    };
    match msg {
        ClientMessage::Offer { sdp, .. }
        | ClientMessage::Answer { sdp, .. }
        | ClientMessage::SpareOffer { sdp, .. } => too_long("sdp", sdp.len(), MAX_SDP_BYTES),
        ClientMessage::Candidate { candidate, .. } => {
            too_long("candidate", candidate.candidate.len(), MAX_CANDIDATE_BYTES)?;
            too_long(
                "sdp_mid",
                candidate.sdp_mid.as_ref().map_or(0, String::len),
                MAX_SDP_MID_BYTES,
            )
        }
        ClientMessage::Join {
            ticket: Some(ticket),
            ..
        } => too_long("ticket", ticket.len(), MAX_KEY_BYTES),
        ClientMessage::GoLive { key, reclaim } => {
            too_long("key", key.as_ref().map_or(0, String::len), MAX_KEY_BYTES)?;
            too_long(
                "reclaim",
                reclaim.as_ref().map_or(0, String::len),
                MAX_KEY_BYTES,
            )
        }
        _ => Ok(()),
    }
}

/// A token bucket: `rate` messages a second, up to `burst` at once.
struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        let earned = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + earned).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn origin_must_be_the_site_or_allowed() {
        let allowed = vec!["https://intranet.example".to_string()];
        assert!(origin_allowed(&headers(None, "a:3000"), &allowed));
        assert!(origin_allowed(
            &headers(Some("http://a:3000"), "a:3000"),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://a:3000"), "a:3000"),
            &allowed
        ));
        assert!(origin_allowed(
            &headers(Some("https://intranet.example"), "a:3000"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.example"), "a:3000"),
            &allowed
        ));
        assert!(!origin_allowed(
            &headers(Some("http://a:3000.evil"), "a:3000"),
            &allowed
        ));
    }

    #[test]
    fn token_bucket_allows_burst_then_rate() {
        let mut bucket = TokenBucket::new(50.0, 100.0);
        let start = bucket.last;
        assert_eq!((0..150).filter(|_| bucket.take_at(start)).count(), 100);
        let later = start + Duration::from_millis(100);
        assert_eq!((0..150).filter(|_| bucket.take_at(later)).count(), 5);
    }
}
