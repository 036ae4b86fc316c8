//! A client's WebSocket: connecting to the server (TCP and handshake), and telling a connection
//! the server dropped from other read and write errors.

use std::time::Duration;

use tokio::{net::TcpStream, time::timeout};
use tokio_tungstenite::{
    connect_async_with_config,
    tungstenite::{self, protocol::WebSocketConfig},
    MaybeTlsStream, WebSocketStream,
};

use crate::shared::Shared;

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// TCP connect plus WebSocket handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How the server dropping a connection without a close frame is counted.
pub const DROPPED: &str = "dropped without a close frame";

pub async fn connect(shared: &Shared, room: &str) -> Result<Ws, String> {
    let url = format!("ws://{}/ws/{room}", shared.addr);
    let config = WebSocketConfig::default()
        // Read at most this much per call: tungstenite zeroes it before each read, so a bigger
        // buffer costs time on every small message (an SDP takes two reads).
        .read_buffer_size(4 * 1024)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    match timeout(
        CONNECT_TIMEOUT,
        connect_async_with_config(url, Some(config), true),
    )
    .await
    {
        Ok(Ok((ws, _response))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(response))) => {
            Err(format!("connect: HTTP {}", response.status().as_u16()))
        }
        Ok(Err(tungstenite::Error::Io(err))) => Err(format!("connect: {}", err.kind())),
        Ok(Err(err)) => Err(format!("connect: {}", short(&err.to_string()))),
        Err(_) => Err("connect: timed out".into()),
    }
}

/// A read or write error that means the server dropped the connection.
pub fn was_dropped(err: &tungstenite::Error) -> bool {
    match err {
        tungstenite::Error::Io(err) => matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        ),
        tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
        ) => true,
        _ => false,
    }
}

/// The start of an error text, to count like errors together.
pub fn short(text: &str) -> String {
    text.chars().take(80).collect()
}
