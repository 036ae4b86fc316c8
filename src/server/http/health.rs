//! Health checks for whoever runs the server: alive, and ready for new rooms.

use axum::{extract::State, http::StatusCode, response::IntoResponse};

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
