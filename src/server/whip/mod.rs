//! WHIP (RFC 9725): going live over plain HTTP, from OBS, ffmpeg or a camera box; and WHEP,
//! playing a room in any WHEP player.
//!
//! `POST /whip/<room>` with an SDP offer makes the client the room's broadcaster: inside, a
//! WHIP session is a broadcaster member of the room like a talk page (the same keys, the same
//! "already live", listed on `/`, watched at `/watch/<room>`), whose offer goes to the relay.
//! The answer comes back in the `201 Created`, with the session's `Location`; `DELETE` there
//! ends the broadcast, `PATCH` adds trickled candidates or restarts ICE.
//!
//! - [`sessions`]: the live WHIP sessions, each ended by `DELETE`, by its peer's end, or by
//!   the server's.
//! - [`publish`]: `POST /whip/<room>`, and what WHEP's `POST` shares with it.
//! - [`play`]: WHEP, `POST /whep/<room>`: any WHEP player plays a live room, as a viewer.
//! - [`resource`]: `PATCH` and `DELETE` on a session, `OPTIONS` for both.
//! - [`fragment`]: the SDP fragments `PATCH` carries.

mod fragment;
mod play;
mod publish;
mod resource;
mod sessions;

use axum::{
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};

pub use play::play;
pub use publish::publish;
pub use resource::{delete, options, patch};
pub use sessions::WhipSessions;

use std::sync::Arc;

use super::rooms::Hub;

/// What the WHIP handlers reach: the rooms and the live sessions.
#[derive(Clone)]
pub struct WhipState {
    pub hub: Arc<Hub>,
    pub sessions: Arc<WhipSessions>,
}

use crate::protocol::{IceServer, RoomNameError};
use fragment::FragmentError;

/// The media type of `PATCH` bodies (RFC 8840).
const SDP_FRAGMENT: &str = "application/trickle-ice-sdpfrag";

/// Why a WHIP request was refused; its text is the response body.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    #[error("not a valid room name: {0}")]
    BadRoom(#[from] RoomNameError),
    #[error("send the offer as Content-Type: application/sdp")]
    NotSdp,
    #[error("the offer is not UTF-8 text")]
    NotText,
    #[error("this server does not relay media (it runs with --media p2p); WHIP needs --media sfu")]
    NoRelay,
    #[error("{0}")]
    Unauthorized(String),
    #[error("this room is already live")]
    AlreadyLive,
    #[error("{0}")]
    Unavailable(String),
    #[error("the offer was refused: {0}")]
    BadOffer(String),
    #[error("the media relay did not answer in time")]
    Timeout,
    #[error("no such session (it ended, or never was)")]
    NoSession,
    #[error("nobody is live in this room")]
    NotLive,
    #[error("send candidates as Content-Type: application/trickle-ice-sdpfrag")]
    NotSdpFrag,
    #[error("not a usable SDP fragment: {0}")]
    BadFragment(#[from] FragmentError),
    #[error("If-Match does not match: ICE was restarted since; the session's ETag is now {0}")]
    StaleEtag(String),
}

impl WhipError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRoom(_) | Self::NoSession | Self::NotLive => StatusCode::NOT_FOUND,
            Self::NotSdp | Self::NotSdpFrag => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotText | Self::BadOffer(_) | Self::BadFragment(_) => StatusCode::BAD_REQUEST,
            Self::NoRelay | Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::AlreadyLive => StatusCode::CONFLICT,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::StaleEtag(_) => StatusCode::PRECONDITION_FAILED,
        }
    }
}

impl IntoResponse for WhipError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), self.to_string()).into_response();
        let headers = response.headers_mut();
        cors(headers);
        if matches!(self, Self::Unauthorized(_)) {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Pages of other origins may use WHIP and WHEP (a player on another site): the preflight is
/// answered and the resource headers are readable.
fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location, ETag, Link, Accept-Patch"),
    );
}

/// The ICE servers as `Link` headers (RFC 9725 §4.4).
fn ice_links(headers: &mut HeaderMap, servers: &[IceServer]) {
    for server in servers {
        for url in &server.urls {
            let mut link = format!("<{url}>; rel=\"ice-server\"");
            if let (Some(username), Some(credential)) = (&server.username, &server.credential) {
                link.push_str(&format!(
                    "; username=\"{username}\"; credential=\"{credential}\"; credential-type=\"password\""
                ));
            }
            if let Ok(value) = HeaderValue::from_str(&link) {
                headers.append(header::LINK, value);
            }
        }
    }
}

/// The `Authorization: Bearer` token, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    Some(token.trim().to_owned()).filter(|t| !t.is_empty())
}

fn content_type_is(headers: &HeaderMap, wanted: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(wanted))
}
