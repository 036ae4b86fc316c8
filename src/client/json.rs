//! The browser's side of the protocol reader: JSON parsed by `JSON.parse`, read without serde
//! (see `protocol::reader`).

use wasm_bindgen::{JsCast, JsValue};

use crate::protocol::reader::{JsonValue, ReadError};

/// A value `JSON.parse` made. (A local wrapper: the reader's trait and `JsValue` are both
/// foreign to this crate.)
pub struct Json(JsValue);

impl JsonValue for Json {
    fn field(&self, name: &str) -> Option<Self> {
        js_sys::Reflect::get(&self.0, &name.into())
            .ok()
            .filter(|v| !v.is_undefined() && !v.is_null())
            .map(Json)
    }
    fn string(&self) -> Option<String> {
        self.0.as_string()
    }
    fn number(&self) -> Option<f64> {
        self.0.as_f64()
    }
    fn boolean(&self) -> Option<bool> {
        self.0.as_bool()
    }
    fn items(&self) -> Option<Vec<Self>> {
        self.0
            .dyn_ref::<js_sys::Array>()
            .map(|list| list.iter().map(Json).collect())
    }
}

/// Parse `text` with the browser's `JSON.parse`, then read it with `read`.
pub fn parse<T>(text: &str, read: fn(&Json) -> Result<T, ReadError>) -> Result<T, ReadError> {
    let value = js_sys::JSON::parse(text).map_err(|_| ReadError::new("not JSON"))?;
    read(&Json(value))
}
