//! WebSocket close codes the server uses, and which of them the pages give up after.

pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
/// Application code: the room has its maximum of viewers.
pub const ROOM_FULL: u16 = 4001;
/// Application code: the room is private and the key was missing or wrong.
pub const PRIVATE: u16 = 4003;

/// Whether reconnecting after a close with `code` cannot help: the room is full, or private
/// and the page has no good key.
pub fn is_final(code: u16) -> bool {
    matches!(code, ROOM_FULL | PRIVATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_and_private_rooms_are_final() {
        assert!(is_final(ROOM_FULL) && is_final(PRIVATE));
        for code in [GOING_AWAY, PROTOCOL_ERROR, POLICY, TOO_BIG, 1000, 1006] {
            assert!(!is_final(code), "{code}");
        }
    }
}
