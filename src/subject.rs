//! Validation of the subject a message is published to.

use crate::error::Error;

/// Checks that `subject` is a valid publish subject: non-empty tokens, no wildcards, no
/// whitespace or control characters.
pub(crate) fn validate_publish_subject(subject: &str) -> Result<(), Error> {
    let bad = |why: &str| {
        Err(Error::Usage(format!(
            "invalid subject {}: {why}",
            crate::text::go_quote(subject)
        )))
    };
    if subject.is_empty() {
        return bad("it is empty");
    }
    if subject.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or control characters");
    }
    for token in subject.split('.') {
        match token {
            "" => return bad("it has an empty token"),
            "*" | ">" => return bad("wildcards cannot be published to"),
            _ => {}
        }
    }
    Ok(())
}

/// True when the subscription subject `pattern` (which may hold `*` and `>`) matches the
/// literal `subject`.
pub(crate) fn subject_matches(pattern: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for wanted in pattern.split('.') {
        match (wanted, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (w, Some(t)) if w == t => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_nats() {
        assert!(subject_matches("orders.new", "orders.new"));
        assert!(subject_matches("orders.*", "orders.new"));
        assert!(subject_matches("orders.>", "orders.new.eu"));
        assert!(subject_matches(">", "a"));
        assert!(!subject_matches("orders.>", "orders"));
        assert!(!subject_matches("orders.*", "orders.new.eu"));
        assert!(!subject_matches("orders.new", "orders"));
        assert!(!subject_matches("orders", "orders.new"));
    }

    #[test]
    fn accepts_plain_subjects() {
        for ok in ["orders", "orders.new", "a.b.c", "$JS.API.INFO", "a*b.c"] {
            assert!(validate_publish_subject(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_wildcards_empty_tokens_and_spaces() {
        for bad in [
            "", "orders.*", ">", "orders.>", "a..b", ".a", "a.", "a b", "a\tb",
        ] {
            let err = validate_publish_subject(bad).expect_err(bad);
            assert!(err.to_string().starts_with("invalid subject"), "{err}");
        }
    }
}
