//! onair: one person goes on air at `/talk/<room>`, everyone at `/watch/<room>` sees them.
//!
//! - [`app`]: the page shell and the router; [`pages`]: the views.
//! - [`ui`]: the state each page shows, which the browser engines write.
//! - [`client`] (browser only): the engines: media, peer connections, the signaling socket.
//! - [`server`] (server only): HTTP, signaling sessions, rooms, settings.
//! - [`protocol`]: the wire format, a crate of its own (`protocol/`), shared with the load tool.
//! - [`sdp`]: the talk page's edits to a viewer's answer (plain text, tested natively).

pub use onair_protocol as protocol;

pub mod app;
pub mod pages;
pub mod sdp;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod directory;

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
