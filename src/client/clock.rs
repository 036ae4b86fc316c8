//! This page's clock against the server's: a few `clock_ping`s, and the answer with the
//! shortest round trip gives the offset (NTP's rule: the middle of the round trip is when the
//! server read its clock).

use std::cell::Cell;

use crate::protocol::ClientMessage;

/// Pings sent on each welcome; the best of them counts.
pub const PINGS: usize = 3;

#[derive(Default)]
pub struct ClockSync {
    /// The best answer so far: its round trip and the offset it gave (ms).
    best: Cell<Option<(f64, f64)>>,
}

impl ClockSync {
    pub fn ping() -> ClientMessage {
        ClientMessage::ClockPing {
            t: js_sys::Date::now() as u64,
        }
    }

    /// Take in a `clock_pong`; the new offset (server − page, ms) if it is better than the
    /// best so far.
    pub fn pong(&self, t: u64, server_us: u64) -> Option<f64> {
        let now = js_sys::Date::now();
        let sent = t as f64;
        let round_trip = now - sent;
        if round_trip < 0.0 {
            return None;
        }
        let offset = server_us as f64 / 1000.0 - (sent + now) / 2.0;
        if self.best.get().is_some_and(|(best, _)| best <= round_trip) {
            return None;
        }
        self.best.set(Some((round_trip, offset)));
        Some(offset)
    }

    /// Server − page, in ms, once an answer came.
    pub fn offset_ms(&self) -> Option<f64> {
        self.best.get().map(|(_, offset)| offset)
    }
}
