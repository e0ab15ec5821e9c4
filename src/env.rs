//! `${NAME}` and `$NAME` in user-written values (a suite's `server` and `context`, the paths
//! in a nats CLI context), replaced by environment variables with one rule everywhere: an
//! unset or empty variable is an error naming it, because a silently empty URL or path is
//! worse than a clear message. A `$` not followed by a name or `{` stays as it is.

/// Expands `text` with this process's environment.
pub(crate) fn expand(text: &str) -> Result<String, String> {
    expand_with(text, |name| std::env::var(name).ok())
}

/// Expands `text` with `lookup` standing in for the environment.
pub(crate) fn expand_with(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let (name, after) =
            variable_at(&rest[pos + 1..]).ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
        match name {
            None => out.push('$'),
            Some(name) => match lookup(name).filter(|value| !value.is_empty()) {
                Some(value) => out.push_str(&value),
                None => {
                    return Err(format!(
                        "environment variable {name} (used in {text:?}) is not set or empty"
                    ));
                }
            },
        }
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// The variable named right after a `$`, and the text after it: `{NAME}` or a run of
/// letters, digits and underscores; no name when neither follows; `None` for an unclosed
/// `{`.
fn variable_at(after: &str) -> Option<(Option<&str>, &str)> {
    if let Some(braced) = after.strip_prefix('{') {
        let end = braced.find('}')?;
        return Some((Some(&braced[..end]), &braced[end + 1..]));
    }
    let len = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(after.len());
    Some(if len == 0 {
        (None, after)
    } else {
        (Some(&after[..len]), &after[len..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Option<String> {
        match name {
            "D" => Some("/data".to_string()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn both_forms_expand() {
        assert_eq!(
            expand_with("$D/x.creds", lookup),
            Ok("/data/x.creds".into())
        );
        assert_eq!(expand_with("${D}x", lookup), Ok("/datax".into()));
        assert_eq!(expand_with("plain", lookup), Ok("plain".into()));
        assert_eq!(expand_with("a$", lookup), Ok("a$".into()));
        assert_eq!(expand_with("a$-b", lookup), Ok("a$-b".into()));
    }

    #[test]
    fn unset_and_empty_variables_are_errors_naming_them() {
        for text in ["$NOPE/x", "${NOPE}", "x${EMPTY}y", "$EMPTY"] {
            let err = expand_with(text, lookup).expect_err(text);
            let name = if text.contains("NOPE") {
                "NOPE"
            } else {
                "EMPTY"
            };
            assert!(err.contains(name), "{text}: {err}");
        }
        assert!(expand_with("${D", lookup).is_err());
    }

    #[test]
    fn the_process_environment_is_used() {
        let path = std::env::var("PATH").expect("PATH is set");
        assert_eq!(expand("a${PATH}b"), Ok(format!("a{path}b")));
        assert!(expand("${NATS_TRACE_SURELY_UNSET}").is_err());
    }
}
