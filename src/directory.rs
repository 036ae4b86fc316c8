//! What the pages ask the server for while it renders them, as a trait the server puts in
//! context: the pages never see the rooms' registry itself, and a test can render them with
//! a directory of its own.

use std::sync::Arc;

use crate::protocol::{PageOffer, RoomName, RoomSummary};

pub trait RoomDirectory: Send + Sync {
    /// The live rooms the list shows, by name.
    fn live_rooms(&self) -> Vec<RoomSummary>;
    /// The broadcaster's spare offer for a watch page of `room` being served, if there is one
    /// to give (see [`PageOffer`]); `key` is the page's `?key=`.
    fn page_offer(&self, room: &RoomName, key: Option<&str>) -> Option<PageOffer>;
}

/// The directory as the server provides it in the pages' context.
#[derive(Clone)]
pub struct Directory(pub Arc<dyn RoomDirectory>);

/// The directory of the request being rendered, if the server provided one.
pub fn current() -> Option<Directory> {
    leptos::prelude::use_context::<Directory>()
}
