//! A member's outgoing queue: the hub pushes JSON texts without waiting, the connection's task
//! takes them out and writes them. Bounded: a member that falls that far behind is cut off.
//!
//! Why not `tokio::sync::mpsc`: its channel allocates a cache-padded header and a first block of
//! 32 slots for every connection, about 1 KB, while most connections only ever hold a message or
//! two. This queue is a mutex around a `VecDeque` that grows on demand (about 150 bytes).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, MutexGuard},
};

use tokio::sync::Notify;

use crate::protocol::ServerMessage;

/// One queued message, its JSON text (16 bytes in the queue; becomes a WebSocket text frame
/// without a copy).
pub type Queued = Box<str>;

struct Shared {
    state: Mutex<State>,
    /// Woken for every push and for the cut-off.
    ready: Notify,
    capacity: usize,
}

struct State {
    items: VecDeque<Queued>,
    cut_off: bool,
}

/// The sending half; the hub keeps a clone per member.
#[derive(Clone)]
pub struct Outbox(Arc<Shared>);

/// The receiving half, owned by the connection's task.
pub struct Queue(Arc<Shared>);

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("capacity", &self.0.capacity)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Outbox {
    /// A queue that holds up to `capacity` messages.
    pub fn new(capacity: usize) -> (Self, Queue) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                items: VecDeque::new(),
                cut_off: false,
            }),
            ready: Notify::new(),
            capacity,
        });
        (Self(shared.clone()), Queue(shared))
    }

    /// Queue without waiting. A full queue means the member cannot keep up: cut it off.
    pub fn push(&self, text: Queued) {
        {
            let mut state = self.0.lock();
            if state.cut_off {
                return;
            }
            if state.items.len() >= self.0.capacity {
                state.cut_off = true;
                state.items = VecDeque::new();
            } else {
                state.items.push_back(text);
            }
        }
        // A permit is kept if the task is not waiting yet, so no wake-up is lost.
        self.0.ready.notify_one();
    }

    pub fn send(&self, msg: &ServerMessage) {
        self.push(encode(msg));
    }
}

pub fn encode(msg: &ServerMessage) -> Queued {
    match serde_json::to_string(msg) {
        Ok(text) => text.into_boxed_str(),
        Err(err) => {
            // Our own types always serialize; log rather than crash if that ever changes.
            tracing::error!(%err, "could not encode a server message");
            "{}".into()
        }
    }
}

impl Queue {
    /// The next message; `None` once the member has been cut off.
    pub async fn recv(&mut self) -> Option<Queued> {
        loop {
            if let Some(next) = self.try_recv() {
                return next;
            }
            self.0.ready.notified().await;
        }
    }

    /// `Some(next)` if there is an answer without waiting: a message, or `None` for cut off.
    pub fn try_recv(&mut self) -> Option<Option<Queued>> {
        let mut state = self.0.lock();
        if state.cut_off {
            return Some(None);
        }
        state.items.pop_front().map(Some)
    }

    pub fn is_empty(&self) -> bool {
        self.0.lock().items.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delivers_in_order_then_cuts_off_when_full() {
        let (outbox, mut queue) = Outbox::new(2);
        outbox.push("a".into());
        outbox.push("b".into());
        assert_eq!(queue.recv().await.as_deref(), Some("a"));
        outbox.push("c".into());
        // Full: "b" and "c" are queued, a fourth message cuts the member off.
        outbox.push("d".into());
        assert_eq!(queue.recv().await, None);
        outbox.push("e".into());
        assert_eq!(queue.try_recv(), Some(None));
    }

    #[tokio::test]
    async fn a_push_wakes_a_waiting_receiver() {
        let (outbox, mut queue) = Outbox::new(4);
        let waiting = tokio::spawn(async move { queue.recv().await });
        tokio::task::yield_now().await;
        outbox.push("hello".into());
        assert_eq!(waiting.await.ok().flatten().as_deref(), Some("hello"));
    }
}
