//! The watch page's engine: wait for a broadcaster, ask for the stream, answer its offer,
//! play what arrives, and start over whenever the broadcast ends or the connection drops.

use std::{
    cell::{Cell, RefCell},
    rc::Rc,
};

use leptos::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    HtmlVideoElement, MediaStream, MediaStreamTrack, RtcPeerConnectionState, RtcTrackEvent,
};

mod delay;
mod early;
mod layer;
mod page_offer;
mod sound;

pub use early::{start_then, take_early};

use page_offer::Unconfirmed;

use super::{
    listener::EventListener,
    peer::Peer,
    socket::{SocketEvent, SocketSlot},
    timer::Timeout,
};
use crate::{
    protocol::{
        ClientMessage, ErrorCode, IceServer, OffAirReason, PageOffer, PeerId, Role, RoomName,
        ServerMessage,
    },
    ui::watch::{WatchState, WatchUi},
};

/// How long to wait before asking again after a connection failed.
const RETRY_MS: u32 = 1_000;

#[derive(Default)]
struct State {
    ice_servers: Vec<IceServer>,
    on_air: Option<PeerId>,
    /// The connection to the broadcaster side (its remote id).
    peer: Option<Rc<Peer>>,
    /// The connection the next offer will use, made before it came (see
    /// [`Viewer::prepare_peer`]).
    ready: Option<Rc<Peer>>,
    unconfirmed: Option<Unconfirmed>,
    /// The broadcast's audio while the page is muted. A muted page plays no sound, so it gets
    /// no audio track: one would keep an audio output device running for nothing (about a
    /// third of a muted viewer's CPU in Chromium). Unmuting adds it to the playing stream.
    held_audio: Vec<MediaStreamTrack>,
    retry: Option<Timeout>,
    /// Hydrates the page after [`HYDRATE_WITHIN_MS`] if nothing settled it sooner.
    hydrate_deadline: Option<Timeout>,
}

pub struct Viewer {
    /// The page's status signals; replaced by the hydrated page's own (see [`Viewer::adopt_ui`]).
    ui: Cell<WatchUi>,
    video: HtmlVideoElement,
    socket: SocketSlot,
    state: RefCell<State>,
    /// The ticket of the offer the page came with, for the first `join` only.
    ticket: RefCell<Option<String>>,
    /// The page's hydration, while it waits for the engine (see [`start_then`]).
    hydrate: RefCell<Option<Box<dyn FnOnce()>>>,
    /// Until the page hydrates, the server-rendered overlay over the video, which the engine
    /// hides itself once the picture plays: the page hydrates only after that.
    overlay: RefCell<Option<web_sys::HtmlElement>>,
    /// The delay behind live, and the clocks it is read on.
    delay: delay::DelayMeter,
    /// The picture's size on the page, for the relay's choice of layer.
    sizes: layer::SizeWatch,
    _playing: EventListener,
}

impl Viewer {
    /// Start watching `room` on `video`; `page_offer` is the offer the page came with, if any.
    pub fn start(
        room: &RoomName,
        key: Option<&str>,
        page_offer: Option<PageOffer>,
        ui: WatchUi,
        video: HtmlVideoElement,
    ) -> Rc<Self> {
        let this = Rc::new_cyclic(|weak: &std::rc::Weak<Self>| {
            let weak = weak.clone();
            let sizes = layer::SizeWatch::new(&video, weak.clone());
            let playing = EventListener::new(&video, "playing", move |_: web_sys::Event| {
                if let Some(this) = weak.upgrade() {
                    this.show(WatchState::Live, "Live");
                    this.measure_delay();
                }
            });
            Self {
                ui: Cell::new(ui),
                video,
                socket: SocketSlot::default(),
                state: RefCell::new(State::default()),
                ticket: RefCell::new(None),
                hydrate: RefCell::new(None),
                overlay: RefCell::new(None),
                delay: delay::DelayMeter::default(),
                sizes,
                _playing: playing,
            }
        });
        this.socket.connect(room, key, &this, Self::on_socket);
        // After the socket, so the connection is made while the socket opens.
        match page_offer {
            Some(offer) => {
                this.state.borrow_mut().ice_servers = offer.ice_servers;
                *this.ticket.borrow_mut() = Some(offer.ticket);
                this.answer_page_offer(offer.sdp);
            }
            None => this.prepare_peer(),
        }
        this
    }

    /// Whether this engine plays on `video` (the page's own element, after hydration).
    pub fn plays_on(&self, video: &HtmlVideoElement) -> bool {
        &self.video == video
    }

    /// Show the engine's status on `ui` from now on (the hydrated page's signals, which start
    /// as the server rendered them).
    pub fn adopt_ui(&self, ui: WatchUi) {
        self.overlay.take();
        let old = self.ui.replace(ui);
        ui.chat.take_from(old.chat);
        ui.delay_ms.set(old.delay_ms.get_untracked());
        ui.needs_key.set(old.needs_key.get_untracked());
        ui.quality.set(old.quality.get_untracked());
        ui.video_height.set(old.video_height.get_untracked());
        ui.set(old.state.get_untracked(), &old.message.get_untracked());
    }

    fn ui(&self) -> WatchUi {
        self.ui.get()
    }

    fn show(&self, state: WatchState, message: &str) {
        self.ui.get().set(state, message);
        if let Some(overlay) = &*self.overlay.borrow() {
            overlay.set_hidden(state == WatchState::Live);
        }
        if state != WatchState::Connecting {
            self.settled();
        }
    }

    /// The picture plays, or will not for now: a page waiting to hydrate does so now (after the
    /// current event, so no engine state is borrowed meanwhile).
    fn settled(&self) {
        if let Some(hydrate) = self.hydrate.borrow_mut().take() {
            spawn_local(async move { hydrate() });
        }
    }

    fn send(&self, msg: &ClientMessage) {
        self.socket.send(msg);
    }

    /// A chat message or name, for the server.
    pub fn chat(&self, msg: &ClientMessage) {
        self.send(msg);
    }

    fn on_socket(self: &Rc<Self>, event: SocketEvent) {
        match event {
            // A viewer joins asking for the stream right away (see `ClientMessage::Join`).
            SocketEvent::Open => self.send(&ClientMessage::Join {
                role: Role::Viewer,
                want_stream: true,
                ticket: self.ticket.take(),
            }),
            SocketEvent::Closed { retrying } => {
                self.state.borrow_mut().on_air = None;
                let playing = self.state.borrow().peer.is_some();
                // Media already flowing keeps playing while signaling reconnects.
                if !retrying {
                    if !matches!(
                        self.ui.get().state.get_untracked(),
                        WatchState::Full | WatchState::Error
                    ) {
                        self.show(WatchState::Error, "Disconnected from the server.");
                    }
                } else if !playing {
                    self.show(WatchState::Connecting, "Connection lost; reconnecting…");
                }
            }
            SocketEvent::Message(msg) => self.on_message(msg),
        }
    }

    fn on_message(self: &Rc<Self>, msg: ServerMessage) {
        let chat = self.ui.get().chat;
        if chat.apply(&msg) || layer::apply(self.ui.get(), &msg) {
            return;
        }
        match msg {
            ServerMessage::Welcome {
                id,
                on_air,
                ice_servers,
                page_offer,
                ..
            } => {
                chat.me.set(Some(id));
                if let Some(name) = super::chat::name_message(chat) {
                    self.send(&name);
                }
                for _ in 0..super::clock::PINGS {
                    self.send(&super::clock::ClockSync::ping());
                }
                // The page's offer stands only if the welcome says so; if not, it is dropped
                // and a fresh offer comes (the join asked for the stream).
                let unconfirmed = self.state.borrow_mut().unconfirmed.take();
                self.use_ice_servers(ice_servers);
                match on_air {
                    // The join asked for the stream already, or had it in the page.
                    Some(broadcaster) => {
                        if let (true, Some(unconfirmed)) = (page_offer, unconfirmed) {
                            self.confirm(broadcaster, unconfirmed);
                        }
                        self.on_air(broadcaster, false);
                    }
                    None => {
                        self.close_peer();
                        self.show(
                            WatchState::Waiting,
                            "Waiting for the broadcaster to go live…",
                        );
                    }
                }
            }
            ServerMessage::OnAir { broadcaster } => self.on_air(broadcaster, true),
            ServerMessage::ClockPong { t, server_us } => {
                self.delay.clock.pong(t, server_us);
            }
            ServerMessage::BroadcasterClock { offset_us } => {
                self.delay.broadcaster_offset.set(Some(offset_us as f64 / 1000.0));
            }
            ServerMessage::OffAir { reason } => {
                self.state.borrow_mut().on_air = None;
                self.close_peer();
                self.show(
                    WatchState::Ended,
                    match reason {
                        OffAirReason::Stopped => "The broadcast has ended.",
                        OffAirReason::Disconnected => {
                            "The broadcast ended: the broadcaster disconnected."
                        }
                    },
                );
            }
            ServerMessage::Offer { from, sdp } => self.answer(from, sdp),
            ServerMessage::Candidate { from, candidate } => {
                if let Some(peer) = self.peer_from(from) {
                    spawn_local(async move { peer.add_candidate(candidate).await });
                }
            }
            ServerMessage::Hangup { from } => {
                if self.peer_from(from).is_some() {
                    self.close_peer();
                    self.ask_again_later();
                }
            }
            ServerMessage::RoomFull { max_viewers } => self.show(
                WatchState::Full,
                &format!("This room is full ({max_viewers} viewers). Try again later."),
            ),
            ServerMessage::Error {
                code: ErrorCode::WrongKey,
                message,
            } => {
                self.ui.get().needs_key.set(true);
                self.show(WatchState::Error, &message);
            }
            ServerMessage::Error {
                code: ErrorCode::UnsupportedCodec,
                message,
            } => self.show(WatchState::Error, &message),
            ServerMessage::Error { message, .. } => {
                leptos::logging::warn!("onair: server refused a message: {message}");
            }
            ServerMessage::ShuttingDown => {
                self.ui
                    .get()
                    .message
                    .set("The server is restarting; reconnecting…".into());
            }
            ServerMessage::Live { .. }
            // The chat's, taken above; the audience is the broadcaster's.
            | ServerMessage::Chat { .. }
            | ServerMessage::ChatBacklog { .. }
            | ServerMessage::ChatDeleted { .. }
            | ServerMessage::ChatMuted { .. }
            | ServerMessage::Audience { .. }
            | ServerMessage::AudienceJoined { .. }
            | ServerMessage::AudienceLeft { .. }
            | ServerMessage::ViewerStats { .. }
            | ServerMessage::Audio { .. }
            | ServerMessage::Recording { .. }
            | ServerMessage::WantStream { .. }
            | ServerMessage::SpareHeld { .. }
            | ServerMessage::SpareTaken { .. }
            | ServerMessage::Answer { .. }
            | ServerMessage::PeerLeft { .. }
            | ServerMessage::ViewerCount { .. }
            // Taken above.
            | ServerMessage::Quality { .. }
            | ServerMessage::Layers { .. } => {}
        }
    }

    /// The room is live: wait for the offer, asking for it first unless the join did.
    fn on_air(self: &Rc<Self>, broadcaster: PeerId, ask: bool) {
        // Not while the page's own offer is being answered: it would only add to the wait.
        if self.state.borrow().peer.is_none() {
            self.prepare_peer();
        }
        self.state.borrow_mut().on_air = Some(broadcaster);
        // A playing connection from a reconnect is replaced by the fresh offer.
        if self.ui.get().state.get_untracked() != WatchState::Live {
            self.show(WatchState::Connecting, "Connecting to the broadcast…");
        }
        if ask {
            self.send(&ClientMessage::WantStream);
        }
    }

    fn peer_from(&self, from: PeerId) -> Option<Rc<Peer>> {
        self.state
            .borrow()
            .peer
            .clone()
            .filter(|peer| peer.remote_id() == Some(from))
    }

    fn close_peer(&self) {
        let (old, held) = {
            let mut state = self.state.borrow_mut();
            (state.peer.take(), std::mem::take(&mut state.held_audio))
        };
        drop((old, held));
        self.video.set_src_object(None);
    }

    fn ask_again_later(self: &Rc<Self>) {
        let weak = Rc::downgrade(self);
        self.state.borrow_mut().retry = Some(Timeout::new(RETRY_MS, move || {
            if let Some(this) = weak.upgrade() {
                if this.state.borrow().on_air.is_some() && this.state.borrow().peer.is_none() {
                    this.prepare_peer();
                    this.send(&ClientMessage::WantStream);
                }
            }
        }));
    }

    /// The server's ICE servers, for connections made from now on and the ready one.
    fn use_ice_servers(&self, ice_servers: Vec<IceServer>) {
        let mut state = self.state.borrow_mut();
        if !ice_servers.is_empty() {
            let applied = state
                .ready
                .as_ref()
                .map(|ready| ready.use_ice_servers(&ice_servers));
            // A browser that refuses the change gets a connection made with them instead.
            if let Some(Err(_)) = applied {
                state.ready = None;
            }
        }
        state.ice_servers = ice_servers;
    }

    /// Make the connection the next offer will use, unless there is one. The browser then
    /// makes its certificate and transport while the page waits for the offer, not after.
    fn prepare_peer(self: &Rc<Self>) {
        if self.state.borrow().ready.is_none() {
            let ready = self.new_peer();
            self.state.borrow_mut().ready = ready;
        }
    }

    /// A connection for the broadcaster side whose offer it will answer (its remote id).
    fn new_peer(self: &Rc<Self>) -> Option<Rc<Peer>> {
        let weak = Rc::downgrade(self);
        let on_candidate = {
            let weak = weak.clone();
            move |to: Option<PeerId>, candidate| {
                let Some(this) = weak.upgrade() else { return };
                match to {
                    Some(to) => this.send(&ClientMessage::Candidate { to, candidate }),
                    // Only the page's offer is answered before its sender is known.
                    None => {
                        if let Some(unconfirmed) = &mut this.state.borrow_mut().unconfirmed {
                            unconfirmed.candidates.push(candidate);
                        }
                    }
                }
            }
        };
        let on_state = {
            let weak = weak.clone();
            move |from: Option<PeerId>, state: RtcPeerConnectionState| {
                let (Some(this), Some(from)) = (weak.upgrade(), from) else {
                    return;
                };
                if matches!(state, RtcPeerConnectionState::Failed) && this.peer_from(from).is_some()
                {
                    this.close_peer();
                    this.send(&ClientMessage::Hangup { to: from });
                    this.show(WatchState::Connecting, "Connection failed; retrying…");
                    this.ask_again_later();
                }
            }
        };
        let ice_servers = self.state.borrow().ice_servers.clone();
        let Ok(peer) = Peer::new(&ice_servers, on_candidate, on_state) else {
            self.show(
                WatchState::Error,
                "This browser cannot open a WebRTC connection.",
            );
            return None;
        };
        let stream = MediaStream::new().ok();
        let video = self.video.clone();
        peer.on_track(move |event: RtcTrackEvent| {
            let Some(stream) = &stream else { return };
            let track = event.track();
            if track.kind() == "audio" && video.muted() {
                if let Some(this) = weak.upgrade() {
                    this.state.borrow_mut().held_audio.push(track);
                }
            } else {
                stream.add_track(&track);
            }
            if video.src_object().is_none() {
                video.set_src_object(Some(stream));
            }
            // Muted autoplay is always allowed; the unmute button turns sound on.
            let _ = video.play();
        });
        Some(Rc::new(peer))
    }

    /// Answer an offer from the broadcaster side on the ready connection (or a new one, if an
    /// earlier offer took it); a fresh connection replaces any old one.
    fn answer(self: &Rc<Self>, from: PeerId, sdp: String) {
        self.close_peer();
        self.state.borrow_mut().unconfirmed = None;
        let ready = self.state.borrow_mut().ready.take();
        let Some(peer) = ready.or_else(|| self.new_peer()) else {
            return;
        };
        peer.set_remote_id(from);
        self.state.borrow_mut().peer = Some(peer.clone());
        let this = self.clone();
        spawn_local(async move {
            if let Err(err) = peer.answer(&sdp, |sdp| this.send_answer(from, sdp)).await {
                leptos::logging::warn!("onair: could not answer the offer: {err:?}");
                this.answer_failed(from);
            }
        });
    }

    fn send_answer(&self, to: PeerId, sdp: String) {
        self.send(&ClientMessage::Answer { to, sdp });
        if to == crate::protocol::RELAY_ID {
            self.tell_layer_wishes();
        }
        // A page already unmuted wants the sound on this connection too.
        if !self.video.muted() {
            self.send(&ClientMessage::Audio { to, on: true });
        }
    }

    fn answer_failed(self: &Rc<Self>, from: PeerId) {
        self.close_peer();
        self.send(&ClientMessage::Hangup { to: from });
        self.ask_again_later();
        self.settled();
    }
}
