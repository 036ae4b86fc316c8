//! An event listener that owns its closure and removes itself when dropped.

use wasm_bindgen::{closure::Closure, JsCast};
use web_sys::{Event, EventTarget};

pub struct EventListener {
    target: EventTarget,
    event: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl EventListener {
    /// Listen for `event` on `target`; `handler` gets the event cast to `E`.
    pub fn new<E: JsCast>(
        target: &EventTarget,
        event: &'static str,
        mut handler: impl FnMut(E) + 'static,
    ) -> Self {
        let callback =
            Closure::<dyn FnMut(Event)>::new(move |event: Event| handler(event.unchecked_into()));
        // Adding a listener only fails for a non-function, which a Closure never is.
        let _ = target.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref());
        Self {
            target: target.clone(),
            event,
            callback,
        }
    }
}

impl Drop for EventListener {
    fn drop(&mut self) {
        let _ = self.target.remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}
