//! Peer to peer, the talk page measures each viewer's link itself (`getStats`): the round
//! trip and loss its receiver reports, and the bitrate sent. With the relay, the server sends
//! the same figures (`viewer_stats`).

use std::{collections::HashMap, rc::Rc, time::Duration};

use leptos::prelude::*;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;
use web_sys::RtcPeerConnection;

use super::Broadcaster;
use crate::{
    client::timer::Timeout,
    protocol::{PeerId, ViewerQuality},
};

/// How often the talk page measures its viewers' links.
pub(super) const MEASURE_EVERY: Duration = Duration::from_secs(2);

/// Bytes sent to a viewer by a time (ms), for its next bitrate.
#[derive(Clone, Copy, Default)]
pub(super) struct Sent {
    bytes: f64,
    at_ms: f64,
}

fn number(stat: &JsValue, name: &str) -> Option<f64> {
    js_sys::Reflect::get(stat, &name.into())
        .ok()
        .and_then(|value| value.as_f64())
}

fn text(stat: &JsValue, name: &str) -> Option<String> {
    js_sys::Reflect::get(stat, &name.into())
        .ok()
        .and_then(|value| value.as_string())
}

/// One link's figures from its stats report, and what was sent by now.
async fn measure(pc: &RtcPeerConnection, id: PeerId, before: Sent) -> (ViewerQuality, Sent) {
    let mut quality = ViewerQuality {
        id,
        rtt_ms: None,
        loss_permille: None,
        kbps: None,
    };
    let mut sent = Sent::default();
    let Ok(report) = JsFuture::from(pc.get_stats()).await else {
        return (quality, before);
    };
    let Ok(Some(entries)) = js_sys::try_iter(&report) else {
        return (quality, before);
    };
    for entry in entries.flatten() {
        let stat = js_sys::Array::from(&entry).get(1);
        match text(&stat, "type").as_deref() {
            Some("remote-inbound-rtp") if text(&stat, "kind").as_deref() == Some("video") => {
                quality.rtt_ms =
                    number(&stat, "roundTripTime").map(|s| (s * 1000.0).round() as u32);
                quality.loss_permille = number(&stat, "fractionLost")
                    .map(|f| (f.clamp(0.0, 1.0) * 1000.0).round() as u32);
            }
            Some("outbound-rtp") => {
                sent.bytes += number(&stat, "bytesSent").unwrap_or(0.0);
                sent.at_ms = sent.at_ms.max(number(&stat, "timestamp").unwrap_or(0.0));
            }
            _ => {}
        }
    }
    let seconds = (sent.at_ms - before.at_ms) / 1000.0;
    if before.at_ms > 0.0 && seconds > 0.0 && sent.bytes >= before.bytes {
        quality.kbps = Some(((sent.bytes - before.bytes) * 8.0 / seconds / 1000.0).round() as u32);
    }
    (quality, sent)
}

impl Broadcaster {
    /// Measure every viewer's link now, then again in [`MEASURE_EVERY`], while peer to peer.
    pub(super) fn measure_viewers(self: &Rc<Self>) {
        let links: Vec<(PeerId, RtcPeerConnection, Sent)> = {
            let state = self.state.borrow();
            if state.relayed {
                return;
            }
            state
                .viewers
                .iter()
                .map(|(id, link)| {
                    let before = state.sent.get(id).copied().unwrap_or_default();
                    (*id, link.peer.connection().clone(), before)
                })
                .collect()
        };
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let mut qualities = HashMap::new();
            let mut sent = HashMap::new();
            for (id, pc, before) in links {
                let (quality, now) = measure(&pc, id, before).await;
                qualities.insert(id, quality);
                sent.insert(id, now);
            }
            let live = {
                let mut state = this.state.borrow_mut();
                state.sent = sent;
                state.live
            };
            this.ui.quality.set(qualities);
            if !live {
                return;
            }
            let again = this.clone();
            let timer = Timeout::new(MEASURE_EVERY.as_millis() as u32, move || {
                again.measure_viewers()
            });
            this.state.borrow_mut().measure_timer = Some(timer);
        });
    }
}
