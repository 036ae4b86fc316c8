//! The talk page's clock against the server's, told to its viewers: they read the capture
//! times of its frames by it (the delay a watch page shows).

use super::Broadcaster;
use crate::protocol::ClientMessage;

impl Broadcaster {
    /// An answer to a `clock_ping`: a better offset is told at once while on air.
    pub(super) fn clock_pong(&self, t: u64, server_us: u64) {
        let clock = self.state.borrow().clock.clone();
        if clock.pong(t, server_us).is_some() && self.state.borrow().live {
            self.say_clock();
        }
    }

    /// Tell the viewers (through the server) this page's clock offset, once known.
    pub(super) fn say_clock(&self) {
        let offset = self.state.borrow().clock.offset_ms();
        if let Some(offset) = offset {
            self.send(&ClientMessage::ClockOffset {
                offset_us: (offset * 1000.0).round() as i64,
            });
        }
    }
}
