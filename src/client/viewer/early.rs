//! A watch page's engine starts before the page hydrates, on the server-rendered `<video>`,
//! and the page adopts it once it does.

use std::{cell::RefCell, rc::Rc};

use wasm_bindgen::JsCast;
use web_sys::HtmlVideoElement;

use super::Viewer;
use crate::{
    client::{json, timer::Timeout},
    protocol::{paths, reader, RoomName},
    ui::watch::{WatchUi, STAGE_ID},
};

/// Longest a watch page waits for the picture before it hydrates anyway.
const HYDRATE_WITHIN_MS: u32 = 1_000;

thread_local! {
    /// The engine a watch page started before it hydrated, for its `WatchPage` to adopt.
    static EARLY: RefCell<Option<(RoomName, Rc<Viewer>)>> = const { RefCell::new(None) };
}

/// On a watch page, start the engine on the server-rendered `<video>` and hydrate (`hydrate`)
/// only once the picture plays, or there is nothing to play. Hydrating is the page's longest
/// task (40-80 ms of the main thread here); run any sooner, it would hold up the offer, the
/// answer, or the first frame, which needs the main thread too. The page's `WatchPage` adopts
/// the engine ([`take_early`]). Elsewhere, hydrate at once.
pub fn start_then(hydrate: impl FnOnce() + 'static) {
    let window = crate::client::window();
    let location = window.location();
    let room = location
        .pathname()
        .ok()
        .and_then(|path| path.strip_prefix("/watch/").map(str::to_owned))
        .and_then(|room| RoomName::parse(&room).ok());
    // The stage's first child is the video, the next one the overlay (see `STAGE_ID`).
    let video = window
        .document()
        .and_then(|doc| doc.get_element_by_id(STAGE_ID))
        .and_then(|stage| stage.first_element_child());
    let overlay = video
        .as_ref()
        .and_then(|video| video.next_element_sibling())
        .and_then(|element| element.dyn_into::<web_sys::HtmlElement>().ok());
    let video = video.and_then(|element| element.dyn_into::<HtmlVideoElement>().ok());
    let (Some(room), Some(video)) = (room, video) else {
        hydrate();
        return;
    };
    // The same key the page reads from its own ?key= (see pages/watch.rs).
    let key = paths::room_key(
        location
            .search()
            .ok()
            .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
            .and_then(|params| params.get(paths::ROOM_KEY_PARAM)),
    );
    // Taken off before hydrating: the page's own view does not have it.
    let page_offer = video.get_attribute("data-page-offer").and_then(|json| {
        let _ = video.remove_attribute("data-page-offer");
        json::parse(&json, reader::page_offer)
            .inspect_err(|err| leptos::logging::warn!("onair: the page's offer: {err}"))
            .ok()
    });
    let engine = Viewer::start(&room, key.as_deref(), page_offer, WatchUi::default(), video);
    *engine.hydrate.borrow_mut() = Some(Box::new(hydrate));
    *engine.overlay.borrow_mut() = overlay;
    let weak = Rc::downgrade(&engine);
    engine.state.borrow_mut().hydrate_deadline = Some(Timeout::new(HYDRATE_WITHIN_MS, move || {
        if let Some(engine) = weak.upgrade() {
            engine.settled();
        }
    }));
    EARLY.with(|slot| *slot.borrow_mut() = Some((room, engine)));
}

/// The engine [`start_then`] started for `room`, once.
pub fn take_early(room: &RoomName) -> Option<Rc<Viewer>> {
    EARLY
        .with(|slot| slot.borrow_mut().take())
        .filter(|(early, _)| early == room)
        .map(|(_, engine)| engine)
}
