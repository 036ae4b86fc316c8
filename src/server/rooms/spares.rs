//! The live broadcaster's spare offers: the one ready for the next viewer, and the tickets of
//! those served in watch pages until the pages join (see `ClientMessage::SpareOffer` and
//! `PageOffer`).

use std::time::{Duration, Instant};

use crate::{
    protocol::{PeerId, TICKET_MS},
    server::secrets,
};

/// Watch pages served with an offer whose sockets have not joined yet, per room: each holds
/// a connection in the broadcaster's page until it joins or its ticket runs out, so a burst of
/// page loads (or a crawler) cannot make the broadcaster hold more than this.
pub const MAX_PENDING_PAGE_OFFERS: usize = 8;

/// A spare offer of the live broadcaster.
#[derive(Debug)]
pub(super) struct Spare {
    pub(super) id: u64,
    pub(super) sdp: String,
}

/// A spare offer served in a watch page, waiting for that page's `join`.
#[derive(Debug)]
pub(super) struct Ticket {
    token: String,
    pub(super) spare: u64,
    pub(super) broadcaster: PeerId,
    until: Instant,
}

/// One room's spare offers.
#[derive(Debug, Default)]
pub(super) struct Spares {
    /// The one for the next viewer.
    ready: Option<Spare>,
    /// Watch pages served with a spare offer, until they join.
    tickets: Vec<Ticket>,
}

impl Spares {
    /// A new broadcast (or none): the old broadcaster's spare offers are void.
    pub(super) fn forget(&mut self) {
        self.ready = None;
        self.tickets.clear();
    }

    /// The broadcaster's next spare; it replaces one not given out yet.
    pub(super) fn set_ready(&mut self, spare: Spare) {
        self.ready = Some(spare);
    }

    /// The ready spare, for a viewer that asked for the stream.
    pub(super) fn take_ready(&mut self) -> Option<Spare> {
        self.ready.take()
    }

    /// The ready spare for a watch page of `broadcaster`'s room being served, with the ticket
    /// that claims it. `None` when no spare is ready or [`MAX_PENDING_PAGE_OFFERS`] pages are
    /// pending.
    pub(super) fn give_to_page(
        &mut self,
        broadcaster: PeerId,
        now: Instant,
    ) -> Option<(String, Spare)> {
        self.tickets.retain(|t| t.until > now);
        if self.tickets.len() >= MAX_PENDING_PAGE_OFFERS {
            return None;
        }
        let spare = self.ready.take()?;
        let token = secrets::new_token();
        self.tickets.push(Ticket {
            token: token.clone(),
            spare: spare.id,
            broadcaster,
            until: now + Duration::from_millis(TICKET_MS),
        });
        Some((token, spare))
    }

    /// The ticket `token`, taken (once) if it is still good and its broadcaster is `on_air`.
    pub(super) fn take_ticket(
        &mut self,
        token: &str,
        on_air: Option<PeerId>,
        now: Instant,
    ) -> Option<Ticket> {
        self.tickets.retain(|t| t.until > now);
        let at = self
            .tickets
            .iter()
            .position(|t| secrets::equal(&t.token, Some(token)))?;
        let ticket = self.tickets.swap_remove(at);
        (on_air == Some(ticket.broadcaster)).then_some(ticket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spare(id: u64) -> Spare {
        Spare {
            id,
            sdp: "v=0".into(),
        }
    }

    #[test]
    fn a_ticket_claims_its_spare_once_while_its_broadcaster_is_on_air() {
        let now = Instant::now();
        let mut spares = Spares::default();
        spares.set_ready(spare(1));
        let (token, given) = spares.give_to_page(7, now).unwrap();
        assert_eq!(given.id, 1);
        assert!(spares.give_to_page(7, now).is_none(), "no spare ready");
        assert!(
            spares.take_ticket(&token, Some(8), now).is_none(),
            "another broadcast"
        );
        spares.set_ready(spare(2));
        let (token, _) = spares.give_to_page(7, now).unwrap();
        assert!(spares.take_ticket("not it", Some(7), now).is_none());
        let ticket = spares.take_ticket(&token, Some(7), now).unwrap();
        assert_eq!((ticket.spare, ticket.broadcaster), (2, 7));
        assert!(spares.take_ticket(&token, Some(7), now).is_none(), "once");
    }

    #[test]
    fn tickets_run_out_and_pending_pages_are_bounded() {
        let now = Instant::now();
        let mut spares = Spares::default();
        let mut tokens = Vec::new();
        for id in 0..MAX_PENDING_PAGE_OFFERS as u64 {
            spares.set_ready(spare(id));
            tokens.push(spares.give_to_page(1, now).unwrap().0);
        }
        spares.set_ready(spare(99));
        assert!(spares.give_to_page(1, now).is_none(), "too many pending");
        let later = now + Duration::from_millis(TICKET_MS + 1);
        assert!(
            spares.take_ticket(&tokens[0], Some(1), later).is_none(),
            "ran out"
        );
        assert_eq!(spares.give_to_page(1, later).map(|(_, s)| s.id), Some(99));
    }
}
