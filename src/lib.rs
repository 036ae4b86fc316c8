//! onair: one person goes on air at `/talk/<room>`, everyone at `/watch/<room>` sees them.

pub mod app;
pub mod decode;
pub mod protocol;
pub mod room_name;
pub mod rooms;
pub mod sdp;
pub mod talk;
pub mod watch;

#[cfg(feature = "hydrate")]
pub mod client;

#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point: hydrate the server-rendered page, then mark `<body>` for tests.
/// A watch page starts its engine first and hydrates a little later (see `client::viewer`).
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    client::viewer::start_then(|| {
        leptos::mount::hydrate_body(app::App);
        if let Some(body) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.body())
        {
            let _ = body.set_attribute("data-hydrated", "");
        }
    });
}
