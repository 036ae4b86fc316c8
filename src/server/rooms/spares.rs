//! The live broadcaster's spare offers: the one ready for the next viewer, and the tickets of
//! those served in watch pages until the pages join (see `ClientMessage::SpareOffer` and
//! `PageOffer`).

use std::time::{Duration, Instant};

use super::room::RoomState;
use crate::{
    protocol::{PeerId, ServerMessage, TICKET_MS},
    server::secrets,
};

/// Watch pages served with an offer whose sockets have not joined yet, per room: each holds
/// a connection in the broadcaster's page until it joins or its ticket runs out, so a burst of
/// page loads (or a crawler) cannot make the broadcaster hold more than this.
pub const MAX_PENDING_PAGE_OFFERS: usize = 8;

/// The live broadcaster's spare offer.
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

impl RoomState {
    /// A new broadcast (or none): the old broadcaster's spare offers are void.
    pub(super) fn forget_spares(&mut self) {
        self.spare = None;
        self.tickets.clear();
    }

    /// The spare offer for a watch page being served, with the ticket that claims it; the
    /// broadcaster is told its spare is held. `None` when the room is not live, has no spare
    /// ready, or has [`MAX_PENDING_PAGE_OFFERS`] pages pending.
    pub(super) fn give_to_page(&mut self, now: Instant) -> Option<(String, String)> {
        let broadcaster = self.on_air?;
        self.tickets.retain(|t| t.until > now);
        if self.tickets.len() >= MAX_PENDING_PAGE_OFFERS {
            return None;
        }
        let spare = self.spare.take()?;
        let token = secrets::new_token();
        self.tickets.push(Ticket {
            token: token.clone(),
            spare: spare.id,
            broadcaster,
            until: now + Duration::from_millis(TICKET_MS),
        });
        self.send(broadcaster, &ServerMessage::SpareHeld { spare: spare.id });
        Some((token, spare.sdp))
    }

    /// The ticket `token` of the live broadcaster, taken (once) if it is still good.
    pub(super) fn take_ticket(&mut self, token: &str, now: Instant) -> Option<Ticket> {
        self.tickets.retain(|t| t.until > now);
        let at = self
            .tickets
            .iter()
            .position(|t| secrets::equal(&t.token, Some(token)))?;
        let ticket = self.tickets.swap_remove(at);
        (self.on_air == Some(ticket.broadcaster)).then_some(ticket)
    }

    /// Give the ready spare, if any, to `viewer`, which asked for the stream: it gets the offer
    /// now, without the broadcaster's turn, and the broadcaster is told who took it.
    pub(super) fn give_spare_to(&mut self, viewer: PeerId, broadcaster: PeerId) -> bool {
        let Some(spare) = self.spare.take() else {
            return false;
        };
        if let Some(member) = self.members.get_mut(&viewer) {
            member.offered_by = Some(broadcaster);
        }
        self.send(
            viewer,
            &ServerMessage::Offer {
                from: broadcaster,
                sdp: spare.sdp,
            },
        );
        self.send(
            broadcaster,
            &ServerMessage::SpareTaken {
                spare: spare.id,
                by: viewer,
            },
        );
        true
    }
}
