//! Browser-only code: the two pages' engines, and what they are built of (media capture, peer
//! connections, the signaling socket). The engines write the pages' state (`ui`); they never
//! import the pages. Everything here owns its JS callbacks and releases them on drop (no
//! `Closure::forget`).

pub mod broadcaster;
pub mod capture_times;
pub mod chat;
pub mod check;
pub mod clock;
pub mod json;
pub mod listener;
pub mod media;
pub mod peer;
pub mod room_feed;
pub mod socket;
pub mod timer;
pub mod viewer;

pub use broadcaster::Broadcaster;
pub use viewer::Viewer;

/// The `window`, which always exists where this code runs.
pub fn window() -> web_sys::Window {
    web_sys::window().unwrap_or_else(|| unreachable!("onair's client runs in a browser window"))
}
