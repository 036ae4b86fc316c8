//! The delay a watch page shows: from the broadcaster's camera to this screen, read off the
//! capture times its frames carry (`abs-capture-time`, see `client::capture_times`), on this
//! page's clock by way of the server's (`clock_ping`, the broadcaster's `clock_offset`).

use std::{
    cell::{Cell, RefCell},
    collections::VecDeque,
    rc::Rc,
};

use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

use super::Viewer;
use crate::client::{clock::ClockSync, timer::Timeout};

/// How often the figure is brought up to date.
const EVERY_MS: u32 = 1_000;
/// Readings the figure is the median of: steady, and still quick to follow a change.
const READINGS: usize = 5;
/// From the NTP epoch (1900) to the Unix epoch (1970), in ms: capture times are NTP times.
const NTP_TO_UNIX_MS: f64 = 2_208_988_800_000.0;
/// A reading beyond this is a clock gone wrong, not a delay.
const MAX_MS: f64 = 60_000.0;

#[derive(Default)]
pub(super) struct DelayMeter {
    pub(super) clock: ClockSync,
    /// The broadcaster's clock offset from the server's (ms), once it said.
    pub(super) broadcaster_offset: Cell<Option<f64>>,
    readings: RefCell<VecDeque<f64>>,
    timer: RefCell<Option<Timeout>>,
}

fn field(object: &JsValue, name: &str) -> Option<f64> {
    js_sys::Reflect::get(object, &name.into())
        .ok()
        .and_then(|value| value.as_f64())
}

/// The latest video frame's capture time (NTP ms, the broadcaster's clock) and when it was
/// played (Unix ms, this page's clock), from `getSynchronizationSources()`.
fn latest_frame(pc: &web_sys::RtcPeerConnection) -> Option<(f64, f64)> {
    let receiver = pc
        .get_receivers()
        .iter()
        .filter_map(|r| r.dyn_into::<web_sys::RtcRtpReceiver>().ok())
        .find(|r| r.track().kind() == "video")?;
    let sources = js_sys::Reflect::get(&receiver, &"getSynchronizationSources".into())
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?
        .call0(&receiver)
        .ok()?
        .dyn_into::<js_sys::Array>()
        .ok()?;
    let source = sources.get(0);
    Some((
        field(&source, "captureTimestamp")?,
        field(&source, "timestamp")?,
    ))
}

fn median(readings: &VecDeque<f64>) -> Option<f64> {
    let mut sorted: Vec<f64> = readings.iter().copied().collect();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied()
}

impl Viewer {
    /// Measure the delay now and every second while the picture plays.
    pub(super) fn measure_delay(self: &Rc<Self>) {
        let pc = self
            .state
            .borrow()
            .peer
            .as_ref()
            .map(|peer| peer.connection().clone());
        let Some(pc) = pc else {
            self.delay.readings.borrow_mut().clear();
            self.ui.get().delay_ms.set(None);
            *self.delay.timer.borrow_mut() = None;
            return;
        };
        if let Some((captured, played)) = latest_frame(&pc) {
            let ours = self.delay.clock.offset_ms().unwrap_or(0.0);
            let theirs = self.delay.broadcaster_offset.get().unwrap_or(0.0);
            let delay = (played + ours) - (captured - NTP_TO_UNIX_MS + theirs);
            if (0.0..MAX_MS).contains(&delay) {
                let mut readings = self.delay.readings.borrow_mut();
                readings.push_back(delay);
                if readings.len() > READINGS {
                    readings.pop_front();
                }
                let shown = median(&readings).map(|ms| ms.round() as u32);
                drop(readings);
                self.ui.get().delay_ms.set(shown);
            }
        }
        let weak = Rc::downgrade(self);
        *self.delay.timer.borrow_mut() = Some(Timeout::new(EVERY_MS, move || {
            if let Some(this) = weak.upgrade() {
                this.measure_delay();
            }
        }));
    }
}
