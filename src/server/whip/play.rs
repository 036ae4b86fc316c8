//! WHEP: `POST /whep/<room>` plays a live room in any WHEP player. The player is a viewer member
//! of the room like a watch page (the cap applies, a private room wants its key as the Bearer
//! token) whose own offer the relay answers. `PATCH` and `DELETE` on its session are as for WHIP.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};

use super::{
    bearer,
    publish::{open_session, read_offer, wait_for},
    WhipError, WhipState,
};
use crate::{
    protocol::{ErrorCode, Role, ServerMessage, RELAY_ID},
    server::{outbox::Outbox, rooms::JoinError},
};

/// `POST /whep/<room>`: the player's offer in, the relay's answer out.
pub async fn play(
    State(state): State<WhipState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WhipError> {
    let (room, offer) = read_offer(&state, &room, &headers, &body)?;
    let (outbox, mut queue) = Outbox::new(state.hub.outbox_capacity());
    let key = bearer(&headers);
    let membership = state
        .hub
        .join(&room, Role::Viewer, outbox, key.as_deref(), None)
        .map_err(|err| match err {
            JoinError::Private => WhipError::Unauthorized(err.to_string()),
            other => WhipError::Unavailable(other.to_string()),
        })?;
    membership
        .play(offer.clone())
        .map_err(|refusal| match refusal.code {
            ErrorCode::OutOfOrder => WhipError::NotLive,
            _ => WhipError::Unavailable(refusal.message),
        })?;
    let answer = wait_for(&mut queue, |msg| match msg {
        ServerMessage::Answer {
            from: RELAY_ID,
            sdp,
        } => Some(Ok(sdp)),
        ServerMessage::Error { message, .. } => Some(Err(WhipError::BadOffer(message))),
        ServerMessage::OffAir { .. } => Some(Err(WhipError::NotLive)),
        _ => None,
    })
    .await;
    open_session(&state, "whep", room, membership, queue, (offer, answer))
}
