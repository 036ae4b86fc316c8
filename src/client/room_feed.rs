//! The home page's live room list: server-sent events, read into a signal.

use leptos::prelude::*;
use web_sys::{EventSource, MessageEvent};

use super::{json, listener::EventListener};
use crate::protocol::{paths, reader, RoomSummary};

/// The open room feed; dropping it closes the stream.
pub struct RoomFeed {
    source: EventSource,
    _rooms: EventListener,
}

impl RoomFeed {
    pub fn open(into: RwSignal<Option<Vec<RoomSummary>>>) -> Option<Self> {
        let source = EventSource::new(paths::ROOM_EVENTS).ok()?;
        let rooms = EventListener::new(&source, "rooms", move |event: MessageEvent| {
            if let Some(rooms) = event
                .data()
                .as_string()
                .and_then(|text| json::parse(&text, reader::room_list).ok())
            {
                into.set(Some(rooms));
            }
        });
        Some(Self {
            source,
            _rooms: rooms,
        })
    }
}

impl Drop for RoomFeed {
    fn drop(&mut self) {
        self.source.close();
    }
}
