//! The signaling side of a synthetic peer: join, go live or ask for the stream, trade SDP with
//! the relay; afterwards the socket is only read (pings) until the peer leaves.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use onair_protocol::{ClientMessage, ServerMessage};
use tokio::{net::TcpStream, task::JoinHandle, time::timeout};
use tokio_tungstenite::{connect_async, tungstenite::Message, MaybeTlsStream, WebSocketStream};

/// How long any one step of the setup may take.
const STEP: Duration = Duration::from_secs(30);

pub struct Signal {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Signal {
    pub async fn connect(addr: &str, room: &str) -> Result<Self, String> {
        let url = format!("ws://{addr}{}{room}", onair_protocol::paths::SOCKET_PREFIX);
        let (ws, _) = timeout(STEP, connect_async(url))
            .await
            .map_err(|_| "connect timed out".to_string())?
            .map_err(|err| format!("connect: {err}"))?;
        Ok(Self { ws })
    }

    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), String> {
        let text = serde_json::to_string(msg).map_err(|err| err.to_string())?;
        self.ws
            .send(Message::text(text))
            .await
            .map_err(|err| format!("send: {err}"))
    }

    /// The first message `pick` takes; the others before it are passed over.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(ServerMessage) -> Option<T>,
    ) -> Result<T, String> {
        let read = async {
            while let Some(frame) = self.ws.next().await {
                let frame = frame.map_err(|err| format!("read: {err}"))?;
                let Message::Text(text) = frame else { continue };
                let msg: ServerMessage =
                    serde_json::from_str(&text).map_err(|err| format!("bad message: {err}"))?;
                if let ServerMessage::Error { message, .. } = &msg {
                    return Err(format!("server refused: {message}"));
                }
                if let Some(found) = pick(msg) {
                    return Ok(found);
                }
            }
            Err("the server closed the connection".to_string())
        };
        timeout(STEP, read)
            .await
            .map_err(|_| format!("no {what} within {STEP:?}"))?
    }

    /// Keep reading (and so answering pings) until the task is aborted, which closes it.
    pub fn hold(mut self) -> JoinHandle<()> {
        tokio::spawn(async move { while let Some(Ok(_)) = self.ws.next().await {} })
    }
}
