//! Reclaiming a room: a live broadcaster whose connection drops keeps a claim on its room for
//! a grace period, and takes it back with the token it got when it went live.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{
    membership::{refuse, Refusal},
    room::{Room, RoomState},
    Hub,
};
use crate::{
    protocol::{ErrorCode, PeerId, ServerMessage},
    server::secrets,
};

/// A dropped live broadcaster's claim on its room while it reconnects.
#[derive(Debug)]
pub(super) struct Reservation {
    token: String,
    until: Instant,
}

/// Whether `go_live` puts its sender on air.
pub(super) enum Claim {
    /// Already on air on this connection: nothing changes.
    AlreadyOn,
    /// On air from now on.
    Granted,
}

impl RoomState {
    pub(super) fn reservation(&self, now: Instant) -> Option<&Reservation> {
        self.reserved.as_ref().filter(|r| r.until > now)
    }

    /// The live broadcaster dropped: hold the room for `grace`, if it had a token.
    pub(super) fn hold_for_reclaim(&mut self, grace: Duration) {
        if let Some(token) = self.reclaim_token.take() {
            self.reserved = Some(Reservation {
                token,
                until: Instant::now() + grace,
            });
        }
    }

    /// May `id` go on air, with the reclaim token `reclaim` if it has one? Someone else on air
    /// refuses it, unless `reclaim` proves it is the same page on a newer connection (its old
    /// one is told and replaced); a reservation refuses everyone but its own token.
    pub(super) fn claim_air(
        &self,
        id: PeerId,
        reclaim: Option<&str>,
        now: Instant,
    ) -> Result<Claim, Refusal> {
        match self.on_air {
            Some(live) if live == id => return Ok(Claim::AlreadyOn),
            // The same page back on a new connection before the server saw the old one drop
            // (a half-open TCP connection): its token proves it, so it takes over.
            Some(old)
                if self
                    .reclaim_token
                    .as_deref()
                    .is_some_and(|token| secrets::equal(token, reclaim)) =>
            {
                self.send(
                    old,
                    &ServerMessage::error(
                        ErrorCode::AlreadyLive,
                        "your broadcast continues on a newer connection",
                    ),
                );
            }
            Some(_) => {
                return Err(refuse(
                    ErrorCode::AlreadyLive,
                    "someone else is already live in this room; the room has one broadcaster",
                ))
            }
            None => {}
        }
        if let Some(reservation) = self.reservation(now) {
            if !secrets::equal(&reservation.token, reclaim) {
                let wait = reservation.until.saturating_duration_since(now).as_secs() + 1;
                return Err(refuse(
                    ErrorCode::AlreadyLive,
                    format!(
                        "the broadcaster of this room lost its connection and may come back; \
                         try again in {wait} s"
                    ),
                ));
            }
        }
        Ok(Claim::Granted)
    }
}

impl Hub {
    /// Once the reservation of `room` has run out, drop it, and the room if nobody is left.
    pub(super) fn expire_reservation_later(&self, room: Arc<Room>) {
        let grace = self.settings.reclaim_grace();
        let hub = self.me.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace + Duration::from_millis(50)).await;
            let Some(hub) = hub.upgrade() else { return };
            {
                let mut state = room.lock();
                if state
                    .reserved
                    .as_ref()
                    .is_some_and(|r| r.until <= Instant::now())
                {
                    state.reserved = None;
                }
            }
            hub.remove_if_idle(&room);
        });
    }
}
