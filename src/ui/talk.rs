//! What the talk page shows: the broadcaster engine writes it, the page reads it.

use leptos::prelude::*;

use super::chat::ChatUi;
use std::collections::HashMap;

use crate::protocol::{AudienceMember, LayerUse, MediaMode, PeerId, ServerMessage, ViewerQuality};

/// What is being sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Camera,
    Screen,
}

/// Everything the talk page shows; the browser engine writes it, the view reads it.
#[derive(Clone, Copy)]
pub struct TalkUi {
    pub status: RwSignal<String>,
    pub error: RwSignal<Option<String>>,
    pub live: RwSignal<bool>,
    pub source: RwSignal<Option<Source>>,
    pub viewers: RwSignal<u32>,
    pub connected: RwSignal<bool>,
    pub needs_key: RwSignal<bool>,
    pub key: RwSignal<String>,
    /// How the stream reaches viewers, once the server said (its welcome).
    pub media: RwSignal<Option<MediaMode>>,
    /// Whether this room's broadcasts are recorded; `None` where the server does not record.
    pub recording: RwSignal<Option<bool>>,
    /// The room's recordings, newest first (file names).
    pub recordings: RwSignal<Vec<String>>,
    pub chat: ChatUi,
    /// Who is watching, longest first.
    pub audience: RwSignal<Vec<AudienceMember>>,
    /// How well each viewer receives the broadcast (every few seconds).
    pub quality: RwSignal<HashMap<PeerId, ViewerQuality>>,
    /// Where the audience opens this room: the server's address they can reach, once the
    /// server said (its welcome).
    pub watch_url: RwSignal<Option<String>>,
    /// Where the server relays a simulcast: the layers sent, and who receives each.
    pub layers: RwSignal<Vec<LayerUse>>,
}

impl TalkUi {
    /// Take in who is watching and how well; `false` for any other message.
    pub fn apply_audience(&self, msg: &ServerMessage) -> bool {
        match msg {
            ServerMessage::Audience { viewers } => self.audience.set(viewers.clone()),
            ServerMessage::AudienceJoined { viewer } => self.audience.update(|audience| {
                match audience.iter_mut().find(|known| known.id == viewer.id) {
                    Some(known) => *known = viewer.clone(),
                    None => audience.push(viewer.clone()),
                }
            }),
            ServerMessage::AudienceLeft { id } => {
                self.audience
                    .update(|audience| audience.retain(|v| v.id != *id));
            }
            // The relay's figures; peer to peer the page measures its own.
            ServerMessage::ViewerStats { viewers } => {
                self.quality
                    .set(viewers.iter().map(|q| (q.id, q.clone())).collect());
            }
            _ => return false,
        }
        true
    }

    /// The line that says how the stream reaches viewers.
    pub fn media_line(&self) -> &'static str {
        match self.media.get() {
            Some(MediaMode::Sfu) => {
                "The server relays your stream: you upload it once, however many people watch."
            }
            Some(MediaMode::P2p) => {
                "Peer to peer: your browser sends the stream to each viewer itself."
            }
            None => "",
        }
    }
}

impl Default for TalkUi {
    /// As the server renders the page: nothing captured, not live.
    fn default() -> Self {
        Self {
            status: RwSignal::new("Start your camera or share your screen, then go live.".into()),
            error: RwSignal::new(None),
            live: RwSignal::new(false),
            source: RwSignal::new(None),
            viewers: RwSignal::new(0),
            connected: RwSignal::new(false),
            needs_key: RwSignal::new(false),
            key: RwSignal::new(String::new()),
            media: RwSignal::new(None),
            recording: RwSignal::new(None),
            recordings: RwSignal::new(Vec::new()),
            chat: ChatUi::default(),
            audience: RwSignal::new(Vec::new()),
            quality: RwSignal::new(HashMap::new()),
            watch_url: RwSignal::new(None),
            layers: RwSignal::new(Vec::new()),
        }
    }
}
