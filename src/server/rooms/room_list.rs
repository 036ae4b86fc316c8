//! The live room list the home page shows: rebuilt when rooms change, at most five times a
//! second, and handed to every open home page.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use tokio::sync::{watch, Notify};

use super::Hub;
use crate::{directory::RoomDirectory, protocol::RoomSummary};

/// Coalesces changes: rebuilding the list after every join would cost a lock per room each time.
const REBUILD_EVERY: Duration = Duration::from_millis(200);

pub(super) struct RoomList {
    changed: Arc<Notify>,
    list: watch::Sender<Arc<Vec<RoomSummary>>>,
}

impl RoomList {
    pub(super) fn new() -> Self {
        Self {
            changed: Arc::new(Notify::new()),
            list: watch::channel(Arc::new(Vec::new())).0,
        }
    }

    /// A room went live or off air, or a live room's viewer count changed.
    pub(super) fn changed(&self) {
        self.changed.notify_one();
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<Arc<Vec<RoomSummary>>> {
        self.list.subscribe()
    }

    /// Keep the list of `hub` current until the hub is gone (call inside tokio).
    pub(super) fn spawn_publisher(&self, hub: Weak<Hub>) {
        tokio::spawn(publish(hub, self.changed.clone()));
    }
}

impl Drop for RoomList {
    fn drop(&mut self) {
        // Wake the publisher so it sees the hub is gone and ends.
        self.changed.notify_one();
    }
}

async fn publish(hub: Weak<Hub>, changed: Arc<Notify>) {
    loop {
        {
            let Some(hub) = hub.upgrade() else { return };
            let list = hub.live_rooms();
            hub.room_list.list.send_if_modified(|current| {
                let modified = **current != list;
                if modified {
                    *current = Arc::new(list);
                }
                modified
            });
        }
        changed.notified().await;
        tokio::time::sleep(REBUILD_EVERY).await;
    }
}
