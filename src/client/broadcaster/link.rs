//! One viewer's connection from the talk page: its peer and its two senders.

use std::{
    cell::RefCell,
    rc::{Rc, Weak},
};

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{
    RtcPeerConnectionState, RtcRtpSender, RtcRtpTransceiverDirection, RtcRtpTransceiverInit,
};

use super::Broadcaster;
use crate::{
    client::{capture_times::want_capture_times, media, peer::Peer},
    protocol::{ClientMessage, IceCandidate, PeerId},
    ui::talk::Source,
};

/// One viewer's connection: the peer and its two senders, kept to swap tracks in place.
pub(super) struct ViewerLink {
    pub(super) peer: Rc<Peer>,
    pub(super) audio: RtcRtpSender,
    pub(super) video: RtcRtpSender,
    /// The viewer asked for sound (see `ClientMessage::Audio`); until then its audio sender
    /// has no track, so nothing is encoded or sent for it.
    pub(super) sound: bool,
}

impl Broadcaster {
    /// A connection sending the current picture (sound once its viewer asks) to its remote id,
    /// or, while that is not set, to whoever takes it later: its candidates wait in
    /// `early_candidates` until then.
    pub(super) fn open_link(
        self: &Rc<Self>,
        early_candidates: Rc<RefCell<Vec<IceCandidate>>>,
    ) -> Option<ViewerLink> {
        let (ice_servers, video, relayed) = {
            let state = self.state.borrow();
            let stream = state.stream.as_ref()?;
            (
                state.ice_servers.clone(),
                media::first_track(stream, "video"),
                state.relayed,
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
        let audio_transceiver = pc.add_transceiver_with_str_and_init("audio", &init);
        want_capture_times(&audio_transceiver);
        let audio_sender = audio_transceiver.sender();
        let video_init = RtcRtpTransceiverInit::new();
        video_init.set_direction(RtcRtpTransceiverDirection::Sendonly);
        if relayed {
            // One stream to the relay, in several sizes: each viewer gets the one it can take.
            let source = self.ui.source.get_untracked().unwrap_or(Source::Camera);
            super::simulcast::ask_layers(&video_init, video.as_ref(), source);
        }
        let video_transceiver = pc.add_transceiver_with_str_and_init("video", &video_init);
        prefer_h264(&video_transceiver);
        want_capture_times(&video_transceiver);
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
