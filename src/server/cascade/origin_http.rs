//! The cascade's two requests to the origin node, over plain HTTP/1.1 to its announced
//! address: `POST /whep/<room>` with the pull's offer (as an edge of the cluster, by the
//! [`EDGE_HEADER`](super::EDGE_HEADER)), and `DELETE` of the session it made.

use std::{net::SocketAddr, time::Duration};

use http_body_util::{BodyExt, Full, Limited};
use hyper::{
    body::Bytes,
    header::{self, HeaderValue},
    Method, Request, StatusCode,
};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, time::timeout};

use super::PullError;
use crate::protocol::RoomName;

/// How long the origin may take to answer (its relay answers within a few milliseconds).
const ANSWER_WITHIN: Duration = Duration::from_secs(5);
/// An SDP answer is a few kilobytes; more is not an answer.
const MOST_BODY_BYTES: usize = 64 * 1024;

/// The origin's session for a pull: its answer, and where to `DELETE` it.
pub(super) struct OriginSession {
    pub(super) answer: String,
    pub(super) location: String,
}

/// Offer the origin at `origin` to pull `room`, as node `node`.
pub(super) async fn open(
    origin: SocketAddr,
    room: &RoomName,
    node: &str,
    offer: String,
) -> Result<OriginSession, PullError> {
    let request = Request::post(format!("/whep/{room}"))
        .header(header::HOST, origin.to_string())
        .header(header::CONTENT_TYPE, "application/sdp")
        .header(super::EDGE_HEADER, node)
        .body(Full::new(Bytes::from(offer)))
        .map_err(|err| PullError::Request(err.to_string()))?;
    let (status, location, body) = send(origin, request).await?;
    if status != StatusCode::CREATED {
        return Err(PullError::Refused {
            status,
            why: String::from_utf8_lossy(&body).chars().take(200).collect(),
        });
    }
    let location = location
        .and_then(|value| value.to_str().ok().map(str::to_owned))
        .ok_or(PullError::Unexpected("a 201 without a Location"))?;
    let answer = String::from_utf8(body.to_vec())
        .map_err(|_| PullError::Unexpected("an answer not in UTF-8"))?;
    Ok(OriginSession { answer, location })
}

/// End the origin's session at `location` (its path), at once rather than at ICE's timeout.
pub(super) async fn close(origin: SocketAddr, location: &str) -> Result<(), PullError> {
    let request = Request::builder()
        .method(Method::DELETE)
        .uri(location)
        .header(header::HOST, origin.to_string())
        .body(Full::new(Bytes::new()))
        .map_err(|err| PullError::Request(err.to_string()))?;
    send(origin, request).await.map(|_| ())
}

/// One request on a connection of its own: the status, the `Location`, the body.
async fn send(
    origin: SocketAddr,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Option<HeaderValue>, Bytes), PullError> {
    let exchange = async {
        let stream = TcpStream::connect(origin).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        // Driven beside the request and its body; ended with them, timed out or not.
        let _driver = Driver(tokio::spawn(connection));
        let response = sender.send_request(request).await?;
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, MOST_BODY_BYTES)
            .collect()
            .await
            .map_err(|err| PullError::Request(err.to_string()))?
            .to_bytes();
        Ok((
            parts.status,
            parts.headers.get(header::LOCATION).cloned(),
            body,
        ))
    };
    timeout(ANSWER_WITHIN, exchange)
        .await
        .map_err(|_| PullError::Timeout)?
}

/// A connection's task, aborted when dropped.
struct Driver<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Driver<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
