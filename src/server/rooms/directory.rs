//! The hub as the pages' room directory: the live rooms for the room list, and the offer a
//! watch page may come with.

use std::{sync::Arc, time::Instant};

use super::{lock, room::Room, Hub};
use crate::{
    directory::RoomDirectory,
    protocol::{PageOffer, RoomName, RoomSummary, ServerMessage},
};

impl RoomDirectory for Hub {
    /// Over every node, where there are several: a room live on one lists the viewers of all.
    fn live_rooms(&self) -> Vec<RoomSummary> {
        let rooms: Vec<Arc<Room>> = lock(&self.rooms).values().cloned().collect();
        let local = rooms
            .iter()
            .map(|room| {
                let state = room.lock();
                (room.name.to_string(), state.viewers, state.on_air.is_some())
            })
            .collect();
        self.with_other_nodes(local, |name| {
            // Private rooms are for people who have the link; the list does not show them.
            // The pre-flight check's loops are nobody's broadcast.
            !self.keys.is_private(name)
                && !name.starts_with(crate::protocol::paths::CHECK_ROOM_PREFIX)
        })
    }

    /// `None` when there is none to give (not live, no spare ready, too many pages pending,
    /// or a private room and not its key).
    fn page_offer(&self, name: &RoomName, key: Option<&str>) -> Option<PageOffer> {
        if !self.keys.may_watch(name.as_str(), key) {
            return None;
        }
        let room = lock(&self.rooms).get(name).cloned()?;
        let mut state = room.lock();
        let broadcaster = state.on_air?;
        let (ticket, spare) = state.spares.give_to_page(broadcaster, Instant::now())?;
        state.send(broadcaster, &ServerMessage::SpareHeld { spare: spare.id });
        Some(PageOffer {
            ticket,
            sdp: spare.sdp,
            ice_servers: self.ice_servers.clone(),
        })
    }
}
