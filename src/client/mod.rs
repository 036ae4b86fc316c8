//! Browser-only code: media capture, peer connections, the signaling socket.
//! Everything here owns its JS callbacks and releases them on drop (no `Closure::forget`).

pub mod broadcaster;
pub mod listener;
pub mod media;
pub mod peer;
pub mod socket;
pub mod timer;
pub mod viewer;

/// The `window`, which always exists where this code runs.
pub fn window() -> web_sys::Window {
    web_sys::window().unwrap_or_else(|| unreachable!("onair's client runs in a browser window"))
}
