//! One `RTCPeerConnection` with trickle ICE: candidates that arrive before the remote
//! description are queued and added once it is set. Dropping a `Peer` closes it.
//!
//! Both pages make a connection before they know its other side (the talk page's spare, the
//! watch page's ready connection), so the other side's id is set later, and the callbacks get
//! it with each event: `None` until then.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use js_sys::{Array, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    RtcConfiguration, RtcIceCandidateInit, RtcIceServer, RtcPeerConnection,
    RtcPeerConnectionIceEvent, RtcPeerConnectionState, RtcSdpType, RtcSessionDescriptionInit,
    RtcTrackEvent,
};

use super::listener::EventListener;
use crate::protocol::{IceCandidate, IceServer, PeerId};

pub struct Peer {
    pc: RtcPeerConnection,
    /// The other side, once known.
    remote_id: Rc<Cell<Option<PeerId>>>,
    remote_set: Cell<bool>,
    pending: RefCell<Vec<IceCandidate>>,
    listeners: RefCell<Vec<EventListener>>,
}

fn configuration(ice_servers: &[IceServer]) -> RtcConfiguration {
    let config = RtcConfiguration::new();
    let servers = Array::new();
    for server in ice_servers {
        let ice = RtcIceServer::new();
        let urls = Array::new();
        for url in &server.urls {
            urls.push(&JsValue::from_str(url));
        }
        ice.set_urls(&urls);
        if let Some(username) = &server.username {
            ice.set_username(username);
        }
        if let Some(credential) = &server.credential {
            ice.set_credential(credential);
        }
        servers.push(&ice);
    }
    config.set_ice_servers(&servers);
    config
}

impl Peer {
    /// A new connection; `on_candidate` gets each local candidate as it is found, `on_state`
    /// each connection state change, both with the other side's id (see [`Peer::set_remote_id`]).
    pub fn new(
        ice_servers: &[IceServer],
        on_candidate: impl Fn(Option<PeerId>, IceCandidate) + 'static,
        on_state: impl Fn(Option<PeerId>, RtcPeerConnectionState) + 'static,
    ) -> Result<Self, JsValue> {
        let pc = RtcPeerConnection::new_with_configuration(&configuration(ice_servers))?;
        let remote_id = Rc::new(Cell::new(None));
        let to = remote_id.clone();
        let ice = EventListener::new(
            &pc,
            "icecandidate",
            move |event: RtcPeerConnectionIceEvent| {
                if let Some(candidate) = event.candidate() {
                    let line = candidate.candidate();
                    if !line.is_empty() {
                        on_candidate(
                            to.get(),
                            IceCandidate {
                                candidate: line,
                                sdp_mid: candidate.sdp_mid(),
                                sdp_m_line_index: candidate.sdp_m_line_index(),
                            },
                        );
                    }
                }
            },
        );
        let watched = pc.clone();
        let of = remote_id.clone();
        let state = EventListener::new(&pc, "connectionstatechange", move |_: web_sys::Event| {
            on_state(of.get(), watched.connection_state())
        });
        Ok(Self {
            pc,
            remote_id,
            remote_set: Cell::new(false),
            pending: RefCell::new(Vec::new()),
            listeners: RefCell::new(vec![ice, state]),
        })
    }

    /// The other side's id, once set.
    pub fn remote_id(&self) -> Option<PeerId> {
        self.remote_id.get()
    }

    /// The other side is `id` from now on.
    pub fn set_remote_id(&self, id: PeerId) {
        self.remote_id.set(Some(id));
    }

    pub fn connection(&self) -> &RtcPeerConnection {
        &self.pc
    }

    pub fn on_track(&self, handler: impl FnMut(RtcTrackEvent) + 'static) {
        self.listen("track", handler);
    }

    /// Listen for `event` on the connection for as long as it lives.
    pub fn listen<E: wasm_bindgen::JsCast>(
        &self,
        event: &'static str,
        handler: impl FnMut(E) + 'static,
    ) {
        self.listeners
            .borrow_mut()
            .push(EventListener::new(&self.pc, event, handler));
    }

    /// Use `ice_servers` from now on (a connection made before the server named them).
    pub fn use_ice_servers(&self, ice_servers: &[IceServer]) -> Result<(), JsValue> {
        self.pc
            .set_configuration_with_configuration(&configuration(ice_servers))
    }

    /// Create an offer, set it as local description, and return its SDP.
    pub async fn offer(&self) -> Result<String, JsValue> {
        let sdp = sdp_of(JsFuture::from(self.pc.create_offer()).await?)?;
        JsFuture::from(
            self.pc
                .set_local_description(&description(RtcSdpType::Offer, &sdp)),
        )
        .await?;
        Ok(sdp)
    }

    /// Answer a remote offer. `send` gets the answer as soon as the browser has made it, while
    /// the browser is still applying it, so the other side can start on it meanwhile; the
    /// candidates that came with the offer are added after that, so they do not hold it up.
    pub async fn answer(&self, offer: &str, send: impl FnOnce(String)) -> Result<(), JsValue> {
        JsFuture::from(
            self.pc
                .set_remote_description(&description(RtcSdpType::Offer, offer)),
        )
        .await?;
        // The answer takes capture times where the offer has them (the delay behind live).
        super::capture_times::want_capture_times_on_all(&self.pc);
        let sdp = sdp_of(JsFuture::from(self.pc.create_answer()).await?)?;
        // Queued now; candidates added below run after it (the connection's operations chain).
        let applied = JsFuture::from(
            self.pc
                .set_local_description(&description(RtcSdpType::Answer, &sdp)),
        );
        send(sdp);
        self.add_early().await;
        applied.await?;
        Ok(())
    }

    /// Set the remote description, then add the candidates that came early.
    pub async fn set_remote(&self, kind: RtcSdpType, sdp: &str) -> Result<(), JsValue> {
        JsFuture::from(self.pc.set_remote_description(&description(kind, sdp))).await?;
        self.add_early().await;
        Ok(())
    }

    /// From now on candidates are added as they come; first those that came early.
    async fn add_early(&self) {
        self.remote_set.set(true);
        let early: Vec<IceCandidate> = self.pending.borrow_mut().drain(..).collect();
        for candidate in early {
            self.add_now(&candidate).await;
        }
    }

    pub async fn add_candidate(&self, candidate: IceCandidate) {
        if self.remote_set.get() {
            self.add_now(&candidate).await;
        } else {
            self.pending.borrow_mut().push(candidate);
        }
    }

    async fn add_now(&self, candidate: &IceCandidate) {
        let init = RtcIceCandidateInit::new(&candidate.candidate);
        init.set_sdp_mid(candidate.sdp_mid.as_deref());
        init.set_sdp_m_line_index(candidate.sdp_m_line_index);
        // A candidate the browser rejects only loses that path; the others still connect.
        let _ = JsFuture::from(
            self.pc
                .add_ice_candidate_with_opt_rtc_ice_candidate_init(Some(&init)),
        )
        .await;
    }
}

fn description(kind: RtcSdpType, sdp: &str) -> RtcSessionDescriptionInit {
    let init = RtcSessionDescriptionInit::new(kind);
    init.set_sdp(sdp);
    init
}

/// The SDP text of what `createOffer`/`createAnswer` resolved to.
fn sdp_of(description: JsValue) -> Result<String, JsValue> {
    Ok(Reflect::get(&description, &"sdp".into())?
        .as_string()
        .unwrap_or_default())
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.listeners.borrow_mut().clear();
        self.pc.close();
    }
}
