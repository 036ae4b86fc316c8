//! Capture times on the wire: the `abs-capture-time` RTP header extension, which Chromium
//! knows but does not offer by default. Each frame then carries when it was captured, from
//! the broadcaster through the relay to the viewer, which shows its delay behind live by it.
//! Browsers without `setHeaderExtensionsToNegotiate` (Firefox) go on without it.

use wasm_bindgen::{JsCast, JsValue};
use web_sys::RtcRtpTransceiver;

const ABS_CAPTURE_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time";

/// Negotiate capture times on `transceiver` (before its offer or answer is made).
pub fn want_capture_times(transceiver: &RtcRtpTransceiver) {
    let _ = try_want(transceiver);
}

fn try_want(transceiver: &RtcRtpTransceiver) -> Result<(), JsValue> {
    let get = js_sys::Reflect::get(transceiver, &"getHeaderExtensionsToNegotiate".into())?;
    let set = js_sys::Reflect::get(transceiver, &"setHeaderExtensionsToNegotiate".into())?;
    let (Some(get), Some(set)) = (
        get.dyn_ref::<js_sys::Function>(),
        set.dyn_ref::<js_sys::Function>(),
    ) else {
        return Ok(());
    };
    let extensions: js_sys::Array = get.call0(transceiver)?.dyn_into()?;
    for extension in extensions.iter() {
        let uri = js_sys::Reflect::get(&extension, &"uri".into())?;
        if uri.as_string().as_deref() == Some(ABS_CAPTURE_TIME) {
            js_sys::Reflect::set(&extension, &"direction".into(), &"sendrecv".into())?;
        }
    }
    set.call1(transceiver, &extensions)?;
    Ok(())
}

/// Every transceiver of `pc` (a watch page's, before it answers).
pub fn want_capture_times_on_all(pc: &web_sys::RtcPeerConnection) {
    for transceiver in pc.get_transceivers().iter() {
        if let Ok(transceiver) = transceiver.dyn_into::<RtcRtpTransceiver>() {
            want_capture_times(&transceiver);
        }
    }
}
