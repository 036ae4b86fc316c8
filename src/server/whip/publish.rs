//! `POST /whip/<room>`: go live with an offer; and what WHEP's `POST` shares with it (reading
//! the offer, waiting for the relay, opening the session and its `201 Created`).

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use tokio::time::timeout;

use super::{
    bearer, content_type_is, cors, ice_links, sessions::end_session, WhipError, WhipState,
    SDP_FRAGMENT,
};
use crate::{
    protocol::{
        ClientMessage, ErrorCode, IceServer, MediaMode, Role, RoomName, ServerMessage, RELAY_ID,
    },
    server::{
        outbox::{Outbox, Queue},
        rooms::{JoinError, Membership},
        secrets,
    },
};

/// How long the relay may take to ask for the stream and to answer the offer.
pub(super) const RELAY_WITHIN: Duration = Duration::from_secs(5);

/// `POST /whip/<room>`: go live with the offer in the body.
pub async fn publish(
    State(state): State<WhipState>,
    Path(room): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WhipError> {
    let (room, offer) = read_offer(&state, &room, &headers, &body)?;
    let (outbox, mut queue) = Outbox::new(state.hub.outbox_capacity());
    let membership = state
        .hub
        .join(&room, Role::Broadcaster, outbox, None, None)
        .map_err(|err| match err {
            JoinError::RoomFull(_) | JoinError::Private => WhipError::AlreadyLive,
            other => WhipError::Unavailable(other.to_string()),
        })?;
    membership
        .handle(ClientMessage::GoLive {
            key: bearer(&headers),
            reclaim: None,
        })
        .map_err(|refusal| match refusal.code {
            ErrorCode::WrongKey => WhipError::Unauthorized(refusal.message),
            ErrorCode::AlreadyLive => WhipError::AlreadyLive,
            _ => WhipError::Unavailable(refusal.message),
        })?;
    let answer = async {
        wait_for(&mut queue, |msg| {
            matches!(msg, ServerMessage::WantStream { from: RELAY_ID }).then_some(Ok(()))
        })
        .await?;
        membership
            .handle(ClientMessage::Offer {
                to: RELAY_ID,
                sdp: offer.clone(),
            })
            .map_err(|refusal| WhipError::BadOffer(refusal.message))?;
        wait_for(&mut queue, |msg| match msg {
            ServerMessage::Answer {
                from: RELAY_ID,
                sdp,
            } => Some(Ok(sdp)),
            ServerMessage::Error { message, .. } => Some(Err(WhipError::BadOffer(message))),
            _ => None,
        })
        .await
    }
    .await;
    open_session(&state, "whip", room, membership, queue, (offer, answer))
}

/// The room and the offer of a `POST`, checked: a room name, an SDP body, a server that relays.
pub(super) fn read_offer(
    state: &WhipState,
    room: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(RoomName, String), WhipError> {
    let room = RoomName::parse(room)?;
    if !content_type_is(headers, "application/sdp") {
        return Err(WhipError::NotSdp);
    }
    let offer = String::from_utf8(body.to_vec()).map_err(|_| WhipError::NotText)?;
    if state.hub.media() != MediaMode::Sfu {
        return Err(WhipError::NoRelay);
    }
    Ok((room, offer))
}

/// Once the relay answered `membership`'s offer (or refused it): a session at
/// `/<kind>/<room>/<id>` and its `201 Created`, or the refusal, the member gone.
pub(super) fn open_session(
    state: &WhipState,
    kind: &str,
    room: RoomName,
    membership: Membership,
    queue: Queue,
    (offer, answer): (String, Result<String, WhipError>),
) -> Result<Response, WhipError> {
    let answer = match answer {
        Ok(answer) => answer,
        Err(err) => {
            end_session(membership);
            return Err(err);
        }
    };
    let id = secrets::new_token();
    let location = format!("/{kind}/{room}/{id}");
    let etag = state.sessions.start(id, room, membership, queue, offer);
    Ok(created(answer, &location, &etag, state.hub.ice_servers()))
}

/// The `201 Created` of a new session: the answer, where the session is, its tag, the ICE
/// servers, and what other origins may read.
fn created(answer: String, location: &str, etag: &str, ice_servers: &[IceServer]) -> Response {
    let mut response = (StatusCode::CREATED, answer).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert("accept-patch", HeaderValue::from_static(SDP_FRAGMENT));
    cors(headers);
    ice_links(headers, ice_servers);
    response
}

/// The first message `pick` decides on, within [`RELAY_WITHIN`].
pub(super) async fn wait_for<T>(
    queue: &mut Queue,
    mut pick: impl FnMut(ServerMessage) -> Option<Result<T, WhipError>>,
) -> Result<T, WhipError> {
    let read = async {
        while let Some(text) = queue.recv().await {
            if let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) {
                if let Some(decided) = pick(msg) {
                    return decided;
                }
            }
        }
        Err(WhipError::Unavailable("the room closed the session".into()))
    };
    timeout(RELAY_WITHIN, read)
        .await
        .map_err(|_| WhipError::Timeout)?
}
