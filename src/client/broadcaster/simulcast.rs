//! The talk page's simulcast, where the server relays: the layers its one stream to the relay
//! carries (as many as the source is big enough for), a screen's layers tuned for text, and
//! pausing the layers the relay says nobody receives. Peer to peer, nothing changes.
//!
//! The encodings are plain objects set through `Reflect`: web-sys's typed versions would
//! add their bindings to the wasm for four fields.

use js_sys::{Array, Function, Object, Promise, Reflect};
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{MediaStreamTrack, RtcRtpSender, RtcRtpTransceiverInit};

use super::Broadcaster;
use crate::{
    protocol::{
        simulcast::{self, LayerPlan},
        LayerUse, RELAY_ID,
    },
    ui::talk::Source,
};

fn plans(source: Source) -> &'static [LayerPlan; 3] {
    match source {
        Source::Camera => &simulcast::CAMERA_LAYERS,
        Source::Screen => &simulcast::SCREEN_LAYERS,
    }
}

fn set(target: &JsValue, name: &str, value: &JsValue) {
    let _ = Reflect::set(target, &name.into(), value);
}

/// The track's height as the browser captures it.
fn height(track: &MediaStreamTrack) -> u32 {
    Reflect::get(track, &"getSettings".into())
        .and_then(|f| f.dyn_into::<Function>())
        .and_then(|f| f.call0(track))
        .and_then(|settings| Reflect::get(&settings, &"height".into()))
        .ok()
        .and_then(|h| h.as_f64())
        .map_or(0, |h| h as u32)
}

/// Give `plan`'s figures to `encoding` (an `RTCRtpEncodingParameters`).
fn tune(encoding: &JsValue, plan: &LayerPlan) {
    set(encoding, "scaleResolutionDownBy", &plan.scale_down.into());
    set(
        encoding,
        "maxBitrate",
        &f64::from(plan.max_kbps * 1000).into(),
    );
    match plan.max_fps {
        Some(fps) => set(encoding, "maxFramerate", &fps.into()),
        None => {
            if let Ok(object) = encoding.clone().dyn_into::<Object>() {
                let _ = Reflect::delete_property(&object, &"maxFramerate".into());
            }
        }
    }
}

/// Ask `init` (the relay link's video) for the layers `track` is worth, lowest first; a small
/// source gets one stream, as before.
pub(super) fn ask_layers(
    init: &RtcRtpTransceiverInit,
    track: Option<&MediaStreamTrack>,
    source: Source,
) {
    let count = simulcast::layer_count(track.map_or(0, height));
    if count < 2 {
        return;
    }
    let encodings: Array = plans(source)[..count]
        .iter()
        .rev()
        .map(|plan| {
            let encoding: JsValue = Object::new().into();
            set(&encoding, "rid", &plan.rid.into());
            tune(&encoding, plan);
            encoding
        })
        .collect();
    set(init, "sendEncodings", &encodings);
}

/// Change the sender's layers in place: each to `source`'s plan, and paused or running as
/// `active` says for its rid (unchanged where it says nothing).
fn change_layers(sender: &RtcRtpSender, source: Source, active: impl Fn(&str) -> Option<bool>) {
    let call = |name: &str, arg: Option<&JsValue>| {
        let f = Reflect::get(sender, &name.into()).and_then(|f| f.dyn_into::<Function>())?;
        match arg {
            Some(arg) => f.call1(sender, arg),
            None => f.call0(sender),
        }
    };
    let Ok(parameters) = call("getParameters", None) else {
        return;
    };
    let Ok(encodings) = Reflect::get(&parameters, &"encodings".into()) else {
        return;
    };
    let encodings = Array::from(&encodings);
    if encodings.length() < 2 {
        return;
    }
    for encoding in encodings.iter() {
        let Some(rid) = Reflect::get(&encoding, &"rid".into())
            .ok()
            .and_then(|r| r.as_string())
        else {
            continue;
        };
        if let Some(plan) = plans(source).iter().find(|plan| plan.rid == rid) {
            tune(&encoding, plan);
        }
        if let Some(on) = active(&rid) {
            set(&encoding, "active", &on.into());
        }
    }
    if let Ok(done) = call("setParameters", Some(&parameters)) {
        if let Ok(done) = done.dyn_into::<Promise>() {
            spawn_local(async move {
                if let Err(err) = JsFuture::from(done).await {
                    leptos::logging::warn!("onair: the browser refused a layer change: {err:?}");
                }
            });
        }
    }
}

impl Broadcaster {
    /// The relay says which layers to send, and who receives each.
    pub(super) fn use_layers(&self, layers: Vec<LayerUse>) {
        let source = self.ui.source.get_untracked().unwrap_or(Source::Camera);
        if let Some(link) = self.state.borrow().viewers.get(&RELAY_ID) {
            change_layers(&link.video, source, |rid| {
                layers.iter().find(|l| l.rid == rid).map(|l| l.active)
            });
        }
        self.ui.layers.set(layers);
    }

    /// The picture now comes from `source`: the relay link's layers take its plan.
    pub(super) fn retune_layers(&self, source: Source) {
        if let Some(link) = self.state.borrow().viewers.get(&RELAY_ID) {
            change_layers(&link.video, source, |_| None);
        }
    }
}
