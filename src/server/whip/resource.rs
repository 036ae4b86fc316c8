//! The session resource a WHIP or WHEP `POST` made (`/whip/<room>/<id>`, `/whep/<room>/<id>`):
//! `PATCH` trickles candidates or restarts ICE, `DELETE` ends it; and `OPTIONS` on any of
//! these addresses, for CORS and the ICE servers.

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use tokio::time::timeout;

use super::{
    content_type_is, cors,
    fragment::{answer_fragment, restarted_offer, Fragment},
    ice_links,
    publish::RELAY_WITHIN,
    WhipError, WhipState, SDP_FRAGMENT,
};
use crate::protocol::{ClientMessage, IceCandidate, RoomName, RELAY_ID};

/// `DELETE /whip/<room>/<session>`: end the broadcast (`/whep/…`: stop playing).
pub async fn delete(
    State(state): State<WhipState>,
    Path((room, id)): Path<(String, String)>,
) -> Result<Response, WhipError> {
    let room = RoomName::parse(&room)?;
    if !state.sessions.end(&room, &id) {
        return Err(WhipError::NoSession);
    }
    let mut response = StatusCode::OK.into_response();
    cors(response.headers_mut());
    Ok(response)
}

/// `PATCH /whip/<room>/<session>`: trickled candidates (`204`), or new ICE credentials, an
/// ICE restart (a client that changed networks): the relay answers with its own new ones and
/// the session gets a new `ETag` (`200`). An `If-Match` other than `*` or the current tag is
/// `412`: the client missed a restart.
pub async fn patch(
    State(state): State<WhipState>,
    Path((room, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WhipError> {
    let room = RoomName::parse(&room)?;
    if !content_type_is(&headers, SDP_FRAGMENT) {
        return Err(WhipError::NotSdpFrag);
    }
    let text = std::str::from_utf8(&body).map_err(|_| WhipError::NotText)?;
    let fragment = Fragment::parse(text)?;
    let if_match = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok());
    let restart = state
        .sessions
        .with(&room, &id, |session| {
            session.check_if_match(if_match)?;
            if let Some(credentials) = fragment.restart(&session.offer) {
                let offer = restarted_offer(&session.offer, credentials, &fragment.candidates);
                let reply = session
                    .membership
                    .restart_ice(offer.clone())
                    .map_err(|refusal| WhipError::Unavailable(refusal.message))?;
                return Ok(Some((reply, offer)));
            }
            for candidate in &fragment.candidates {
                let _ = session.membership.handle(ClientMessage::Candidate {
                    to: RELAY_ID,
                    candidate: IceCandidate {
                        candidate: candidate.clone(),
                        sdp_mid: None,
                        sdp_m_line_index: None,
                    },
                });
            }
            Ok::<_, WhipError>(None)
        })
        .ok_or(WhipError::NoSession)??;
    let Some((reply, offer)) = restart else {
        let mut response = StatusCode::NO_CONTENT.into_response();
        cors(response.headers_mut());
        return Ok(response);
    };
    let answer = timeout(RELAY_WITHIN, reply)
        .await
        .map_err(|_| WhipError::Timeout)?
        .map_err(|_| WhipError::NoSession)?
        .map_err(WhipError::BadOffer)?;
    let etag = state
        .sessions
        .with(&room, &id, |session| session.restarted(offer))
        .ok_or(WhipError::NoSession)?;

    let mut response = (StatusCode::OK, answer_fragment(&answer)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SDP_FRAGMENT));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    cors(headers);
    Ok(response)
}

/// `OPTIONS` on a WHIP or WHEP address: the CORS preflight, with the ICE servers.
pub async fn options(State(state): State<WhipState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    cors(headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST, PATCH, DELETE, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, If-Match"),
    );
    headers.insert("accept-post", HeaderValue::from_static("application/sdp"));
    ice_links(headers, state.hub.ice_servers());
    response
}
