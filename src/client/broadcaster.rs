//! The talk page's engine: local media, going live, one peer connection per viewer.

use std::{
    cell::RefCell,
    collections::HashMap,
    rc::{Rc, Weak},
};

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{
    HtmlVideoElement, MediaStream, MediaStreamTrack, RtcIceGatheringState, RtcPeerConnectionState,
    RtcRtpSender, RtcRtpTransceiverDirection, RtcRtpTransceiverInit, RtcSdpType,
};

use super::{
    listener::EventListener,
    media::{self, MediaError},
    peer::Peer,
    socket::{SocketEvent, SocketSlot},
    timer::Timeout,
};
use crate::{
    protocol::{
        ClientMessage, ErrorCode, IceCandidate, IceServer, PeerId, Role, ServerMessage,
        SPARE_HELD_MS,
    },
    talk::{Source, TalkUi},
};

/// How long after a viewer takes the spare the next one is made. Made at once, it would compete
/// for the CPU with that viewer's own start (ICE, DTLS, the first key frame), here and, for the
/// page's offer, with the watch page loading; a viewer arriving meanwhile gets an offer made
/// for it, as without a spare.
const NEXT_SPARE_MS: u32 = 500;

/// One viewer's connection: the peer and its two senders, kept to swap tracks in place.
struct ViewerLink {
    peer: Rc<Peer>,
    audio: RtcRtpSender,
    video: RtcRtpSender,
    /// The viewer asked for sound (see `ClientMessage::Audio`); until then its audio sender
    /// has no track, so nothing is encoded or sent for it.
    sound: bool,
}

/// A connection made ahead of the next viewer (see [`Broadcaster::prepare_spare`]); its
/// remote id is set when a viewer takes it.
struct Spare {
    /// Names it to the server (`ClientMessage::SpareOffer`).
    id: u64,
    link: ViewerLink,
    /// Candidates gathered before it had a viewer and not yet sent.
    early_candidates: Rc<RefCell<Vec<IceCandidate>>>,
    /// Its offer, once made.
    offer: Rc<RefCell<Option<String>>>,
    /// Its offer is with the server, which alone gives it out from then on.
    parked: bool,
    /// When the server put it into a watch page (`Date.now()`), see [`State::held`].
    held_since: f64,
}

#[derive(Default)]
struct State {
    stream: Option<MediaStream>,
    /// Listens for the browser's own "stop sharing" button.
    screen_ended: Option<EventListener>,
    ice_servers: Vec<IceServer>,
    /// The person asked to be live (survives reconnects).
    want_live: bool,
    live: bool,
    reclaim: Option<String>,
    viewers: HashMap<PeerId, ViewerLink>,
    spare: Option<Spare>,
    /// Spares the server put into watch pages being served, until those pages join
    /// (`spare_taken`); dropped after `SPARE_HELD_MS`, when the server no longer honours them.
    /// A few at most (the server bounds them).
    held: Vec<Spare>,
    next_spare: u64,
    /// Makes the next spare ([`NEXT_SPARE_MS`]).
    next_spare_timer: Option<Timeout>,
    capturing: bool,
}

pub struct Broadcaster {
    ui: TalkUi,
    preview: HtmlVideoElement,
    socket: SocketSlot,
    state: RefCell<State>,
}

impl Broadcaster {
    pub fn start(room: &str, ui: TalkUi, preview: HtmlVideoElement) -> Rc<Self> {
        let this = Rc::new(Self {
            ui,
            preview,
            socket: SocketSlot::default(),
            state: RefCell::new(State::default()),
        });
        this.socket.connect(room, None, &this, Self::on_socket);
        this
    }

    fn send(&self, msg: &ClientMessage) {
        self.socket.send(msg);
    }

    pub fn start_camera(self: &Rc<Self>) {
        self.capture(Source::Camera, false);
    }

    pub fn share_screen(self: &Rc<Self>) {
        self.capture(Source::Screen, false);
    }

    pub fn go_live(self: &Rc<Self>) {
        self.ui.error.set(None);
        if self.state.borrow().stream.is_none() {
            self.capture(Source::Camera, true);
        } else {
            self.request_live();
        }
    }

    fn request_live(&self) {
        let reclaim = {
            let mut state = self.state.borrow_mut();
            state.want_live = true;
            state.reclaim.clone()
        };
        self.ui.status.set("Going live…".into());
        let key = self.ui.key.get_untracked();
        self.send(&ClientMessage::GoLive {
            key: (!key.is_empty()).then_some(key),
            reclaim,
        });
    }

    /// End the broadcast for every viewer and release camera, microphone and screen.
    pub fn stop(&self) {
        let was_live = {
            let mut state = self.state.borrow_mut();
            state.want_live = false;
            state.reclaim = None;
            state.viewers.clear();
            state.spare = None;
            state.held.clear();
            state.next_spare_timer = None;
            state.screen_ended = None;
            if let Some(stream) = state.stream.take() {
                media::stop_all(&stream);
            }
            std::mem::take(&mut state.live)
        };
        if was_live {
            self.send(&ClientMessage::OffAir);
        }
        self.preview.set_src_object(None);
        self.ui.live.set(false);
        self.ui.source.set(None);
        self.ui
            .status
            .set("Stopped. Camera and microphone are off.".into());
    }

    fn capture(self: &Rc<Self>, source: Source, then_live: bool) {
        if std::mem::replace(&mut self.state.borrow_mut().capturing, true) {
            return;
        }
        self.ui.error.set(None);
        self.ui.status.set(match source {
            Source::Camera => "Starting camera… allow access if the browser asks.".into(),
            Source::Screen => "Pick a screen, window or tab to share…".into(),
        });
        let this = self.clone();
        spawn_local(async move {
            let result = match source {
                Source::Camera => media::camera().await,
                Source::Screen => media::screen().await,
            };
            this.state.borrow_mut().capturing = false;
            match result {
                Ok(stream) => {
                    this.use_stream(stream, source);
                    if then_live {
                        this.request_live();
                    }
                }
                Err(err) => this.media_failed(err),
            }
        });
    }

    fn media_failed(&self, err: MediaError) {
        self.ui.error.set(Some(err.to_string()));
        let has_stream = self.state.borrow().stream.is_some();
        self.ui.status.set(if has_stream {
            "Still sending the previous source.".into()
        } else {
            "Camera is off.".into()
        });
    }

    /// Make `stream` the one on air: swap the tracks in every viewer's connection, no
    /// renegotiation, and keep the microphone when a screen brings no audio of its own.
    fn use_stream(self: &Rc<Self>, stream: MediaStream, source: Source) {
        let mut state = self.state.borrow_mut();
        if let Some(old) = state.stream.take() {
            let mic = media::first_track(&old, "audio");
            if source == Source::Screen && media::first_track(&stream, "audio").is_none() {
                if let Some(mic) = mic {
                    stream.add_track(&mic);
                }
            }
            for track in old.get_tracks().iter() {
                if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
                    if stream.get_track_by_id(&track.id()).is_none() {
                        track.stop();
                    }
                }
            }
        }
        let audio = media::first_track(&stream, "audio");
        let video = media::first_track(&stream, "video");
        for link in state
            .viewers
            .values()
            .chain(state.spare.iter().map(|s| &s.link))
            .chain(state.held.iter().map(|s| &s.link))
        {
            let _ = link
                .audio
                .replace_track(audio.as_ref().filter(|_| link.sound));
            let _ = link.video.replace_track(video.as_ref());
        }
        // When the browser's "stop sharing" ends a screen, go back to the camera.
        state.screen_ended = match (source, &video) {
            (Source::Screen, Some(track)) => {
                let weak = Rc::downgrade(self);
                Some(EventListener::new(
                    track,
                    "ended",
                    move |_: web_sys::Event| {
                        if let Some(this) = weak.upgrade() {
                            this.start_camera();
                        }
                    },
                ))
            }
            _ => None,
        };
        // The preview shows the picture only: the microphone's track on it, even muted, would
        // keep an audio output running for nothing.
        let picture = video
            .as_ref()
            .and_then(|track| MediaStream::new_with_tracks(&js_sys::Array::of1(track)).ok());
        self.preview.set_src_object(picture.as_ref());
        let _ = self.preview.play();
        state.stream = Some(stream);
        let live = state.live;
        drop(state);
        self.ui.source.set(Some(source));
        self.ui.status.set(if live {
            "You are live.".into()
        } else {
            "Ready. Press Go live to start broadcasting.".into()
        });
    }

    fn on_socket(self: &Rc<Self>, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                self.ui.connected.set(true);
                self.send(&ClientMessage::join(Role::Broadcaster));
            }
            SocketEvent::Closed { .. } => {
                self.ui.connected.set(false);
                let mut state = self.state.borrow_mut();
                state.live = false;
                // Viewer ids do not survive a reconnect; they will ask again. Spare offers the
                // server held are void too.
                state.viewers.clear();
                state.held.clear();
                state.spare = None;
                drop(state);
                self.ui.live.set(false);
                self.ui.viewers.set(0);
            }
            SocketEvent::Message(msg) => self.on_message(msg),
        }
    }

    fn on_message(self: &Rc<Self>, msg: ServerMessage) {
        match msg {
            ServerMessage::Welcome {
                ice_servers,
                viewers,
                needs_key,
                ..
            } => {
                self.ui.viewers.set(viewers);
                self.ui.needs_key.set(needs_key);
                let resume = {
                    let mut state = self.state.borrow_mut();
                    state.ice_servers = ice_servers;
                    state.want_live && state.stream.is_some()
                };
                if resume {
                    self.request_live();
                }
            }
            ServerMessage::Live { reclaim } => {
                {
                    let mut state = self.state.borrow_mut();
                    state.live = true;
                    state.reclaim = Some(reclaim);
                }
                self.ui.live.set(true);
                self.ui.error.set(None);
                self.ui.status.set("You are live.".into());
                self.prepare_spare();
            }
            ServerMessage::ViewerCount { count } => self.ui.viewers.set(count),
            ServerMessage::WantStream { from } => self.offer_to(from),
            ServerMessage::SpareHeld { spare } => self.hold_spare(spare),
            ServerMessage::SpareTaken { spare, by } => self.spare_taken(spare, by),
            ServerMessage::Answer { from, sdp } => {
                if let Some(peer) = self.peer(from) {
                    let sdp = crate::sdp::with_start_bitrate(&sdp, crate::sdp::START_KBPS);
                    spawn_local(async move {
                        let _ = peer.set_remote(RtcSdpType::Answer, &sdp).await;
                    });
                }
            }
            ServerMessage::Candidate { from, candidate } => {
                if let Some(peer) = self.peer(from) {
                    spawn_local(async move { peer.add_candidate(candidate).await });
                }
            }
            ServerMessage::Audio { from, on } => self.sound_for(from, on),
            ServerMessage::PeerLeft { peer } | ServerMessage::Hangup { from: peer } => {
                self.state.borrow_mut().viewers.remove(&peer);
            }
            ServerMessage::Error { code, message } => {
                if matches!(code, ErrorCode::AlreadyLive | ErrorCode::WrongKey) {
                    self.state.borrow_mut().want_live = false;
                    self.ui.status.set("Not live.".into());
                }
                self.ui.error.set(Some(message));
            }
            ServerMessage::ShuttingDown => {
                self.ui
                    .status
                    .set("The server is restarting; reconnecting…".into());
            }
            ServerMessage::RoomFull { .. }
            | ServerMessage::OnAir { .. }
            | ServerMessage::OffAir { .. }
            | ServerMessage::Offer { .. } => {}
        }
    }

    /// Send `viewer` the microphone's sound, or stop.
    fn sound_for(&self, viewer: PeerId, on: bool) {
        let mut state = self.state.borrow_mut();
        let mic = state
            .stream
            .as_ref()
            .and_then(|stream| media::first_track(stream, "audio"));
        if let Some(link) = state.viewers.get_mut(&viewer) {
            link.sound = on;
            let _ = link.audio.replace_track(mic.as_ref().filter(|_| on));
        }
    }

    fn peer(&self, viewer: PeerId) -> Option<Rc<Peer>> {
        self.state
            .borrow()
            .viewers
            .get(&viewer)
            .map(|link| link.peer.clone())
    }

    /// A viewer asks for the stream: hand it the spare connection, whose offer is ready, or
    /// make one for it. Either way a new spare is prepared for the next viewer.
    fn offer_to(self: &Rc<Self>, viewer: PeerId) {
        if !self.state.borrow().live {
            return;
        }
        // A parked spare is the server's to give (it had not seen it when this viewer asked).
        let spare = self.state.borrow_mut().spare.take_if(|spare| !spare.parked);
        let ready = spare
            .as_ref()
            .and_then(|spare| spare.offer.borrow_mut().take());
        match (spare, ready) {
            (Some(spare), Some(offer)) => {
                spare.link.peer.set_remote_id(viewer);
                self.send(&ClientMessage::Offer {
                    to: viewer,
                    sdp: offer,
                });
                for candidate in spare.early_candidates.take() {
                    self.send(&ClientMessage::Candidate {
                        to: viewer,
                        candidate,
                    });
                }
                self.state.borrow_mut().viewers.insert(viewer, spare.link);
            }
            // Still making its offer, or parked: this viewer gets a fresh one; the spare stays.
            (spare, _) => {
                if spare.is_some() {
                    self.state.borrow_mut().spare = spare;
                }
                let Some(link) = self.open_link(Rc::default()) else {
                    return;
                };
                link.peer.set_remote_id(viewer);
                let peer = link.peer.clone();
                self.state.borrow_mut().viewers.insert(viewer, link);
                let this = self.clone();
                spawn_local(async move {
                    match peer.offer().await {
                        Ok(sdp) => this.send(&ClientMessage::Offer { to: viewer, sdp }),
                        Err(_) => {
                            this.state.borrow_mut().viewers.remove(&viewer);
                        }
                    }
                });
            }
        }
        self.prepare_spare_later();
    }

    /// The server put spare `id` into a watch page: keep it for that page's viewer, and make
    /// the next one.
    fn hold_spare(self: &Rc<Self>, id: u64) {
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
    fn spare_taken(self: &Rc<Self>, id: u64, by: PeerId) {
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
    fn prepare_spare(self: &Rc<Self>) {
        if !self.state.borrow().live || self.state.borrow().spare.is_some() {
            return;
        }
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
    fn prepare_spare_later(self: &Rc<Self>) {
        if self.state.borrow().next_spare_timer.is_some() {
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
    fn drop_spare(&self, which: &Rc<RefCell<Vec<IceCandidate>>>) {
        let mut state = self.state.borrow_mut();
        if state
            .spare
            .as_ref()
            .is_some_and(|spare| Rc::ptr_eq(&spare.early_candidates, which))
        {
            state.spare = None;
        }
    }

    /// A connection sending the current picture (sound once its viewer asks) to its remote id,
    /// or, while that is not set, to whoever takes it later: its candidates wait in
    /// `early_candidates` until then.
    fn open_link(
        self: &Rc<Self>,
        early_candidates: Rc<RefCell<Vec<IceCandidate>>>,
    ) -> Option<ViewerLink> {
        let (ice_servers, video) = {
            let state = self.state.borrow();
            let stream = state.stream.as_ref()?;
            (
                state.ice_servers.clone(),
                media::first_track(stream, "video"),
            )
        };
        let weak: Weak<Self> = Rc::downgrade(self);
        let spare_id = early_candidates.clone();
        let on_candidate = {
            let weak = weak.clone();
            move |viewer: Option<PeerId>, candidate| match viewer {
                Some(to) => {
                    if let Some(this) = weak.upgrade() {
                        this.send(&ClientMessage::Candidate { to, candidate });
                    }
                }
                None => early_candidates.borrow_mut().push(candidate),
            }
        };
        let on_state = move |viewer: Option<PeerId>, state: RtcPeerConnectionState| {
            if !matches!(state, RtcPeerConnectionState::Failed) {
                return;
            }
            let Some(this) = weak.upgrade() else { return };
            match viewer {
                Some(to) => {
                    this.state.borrow_mut().viewers.remove(&to);
                    this.send(&ClientMessage::Hangup { to });
                }
                None => this.drop_spare(&spare_id),
            }
        };
        let peer = Peer::new(&ice_servers, on_candidate, on_state).ok()?;
        let init = RtcRtpTransceiverInit::new();
        init.set_direction(RtcRtpTransceiverDirection::Sendonly);
        let pc = peer.connection();
        let audio_sender = pc
            .add_transceiver_with_str_and_init("audio", &init)
            .sender();
        let video_transceiver = pc.add_transceiver_with_str_and_init("video", &init);
        prefer_h264(&video_transceiver);
        let video_sender = video_transceiver.sender();
        let _ = video_sender.replace_track(video.as_ref());
        Some(ViewerLink {
            peer: Rc::new(peer),
            audio: audio_sender,
            video: video_sender,
            sound: false,
        })
    }
}

/// Offer H.264 first when this browser can send it: per viewer, OpenH264 encoding plus the
/// viewer's decoding took about a third less CPU than VP8 here (six encode+decode pairs at
/// 640x480: 42 % of a core against 54–65 %), and phones decode it in hardware. A browser
/// without H.264 keeps its own order, and a viewer without it answers with VP8.
fn prefer_h264(transceiver: &web_sys::RtcRtpTransceiver) {
    let Some(capabilities) = web_sys::RtcRtpSender::get_capabilities("video") else {
        return;
    };
    let (h264, others): (Vec<_>, Vec<_>) = capabilities.get_codecs().iter().partition(|codec| {
        codec
            .unchecked_ref::<web_sys::RtcRtpCodecCapability>()
            .get_mime_type()
            .eq_ignore_ascii_case("video/h264")
    });
    if h264.is_empty() {
        return;
    }
    let ordered: js_sys::Array = h264.into_iter().chain(others).collect();
    // Called through Reflect so that a browser refusing the list throws into a Result here,
    // not through the wasm stack; the default order is fine then.
    if let Ok(set) = js_sys::Reflect::get(transceiver, &"setCodecPreferences".into())
        .and_then(|f| f.dyn_into::<js_sys::Function>())
    {
        let _ = set.call1(transceiver, &ordered);
    }
}

impl Drop for Broadcaster {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        state.viewers.clear();
        state.spare = None;
        state.held.clear();
        if let Some(stream) = state.stream.take() {
            media::stop_all(&stream);
        }
    }
}
