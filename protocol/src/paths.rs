//! Where the pages reach the server, and the `?key=` a private room's links carry.

/// The signaling socket of a room is at `/ws/<room>`.
pub const SOCKET_PREFIX: &str = "/ws/";
/// Server-sent events: the live room list, whenever it changes.
pub const ROOM_EVENTS: &str = "/api/rooms/events";
/// The live room list, as JSON, once (every node's rooms, with several).
pub const ROOMS: &str = "/api/rooms";
/// Rooms the pre-flight check (`/check`) loops its camera through start so; the room list
/// does not show them.
pub const CHECK_ROOM_PREFIX: &str = "onair-check-";
/// The pre-flight check's page.
pub const CHECK_PAGE: &str = "/check";
/// The query parameter of a private room's key: `/watch/ROOM?key=…`, `/ws/ROOM?key=…`.
pub const ROOM_KEY_PARAM: &str = "key";

/// A room's recordings (`--record`): `/recordings/ROOM` lists them, `/recordings/ROOM/FILE`
/// is one; `key` (the publish key, if the room has one) goes along as `?key=`.
pub fn recordings(room: &str, file: Option<&str>, key: &str) -> String {
    let mut url = format!("/recordings/{room}");
    if let Some(file) = file {
        url.push('/');
        url.push_str(file);
    }
    if !key.is_empty() {
        url.push_str("?key=");
        escape_into(&mut url, key);
    }
    url
}

/// A QR code of `text` (a watch link, at most [`MAX_QR_BYTES`]), as an SVG image.
pub fn qr_code(text: &str) -> String {
    let mut url = String::from("/qr.svg?text=");
    escape_into(&mut url, text);
    url
}

/// Longest text `/qr.svg` encodes.
pub const MAX_QR_BYTES: usize = 1024;

/// `text` percent-encoded for a query value.
fn escape_into(url: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
}

/// The room key from the value of a link's `?key=`: an empty one counts as none, and one over
/// [`MAX_KEY_BYTES`](crate::MAX_KEY_BYTES) can match no key.
pub fn room_key(value: Option<String>) -> Option<String> {
    value.filter(|key| !key.is_empty() && key.len() <= crate::MAX_KEY_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recordings_url_carries_the_key_escaped() {
        assert_eq!(recordings("class", None, ""), "/recordings/class");
        assert_eq!(
            recordings("class", Some("class-20261201T170425Z.webm"), "a b&c"),
            "/recordings/class/class-20261201T170425Z.webm?key=a%20b%26c"
        );
    }

    #[test]
    fn a_qr_code_url_carries_its_text_escaped() {
        assert_eq!(
            qr_code("http://10.0.0.2:3000/watch/a?key=b"),
            "/qr.svg?text=http%3A%2F%2F10.0.0.2%3A3000%2Fwatch%2Fa%3Fkey%3Db"
        );
    }

    #[test]
    fn empty_and_oversized_keys_count_as_none() {
        assert_eq!(room_key(Some("k3y".into())), Some("k3y".into()));
        assert_eq!(room_key(Some(String::new())), None);
        assert_eq!(room_key(Some("k".repeat(crate::MAX_KEY_BYTES + 1))), None);
        assert_eq!(room_key(None), None);
    }
}
