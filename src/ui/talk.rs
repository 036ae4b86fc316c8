//! What the talk page shows: the broadcaster engine writes it, the page reads it.

use leptos::prelude::*;

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
        }
    }
}
