//! Clocks: each page learns its clock's offset from the server's (`clock_ping`), and the
//! broadcaster on air says its own, which viewers need to read its frames' capture times on
//! their clocks (the delay a watch page shows).

use std::time::{Duration, SystemTime};

use super::{
    membership::Membership,
    refusal::{refuse, Refusal},
};
use crate::{
    protocol::{ErrorCode, Role, ServerMessage},
    server::cluster::RoomEvent,
};

/// Microseconds since the Unix epoch, now (chat messages and joins are stamped in ms of it).
pub(super) fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_micros() as u64
}

/// An offset beyond a day is a clock nobody should trust; it is refused, not spread.
const MAX_OFFSET_US: i64 = 86_400_000_000;

impl Membership {
    pub(super) fn clock_ping(&self, t: u64) -> Result<(), Refusal> {
        let state = self.room.lock();
        state.send(
            self.id,
            &ServerMessage::ClockPong {
                t,
                server_us: now_us(),
            },
        );
        Ok(())
    }

    pub(super) fn clock_offset(&self, offset_us: i64) -> Result<(), Refusal> {
        let mut state = self.room.lock();
        if state.on_air != Some(self.id) {
            return Err(refuse(
                ErrorCode::NotAllowed,
                "only the broadcaster on air says its clock",
            ));
        }
        if offset_us.abs() > MAX_OFFSET_US {
            return Err(refuse(
                ErrorCode::BadMessage,
                "a clock offset of more than a day: set this machine's clock",
            ));
        }
        state.broadcaster_clock_us = Some(offset_us);
        state.send_to_role(Role::Viewer, &ServerMessage::BroadcasterClock { offset_us });
        self.hub
            .tell_other_nodes(&self.room.name, RoomEvent::BroadcasterClock { offset_us });
        Ok(())
    }
}
