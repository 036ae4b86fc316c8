//! `GET /api/rooms/events`: the live room list as server-sent events, sent whenever it changes;
//! `GET /api/rooms`: the list as it is now, as JSON.

use std::convert::Infallible;

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
    Json,
};
use futures_util::{Stream, StreamExt};
use tokio_stream::wrappers::WatchStream;

use super::AppState;

pub async fn room_events(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let shutdown = state.shutdown.clone();
    let updates = WatchStream::new(state.hub.room_list())
        .map(|rooms| {
            Ok(Event::default()
                .event("rooms")
                .data(serde_json::to_string(&*rooms).unwrap_or_else(|_| "[]".into())))
        })
        // End the stream on shutdown so graceful shutdown does not wait for open pages.
        .take_until(async move { shutdown.wait().await });
    Sse::new(updates).keep_alive(KeepAlive::default())
}

/// The live rooms as of now, built afresh (not the list the events stream last sent).
pub async fn rooms(State(state): State<AppState>) -> Json<Vec<crate::protocol::RoomSummary>> {
    Json(crate::directory::RoomDirectory::live_rooms(&*state.hub))
}
