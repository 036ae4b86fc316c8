//! A room's latest chat messages, kept for whoever joins.

use std::collections::VecDeque;

use crate::protocol::{ChatEntry, CHAT_BACKLOG};

/// The room's latest messages, for whoever joins.
#[derive(Debug, Default)]
pub(super) struct ChatLog {
    entries: VecDeque<ChatEntry>,
    next_id: u64,
}

impl ChatLog {
    /// An empty log whose first message will be `first + 1`.
    pub(super) fn starting_after(first: u64) -> Self {
        Self {
            entries: VecDeque::new(),
            next_id: first,
        }
    }

    pub(super) fn push(&mut self, entry: ChatEntry) {
        if self.entries.len() == CHAT_BACKLOG {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub(super) fn remove(&mut self, id: u64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|entry| entry.id != id);
        self.entries.len() != before
    }

    pub(super) fn backlog(&self) -> Vec<ChatEntry> {
        self.entries.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_keeps_the_latest_messages() {
        let mut log = ChatLog::default();
        for _ in 0..CHAT_BACKLOG + 5 {
            let id = log.next_id();
            log.push(ChatEntry {
                id,
                from: 1,
                name: "a".into(),
                text: "t".into(),
                broadcaster: false,
                at: 0,
            });
        }
        let backlog = log.backlog();
        assert_eq!(backlog.len(), CHAT_BACKLOG);
        assert_eq!(backlog[0].id, 6);
        assert!(log.remove(50));
        assert!(!log.remove(50));
    }
}
