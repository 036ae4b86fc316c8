//! The room's recordings on the talk page (where the server records): the list is fetched
//! from `/recordings/<room>` when the page joins, and again a moment after a broadcast starts
//! (its file appears at the first picture) and after it ends (its file is closed).

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

use crate::{
    client::window,
    protocol::{paths, RoomName},
    ui::talk::TalkUi,
};

/// How long after a broadcast starts or ends its file is listed as it then is.
pub(super) const SETTLE_MS: i32 = 1500;

/// Fetch the list into `ui.recordings`, after `delay_ms`; a failure leaves the list as it was.
pub(super) fn refresh(room: &RoomName, ui: TalkUi, delay_ms: i32) {
    let url = paths::recordings(room.as_str(), None, &ui.key.get_untracked());
    spawn_local(async move {
        if delay_ms > 0 {
            let wait = js_sys::Promise::new(&mut |resolve, _reject| {
                let _ = window()
                    .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, delay_ms);
            });
            let _ = JsFuture::from(wait).await;
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
