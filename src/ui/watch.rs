//! What the watch page shows: the viewer engine writes it, the page reads it.

use leptos::prelude::*;

use super::chat::ChatUi;
use crate::protocol::Level;

/// The `id` of the watch page's stage, where the viewer engine starts before hydration: its
/// first child is the `<video>`, the next the overlay over it, which the engine hides once
/// the picture plays. (One id, not one per element: each attribute the view adds costs wasm.)
pub const STAGE_ID: &str = "watch-stage";

/// The viewer's state, as `data-state` on the status line shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchState {
    Waiting,
    Connecting,
    Live,
    Ended,
    Full,
    Error,
}

impl WatchState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Connecting => "connecting",
            Self::Live => "live",
            Self::Ended => "ended",
            Self::Full => "full",
            Self::Error => "error",
        }
    }
}

#[derive(Clone, Copy)]
pub struct WatchUi {
    pub state: RwSignal<WatchState>,
    pub message: RwSignal<String>,
    /// The room is private and the page's key was missing or wrong.
    pub needs_key: RwSignal<bool>,
    pub chat: ChatUi,
    /// How far behind live the picture is (ms), once measured.
    pub delay_ms: RwSignal<Option<u32>>,
    /// The simulcast layer the relay sends: its level, of how many, and whether pinned.
    pub quality: RwSignal<Option<(Level, u32, bool)>>,
    /// The quality the viewer pinned (`None`: the relay chooses).
    pub pinned: RwSignal<Option<Level>>,
    /// The decoded picture's height.
    pub video_height: RwSignal<u32>,
}

impl Default for WatchUi {
    /// As the server renders the page: waiting.
    fn default() -> Self {
        Self {
            state: RwSignal::new(WatchState::Waiting),
            message: RwSignal::new("Waiting for the broadcaster to go live…".into()),
            needs_key: RwSignal::new(false),
            chat: ChatUi::default(),
            delay_ms: RwSignal::new(None),
            quality: RwSignal::new(None),
            pinned: RwSignal::new(None),
            video_height: RwSignal::new(0),
        }
    }
}

impl WatchUi {
    pub fn set(&self, state: WatchState, message: &str) {
        if self.state.get_untracked() != state {
            self.state.set(state);
        }
        if self.message.with_untracked(|m| m != message) {
            self.message.set(message.to_owned());
        }
    }
}
