//! WHEP: `POST /whep/<room>` plays a live room in any WHEP player. The player is a viewer member
//! of the room like a watch page (the cap applies, a private room wants its key as the Bearer
//! token) whose own offer the relay answers. `PATCH` and `DELETE` on its session are as for WHIP.
//!
//! Another node of the cluster pulls a broadcast the same way, naming itself in the
//! [`EDGE_HEADER`]: its offer asks for every simulcast layer, which its own viewers choose
//! among, and it is not one of this node's viewers (see `server::cascade`).

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
    server::{
        cascade::EDGE_HEADER,
        outbox::Outbox,
        rooms::{EdgeRefusal, JoinError},
    },
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
    let edge = headers.get(EDGE_HEADER).and_then(|node| node.to_str().ok());
    let membership = match edge {
        Some(node) => state
            .hub
            .join_edge(&room, node, outbox)
            .map_err(|err| match err {
                EdgeRefusal::UnknownNode => WhipError::Unauthorized(err.to_string()),
                EdgeRefusal::NotLive => WhipError::NotLive,
                EdgeRefusal::ShuttingDown => WhipError::Unavailable(err.to_string()),
            })?,
        None => state
            .hub
            .join(
                &room,
                Role::Viewer,
                outbox,
                bearer(&headers).as_deref(),
                None,
            )
            .map_err(|err| match err {
                JoinError::Private => WhipError::Unauthorized(err.to_string()),
                other => WhipError::Unavailable(other.to_string()),
            })?,
    };
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
