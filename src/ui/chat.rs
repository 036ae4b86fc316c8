//! What a room's chat shows, on the talk and the watch page: the engines write it from the
//! server's messages, the chat panel reads it.

use leptos::prelude::*;

use crate::protocol::{ChatEntry, ErrorCode, PeerId, ServerMessage, CHAT_BACKLOG};

#[derive(Clone, Copy)]
pub struct ChatUi {
    /// Oldest first.
    pub messages: RwSignal<Vec<ChatEntry>>,
    /// Why the last message was refused, or that the broadcaster muted this page.
    pub notice: RwSignal<Option<String>>,
    pub muted: RwSignal<bool>,
    /// The name this browser chose (kept in the browser), empty for the default.
    pub name: RwSignal<String>,
    /// This connection's id: its own messages are marked.
    pub me: RwSignal<Option<PeerId>>,
}

impl Default for ChatUi {
    /// As the server renders the page: no messages yet (they come over the socket).
    fn default() -> Self {
        Self {
            messages: RwSignal::new(Vec::new()),
            notice: RwSignal::new(None),
            muted: RwSignal::new(false),
            name: RwSignal::new(String::new()),
            me: RwSignal::new(None),
        }
    }
}

impl ChatUi {
    /// Take in a chat message from the server; `false` for any other message.
    pub fn apply(&self, msg: &ServerMessage) -> bool {
        match msg {
            ServerMessage::ChatBacklog { messages } => self.messages.set(messages.clone()),
            ServerMessage::Chat { message } => {
                if Some(message.from) == self.me.get_untracked() {
                    self.notice.set(None);
                }
                self.messages.update(|messages| {
                    messages.push(message.clone());
                    // A page open all day keeps what the server would give a newcomer, twice.
                    let extra = messages.len().saturating_sub(2 * CHAT_BACKLOG);
                    messages.drain(..extra);
                });
            }
            ServerMessage::ChatDeleted { id } => {
                self.messages
                    .update(|messages| messages.retain(|m| m.id != *id));
            }
            ServerMessage::ChatMuted { muted } => {
                self.muted.set(*muted);
                self.notice
                    .set(muted.then(|| "The broadcaster muted your chat in this room.".to_owned()));
            }
            ServerMessage::Error {
                code: ErrorCode::ChatRefused | ErrorCode::SlowDown | ErrorCode::Muted,
                message,
            } => self.notice.set(Some(message.clone())),
            _ => return false,
        }
        true
    }

    /// A page that hydrates takes over what its engine heard before (see the watch page).
    pub fn take_from(&self, old: ChatUi) {
        self.messages.set(old.messages.get_untracked());
        self.notice.set(old.notice.get_untracked());
        self.muted.set(old.muted.get_untracked());
        self.name.set(old.name.get_untracked());
        self.me.set(old.me.get_untracked());
    }
}

/// `HH:MM` of a time in milliseconds since the Unix epoch, in the browser's time zone (UTC
/// where there is no browser: the server renders no times).
pub fn clock(ms: u64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let minutes = ms / 60_000;
        format!("{:02}:{:02}", (minutes / 60) % 24, minutes % 60)
    }
}
