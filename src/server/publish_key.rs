//! Publish keys and reclaim tokens: secrets compared in constant time.

use subtle::ConstantTimeEq;

/// Whether `given` is `expected`, in time that does not depend on where they differ.
pub fn matches(expected: &str, given: Option<&str>) -> bool {
    let given = given.unwrap_or_default();
    bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A fresh unguessable token (122 random bits).
pub fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_key_matches() {
        assert!(matches("s3cret", Some("s3cret")));
        assert!(!matches("s3cret", Some("s3cre")));
        assert!(!matches("s3cret", Some("s3cret!")));
        assert!(!matches("s3cret", None));
        assert_ne!(new_token(), new_token());
    }
}
