//! HTTP: the router, the pages (rendered by Leptos), the browser bundle, health checks and the
//! room list stream. The signaling socket is routed here and served by `signaling`.
//!
//! - [`assets`]: the browser bundle, compressed once and served from memory.
//! - [`health`]: `/healthz`, `/readyz` and `/metrics`.
//! - [`room_events`]: the live room list as server-sent events.
//! - [`recordings`]: a room's recordings, listed and downloaded.
//! - [`qr`]: the QR code of a watch link.
//!
//! `/whip/<room>` is routed here and served by `server::whip`.

pub mod assets;
mod health;
mod qr;
mod recordings;
mod room_events;

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use axum::{
    extract::{DefaultBodyLimit, FromRef, Query},
    http::StatusCode,
    response::{IntoResponse, Redirect},
    routing::{get, patch, post},
    Router,
};
use leptos::prelude::*;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::{compression::CompressionLayer, trace::TraceLayer};

use super::{
    config::HttpSettings,
    metrics::Metrics,
    rooms::Hub,
    shutdown::Shutdown,
    signaling,
    signaling::Signaling,
    whip::{self, WhipSessions, WhipState},
};
use crate::{
    app::{shell, App},
    directory::{Directory, RoomDirectory},
    protocol::{paths, RoomName, MAX_SDP_BYTES},
};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub leptos_options: LeptosOptions,
    pub hub: Arc<Hub>,
    pub signaling: Arc<Signaling>,
    pub metrics: Arc<Metrics>,
    /// The live WHIP sessions.
    pub whip: Arc<WhipSessions>,
    /// Where the recordings are (`--record`).
    pub recordings: Option<PathBuf>,
    pub shutdown: Shutdown,
    pub assets: assets::Assets,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

impl FromRef<AppState> for Arc<Signaling> {
    fn from_ref(state: &AppState) -> Self {
        state.signaling.clone()
    }
}

impl FromRef<AppState> for WhipState {
    fn from_ref(state: &AppState) -> Self {
        Self {
            hub: state.hub.clone(),
            sessions: state.whip.clone(),
        }
    }
}

impl FromRef<AppState> for Shutdown {
    fn from_ref(state: &AppState) -> Self {
        state.shutdown.clone()
    }
}

/// Leptos settings: from cargo-leptos' environment when it runs us, else from our settings.
fn leptos_options(settings: &HttpSettings) -> LeptosOptions {
    let mut options = if std::env::var_os("LEPTOS_OUTPUT_NAME").is_some() {
        get_configuration(None)
            .map(|conf| conf.leptos_options)
            .unwrap_or_else(|_| LeptosOptions::builder().output_name("onair").build())
    } else {
        LeptosOptions::builder()
            .output_name("onair")
            .site_root(settings.site_root.to_string_lossy().into_owned())
            .build()
    };
    options.site_addr = settings.addr;
    // `--site-root` holds unless cargo-leptos itself says where the site is: `.cargo/config.toml`
    // sets LEPTOS_OUTPUT_NAME for every cargo run, and the flag must not lose to Cargo.toml's
    // default then (the signaling tests ask for no site, so that no bundle is compressed).
    if std::env::var_os("LEPTOS_SITE_ROOT").is_none() {
        options.site_root = settings.site_root.to_string_lossy().into_owned().into();
    }
    options
}

/// The app's routers: the whole app, and `/metrics` alone for `--metrics-addr` (the app then
/// leaves it out).
pub struct Routers {
    pub app: Router,
    pub metrics: Router,
}

/// The whole app as a router.
pub fn router(
    settings: &HttpSettings,
    hub: Arc<Hub>,
    signaling: Arc<Signaling>,
    shutdown: Shutdown,
    recordings: Option<PathBuf>,
) -> Routers {
    let leptos_options = leptos_options(settings);
    let routes = generate_route_list(App);
    let assets = assets::Assets::default();
    assets.load_in_background(
        PathBuf::from(&*leptos_options.site_root).join(&*leptos_options.site_pkg_dir),
    );
    let directory = Directory(hub.clone() as Arc<dyn RoomDirectory>);
    let metrics = Metrics::new(signaling.metrics(), hub.relay_metrics());
    let state = AppState {
        leptos_options: leptos_options.clone(),
        hub,
        signaling,
        metrics,
        whip: Arc::default(),
        recordings,
        shutdown,
        assets,
    };
    let metrics = Router::new()
        .route("/metrics", get(health::metrics))
        .with_state(state.clone());
    let app = Router::new()
        .route(
            &format!("{}{{room}}", paths::SOCKET_PREFIX),
            get(signaling::upgrade),
        )
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz));
    let app = if settings.metrics_addr.is_none() {
        app.route("/metrics", get(health::metrics))
    } else {
        app
    };
    // A WHIP or WHEP session resource: the same handlers serve both.
    let whip_session = patch(whip::patch)
        .delete(whip::delete)
        .options(whip::options)
        .layer(DefaultBodyLimit::max(MAX_SDP_BYTES));
    let app = app
        .route(
            "/whip/{room}",
            post(whip::publish)
                .options(whip::options)
                .layer(DefaultBodyLimit::max(MAX_SDP_BYTES)),
        )
        .route(
            "/whep/{room}",
            post(whip::play)
                .options(whip::options)
                .layer(DefaultBodyLimit::max(MAX_SDP_BYTES)),
        )
        .route("/whep/{room}/{session}", whip_session.clone())
        .route("/whip/{room}/{session}", whip_session)
        .route("/qr.svg", get(qr::qr_code))
        .route("/recordings/{room}", get(recordings::list))
        .route("/recordings/{room}/{file}", get(recordings::download))
        .route(paths::ROOM_EVENTS, get(room_events::room_events))
        .route(paths::ROOMS, get(room_events::rooms))
        .route("/talk", get(talk_redirect))
        .route("/pkg/{file}", get(assets::serve))
        .leptos_routes_with_context(
            &state,
            routes,
            move || provide_context(directory.clone()),
            move || shell(leptos_options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state);
    Routers { app, metrics }
}

/// The home page's form without JavaScript: `GET /talk?room=x` → `/talk/x`.
async fn talk_redirect(Query(query): Query<HashMap<String, String>>) -> impl IntoResponse {
    let room = query.get("room").map(String::as_str).unwrap_or_default();
    match RoomName::parse(room) {
        Ok(room) => Redirect::to(&format!("/talk/{room}")).into_response(),
        Err(err) => (
            StatusCode::BAD_REQUEST,
            format!("not a valid room name: {err}"),
        )
            .into_response(),
    }
}
