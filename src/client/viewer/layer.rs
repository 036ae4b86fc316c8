//! The watch page's side of simulcast: the size it shows the picture at, told to the relay
//! when it changes (and with every answer), so that a small player gets a small layer; a
//! quality pinned by hand; and what the page gets, for its quality badge.

use std::{
    cell::{Cell, RefCell},
    rc::{Rc, Weak},
};

use js_sys::{Array, Function, Reflect};
use leptos::prelude::*;
use wasm_bindgen::{closure::Closure, JsCast, JsValue};
use web_sys::HtmlVideoElement;

use super::Viewer;
use crate::{
    client::{listener::EventListener, timer::Timeout},
    protocol::{ClientMessage, Level, ServerMessage},
    ui::watch::WatchUi,
};

/// Resizing sends one size once it settles, not one per frame of the drag.
const SETTLE_MS: u32 = 250;

/// Watches the picture's size on the page (a `ResizeObserver`) and its decoded size.
pub(super) struct SizeWatch {
    observer: Option<JsValue>,
    _callback: Closure<dyn FnMut()>,
    _decoded: EventListener,
    settle: Rc<RefCell<Option<Timeout>>>,
    /// The size last told to the relay.
    pub(super) told: Rc<Cell<Option<(u32, u32)>>>,
}

/// The size `video` takes on the screen, in device pixels.
pub(super) fn shown_size(video: &HtmlVideoElement) -> (u32, u32) {
    let ratio = crate::client::window().device_pixel_ratio().max(1.0);
    let scaled = |css: i32| (f64::from(css.max(0)) * ratio).round() as u32;
    (scaled(video.client_width()), scaled(video.client_height()))
}

impl SizeWatch {
    pub(super) fn new(video: &HtmlVideoElement, viewer: Weak<Viewer>) -> Self {
        let settle = Rc::new(RefCell::new(None));
        let told = Rc::new(Cell::new(None));
        let callback = {
            let (settle, viewer) = (settle.clone(), viewer.clone());
            Closure::<dyn FnMut()>::new(move || {
                let viewer = viewer.clone();
                *settle.borrow_mut() = Some(Timeout::new(SETTLE_MS, move || {
                    if let Some(viewer) = viewer.upgrade() {
                        viewer.tell_size(false);
                    }
                }));
            })
        };
        // Built through Reflect: the web-sys binding would add its own glue to the wasm.
        let observer = Reflect::get(&crate::client::window(), &"ResizeObserver".into())
            .and_then(|ctor| ctor.dyn_into::<Function>())
            .and_then(|ctor| Reflect::construct(&ctor, &Array::of1(callback.as_ref())))
            .ok();
        if let Some(observer) = &observer {
            if let Ok(observe) =
                Reflect::get(observer, &"observe".into()).and_then(|f| f.dyn_into::<Function>())
            {
                let _ = observe.call1(observer, video);
            }
        }
        let decoded = EventListener::new(video, "resize", move |_: web_sys::Event| {
            if let Some(viewer) = viewer.upgrade() {
                viewer.ui().video_height.set(viewer.video.video_height());
            }
        });
        Self {
            observer,
            _callback: callback,
            _decoded: decoded,
            settle,
            told,
        }
    }
}

impl Drop for SizeWatch {
    fn drop(&mut self) {
        self.settle.borrow_mut().take();
        if let Some(observer) = &self.observer {
            if let Ok(disconnect) =
                Reflect::get(observer, &"disconnect".into()).and_then(|f| f.dyn_into::<Function>())
            {
                let _ = disconnect.call0(observer);
            }
        }
    }
}

/// Take in the relay's word on the layer this page gets; `false` for any other message.
pub(super) fn apply(ui: WatchUi, msg: &ServerMessage) -> bool {
    let ServerMessage::Quality { level, of, pinned } = msg else {
        return false;
    };
    ui.quality.set(Some((*level, *of, *pinned)));
    true
}

impl Viewer {
    /// Tell the relay the picture's size on the page, if it changed (or `always`: a new
    /// connection to the relay has not heard it).
    pub(super) fn tell_size(&self, always: bool) {
        let (width, height) = shown_size(&self.video);
        if width == 0 || height == 0 {
            return;
        }
        if !always && self.sizes.told.get() == Some((width, height)) {
            return;
        }
        self.sizes.told.set(Some((width, height)));
        self.send(&ClientMessage::ViewerSize { width, height });
    }

    /// A new connection to the relay: it hears the size and any pinned quality.
    pub(super) fn tell_layer_wishes(&self) {
        self.tell_size(true);
        if let Some(level) = self.ui().pinned.get_untracked() {
            self.send(&ClientMessage::PinQuality { level: Some(level) });
        }
    }

    /// Always get `level`, or (`None`) let the relay choose.
    pub fn pin_quality(&self, level: Option<Level>) {
        self.ui().pinned.set(level);
        self.send(&ClientMessage::PinQuality { level });
    }
}
