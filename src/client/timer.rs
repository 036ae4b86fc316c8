//! A `setTimeout` that is cancelled when dropped, and a sleep for async code.

use wasm_bindgen::{closure::Closure, JsCast, JsValue};

pub struct Timeout {
    id: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    pub fn new(millis: u32, callback: impl FnOnce() + 'static) -> Self {
        let mut callback = Some(callback);
        let callback = Closure::<dyn FnMut()>::new(move || {
            if let Some(callback) = callback.take() {
                callback();
            }
        });
        let id = super::window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                i32::try_from(millis).unwrap_or(i32::MAX),
            )
            .unwrap_or_default();
        Self {
            id,
            _callback: callback,
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        super::window().clear_timeout_with_handle(self.id);
    }
}

/// Resolves after `millis`.
pub async fn sleep(millis: u32) {
    let wait = js_sys::Promise::new(&mut |resolve, _reject| {
        let _ = super::window().set_timeout_with_callback_and_timeout_and_arguments_0(
            &resolve,
            i32::try_from(millis).unwrap_or(i32::MAX),
        );
    });
    let _ = wasm_bindgen_futures::JsFuture::from(wait).await;
}

/// A promise that rejects with `reason` after `millis`, for racing against one that may never
/// settle (a permission prompt nobody answers).
pub fn reject_after(millis: i32, reason: &'static str) -> js_sys::Promise {
    js_sys::Promise::new(&mut |_resolve, reject| {
        let reason = JsValue::from_str(reason);
        let _ = super::window()
            .set_timeout_with_callback_and_timeout_and_arguments_1(&reject, millis, &reason);
    })
}
