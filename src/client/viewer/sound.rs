//! The watch page's sound: it starts muted (browsers autoplay only muted video) and gets no
//! audio until unmuted.

use super::Viewer;
use crate::protocol::ClientMessage;

impl Viewer {
    /// Sound on: the broadcaster side is asked for it, and the held audio tracks play.
    pub fn unmute(&self) {
        self.video.set_muted(false);
        let broadcaster = self
            .state
            .borrow()
            .peer
            .as_ref()
            .and_then(|peer| peer.remote_id());
        if let Some(to) = broadcaster {
            self.send(&ClientMessage::Audio { to, on: true });
        }
        let held = std::mem::take(&mut self.state.borrow_mut().held_audio);
        if let Some(stream) = self.video.src_object() {
            for track in &held {
                stream.add_track(track);
            }
        }
        let _ = self.video.play();
    }
}
