//! The chat name this browser chose, kept in `localStorage` so it is asked once.

use leptos::prelude::*;

const NAME_KEY: &str = "onair.chat-name";

fn storage() -> Option<web_sys::Storage> {
    super::window().local_storage().ok().flatten()
}

/// The name chosen earlier, if any.
pub fn stored_name() -> String {
    storage()
        .and_then(|storage| storage.get_item(NAME_KEY).ok().flatten())
        .unwrap_or_default()
}

/// Keep `name` for this browser's next pages (an empty one forgets it).
pub fn store_name(name: &str) {
    if let Some(storage) = storage() {
        let _ = if name.is_empty() {
            storage.remove_item(NAME_KEY)
        } else {
            storage.set_item(NAME_KEY, name)
        };
    }
}

/// What a page sends once its socket is in: the stored name, if there is one.
pub fn name_message(ui: crate::ui::chat::ChatUi) -> Option<crate::protocol::ClientMessage> {
    let name = stored_name();
    ui.name.set(name.clone());
    (!name.is_empty()).then_some(crate::protocol::ClientMessage::ChatName { name })
}
