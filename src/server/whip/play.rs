//! WHEP: `POST /whep/<room>` plays a live room in any WHEP player. The player is a viewer member
//! of the room like a watch page (the cap applies, a private room wants its key as the Bearer
//! token) whose own offer the relay answers. `PATCH` and `DELETE` on its session are WHIP's.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};

use super::{
    bearer, content_type_is,
    publish::{created, wait_for},
    sessions::end_session,
    WhipError, WhipState,
};
use crate::{
    protocol::{ErrorCode, Role, RoomName, ServerMessage, RELAY_ID},
    server::{outbox::Outbox, rooms::JoinError, secrets},
};

/// `POST /whep/<room>`: the player's offer in, the relay's answer out.
pub async fn play(
    State(state): State<WhipState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WhipError> {
    let room = RoomName::parse(&room)?;
    if !content_type_is(&headers, "application/sdp") {
        return Err(WhipError::NotSdp);
    }
    let offer = String::from_utf8(body.to_vec()).map_err(|_| WhipError::NotText)?;
    if state.hub.relay_metrics().is_none() {
        return Err(WhipError::NoRelay);
    }
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
        .play(offer)
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
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            end_session(membership);
            return Err(err);
        }
    };
    let id = secrets::new_token();
    let location = format!("/whep/{room}/{id}");
    state.sessions.start(id.clone(), room, membership, queue);
    Ok(created(
        StatusCode::CREATED,
        answer,
        &location,
        &id,
        state.hub.ice_servers(),
    ))
}
