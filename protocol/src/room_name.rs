//! The one rule for room names, used by the pages, the server functions and the signaling hub.

use std::fmt;

/// Longest room name we accept.
pub const MAX_LEN: usize = 64;

/// A room name that passed [`RoomName::parse`]: 1–64 characters of `[A-Za-z0-9_-]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoomName(String);

/// Why a room name was refused; the text is shown to users as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoomNameError {
    Empty,
    TooLong,
    BadCharacter(char),
}

impl fmt::Display for RoomNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "a room name cannot be empty"),
            Self::TooLong => write!(f, "a room name is at most {MAX_LEN} characters"),
            Self::BadCharacter(c) => {
                write!(f, "{c:?} is not allowed: use letters, digits, '-' and '_'")
            }
        }
    }
}

impl std::error::Error for RoomNameError {}

impl RoomName {
    pub fn parse(name: &str) -> Result<Self, RoomNameError> {
        if name.is_empty() {
            return Err(RoomNameError::Empty);
        }
        if let Some(c) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
        {
            return Err(RoomNameError::BadCharacter(c));
        }
        // All characters are ASCII here, so bytes == characters.
        if name.len() > MAX_LEN {
            return Err(RoomNameError::TooLong);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_allowed_alphabet() {
        for ok in ["a", "Z", "0", "-", "_", "all-hands_2026", &"x".repeat(64)] {
            assert_eq!(
                RoomName::parse(ok).map(|r| r.to_string()),
                Ok(ok.to_string())
            );
        }
    }

    #[test]
    fn refuses_empty_long_and_foreign_characters() {
        assert_eq!(RoomName::parse(""), Err(RoomNameError::Empty));
        assert_eq!(
            RoomName::parse(&"x".repeat(65)),
            Err(RoomNameError::TooLong)
        );
        for (bad, c) in [
            ("a b", ' '),
            ("a/b", '/'),
            ("café", 'é'),
            ("a.b", '.'),
            ("%2e", '%'),
        ] {
            assert_eq!(
                RoomName::parse(bad),
                Err(RoomNameError::BadCharacter(c)),
                "{bad}"
            );
        }
        // A long name of multibyte characters is refused for its characters, not its length.
        assert!(matches!(
            RoomName::parse(&"é".repeat(40)),
            Err(RoomNameError::BadCharacter('é'))
        ));
    }
}
