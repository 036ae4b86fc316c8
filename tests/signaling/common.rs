//! Helpers for driving a real onair server over loopback with real WebSocket clients.
//!
//! Every receive is bounded by [`STEP`], so a broken test fails instead of hanging. Negative
//! checks wait a short, bounded [`QUIET`] period; no helper asserts on elapsed time.

#![allow(dead_code)]

use std::{net::SocketAddr, time::Duration};

use clap::Parser;
use futures_util::{SinkExt, Stream, StreamExt};
use onair::{
    protocol::{ClientMessage, ErrorCode, IceCandidate, PeerId, Role, ServerMessage},
    server::{serve, Config, ServerError},
};
use tokio::{
    io::AsyncReadExt,
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
    time::timeout,
};
use tokio_tungstenite::{
    connect_async,
    tungstenite::{self, client::IntoClientRequest, http::HeaderValue, Message},
    MaybeTlsStream, WebSocketStream,
};

/// The longest any single step (a receive, a send, a connect) may take before the test fails.
pub const STEP: Duration = Duration::from_secs(5);
/// How long a negative check listens for a message that must not come.
pub const QUIET: Duration = Duration::from_millis(250);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type WsResult = Result<Message, tungstenite::Error>;

/// A server on an ephemeral loopback port, stopped when this is dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Start a server with the default settings plus `flags` (as on the command line). The
    /// media goes peer to peer unless `flags` say `--media sfu`: most of these tests are about
    /// signaling between pages.
    pub async fn start(flags: &[&str]) -> Self {
        // No browser bundle: signaling tests need none, and compressing one costs CPU.
        let config = Config::try_parse_from(
            [
                "onair",
                "--addr",
                "127.0.0.1:0",
                "--site-root",
                "target/no-site-for-tests",
                "--media",
                "p2p",
            ]
            .into_iter()
            .chain(flags.iter().copied()),
        )
        .unwrap_or_else(|err| panic!("test flags {flags:?} do not parse: {err}"));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async move {
            let _ = stop_rx.await;
        }));
        Self {
            addr,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    pub fn url(&self, room: &str) -> String {
        format!("ws://{}/ws/{room}", self.addr)
    }

    /// Open a signaling socket to `room` without joining.
    pub async fn connect(&self, room: &str) -> Ws {
        self.try_connect(room, &[])
            .await
            .unwrap_or_else(|err| panic!("connecting to {room}: {err}"))
    }

    /// Open a signaling socket with extra request headers; the upgrade may be refused.
    pub async fn try_connect(
        &self,
        room: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Ws, tungstenite::Error> {
        let mut request = self.url(room).into_client_request()?;
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_str(value).expect("header value"));
        }
        let (ws, _response) = timeout(STEP, connect_async(request))
            .await
            .expect("the WebSocket handshake timed out")?;
        Ok(ws)
    }

    /// Connect to `room` and join it as `role`; checks the welcome.
    pub async fn join(&self, room: &str, role: Role) -> Peer {
        let ws = self.connect(room).await;
        Peer::join(ws, room, role).await
    }

    /// Resolve the server's stop future: graceful shutdown begins.
    pub fn trigger_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Wait for the server task to end after [`Self::trigger_stop`].
    pub async fn finished(&mut self) -> Result<(), ServerError> {
        let task = self.task.take().expect("server task already awaited");
        timeout(STEP, task)
            .await
            .expect("the server did not stop")
            .expect("the server task panicked")
    }
}

/// A joined client and what its welcome said.
pub struct Peer {
    pub ws: Ws,
    pub name: String,
    pub id: PeerId,
    pub on_air: Option<PeerId>,
    pub viewers: u32,
    pub max_viewers: u32,
    pub needs_key: bool,
}

/// What the next frame from the server was.
#[derive(Debug)]
pub enum Event {
    Msg(ServerMessage),
    /// A close frame, with its code if it had one.
    Close(Option<u16>),
    /// The stream ended or failed without a close frame.
    Ended(String),
}

/// What the server tells a room unasked: the chat's backlog on joining, and the
/// broadcaster's audience list. The chat tests read it (`Peer::recv_news`); the others pass
/// over it, so their exact sequences of messages stay what they test.
fn is_room_news(msg: &ServerMessage) -> bool {
    matches!(
        msg,
        ServerMessage::ChatBacklog { .. }
            | ServerMessage::Audience { .. }
            | ServerMessage::AudienceJoined { .. }
            | ServerMessage::AudienceLeft { .. }
    )
}

/// The next frame within `within`, or `None` if nothing came. Pings and pongs are transport,
/// not protocol, and are passed over (tungstenite answers pings while we read), as is room
/// news (see [`is_room_news`]); everything else is returned.
pub async fn next_event<S>(ws: &mut S, within: Duration) -> Option<Event>
where
    S: Stream<Item = WsResult> + Unpin,
{
    next_event_of(ws, within, false).await
}

/// [`next_event`], room news included when `news`.
pub async fn next_event_of<S>(ws: &mut S, within: Duration, news: bool) -> Option<Event>
where
    S: Stream<Item = WsResult> + Unpin,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()?;
        return Some(match frame {
            None => Event::Ended("end of stream".into()),
            Some(Err(err)) => Event::Ended(err.to_string()),
            Some(Ok(Message::Text(text))) => {
                let msg: ServerMessage =
                    serde_json::from_str(text.as_str()).unwrap_or_else(|err| {
                        panic!(
                            "the server sent something that is not a ServerMessage ({err}): {text}"
                        )
                    });
                if !news && is_room_news(&msg) {
                    continue;
                }
                Event::Msg(msg)
            }
            Some(Ok(Message::Close(frame))) => Event::Close(frame.map(|f| u16::from(f.code))),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("unexpected frame from the server: {other:?}"),
        });
    }
}

pub async fn send<S>(ws: &mut S, msg: &ClientMessage)
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    let text = serde_json::to_string(msg).expect("encode");
    send_raw(ws, &text).await;
}

pub async fn send_raw<S>(ws: &mut S, text: &str)
where
    S: futures_util::Sink<Message, Error = tungstenite::Error> + Unpin,
{
    timeout(STEP, ws.send(Message::text(text)))
        .await
        .expect("sending timed out")
        .expect("sending failed");
}

/// The next protocol message; fails on a close, the end of the stream or a timeout.
pub async fn recv<S>(ws: &mut S, who: &str) -> ServerMessage
where
    S: Stream<Item = WsResult> + Unpin,
{
    match next_event(ws, STEP).await {
        Some(Event::Msg(msg)) => msg,
        Some(other) => panic!("{who}: expected a message, got {other:?}"),
        None => panic!("{who}: no message within {STEP:?}"),
    }
}

/// The close code of the next frame, which must be a close frame with a code.
pub async fn expect_close<S>(ws: &mut S, who: &str) -> u16
where
    S: Stream<Item = WsResult> + Unpin,
{
    match next_event(ws, STEP).await {
        Some(Event::Close(Some(code))) => code,
        Some(other) => panic!("{who}: expected a close frame, got {other:?}"),
        None => panic!("{who}: no close frame within {STEP:?}"),
    }
}

/// Nothing at all may arrive within `within`.
pub async fn expect_no_message_within<S>(ws: &mut S, within: Duration, who: &str)
where
    S: Stream<Item = WsResult> + Unpin,
{
    if let Some(event) = next_event(ws, within).await {
        panic!("{who}: expected nothing, got {event:?}");
    }
}

/// The error code of the next message, which must be an `error`.
pub async fn expect_error<S>(ws: &mut S, code: ErrorCode, who: &str) -> String
where
    S: Stream<Item = WsResult> + Unpin,
{
    match recv(ws, who).await {
        ServerMessage::Error { code: got, message } => {
            assert_eq!(got, code, "{who}: wrong error code ({message})");
            assert!(!message.is_empty(), "{who}: an error needs a message");
            message
        }
        other => panic!("{who}: expected error {code:?}, got {other:?}"),
    }
}

impl Peer {
    /// Send `join` on an open socket and check the welcome.
    pub async fn join(mut ws: Ws, room: &str, role: Role) -> Self {
        send(&mut ws, &ClientMessage::join(role)).await;
        let who = format!("{role:?} joining {room}");
        match recv(&mut ws, &who).await {
            ServerMessage::Welcome {
                id,
                role: got,
                on_air,
                viewers,
                max_viewers,
                ice_servers,
                needs_key,
                ..
            } => {
                assert_eq!(got, role, "{who}: welcome has the wrong role");
                assert!(
                    ice_servers.is_empty(),
                    "{who}: no ICE servers are configured"
                );
                Self {
                    ws,
                    name: format!("{role:?} {id} in {room}").to_lowercase(),
                    id,
                    on_air,
                    viewers,
                    max_viewers,
                    needs_key,
                }
            }
            other => panic!("{who}: expected welcome, got {other:?}"),
        }
    }

    pub async fn send(&mut self, msg: ClientMessage) {
        send(&mut self.ws, &msg).await;
    }

    pub async fn send_raw(&mut self, text: &str) {
        send_raw(&mut self.ws, text).await;
    }

    pub async fn send_json(&mut self, value: serde_json::Value) {
        send_raw(&mut self.ws, &value.to_string()).await;
    }

    pub async fn recv(&mut self) -> ServerMessage {
        recv(&mut self.ws, &self.name).await
    }

    /// The next message, room news (the chat's backlog, the audience) included.
    pub async fn recv_news(&mut self) -> ServerMessage {
        match next_event_of(&mut self.ws, STEP, true).await {
            Some(Event::Msg(msg)) => msg,
            Some(other) => panic!("{}: expected a message, got {other:?}", self.name),
            None => panic!("{}: no message within {STEP:?}", self.name),
        }
    }

    /// The next message must be `expected`.
    pub async fn expect(&mut self, expected: ServerMessage) {
        let got = self.recv().await;
        assert_eq!(got, expected, "{}: unexpected message", self.name);
    }

    /// The next `expected.len()` messages must be `expected`, in any order.
    pub async fn expect_unordered(&mut self, expected: &[ServerMessage]) {
        let mut got = Vec::new();
        for _ in expected {
            got.push(self.recv().await);
        }
        for want in expected {
            let at = got
                .iter()
                .position(|m| m == want)
                .unwrap_or_else(|| panic!("{}: expected {want:?} among {got:?}", self.name));
            got.remove(at);
        }
    }

    pub async fn expect_error(&mut self, code: ErrorCode) -> String {
        expect_error(&mut self.ws, code, &self.name).await
    }

    pub async fn expect_quiet(&mut self) {
        expect_no_message_within(&mut self.ws, QUIET, &self.name).await;
    }

    pub async fn expect_close(&mut self) -> u16 {
        expect_close(&mut self.ws, &self.name).await
    }

    /// Go live without key or token; returns the reclaim token from `live`.
    pub async fn go_live(&mut self) -> String {
        self.go_live_with(None, None).await
    }

    pub async fn go_live_with(&mut self, key: Option<&str>, reclaim: Option<&str>) -> String {
        self.send(ClientMessage::GoLive {
            key: key.map(Into::into),
            reclaim: reclaim.map(Into::into),
        })
        .await;
        match self.recv().await {
            ServerMessage::Live { reclaim } => {
                assert!(!reclaim.is_empty(), "{}: empty reclaim token", self.name);
                reclaim
            }
            other => panic!("{}: expected live, got {other:?}", self.name),
        }
    }

    /// Close the socket politely (a close frame), as a page that navigates away does.
    pub async fn leave(mut self) {
        let _ = timeout(STEP, self.ws.close(None)).await;
    }
}

/// A realistic ICE candidate, told apart from others by `tag`.
pub fn candidate(tag: &str) -> IceCandidate {
    IceCandidate {
        candidate: format!("candidate:{tag} 1 udp 2122260223 192.0.2.1 54321 typ host"),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

/// A minimal HTTP/1.1 GET over a fresh connection: status and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let reply = crate::http::request(addr, "GET", path, &[], b"").await;
    (reply.status, reply.body)
}

/// Everything the server sends on a socket this client never read from, up to the server's
/// close, parsed into (opcode, payload) frames. For clients that must not answer pings.
pub async fn raw_frames_until_eof(ws: &mut Ws) -> Vec<(u8, Vec<u8>)> {
    let tcp = ws.get_mut();
    let mut raw = Vec::new();
    timeout(STEP, tcp.read_to_end(&mut raw))
        .await
        .expect("the server did not close the connection")
        .expect("reading the raw socket");
    let mut frames = Vec::new();
    let mut bytes = &raw[..];
    while bytes.len() >= 2 {
        let opcode = bytes[0] & 0x0f;
        assert_eq!(bytes[1] & 0x80, 0, "server frames are never masked");
        let (len, header) = match bytes[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
            127 => {
                let len = u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes"));
                (usize::try_from(len).expect("frame length"), 10)
            }
            n => (usize::from(n), 2),
        };
        assert!(
            bytes.len() >= header + len,
            "a truncated frame from the server"
        );
        frames.push((opcode, bytes[header..header + len].to_vec()));
        bytes = &bytes[header + len..];
    }
    frames
}

/// The close code in a raw close frame's payload.
pub fn close_code_of(payload: &[u8]) -> Option<u16> {
    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]))
}
