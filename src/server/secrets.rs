//! Secrets: publish keys, room keys, reclaim tokens and tickets, compared in constant time.

use subtle::ConstantTimeEq;

/// Whether `given` is the secret `expected`, in time that does not depend on where they
/// differ. Nothing given never matches.
pub fn equal(expected: &str, given: Option<&str>) -> bool {
    let given = given.unwrap_or_default();
    !expected.is_empty() && bool::from(expected.as_bytes().ct_eq(given.as_bytes()))
}

/// A fresh unguessable token (122 random bits), for reclaim tokens and tickets.
pub fn new_token() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_secret_matches() {
        assert!(equal("s3cret", Some("s3cret")));
        assert!(!equal("s3cret", Some("s3cre")));
        assert!(!equal("s3cret", Some("s3cret!")));
        assert!(!equal("s3cret", None));
        assert!(!equal("", Some("")), "an empty secret is no secret");
        assert_ne!(new_token(), new_token());
    }
}
