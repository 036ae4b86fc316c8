//! The recordings of a room for its broadcaster (`--record`): `GET /recordings/<room>` lists
//! them (a JSON array of file names, newest first), `GET /recordings/<room>/<file>` downloads
//! one. Where the room has a publish key, both want it as `?key=`.

use std::{collections::HashMap, path::PathBuf};

use axum::{
    body::Body,
    extract::{Path, Query, Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::AppState;
use crate::protocol::{paths, RoomName};

/// Why a recordings request was refused; its text is the response body.
#[derive(Debug, thiserror::Error)]
pub enum RecordingsError {
    #[error("this server does not record (start it with --record DIR)")]
    NotRecording,
    #[error("not a valid room name")]
    BadRoom,
    #[error("this room's recordings need its publish key (?key=)")]
    WrongKey,
    #[error("no such recording")]
    NoSuchFile,
    #[error("cannot read the recordings: {0}")]
    Read(std::io::Error),
}

impl IntoResponse for RecordingsError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NotRecording | Self::BadRoom | Self::NoSuchFile => StatusCode::NOT_FOUND,
            Self::WrongKey => StatusCode::FORBIDDEN,
            Self::Read(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, self.to_string()).into_response()
    }
}

/// The recordings directory and the room, once the caller may see them.
fn admitted(
    state: &AppState,
    room: &str,
    query: &HashMap<String, String>,
) -> Result<(PathBuf, RoomName), RecordingsError> {
    let dir = state
        .recordings
        .clone()
        .ok_or(RecordingsError::NotRecording)?;
    let room = RoomName::parse(room).map_err(|_| RecordingsError::BadRoom)?;
    let key = query.get(paths::ROOM_KEY_PARAM).map(String::as_str);
    if !state.hub.may_publish(&room, key) {
        return Err(RecordingsError::WrongKey);
    }
    Ok((dir, room))
}

/// The room's finished recordings in `dir`: `<room>-<start>.webm` or `.mp4`, newest first
/// (one being written is `….part` until it is closed, and not listed).
fn recordings_of(dir: &std::path::Path, room: &RoomName) -> Result<Vec<String>, RecordingsError> {
    let prefix = format!("{room}-");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(RecordingsError::Read)?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| is_recording_of(name, &prefix))
        .collect();
    files.sort_unstable_by(|a, b| b.cmp(a));
    Ok(files)
}

/// `<room>-<8 digits>T<6 digits>Z[-<n>].webm|mp4`: another room's name can share the prefix,
/// not the shape.
fn is_recording_of(name: &str, prefix: &str) -> bool {
    let Some(rest) = name.strip_prefix(prefix) else {
        return false;
    };
    let Some(rest) = rest
        .strip_suffix(".webm")
        .or_else(|| rest.strip_suffix(".mp4"))
    else {
        return false;
    };
    let (stamp, second) = match rest.split_once("Z-") {
        Some((stamp, n)) => (stamp, Some(n)),
        None => match rest.strip_suffix('Z') {
            Some(stamp) => (stamp, None),
            None => return false,
        },
    };
    let stamp_ok = stamp.len() == 15
        && stamp.char_indices().all(|(at, c)| {
            if at == 8 {
                c == 'T'
            } else {
                c.is_ascii_digit()
            }
        });
    stamp_ok && second.is_none_or(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `GET /recordings/<room>`.
pub async fn list(
    State(state): State<AppState>,
    Path(room): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Vec<String>>, RecordingsError> {
    let (dir, room) = admitted(&state, &room, &query)?;
    Ok(Json(recordings_of(&dir, &room)?))
}

/// `GET /recordings/<room>/<file>`: the file, as a download.
pub async fn download(
    State(state): State<AppState>,
    Path((room, file)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Result<Response, RecordingsError> {
    let (dir, room) = admitted(&state, &room, &query)?;
    if !is_recording_of(&file, &format!("{room}-")) {
        return Err(RecordingsError::NoSuchFile);
    }
    let path = dir.join(&file);
    if !path.is_file() {
        return Err(RecordingsError::NoSuchFile);
    }
    let request = request.map(|_| Body::empty());
    let mut response = match ServeFile::new(&path).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    };
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_rooms_recordings_are_its_own() {
        let prefix = "class-";
        assert!(is_recording_of("class-20261201T170425Z.webm", prefix));
        assert!(is_recording_of("class-20261201T170425Z.mp4", prefix));
        // A second one started in the same second.
        assert!(is_recording_of("class-20261201T170425Z-2.mp4", prefix));
        assert!(!is_recording_of("class-20261201T170425Z-.mp4", prefix));
        assert!(!is_recording_of("class-20261201T170425Z-x.mp4", prefix));
        assert!(!is_recording_of("class-20261201T170425Z.mkv", prefix));
        // Another room whose name starts the same, a stray file, a path.
        assert!(!is_recording_of("class-b-20261201T170425Z.webm", prefix));
        assert!(!is_recording_of("class-notes.webm", prefix));
        assert!(!is_recording_of("class-../../etc/passwd", prefix));
        // Still being written.
        assert!(!is_recording_of("class-20261201T170425Z.mp4.part", prefix));
    }
}
