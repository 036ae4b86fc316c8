//! The talk page's engine: local media, going live, one peer connection per viewer.

use std::{cell::RefCell, collections::HashMap, rc::Rc};

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{HtmlVideoElement, MediaStream, MediaStreamTrack, RtcSdpType};

mod clock;
mod link;
mod quality;
mod recordings;
mod simulcast;
mod spare;

use link::ViewerLink;
use spare::Spare;

use super::{
    listener::EventListener,
    media::{self, MediaError},
    peer::Peer,
    socket::{SocketEvent, SocketSlot},
    timer::Timeout,
};
use crate::{
    protocol::{
        ClientMessage, ErrorCode, IceServer, MediaMode, PeerId, Role, RoomName, ServerMessage,
    },
    ui::talk::{Source, TalkUi},
};

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
    /// The server relays the stream: its relay is the one viewer, and no spares are made.
    relayed: bool,
    /// Peer to peer: what was sent to each viewer at the last measurement, and the next one.
    sent: HashMap<PeerId, quality::Sent>,
    measure_timer: Option<Timeout>,
    /// This page's clock against the server's: viewers read its capture times by it.
    clock: Rc<super::clock::ClockSync>,
}

pub struct Broadcaster {
    room: RoomName,
    ui: TalkUi,
    preview: HtmlVideoElement,
    socket: SocketSlot,
    state: RefCell<State>,
}

impl Broadcaster {
    pub fn start(room: &RoomName, ui: TalkUi, preview: HtmlVideoElement) -> Rc<Self> {
        let this = Rc::new(Self {
            room: room.clone(),
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

    /// A chat message, name, deletion or mute, for the server.
    pub fn chat(&self, msg: &ClientMessage) {
        self.send(msg);
    }

    /// Record this room's broadcasts, or stop (where the server records).
    pub fn toggle_recording(&self) {
        if let Some(on) = self.ui.recording.get_untracked() {
            self.send(&ClientMessage::Record { on: !on });
        }
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
            state.measure_timer = None;
            state.screen_ended = None;
            if let Some(stream) = state.stream.take() {
                media::stop_all(&stream);
            }
            std::mem::take(&mut state.live)
        };
        if was_live {
            self.send(&ClientMessage::OffAir);
            if self.ui.recording.get_untracked().is_some() {
                recordings::refresh(&self.room, self.ui, recordings::SETTLE_MS);
            }
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
        // The relay forwards each viewer the layer it can take: worth capturing in HD.
        let hd = self.state.borrow().relayed;
        let this = self.clone();
        spawn_local(async move {
            let result = match source {
                Source::Camera => media::camera(hd).await,
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
        self.retune_layers(source);
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
                self.ui.audience.set(Vec::new());
            }
            SocketEvent::Message(msg) => self.on_message(msg),
        }
    }

    fn on_message(self: &Rc<Self>, msg: ServerMessage) {
        if self.ui.chat.apply(&msg) || self.ui.apply_audience(&msg) {
            return;
        }
        match msg {
            ServerMessage::Welcome {
                id,
                ice_servers,
                viewers,
                needs_key,
                media,
                recording,
                public_url,
                ..
            } => {
                self.ui.chat.me.set(Some(id));
                if let Some(name) = super::chat::name_message(self.ui.chat) {
                    self.send(&name);
                }
                for _ in 0..super::clock::PINGS {
                    self.send(&super::clock::ClockSync::ping());
                }
                let origin = super::window().location().origin().unwrap_or_default();
                self.ui.watch_url.set(Some(format!(
                    "{}/watch/{}",
                    public_url.unwrap_or(origin),
                    self.room
                )));
                self.ui.recording.set(recording);
                if recording.is_some() {
                    recordings::refresh(&self.room, self.ui, 0);
                }
                self.ui.viewers.set(viewers);
                self.ui.needs_key.set(needs_key);
                self.ui.media.set(Some(media));
                let resume = {
                    let mut state = self.state.borrow_mut();
                    state.ice_servers = ice_servers;
                    state.relayed = media == MediaMode::Sfu;
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
                self.measure_viewers();
                self.say_clock();
            }
            ServerMessage::ClockPong { t, server_us } => self.clock_pong(t, server_us),
            ServerMessage::ViewerCount { count } => self.ui.viewers.set(count),
            ServerMessage::Recording { on } => {
                self.ui.recording.set(Some(on));
                recordings::refresh(&self.room, self.ui, recordings::SETTLE_MS);
            }
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
            ServerMessage::Layers { layers } => self.use_layers(layers),
            ServerMessage::PeerLeft { peer } | ServerMessage::Hangup { from: peer } => {
                self.state.borrow_mut().viewers.remove(&peer);
            }
            ServerMessage::Error { code, message } => {
                if matches!(
                    code,
                    ErrorCode::AlreadyLive | ErrorCode::WrongKey | ErrorCode::Unavailable
                ) {
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
            | ServerMessage::Offer { .. }
            // The chat's and the audience's, taken above.
            | ServerMessage::Audience { .. }
            | ServerMessage::AudienceJoined { .. }
            | ServerMessage::AudienceLeft { .. }
            | ServerMessage::ViewerStats { .. }
            | ServerMessage::Chat { .. }
            | ServerMessage::ChatBacklog { .. }
            | ServerMessage::ChatDeleted { .. }
            | ServerMessage::ChatMuted { .. }
            | ServerMessage::BroadcasterClock { .. }
            | ServerMessage::Quality { .. } => {}
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
