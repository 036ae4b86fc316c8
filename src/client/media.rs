//! Camera, microphone and screen capture, with every failure turned into a sentence.

use std::fmt;

use js_sys::{Array, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DisplayMediaStreamConstraints, MediaStream, MediaStreamConstraints, MediaStreamTrack,
};

/// How long a permission prompt may stay unanswered before we say so.
const PROMPT_TIMEOUT_MS: i32 = 30_000;
const TIMEOUT_MARKER: &str = "onair-media-timeout";

/// Why capture failed, worded for the person in front of the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaError {
    Denied,
    NoDevice,
    Busy,
    Impossible,
    TimedOut,
    Insecure,
    Other(String),
}

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Denied => "Permission denied: allow camera and microphone (or screen) for this site in the browser's address bar, then try again.",
            Self::NoDevice => "No camera or microphone was found. Plug one in, or share your screen instead.",
            Self::Busy => "The camera or microphone is in use by another program or tab. Close it and try again.",
            Self::Impossible => "This camera cannot deliver the requested format. Try another device.",
            Self::TimedOut => "The browser's permission prompt was not answered. Answer it, or reload the page to ask again.",
            Self::Insecure => "Camera access needs a secure page: open onair at http://localhost or over HTTPS.",
            Self::Other(message) => return write!(f, "Could not start capture: {message}"),
        })
    }
}

fn classify(err: JsValue) -> MediaError {
    if err.as_string().as_deref() == Some(TIMEOUT_MARKER) {
        return MediaError::TimedOut;
    }
    let name = Reflect::get(&err, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .unwrap_or_default();
    match name.as_str() {
        "NotAllowedError" | "SecurityError" | "PermissionDeniedError" => MediaError::Denied,
        "NotFoundError" | "DevicesNotFoundError" => MediaError::NoDevice,
        "NotReadableError" | "TrackStartError" | "AbortError" => MediaError::Busy,
        "OverconstrainedError" | "ConstraintNotSatisfiedError" => MediaError::Impossible,
        _ => MediaError::Other(
            Reflect::get(&err, &"message".into())
                .ok()
                .and_then(|m| m.as_string())
                .unwrap_or_else(|| format!("{err:?}")),
        ),
    }
}

async fn capture(request: Result<Promise, JsValue>) -> Result<MediaStream, MediaError> {
    let promise = request.map_err(classify)?;
    let timeout = super::timer::reject_after(PROMPT_TIMEOUT_MS, TIMEOUT_MARKER);
    let raced = Promise::race(&Array::of2(&promise, &timeout));
    let stream = JsFuture::from(raced).await.map_err(classify)?;
    stream.dyn_into::<MediaStream>().map_err(classify)
}

fn media_devices() -> Result<web_sys::MediaDevices, MediaError> {
    // navigator.mediaDevices is undefined on plain-HTTP pages other than localhost.
    let navigator = super::window().navigator();
    match Reflect::get(&navigator, &"mediaDevices".into()) {
        Ok(devices) if !devices.is_undefined() => devices.dyn_into().map_err(classify),
        _ => Err(MediaError::Insecure),
    }
}

/// Camera and microphone; `hd` asks for 1280x720 where the camera has it.
pub async fn camera(hd: bool) -> Result<MediaStream, MediaError> {
    let constraints = MediaStreamConstraints::new();
    if hd {
        let video = js_sys::Object::new();
        for (name, ideal) in [("width", 1280), ("height", 720)] {
            let wish = js_sys::Object::new();
            let _ = Reflect::set(&wish, &"ideal".into(), &ideal.into());
            let _ = Reflect::set(&video, &name.into(), &wish);
        }
        constraints.set_video(&video);
    } else {
        constraints.set_video(&JsValue::TRUE);
    }
    constraints.set_audio(&JsValue::TRUE);
    capture(media_devices()?.get_user_media_with_constraints(&constraints)).await
}

/// A screen, window or tab the user picks (with its audio where the browser offers it).
pub async fn screen() -> Result<MediaStream, MediaError> {
    let constraints = DisplayMediaStreamConstraints::new();
    constraints.set_video(&JsValue::TRUE);
    constraints.set_audio(&JsValue::TRUE);
    capture(media_devices()?.get_display_media_with_constraints(&constraints)).await
}

pub fn first_track(stream: &MediaStream, kind: &str) -> Option<MediaStreamTrack> {
    let tracks = if kind == "audio" {
        stream.get_audio_tracks()
    } else {
        stream.get_video_tracks()
    };
    tracks.get(0).dyn_into().ok()
}

pub fn stop_all(stream: &MediaStream) {
    for track in stream.get_tracks().iter() {
        if let Ok(track) = track.dyn_into::<MediaStreamTrack>() {
            track.stop();
        }
    }
}
