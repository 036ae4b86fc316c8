//! The room's recordings on the talk page (where the server records): the list is fetched
//! from `/recordings/<room>` when the page joins, and again a moment after a broadcast ends or
//! recording is turned off (its file is closed, and listed from then on: the server lists no
//! file still being written).

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use crate::{
    client::{timer::sleep, window},
    protocol::{paths, RoomName},
    ui::talk::TalkUi,
};

/// How long after a broadcast ends its file is closed and listed.
pub(super) const SETTLE_MS: u32 = 1500;

/// Fetch the list into `ui.recordings`, after `delay_ms`; a failure leaves the list as it was.
pub(super) fn refresh(room: &RoomName, ui: TalkUi, delay_ms: u32) {
    let url = paths::recordings(room.as_str(), None, &ui.key.get_untracked());
    spawn_local(async move {
        if delay_ms > 0 {
            sleep(delay_ms).await;
        }
        if let Some(files) = fetch_list(&url).await {
            ui.recordings.set(files);
        }
    });
}

async fn fetch_list(url: &str) -> Option<Vec<String>> {
    let response = JsFuture::from(window().fetch_with_str(url)).await.ok()?;
    let response: web_sys::Response = response.dyn_into().ok()?;
    if !response.ok() {
        return None;
    }
    let json = JsFuture::from(response.json().ok()?).await.ok()?;
    let files = js_sys::Array::from(&json)
        .iter()
        .filter_map(|file| file.as_string())
        .collect();
    Some(files)
}
