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
use crate::{
    protocol::{paths, RoomName},
    server::recording::is_recording_of,
};

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
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .map_err(RecordingsError::Read)?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|name| is_recording_of(name, room))
        .collect();
    files.sort_unstable_by(|a, b| b.cmp(a));
    Ok(files)
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
    if !is_recording_of(&file, &room) {
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
