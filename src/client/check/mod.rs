//! The pre-flight check's engine (`/check`): each step in turn, written to the page's
//! `CheckUi` with a plain-language reason and what to do.
//!
//! - here: camera and microphone (one capture), the microphone's level, the devices;
//! - [`network`]: the signaling socket, the ICE candidates, and (with the relay) a short
//!   loop of the camera through the server, by the talk and watch pages' own engines.

mod network;

use std::{cell::RefCell, rc::Rc};

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AnalyserNode, AudioContext, HtmlVideoElement, MediaStream};

use super::{media, timer::Timeout};
use crate::ui::check::{CheckUi, Step, StepState};

/// How often the level meter moves.
const LEVEL_EVERY_MS: u32 = 100;

pub struct Check {
    ui: CheckUi,
    preview: HtmlVideoElement,
    looped: HtmlVideoElement,
    stream: RefCell<Option<MediaStream>>,
    /// The level meter: its audio graph and its next reading.
    meter: RefCell<Option<(AudioContext, AnalyserNode)>>,
    level_timer: RefCell<Option<Timeout>>,
}

impl Check {
    pub fn start(ui: CheckUi, preview: HtmlVideoElement, looped: HtmlVideoElement) -> Rc<Self> {
        let this = Rc::new(Self {
            ui,
            preview,
            looped,
            stream: RefCell::new(None),
            meter: RefCell::new(None),
            level_timer: RefCell::new(None),
        });
        let run = this.clone();
        spawn_local(async move { run.run().await });
        this
    }

    async fn run(self: Rc<Self>) {
        self.capture().await;
        self.devices().await;
        let welcome = self.signaling().await;
        match welcome {
            Some((ice_servers, media)) => {
                self.ice(&ice_servers).await;
                self.media(media).await;
            }
            None => {
                for step in [Step::Ice, Step::Media] {
                    self.ui.set(
                        step,
                        StepState::Skipped,
                        "Needs the connection to the server first.",
                    );
                }
            }
        }
        self.ui.done.set(true);
    }

    /// Camera and microphone, from one capture as the talk page makes it.
    async fn capture(self: &Rc<Self>) {
        self.ui
            .set(Step::Camera, StepState::Running, "Asking for the camera…");
        self.ui.set(
            Step::Microphone,
            StepState::Running,
            "Asking for the microphone…",
        );
        match media::camera(false).await {
            Ok(stream) => {
                let video = media::first_track(&stream, "video");
                match &video {
                    Some(track) => {
                        let settings = track.get_settings();
                        let size = match (settings.get_width(), settings.get_height()) {
                            (Some(w), Some(h)) => format!(" ({w}×{h})"),
                            _ => String::new(),
                        };
                        self.ui.set(
                            Step::Camera,
                            StepState::Ok,
                            format!("The camera works: {}{size}.", track.label()),
                        );
                    }
                    None => self.ui.set(
                        Step::Camera,
                        StepState::Fail,
                        "The browser gave sound but no picture: plug in a camera, or share your screen on the talk page instead.",
                    ),
                }
                match media::first_track(&stream, "audio") {
                    Some(track) => {
                        self.ui.set(
                            Step::Microphone,
                            StepState::Ok,
                            format!(
                                "The microphone works: {}. Speak: the bar under the picture moves.",
                                track.label()
                            ),
                        );
                        self.meter_level(&stream);
                    }
                    None => self.ui.set(
                        Step::Microphone,
                        StepState::Fail,
                        "No microphone: viewers will see you but not hear you. Plug one in.",
                    ),
                }
                self.preview.set_src_object(Some(&stream));
                let _ = self.preview.play();
                *self.stream.borrow_mut() = Some(stream);
            }
            Err(err) => {
                let why = err.to_string();
                self.ui.set(Step::Camera, StepState::Fail, why.clone());
                self.ui.set(Step::Microphone, StepState::Fail, why);
            }
        }
    }

    /// The level meter: the microphone's loudness, ten times a second.
    fn meter_level(self: &Rc<Self>, stream: &MediaStream) {
        let graph = (|| -> Result<(AudioContext, AnalyserNode), JsValue> {
            let context = AudioContext::new()?;
            let source = context.create_media_stream_source(stream)?;
            let analyser = context.create_analyser()?;
            analyser.set_fft_size(512);
            source.connect_with_audio_node(&analyser)?;
            Ok((context, analyser))
        })();
        let Ok(graph) = graph else { return };
        *self.meter.borrow_mut() = Some(graph);
        self.read_level();
    }

    fn read_level(self: &Rc<Self>) {
        let level = self.meter.borrow().as_ref().map(|(_, analyser)| {
            let mut samples = vec![0u8; analyser.fft_size() as usize];
            analyser.get_byte_time_domain_data(&mut samples);
            let power = samples
                .iter()
                .map(|s| (f64::from(*s) - 128.0) / 128.0)
                .map(|v| v * v)
                .sum::<f64>()
                / samples.len().max(1) as f64;
            (power.sqrt() * 300.0).min(100.0).round() as u32
        });
        let Some(level) = level else { return };
        self.ui.level.set(level);
        let weak = Rc::downgrade(self);
        *self.level_timer.borrow_mut() = Some(Timeout::new(LEVEL_EVERY_MS, move || {
            if let Some(this) = weak.upgrade() {
                this.read_level();
            }
        }));
    }

    /// What cameras, microphones and speakers the browser knows.
    async fn devices(&self) {
        self.ui
            .set(Step::Devices, StepState::Running, "Listing devices…");
        let devices = super::window()
            .navigator()
            .media_devices()
            .and_then(|devices| devices.enumerate_devices());
        let list = match devices {
            Ok(promise) => JsFuture::from(promise).await,
            Err(err) => Err(err),
        };
        let Ok(list) = list.and_then(|list| list.dyn_into::<js_sys::Array>()) else {
            self.ui.set(
                Step::Devices,
                StepState::Warn,
                "The browser does not list its devices on this page.",
            );
            return;
        };
        let mut lines = Vec::new();
        let (mut cameras, mut microphones) = (0, 0);
        for device in list.iter() {
            let Ok(device) = device.dyn_into::<web_sys::MediaDeviceInfo>() else {
                continue;
            };
            let kind = match device.kind() {
                web_sys::MediaDeviceKind::Videoinput => {
                    cameras += 1;
                    "camera"
                }
                web_sys::MediaDeviceKind::Audioinput => {
                    microphones += 1;
                    "microphone"
                }
                web_sys::MediaDeviceKind::Audiooutput => "speaker",
                _ => continue,
            };
            let label = device.label();
            lines.push(if label.is_empty() {
                format!("{kind} (its name shows once the page may use it)")
            } else {
                format!("{kind}: {label}")
            });
        }
        self.ui.devices.set(lines);
        let (state, detail) = match (cameras, microphones) {
            (0, 0) => (
                StepState::Fail,
                "No camera and no microphone: plug them in (you can still share your screen)."
                    .to_owned(),
            ),
            (cameras, microphones) => (
                StepState::Ok,
                format!(
                    "{cameras} camera{}, {microphones} microphone{}.",
                    if cameras == 1 { "" } else { "s" },
                    if microphones == 1 { "" } else { "s" }
                ),
            ),
        };
        self.ui.set(Step::Devices, state, detail);
    }
}

impl Drop for Check {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.get_mut().take() {
            media::stop_all(&stream);
        }
        if let Some((context, _)) = self.meter.get_mut().take() {
            let _ = context.close();
        }
    }
}
