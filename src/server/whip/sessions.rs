//! The live WHIP and WHEP sessions: each one a member of its room (a broadcaster, or a viewer),
//! until `DELETE`, until the relay says its peer ended (ICE timed out: the client is gone), until
//! a player's broadcast ends, or until the server stops.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, Weak},
};

use tokio::task::AbortHandle;

use super::WhipError;
use crate::{
    protocol::{ClientMessage, Role, RoomName, ServerMessage, RELAY_ID},
    server::{outbox::Queue, rooms::Membership, secrets},
};

pub(super) struct Session {
    room: RoomName,
    pub(super) membership: Membership,
    /// The client's offer as it now stands (an ICE restart changes its credentials).
    pub(super) offer: String,
    /// The session's entity tag: a new one after each ICE restart (RFC 9725 §4.3.1).
    pub(super) etag: String,
    watcher: AbortHandle,
}

impl Session {
    /// A `PATCH` may go on: its `If-Match` (if any) is `*` or this session's tag.
    pub(super) fn check_if_match(&self, if_match: Option<&str>) -> Result<(), WhipError> {
        match if_match.map(str::trim) {
            None | Some("*") => Ok(()),
            Some(tag) if tag.trim_start_matches("W/") == self.etag => Ok(()),
            Some(_) => Err(WhipError::StaleEtag(self.etag.clone())),
        }
    }

    /// ICE restarted with `offer`: it is the session's offer now, under a new tag (returned).
    pub(super) fn restarted(&mut self, offer: String) -> String {
        self.offer = offer;
        self.etag = new_etag();
        self.etag.clone()
    }
}

#[derive(Default)]
pub struct WhipSessions {
    sessions: Mutex<HashMap<String, Session>>,
}

impl WhipSessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.sessions
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Keep `membership` live as session `id` of `room`, watching what the room tells it.
    /// Returns the session's first entity tag.
    pub(super) fn start(
        self: &Arc<Self>,
        id: String,
        room: RoomName,
        membership: Membership,
        queue: Queue,
        offer: String,
    ) -> String {
        let watcher = tokio::spawn(watch(Arc::downgrade(self), id.clone(), queue)).abort_handle();
        let etag = new_etag();
        self.lock().insert(
            id,
            Session {
                room,
                membership,
                offer,
                etag: etag.clone(),
                watcher,
            },
        );
        etag
    }

    /// End session `id` of `room`: the broadcast stops for its viewers. `false` if none.
    pub(super) fn end(&self, room: &RoomName, id: &str) -> bool {
        let session = {
            let mut sessions = self.lock();
            match sessions.get(id) {
                Some(session) if &session.room == room => sessions.remove(id),
                _ => None,
            }
        };
        let Some(session) = session else {
            return false;
        };
        session.watcher.abort();
        end_session(session.membership);
        true
    }

    /// Act as session `id` of `room`; `None` if there is none.
    pub(super) fn with<T>(
        &self,
        room: &RoomName,
        id: &str,
        act: impl FnOnce(&mut Session) -> T,
    ) -> Option<T> {
        let mut sessions = self.lock();
        let session = sessions.get_mut(id).filter(|s| &s.room == room)?;
        Some(act(session))
    }

    fn end_by_id(&self, id: &str) {
        let session = self.lock().remove(id);
        if let Some(session) = session {
            end_session(session.membership);
        }
    }
}

/// A fresh entity tag, quoted as HTTP wants it.
fn new_etag() -> String {
    format!("\"{}\"", secrets::new_token())
}

/// Leave the room; a broadcaster stops its broadcast first (its viewers are told it ended,
/// and the room is free at once, not held for a reconnect).
pub(super) fn end_session(membership: Membership) {
    if membership.role() == Role::Broadcaster {
        let _ = membership.handle(ClientMessage::OffAir);
    }
    drop(membership);
}

/// What ends a session from the inside: its peer ended (the relay hangs up, or asks for the
/// stream again, which a WHIP client cannot give), another connection took the room over, the
/// server stops, or the member was cut off.
async fn watch(sessions: Weak<WhipSessions>, id: String, mut queue: Queue) {
    while let Some(text) = queue.recv().await {
        let Ok(msg) = serde_json::from_str::<ServerMessage>(&text) else {
            continue;
        };
        let ends = match msg {
            ServerMessage::Hangup { from } | ServerMessage::WantStream { from } => from == RELAY_ID,
            // A player cannot renegotiate: the broadcast's end is its session's.
            ServerMessage::Error { .. }
            | ServerMessage::ShuttingDown
            | ServerMessage::OffAir { .. } => true,
            _ => false,
        };
        if ends {
            break;
        }
    }
    if let Some(sessions) = sessions.upgrade() {
        sessions.end_by_id(&id);
    }
}
