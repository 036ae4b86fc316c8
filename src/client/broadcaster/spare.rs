//! The talk page keeps one connection ready for the next viewer, its offer made and its
//! candidates gathered: the spare. The server holds its offer and gives it out (see
//! `ClientMessage::SpareOffer`).

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen_futures::spawn_local;
use web_sys::RtcIceGatheringState;

use super::{Broadcaster, ViewerLink};
use crate::{
    client::{peer::Peer, timer::Timeout},
    protocol::{ClientMessage, IceCandidate, PeerId, SPARE_HELD_MS},
};

/// How long after a viewer takes the spare the next one is made. Made at once, it would compete
/// for the CPU with that viewer's own start (ICE, DTLS, the first key frame), here and, for the
/// page's offer, with the watch page loading; a viewer arriving meanwhile gets an offer made
/// for it, as without a spare.
const NEXT_SPARE_MS: u32 = 500;

/// A connection made ahead of the next viewer (see [`Broadcaster::prepare_spare`]); its
/// remote id is set when a viewer takes it.
pub(super) struct Spare {
    /// Names it to the server (`ClientMessage::SpareOffer`).
    pub(super) id: u64,
    pub(super) link: ViewerLink,
    /// Candidates gathered before it had a viewer and not yet sent.
    pub(super) early_candidates: Rc<RefCell<Vec<IceCandidate>>>,
    /// Its offer, once made.
    pub(super) offer: Rc<RefCell<Option<String>>>,
    /// Its offer is with the server, which alone gives it out from then on.
    pub(super) parked: bool,
    /// When the server put it into a watch page (`Date.now()`), see [`State::held`].
    pub(super) held_since: f64,
}

impl Broadcaster {
    /// The server put spare `id` into a watch page: keep it for that page's viewer, and make
    /// the next one.
    pub(super) fn hold_spare(self: &Rc<Self>, id: u64) {
        {
            let mut state = self.state.borrow_mut();
            let now = js_sys::Date::now();
            state
                .held
                .retain(|spare| now - spare.held_since < f64::from(SPARE_HELD_MS));
            if let Some(mut spare) = state.spare.take_if(|spare| spare.id == id) {
                spare.held_since = now;
                state.held.push(spare);
            }
        }
        self.prepare_spare_later();
    }

    /// Viewer `by` has spare `id`'s offer (from its page or from the server): the spare is
    /// its connection now. One that is gone (failed, or held too long) is hung up, and the
    /// viewer asks again.
    pub(super) fn spare_taken(self: &Rc<Self>, id: u64, by: PeerId) {
        let taken = {
            let mut state = self.state.borrow_mut();
            match state.spare.take_if(|spare| spare.id == id) {
                Some(spare) => Some(spare),
                None => (state.held.iter().position(|spare| spare.id == id))
                    .map(|at| state.held.swap_remove(at)),
            }
        };
        match taken {
            Some(spare) => {
                spare.link.peer.set_remote_id(by);
                for candidate in spare.early_candidates.take() {
                    self.send(&ClientMessage::Candidate { to: by, candidate });
                }
                self.state.borrow_mut().viewers.insert(by, spare.link);
            }
            None => self.send(&ClientMessage::Hangup { to: by }),
        }
        self.prepare_spare_later();
    }

    /// While live, keep one connection with its offer made and its candidates gathered, so
    /// that the next viewer gets an offer at once instead of after the browser builds a
    /// connection and its offer (a few tens of milliseconds of the viewer's wait). Once its
    /// candidates are gathered its offer goes to the server ([`Broadcaster::park`]), which
    /// serves it to the next viewer without waiting for this page at all. Until a viewer takes
    /// it, it sends nothing: no remote side, no media.
    pub(super) fn prepare_spare(self: &Rc<Self>) {
        let state = self.state.borrow();
        // With the relay, the server is the one viewer and asks for its stream itself.
        if !state.live || state.spare.is_some() || state.relayed {
            return;
        }
        drop(state);
        let early_candidates = Rc::new(RefCell::new(Vec::new()));
        let Some(link) = self.open_link(early_candidates.clone()) else {
            return;
        };
        let peer = link.peer.clone();
        let offer = Rc::new(RefCell::new(None));
        let id = {
            let mut state = self.state.borrow_mut();
            state.next_spare += 1;
            let id = state.next_spare;
            state.spare = Some(Spare {
                id,
                link,
                early_candidates: early_candidates.clone(),
                offer: offer.clone(),
                parked: false,
                held_since: 0.0,
            });
            id
        };
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            let made = peer.offer().await;
            let Some(this) = weak.upgrade() else { return };
            match made {
                Ok(sdp) => {
                    *offer.borrow_mut() = Some(sdp);
                    this.park_once_gathered(&peer, id);
                }
                // No spare then; viewers get connections made for them.
                Err(_) => this.drop_spare(&early_candidates),
            }
        });
    }

    /// Make the next spare in [`NEXT_SPARE_MS`], unless that is under way.
    pub(super) fn prepare_spare_later(self: &Rc<Self>) {
        if self.state.borrow().next_spare_timer.is_some() || self.state.borrow().relayed {
            return;
        }
        let weak = Rc::downgrade(self);
        let timer = Timeout::new(NEXT_SPARE_MS, move || {
            // Not in the timer's own callback: that would drop the timer while it runs.
            spawn_local(async move {
                if let Some(this) = weak.upgrade() {
                    this.state.borrow_mut().next_spare_timer = None;
                    this.prepare_spare();
                }
            });
        });
        self.state.borrow_mut().next_spare_timer = Some(timer);
    }

    fn park_once_gathered(self: &Rc<Self>, peer: &Peer, id: u64) {
        let pc = peer.connection().clone();
        if pc.ice_gathering_state() == RtcIceGatheringState::Complete {
            self.park(id);
            return;
        }
        let weak = Rc::downgrade(self);
        peer.listen("icegatheringstatechange", move |_: web_sys::Event| {
            if pc.ice_gathering_state() == RtcIceGatheringState::Complete {
                if let Some(this) = weak.upgrade() {
                    this.park(id);
                }
            }
        });
    }

    /// Send spare `id`'s offer to the server, its candidates in it, if nobody took it meanwhile.
    fn park(&self, id: u64) {
        let sdp = {
            let mut state = self.state.borrow_mut();
            let live = state.live;
            let Some(spare) = state.spare.as_mut().filter(|s| s.id == id && !s.parked) else {
                return;
            };
            let Some(sdp) = spare.link.peer.connection().local_description() else {
                return;
            };
            if !live {
                return;
            }
            spare.parked = true;
            // They are in the SDP now.
            spare.early_candidates.borrow_mut().clear();
            sdp.sdp()
        };
        self.send(&ClientMessage::SpareOffer { id, sdp });
    }

    /// Drops the spare if it is still the one whose early candidates are `which`: by the time
    /// its offer or its connection fails, a viewer may have taken it and another spare be
    /// current.
    pub(super) fn drop_spare(&self, which: &Rc<RefCell<Vec<IceCandidate>>>) {
        let mut state = self.state.borrow_mut();
        if state
            .spare
            .as_ref()
            .is_some_and(|spare| Rc::ptr_eq(&spare.early_candidates, which))
        {
            state.spare = None;
        }
    }
}
