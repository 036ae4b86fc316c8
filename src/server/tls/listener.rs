//! The HTTPS port. A task accepts connections and hands each to its own task: a TLS client
//! (its first byte opens a handshake record) is shaken hands with and passed to the server; a
//! plain HTTP request (someone typed `http://`) is answered with a redirect to the same
//! address over HTTPS. A slow or silent client holds up only its own task, never the accepts.

use std::{convert::Infallible, io, net::SocketAddr, sync::Arc, time::Duration};

use axum::serve::Listener;
use hyper::{body::Incoming, header, service::service_fn, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
    task::AbortHandle,
    time::timeout,
};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

use super::Tls;
use crate::server::signaling::burst::BurstReader;

/// How long a client may take to say what it speaks and to finish its handshake.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const READY_QUEUE: usize = 256;
/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// A connection over TLS, read in bursts (see [`BurstReader`]).
pub type TlsIo = BurstReader<TlsStream<TcpStream>>;

/// The HTTPS port, as a listener `axum::serve` takes.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsIo, SocketAddr)>,
    local: SocketAddr,
    accepting: AbortHandle,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl TlsListener {
    pub fn new(listener: TcpListener, tls: &Tls) -> io::Result<Self> {
        let local = listener.local_addr()?;
        let (sender, ready) = mpsc::channel(READY_QUEUE);
        let acceptor = TlsAcceptor::from(Arc::clone(&tls.config));
        let accepting = tokio::spawn(accept(listener, acceptor, sender)).abort_handle();
        Ok(Self {
            ready,
            local,
            accepting,
        })
    }
}

impl Listener for TlsListener {
    type Io = TlsIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task is gone only when this listener is: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsIo, SocketAddr)>,
) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::debug!("accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let mut first = [0u8; 1];
            match timeout(HANDSHAKE_WITHIN, stream.peek(&mut first)).await {
                Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {
                    match timeout(HANDSHAKE_WITHIN, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((BurstReader::new(tls), peer)).await;
                        }
                        Ok(Err(err)) => tracing::debug!("TLS handshake with {peer} failed: {err}"),
                        Err(_) => tracing::debug!("TLS handshake with {peer} timed out"),
                    }
                }
                Ok(Ok(1)) => redirect_to_https(stream).await,
                _ => {}
            }
        });
    }
}

/// Answer plain HTTP on the HTTPS port: every request is sent to the same place over HTTPS.
async fn redirect_to_https(stream: TcpStream) {
    let service =
        service_fn(
            |request: Request<Incoming>| async move { Ok::<_, Infallible>(redirect(&request)) },
        );
    let serving =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let _ = timeout(HANDSHAKE_WITHIN, serving).await;
}

fn redirect<B>(request: &Request<B>) -> Response<String> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .filter(|host| !host.is_empty() && !host.contains(['/', '\\', '@']));
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    let mut response = Response::new(String::new());
    match host {
        Some(host) => {
            let location = format!("https://{host}{path}");
            *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
            if let Ok(value) = header::HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            *response.body_mut() = format!("This server speaks HTTPS: {location}\n");
        }
        None => {
            *response.status_mut() = StatusCode::BAD_REQUEST;
            *response.body_mut() = "This server speaks HTTPS: use https://\n".to_owned();
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(host: Option<&str>, path: &str) -> Request<()> {
        let mut builder = Request::builder().uri(path);
        if let Some(host) = host {
            builder = builder.header(header::HOST, host);
        }
        builder.body(()).unwrap()
    }

    #[test]
    fn plain_http_goes_to_the_same_place_over_https() {
        let response = redirect(&request(Some("192.0.2.7:3000"), "/talk/all-hands?x=1"));
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(
            response.headers()[header::LOCATION],
            "https://192.0.2.7:3000/talk/all-hands?x=1"
        );
    }

    #[test]
    fn a_request_without_a_usable_host_is_told_to_use_https() {
        assert_eq!(
            redirect(&request(None, "/")).status(),
            StatusCode::BAD_REQUEST
        );
        let odd = redirect(&request(Some("evil.example/x"), "/"));
        assert_eq!(odd.status(), StatusCode::BAD_REQUEST);
    }
}
