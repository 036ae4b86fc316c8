//! Health checks and figures for whoever runs the server: alive, ready for new rooms, and
//! `/metrics`.

use axum::{extract::State, http::StatusCode, response::IntoResponse};

use super::AppState;
use crate::server::shutdown::Shutdown;

/// `GET /healthz`: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: ready while the server takes new rooms; 503 once shutdown has begun.
pub async fn readyz(State(shutdown): State<Shutdown>) -> impl IntoResponse {
    if shutdown.is_accepting() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.scrape(&state.hub),
    )
}
