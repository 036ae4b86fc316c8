//! The values of single flags: each parser says in a sentence what it wanted instead.

use crate::protocol::{MediaMode, RoomName, MAX_KEY_BYTES};

/// An `http://` or `https://` URL, without a trailing slash.
pub(super) fn public_url(text: &str) -> Result<String, String> {
    let url = text.trim().trim_end_matches('/');
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("give the whole address, starting with http:// or https://")?;
    if rest.is_empty() || rest.contains(char::is_whitespace) {
        return Err("that is not an address".into());
    }
    Ok(url.to_owned())
}

pub(super) fn parse_ice_url(url: &str) -> Result<String, String> {
    let url = url.trim();
    if ["stun:", "stuns:", "turn:", "turns:"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len())
    {
        Ok(url.to_owned())
    } else {
        Err(format!(
            "{url:?} is not a STUN/TURN URL (expected stun:host:port or turn:host:port)"
        ))
    }
}

pub(super) fn parse_media(mode: &str) -> Result<MediaMode, String> {
    mode.parse()
        .map_err(|_| format!("{mode:?} is not a media mode (expected sfu or p2p)"))
}

pub(super) fn parse_key(key: &str) -> Result<String, String> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!("a key must be 1-{MAX_KEY_BYTES} bytes"));
    }
    Ok(key.to_owned())
}

pub(super) fn parse_room_key(spec: &str) -> Result<(String, String), String> {
    let (room, key) = spec
        .split_once('=')
        .ok_or_else(|| format!("{spec:?} is not ROOM=KEY"))?;
    RoomName::parse(room).map_err(|err| format!("{room:?} is not a valid room name: {err}"))?;
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(format!(
            "the key for {room:?} must be 1-{MAX_KEY_BYTES} bytes"
        ));
    }
    Ok((room.to_owned(), key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_is_a_whole_http_address_without_its_last_slash() {
        assert_eq!(
            public_url(" https://live.example.org/ "),
            Ok("https://live.example.org".into())
        );
        assert_eq!(
            public_url("http://10.0.0.2:3000"),
            Ok("http://10.0.0.2:3000".into())
        );
        assert!(public_url("live.example.org").is_err());
        assert!(public_url("https://").is_err());
        assert!(public_url("https://a b").is_err());
    }
}
