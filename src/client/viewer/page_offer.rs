//! The offer a watch page came with: answered while the socket opens, sent once the welcome
//! says whose it is.

use std::rc::Rc;

use wasm_bindgen_futures::spawn_local;

use super::Viewer;
use crate::{
    client::peer::Peer,
    protocol::{ClientMessage, IceCandidate, PeerId},
};

/// The connection answering the offer the page came with, until the welcome says the
/// ticket was good and whose offer it is: what it makes to send waits here until then.
pub(super) struct Unconfirmed {
    pub(super) peer: Rc<Peer>,
    pub(super) answer: Option<String>,
    pub(super) candidates: Vec<IceCandidate>,
    pub(super) failed: bool,
}

impl Viewer {
    /// Answer the offer the page came with while the socket opens. Whose it is, and whether
    /// it is still good, the welcome says ([`Viewer::confirm`]); until then the answer and
    /// the candidates wait.
    pub(super) fn answer_page_offer(self: &Rc<Self>, sdp: String) {
        let Some(peer) = self.new_peer() else { return };
        self.state.borrow_mut().unconfirmed = Some(Unconfirmed {
            peer: peer.clone(),
            answer: None,
            candidates: Vec::new(),
            failed: false,
        });
        let this = self.clone();
        spawn_local(async move {
            let made = |sdp: String| {
                if let Some(mut unconfirmed) = this.unconfirmed(&peer) {
                    unconfirmed.answer = Some(sdp);
                } else if let Some(to) = this.current(&peer) {
                    this.send_answer(to, sdp);
                }
            };
            if let Err(err) = peer.answer(&sdp, made).await {
                leptos::logging::warn!("onair: could not answer the page's offer: {err:?}");
                if let Some(mut unconfirmed) = this.unconfirmed(&peer) {
                    unconfirmed.failed = true;
                } else if let Some(from) = this.current(&peer) {
                    this.answer_failed(from);
                }
            }
        });
    }

    /// The page's offer is `broadcaster`'s and this connection's: send what waited.
    pub(super) fn confirm(self: &Rc<Self>, broadcaster: PeerId, unconfirmed: Unconfirmed) {
        let Unconfirmed {
            peer,
            answer,
            candidates,
            failed,
        } = unconfirmed;
        peer.set_remote_id(broadcaster);
        self.state.borrow_mut().peer = Some(peer);
        if failed {
            self.answer_failed(broadcaster);
            return;
        }
        if let Some(sdp) = answer {
            self.send_answer(broadcaster, sdp);
        }
        for candidate in candidates {
            self.send(&ClientMessage::Candidate {
                to: broadcaster,
                candidate,
            });
        }
    }

    /// The waiting state of `peer`, while it answers the page's offer unconfirmed.
    fn unconfirmed(&self, peer: &Rc<Peer>) -> Option<std::cell::RefMut<'_, Unconfirmed>> {
        std::cell::RefMut::filter_map(self.state.borrow_mut(), |state| {
            state
                .unconfirmed
                .as_mut()
                .filter(|unconfirmed| Rc::ptr_eq(&unconfirmed.peer, peer))
        })
        .ok()
    }

    /// The remote id of `peer`, if it is the page's current connection.
    fn current(&self, peer: &Rc<Peer>) -> Option<PeerId> {
        let state = self.state.borrow();
        state
            .peer
            .as_ref()
            .filter(|current| Rc::ptr_eq(current, peer))
            .and_then(|current| current.remote_id())
    }
}
