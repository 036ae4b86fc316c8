//! Reclaiming a room: a live broadcaster gets a token when it goes live; if its connection
//! drops, its room waits for it for a grace period, and the token takes the room back.

use std::time::{Duration, Instant};

use super::refusal::{refuse, Refusal};
use crate::{
    protocol::{ErrorCode, PeerId},
    server::secrets,
};

/// A dropped live broadcaster's claim on its room while it reconnects.
#[derive(Debug)]
struct Reservation {
    token: String,
    until: Instant,
}

/// One room's reclaim token and reservation.
#[derive(Debug, Default)]
pub(super) struct Reclaim {
    /// The live broadcaster's token.
    token: Option<String>,
    reserved: Option<Reservation>,
}

/// What `go_live` does, when it may.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// Already on air on this connection: nothing changes.
    AlreadyOn,
    /// On air from now on.
    Granted,
    /// The same page on a newer connection (its token proves it): it replaces `old`.
    TakeOver { old: PeerId },
}

impl Reclaim {
    /// A new broadcast: a fresh token, and any reservation is over.
    pub(super) fn issue(&mut self) -> String {
        let token = secrets::new_token();
        self.reserved = None;
        self.token = Some(token.clone());
        token
    }

    /// The live broadcaster's token.
    pub(super) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The broadcast ended on purpose: nothing to reclaim.
    pub(super) fn end(&mut self) {
        self.token = None;
    }

    /// The live broadcaster dropped: hold the room for `grace`, if it had a token.
    pub(super) fn hold(&mut self, grace: Duration) {
        if let Some(token) = self.token.take() {
            self.reserved = Some(Reservation {
                token,
                until: Instant::now() + grace,
            });
        }
    }

    /// Whether a reservation holds the room at `now`.
    pub(super) fn holds(&self, now: Instant) -> bool {
        self.reservation(now).is_some()
    }

    /// Whether there is a reservation, run out or not (one to expire later).
    pub(super) fn is_reserved(&self) -> bool {
        self.reserved.is_some()
    }

    /// Drop the reservation if it has run out by `now`.
    pub(super) fn expire(&mut self, now: Instant) {
        if self.reserved.as_ref().is_some_and(|r| r.until <= now) {
            self.reserved = None;
        }
    }

    /// The token that holds the room at `now` (the live broadcaster's, or a dropped one's
    /// while it may come back), and how long the hold lasts from now if nobody renews it.
    pub(super) fn held_token(&self, now: Instant, grace: Duration) -> Option<(&str, Duration)> {
        match (&self.token, self.reservation(now)) {
            (Some(token), _) => Some((token, grace)),
            (None, Some(reserved)) => Some((
                &reserved.token,
                reserved.until.saturating_duration_since(now),
            )),
            (None, None) => None,
        }
    }

    /// Another node holds the room now: nothing is held here any more.
    pub(super) fn forget(&mut self) {
        self.token = None;
        self.reserved = None;
    }

    fn reservation(&self, now: Instant) -> Option<&Reservation> {
        self.reserved.as_ref().filter(|r| r.until > now)
    }

    /// May `id` go on air, with the reclaim token `given` if it has one, while `on_air` is?
    /// Someone else on air refuses it, unless `given` proves it is the same page on a newer
    /// connection; a reservation refuses everyone but its own token.
    pub(super) fn claim(
        &self,
        on_air: Option<PeerId>,
        id: PeerId,
        given: Option<&str>,
        now: Instant,
    ) -> Result<Claim, Refusal> {
        let claim = match on_air {
            Some(live) if live == id => return Ok(Claim::AlreadyOn),
            // The same page back on a new connection before the server saw the old one drop
            // (a half-open TCP connection).
            Some(old)
                if self
                    .token
                    .as_deref()
                    .is_some_and(|token| secrets::equal(token, given)) =>
            {
                Claim::TakeOver { old }
            }
            Some(_) => {
                return Err(refuse(
                    ErrorCode::AlreadyLive,
                    "someone else is already live in this room; the room has one broadcaster",
                ))
            }
            None => Claim::Granted,
        };
        if let Some(reservation) = self.reservation(now) {
            if !secrets::equal(&reservation.token, given) {
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
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_broadcasters_token_takes_its_room_back_and_no_other_does() {
        let now = Instant::now();
        let mut reclaim = Reclaim::default();
        let token = reclaim.issue();
        assert_eq!(reclaim.claim(Some(1), 1, None, now), Ok(Claim::AlreadyOn));
        assert_eq!(
            reclaim.claim(Some(1), 2, Some(&token), now),
            Ok(Claim::TakeOver { old: 1 })
        );
        assert!(reclaim.claim(Some(1), 2, Some("guess"), now).is_err());
        reclaim.hold(Duration::from_secs(10));
        assert!(reclaim.holds(now));
        assert!(reclaim.claim(None, 3, None, now).is_err());
        assert_eq!(
            reclaim.claim(None, 2, Some(&token), now),
            Ok(Claim::Granted)
        );
        let later = now + Duration::from_secs(11);
        reclaim.expire(later);
        assert!(!reclaim.is_reserved());
        assert_eq!(reclaim.claim(None, 3, None, later), Ok(Claim::Granted));
    }
}
