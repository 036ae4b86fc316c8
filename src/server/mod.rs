//! The HTTP server: pages, server functions, the signaling socket, health and shutdown.

pub mod assets;
pub mod burst;
pub mod config;
pub mod hub;
pub mod outbox;
pub mod publish_key;
pub mod relayed;
pub mod ws;

use std::{collections::HashMap, convert::Infallible, io, net::SocketAddr, sync::Arc};

use axum::serve::ListenerExt;
use axum::{
    extract::{FromRef, State},
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Redirect,
    },
    routing::get,
    Router,
};
use futures_util::{Stream, StreamExt};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tokio::net::TcpListener;
use tokio_stream::wrappers::WatchStream;
use tower_http::{compression::CompressionLayer, trace::TraceLayer};

use crate::app::{shell, App};
pub use config::Config;
pub use hub::Hub;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: Arc<Hub>,
    pub assets: assets::Assets,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("{0} is already in use: stop the program using it, or pick another address with --addr (or ONAIR_ADDR)")]
    PortTaken(SocketAddr),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, io::Error),
    #[error("server stopped with an error: {0}")]
    Serve(io::Error),
}

/// Leptos settings: from cargo-leptos' environment when it runs us, else from our config.
fn leptos_options(config: &Config) -> LeptosOptions {
    let mut options = if std::env::var_os("LEPTOS_OUTPUT_NAME").is_some() {
        get_configuration(None)
            .map(|conf| conf.leptos_options)
            .unwrap_or_else(|_| LeptosOptions::builder().output_name("onair").build())
    } else {
        LeptosOptions::builder()
            .output_name("onair")
            .site_root(config.site_root.to_string_lossy().into_owned())
            .build()
    };
    options.site_addr = config.addr;
    options
}

/// The whole app as a router; `hub` holds the rooms.
pub fn router(config: &Config, hub: Arc<Hub>) -> Router {
    let leptos_options = leptos_options(config);
    let routes = generate_route_list(App);
    let assets = assets::Assets::default();
    assets.load_in_background(
        std::path::Path::new(&*leptos_options.site_root).join(&*leptos_options.site_pkg_dir),
    );
    let state = AppState {
        leptos_options: leptos_options.clone(),
        hub: hub.clone(),
        assets,
    };
    Router::new()
        .route("/ws/{room}", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/api/rooms/events", get(room_events))
        .route("/talk", get(talk_redirect))
        .route("/pkg/{file}", get(assets::serve))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(hub.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Ready while the server takes new rooms; 503 once shutdown has begun.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.hub.is_accepting() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    }
}

/// The home page's form without JavaScript: `GET /talk?room=x` → `/talk/x`.
async fn talk_redirect(
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> impl IntoResponse {
    let room = query.get("room").map(String::as_str).unwrap_or_default();
    match crate::room_name::RoomName::parse(room) {
        Ok(room) => Redirect::to(&format!("/talk/{room}")).into_response(),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            format!("not a valid room name: {err}"),
        )
            .into_response(),
    }
}

/// Server-sent events: the live room list, sent whenever it changes.
async fn room_events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let mut shutdown = state.hub.shutdown_signal();
    let updates = WatchStream::new(state.hub.room_list())
        .map(|rooms| {
            Ok(Event::default()
                .event("rooms")
                .data(serde_json::to_string(&*rooms).unwrap_or_else(|_| "[]".into())))
        })
        // End the stream on shutdown so graceful shutdown does not wait for open pages.
        .take_until(async move {
            let _ = shutdown.wait_for(|stopping| *stopping).await;
        });
    Sse::new(updates).keep_alive(KeepAlive::default())
}

/// Bind `config.addr`; a taken port gets its own clear error.
pub async fn bind(config: &Config) -> Result<TcpListener, ServerError> {
    TcpListener::bind(config.addr).await.map_err(|err| {
        if err.kind() == io::ErrorKind::AddrInUse {
            ServerError::PortTaken(config.addr)
        } else {
            ServerError::Listen(config.addr, err)
        }
    })
}

/// Serve until `stop` resolves, then shut down gracefully: pages are told to reconnect.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let hub = Hub::new(Arc::new(config.clone()));
    let app = router(&config, hub.clone());
    let shutdown_hub = hub.clone();
    // Sockets read in bursts (see burst.rs), and signaling is many small messages: send each
    // at once instead of waiting on Nagle.
    let listener = burst::BurstListener(listener).tap_io(|socket| {
        let _ = socket.get_ref().set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        stop.await;
        tracing::info!("shutting down: telling connected pages to reconnect");
        shutdown_hub.begin_shutdown();
    })
    .await
    .map_err(ServerError::Serve)
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
