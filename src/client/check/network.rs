//! The check's network steps: the signaling socket (as a page opens it), the ICE candidates
//! the browser finds, and with the relay a short loop of the camera through the server, made
//! by the talk and watch pages' own engines in a room of the check's own.

use std::{cell::RefCell, rc::Rc};

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{HtmlVideoElement, RtcIceGatheringState};

use super::Check;
use crate::{
    client::{
        peer::Peer,
        socket::{Signaling, SocketEvent},
        timer::sleep,
        Broadcaster, Viewer,
    },
    protocol::{
        paths::CHECK_ROOM_PREFIX, ClientMessage, IceServer, MediaMode, Role, RoomName,
        ServerMessage,
    },
    ui::{
        check::{Step, StepState},
        talk::TalkUi,
        watch::{WatchState, WatchUi},
    },
};

/// How long each network step may take before it counts as failed.
const SIGNALING_WITHIN_MS: f64 = 8_000.0;
const GATHERING_WITHIN_MS: f64 = 5_000.0;
const LIVE_WITHIN_MS: f64 = 15_000.0;
/// How long the looped picture plays before its bitrate is read.
const LOOP_PLAYS_MS: u32 = 4_000;

/// Wait until `ready` says yes, up to `within` ms; whether it did.
async fn until(within: f64, ready: impl Fn() -> bool) -> bool {
    let deadline = js_sys::Date::now() + within;
    while js_sys::Date::now() < deadline {
        if ready() {
            return true;
        }
        sleep(100).await;
    }
    ready()
}

/// A room of the check's own: hidden from the room list.
fn check_room() -> Option<RoomName> {
    let suffix = (js_sys::Math::random() * 1e9) as u64;
    RoomName::parse(&format!("{CHECK_ROOM_PREFIX}{suffix:x}")).ok()
}

impl Check {
    /// Open the signaling socket as a watch page does, and join: the welcome's ICE servers
    /// and media mode, or a red step saying what is wrong.
    pub(super) async fn signaling(&self) -> Option<(Vec<IceServer>, MediaMode)> {
        self.ui.set(
            Step::Signaling,
            StepState::Running,
            "Opening the signaling connection…",
        );
        let room = check_room()?;
        let started = js_sys::Date::now();
        type Outcome = Option<Result<(Vec<IceServer>, MediaMode), ()>>;
        let outcome: Rc<RefCell<Outcome>> = Rc::default();
        let slot: Rc<RefCell<Option<Signaling>>> = Rc::default();
        let (heard, socket) = (outcome.clone(), Rc::downgrade(&slot));
        let signaling = Signaling::connect(&room, None, move |event| match event {
            SocketEvent::Open => {
                if let Some(slot) = socket.upgrade() {
                    if let Some(socket) = slot.borrow().as_ref() {
                        socket.send(&ClientMessage::join(Role::Viewer));
                    }
                }
            }
            SocketEvent::Message(ServerMessage::Welcome {
                ice_servers, media, ..
            }) => {
                heard.borrow_mut().get_or_insert(Ok((ice_servers, media)));
            }
            SocketEvent::Message(_) => {}
            SocketEvent::Closed { .. } => {
                heard.borrow_mut().get_or_insert(Err(()));
            }
        });
        *slot.borrow_mut() = Some(signaling);
        until(SIGNALING_WITHIN_MS, || outcome.borrow().is_some()).await;
        slot.borrow_mut().take();
        let result = outcome.borrow_mut().take();
        match result {
            Some(Ok(welcome)) => {
                let ms = (js_sys::Date::now() - started).round();
                self.ui.set(
                    Step::Signaling,
                    StepState::Ok,
                    format!("The server answers: joined a room in {ms} ms."),
                );
                Some(welcome)
            }
            _ => {
                let up = self.server_up().await;
                self.ui.set(
                    Step::Signaling,
                    StepState::Fail,
                    if up {
                        "The server is up, but refused this page's signaling connection (the WebSocket at /ws/…). \
                         It takes only so many connections from one address: close other onair tabs. \
                         Behind a proxy, the proxy must pass WebSockets (Upgrade and Connection headers)."
                    } else {
                        "The server does not answer: is onair running, and is this its address?"
                    },
                );
                None
            }
        }
    }

    /// Whether the server answers plain HTTP (`/healthz`).
    async fn server_up(&self) -> bool {
        let answer = JsFuture::from(crate::client::window().fetch_with_str("/healthz")).await;
        answer
            .ok()
            .and_then(|response| response.dyn_into::<web_sys::Response>().ok())
            .is_some_and(|response| response.ok())
    }

    /// The paths the browser finds to reach others: its ICE candidates, by type.
    pub(super) async fn ice(&self, ice_servers: &[IceServer]) {
        self.ui
            .set(Step::Ice, StepState::Running, "Gathering ICE candidates…");
        let found: Rc<RefCell<Vec<String>>> = Rc::default();
        let into = found.clone();
        let peer = match Peer::new(
            ice_servers,
            move |_, candidate| into.borrow_mut().push(candidate.candidate),
            |_, _| {},
        ) {
            Ok(peer) => peer,
            Err(_) => {
                self.ui.set(
                    Step::Ice,
                    StepState::Fail,
                    "This browser cannot make a WebRTC connection (it is switched off, or a policy blocks it).",
                );
                return;
            }
        };
        let _ = peer.connection().add_transceiver_with_str("video");
        if let Ok(sdp) = peer.offer().await {
            self.ui.sdp.set(sdp);
        }
        let pc = peer.connection().clone();
        until(GATHERING_WITHIN_MS, || {
            pc.ice_gathering_state() == RtcIceGatheringState::Complete
        })
        .await;
        let lines = found.borrow().clone();
        let count = |kind: &str| {
            lines
                .iter()
                .filter(|l| l.contains(&format!(" typ {kind}")))
                .count()
        };
        let (host, srflx, relay) = (count("host"), count("srflx"), count("relay"));
        self.ui.candidates.set(lines.clone());
        let summary = format!("{host} on this machine (host), {srflx} through a NAT (srflx), {relay} through a TURN relay (relay).");
        let (state, detail) = if lines.is_empty() {
            (StepState::Fail, "The browser found no network path at all: a privacy extension or a policy blocks WebRTC.".to_owned())
        } else if !ice_servers.is_empty() && srflx + relay == 0 {
            (StepState::Warn, format!("{summary} The STUN/TURN servers gave nothing: UDP to them may be blocked, which matters only beyond this network."))
        } else {
            (StepState::Ok, summary)
        };
        self.ui.set(Step::Ice, state, detail);
    }

    /// With the relay: go live in a room of the check's own and watch it, by the pages' own
    /// engines, and read what the server's relay measured of the loop.
    pub(super) async fn media(&self, media: MediaMode) {
        if media == MediaMode::P2p {
            self.ui.set(
                Step::Media,
                StepState::Skipped,
                "This server does not relay media (--media p2p): viewers connect to the broadcaster's browser directly, so nothing loops through it.",
            );
            return;
        }
        self.ui.set(
            Step::Media,
            StepState::Running,
            "Sending your camera to the server and watching it come back…",
        );
        let Some(room) = check_room() else { return };
        let Some(hidden) = crate::client::window()
            .document()
            .and_then(|doc| doc.create_element("video").ok())
            .and_then(|element| element.dyn_into::<HtmlVideoElement>().ok())
        else {
            return;
        };
        hidden.set_muted(true);
        let talk = TalkUi::default();
        let broadcaster = Broadcaster::start(&room, talk, hidden);
        until(SIGNALING_WITHIN_MS, || talk.connected.get_untracked()).await;
        broadcaster.go_live();
        let live = until(LIVE_WITHIN_MS, || {
            talk.live.get_untracked() || talk.error.get_untracked().is_some()
        })
        .await
            && talk.live.get_untracked();
        if !live {
            let why = talk.error.get_untracked().unwrap_or_default();
            let (state, detail) = if talk.needs_key.get_untracked() {
                (StepState::Warn, "This server needs a publish key to go live, so the check cannot broadcast. The talk page asks for it.".to_owned())
            } else {
                (
                    StepState::Fail,
                    format!("Could not go live to the server: {why}"),
                )
            };
            self.ui.set(Step::Media, state, detail);
            return;
        }
        let watch = WatchUi::default();
        let viewer = Viewer::start(&room, None, None, watch, self.looped.clone());
        let playing = until(LIVE_WITHIN_MS, || {
            watch.state.get_untracked() == WatchState::Live
        })
        .await;
        if !playing {
            self.ui.set(
                Step::Media,
                StepState::Fail,
                "Your picture did not come back from the server within 15 s. The media goes over UDP to the \
                 server's media port (by default the web port's number): a firewall may block it.",
            );
            broadcaster.stop();
            return;
        }
        sleep(LOOP_PLAYS_MS).await;
        let kbps = talk
            .quality
            .with_untracked(|all| all.values().find_map(|q| q.kbps));
        let size = (self.looped.video_width(), self.looped.video_height());
        self.ui.set(
            Step::Media,
            StepState::Ok,
            match kbps {
                Some(kbps) => format!(
                    "Your picture went to the server and came back ({}×{}), at {kbps} kbit/s.",
                    size.0, size.1
                ),
                None => format!(
                    "Your picture went to the server and came back ({}×{}).",
                    size.0, size.1
                ),
            },
        );
        drop(viewer);
        broadcaster.stop();
    }
}
