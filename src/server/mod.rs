//! The server: one process, four parts, each handed its own settings.
//!
//! - [`http`]: the router, the pages, the browser bundle, health checks, the room list stream.
//! - [`signaling`]: one task per signaling socket: admission, rate limit, deadlines.
//! - [`rooms`]: the rooms, who is in them, and the routing rules between them.
//! - [`relay`]: the media relay (SFU), which forwards each broadcast to its viewers.
//! - [`recording`]: `--record`, each relayed broadcast written to a WebM or MP4 file.
//! - [`whip`]: going live over WHIP (OBS, ffmpeg), a broadcaster member like a talk page.
//! - [`secrets`]: keys, tickets and tokens, compared in constant time.
//! - [`metrics`]: `/metrics`, each part's figures in one registry.
//! - [`tls`]: HTTPS, with the operator's certificate or a self-signed one.
//! - [`cluster`]: several nodes sharing one set of rooms through Redis (`--redis`).
//! - [`cascade`]: a room live on another node, pulled from it once for the viewers here.
//!
//! [`config`] reads the command line; [`frame_size`] reads a key frame's picture size; [`shutdown`] is the stop every part sees; [`outbox`] is a
//! member's queue, which `rooms` fills and `signaling` drains; [`rate_limit`] is the token
//! bucket both the signaling socket and the chat hold to.

pub mod cascade;
pub mod cluster;
pub mod config;
pub mod frame_size;
pub mod http;
pub mod metrics;
pub mod outbox;
pub mod rate_limit;
pub mod recording;
pub mod relay;
pub mod rooms;
pub mod secrets;
pub mod shutdown;
pub mod signaling;
pub mod tls;
pub mod whip;

use std::{
    io,
    net::{IpAddr, SocketAddr},
};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;

use crate::protocol::MediaMode;

pub use config::Config;
use relay::MediaRelay;
pub use rooms::Hub;
use shutdown::Shutdown;
use signaling::Signaling;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0} is already in use: stop the program using it, or pick another address with --addr (or ONAIR_ADDR)")]
    PortTaken(SocketAddr),
    #[error("{0} (--metrics-addr) is already in use: pick another address")]
    MetricsPortTaken(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, io::Error),
    #[error("server stopped with an error: {0}")]
    Serve(io::Error),
    #[error(transparent)]
    Relay(#[from] relay::RelayError),
    #[error("HTTPS: {0}")]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Cluster(#[from] cluster::ClusterError),
}

/// Bind the configured address; a taken port gets its own clear error.
pub async fn bind(config: &Config) -> Result<TcpListener, ServerError> {
    let addr = config.http.addr;
    TcpListener::bind(addr).await.map_err(|err| {
        if err.kind() == io::ErrorKind::AddrInUse {
            ServerError::PortTaken(addr)
        } else {
            ServerError::Listen(addr, err)
        }
    })
}

/// Serve until `stop` resolves, then shut down gracefully: pages are told to reconnect.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let shutdown = Shutdown::default();
    let Config {
        http: http_settings,
        rooms,
        keys,
        ice,
        signaling,
        media,
        tls: tls_settings,
        cluster: cluster_settings,
    } = config;
    let http_addr = listener.local_addr().map_err(ServerError::Serve)?;
    let tls = tls::load(&tls_settings, http_addr)?;
    let relay = match media.mode {
        MediaMode::Sfu => Some(MediaRelay::start(&media, http_addr)?),
        MediaMode::P2p => None,
    };
    let public_url = http_settings
        .public_url
        .clone()
        .or_else(|| audience_url(http_addr, tls.is_some()));
    let hub = Hub::new(
        rooms,
        keys,
        ice.ice_servers(),
        shutdown.clone(),
        relay,
        public_url,
        cluster::Cluster::new(&cluster_settings, http_addr)?,
    );
    hub.cluster_ready().await;
    let signaling = Signaling::new(hub.clone(), signaling, shutdown.clone());
    let recordings = media.record.clone();
    let routers = http::router(&http_settings, hub, signaling, shutdown.clone(), recordings);
    if let Some(addr) = http_settings.metrics_addr {
        serve_metrics(addr, routers.metrics, shutdown.clone()).await?;
    }
    let app = routers
        .app
        .into_make_service_with_connect_info::<SocketAddr>();
    let graceful = async move {
        stop.await;
        tracing::info!("shutting down: telling connected pages to reconnect");
        shutdown.begin();
    };
    let served = match tls {
        Some(tls) => {
            tracing::info!(
                "HTTPS with {}; SHA-256 fingerprint {}",
                tls.origin,
                tls.fingerprint
            );
            // A tap that does nothing: axum gives a tapped listener's connections their
            // `ConnectInfo<SocketAddr>` (the per-address limits read it).
            let listener = tls::TlsListener::new(listener, &tls)
                .map_err(ServerError::Serve)?
                .tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await
        }
        None => {
            // Sockets read in bursts (see signaling::burst), and signaling is many small
            // messages: send each at once instead of waiting on Nagle.
            let listener = signaling::burst::BurstListener(listener).tap_io(|socket| {
                let _ = socket.get_ref().set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(graceful)
                .await
        }
    };
    served.map_err(ServerError::Serve)
}

/// `/metrics` on an address of its own (`--metrics-addr`), until the server stops.
async fn serve_metrics(
    addr: SocketAddr,
    router: axum::Router,
    shutdown: Shutdown,
) -> Result<(), ServerError> {
    let listener = TcpListener::bind(addr).await.map_err(|err| {
        if err.kind() == io::ErrorKind::AddrInUse {
            ServerError::MetricsPortTaken(addr)
        } else {
            ServerError::Listen(addr, err)
        }
    })?;
    tracing::info!("metrics on http://{addr}/metrics");
    tokio::spawn(async move {
        let stopped = async move { shutdown.wait().await };
        if let Err(err) = axum::serve(listener, router)
            .with_graceful_shutdown(stopped)
            .await
        {
            tracing::warn!("the metrics listener stopped: {err}");
        }
    });
    Ok(())
}

/// The addresses to open the server at, for the start-up log: each interface's when it
/// listens on all of them.
pub fn urls(addr: SocketAddr, https: bool) -> Vec<String> {
    let scheme = if https { "https" } else { "http" };
    let ips: Vec<IpAddr> = if addr.ip().is_unspecified() {
        if_addrs::get_if_addrs()
            .map(|interfaces| {
                interfaces
                    .iter()
                    .map(|i| i.ip())
                    .filter(|ip| ip.is_ipv4() == addr.is_ipv4())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![addr.ip()]
    };
    ips.into_iter()
        .map(|ip| format!("{scheme}://{}", SocketAddr::new(ip, addr.port())))
        .collect()
}

/// The address to give the audience: the first one that is not loopback, where there is one.
pub fn audience_url(addr: SocketAddr, https: bool) -> Option<String> {
    let scheme = if https { "https" } else { "http" };
    if addr.ip().is_unspecified() {
        let lan = if_addrs::get_if_addrs()
            .ok()?
            .into_iter()
            .map(|i| i.ip())
            .find(|ip| ip.is_ipv4() == addr.is_ipv4() && !ip.is_loopback())?;
        return Some(format!("{scheme}://{}", SocketAddr::new(lan, addr.port())));
    }
    Some(format!("{scheme}://{addr}"))
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
