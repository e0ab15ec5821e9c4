//! Text from the network made safe to print: Go-style `%q` quoting (what the nats CLI uses
//! for names and subjects) and plain sanitising, both of which neutralise control characters
//! and terminal escape sequences.

use std::fmt::Write;

/// Quotes like Go's `%q`: `"name"`, with `"` and `\` escaped, control and non-printable
/// characters written as `\n`, `\x1b`, `\u200b` and so on.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_quoted(&mut out, s);
    out
}

/// Appends `s` quoted as [`go_quote`] does.
pub fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    // Fast path: printable ASCII without quotes or backslashes is copied as it is.
    if s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push_str(s);
    } else {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                _ => push_escaped(out, c),
            }
        }
    }
    out.push('"');
}

/// Returns `s` with control and non-printable characters escaped as in [`go_quote`], but
/// without surrounding quotes; printable text is unchanged.
pub fn sanitize(s: &str) -> String {
    if s.chars().all(is_printable) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_escaped(&mut out, c);
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if is_printable(c) => out.push(c),
        c if (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) <= 0xffff => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

/// True when `text` can be written to a terminal as is: no control character other than a
/// newline, no escape sequence introducer, bidi override or zero-width mark.
pub fn is_terminal_safe(text: &str) -> bool {
    text.chars().all(|c| c == '\n' || is_printable(c))
}

/// Printable for a terminal: no C0/C1 controls, DEL, bidi overrides or zero-width marks.
fn is_printable(c: char) -> bool {
    !(c.is_control()
        || matches!(c as u32, 0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x2069 | 0xfeff))
}

/// Cuts `text` to at most `max` bytes (at a character boundary), ending in `…` when cut.
pub(crate) fn cut_with_ellipsis(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
}

/// `1234567` → `1,234,567`.
pub(crate) fn with_commas(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(with_commas(7), "7");
        assert_eq!(with_commas(1000), "1,000");
        assert_eq!(with_commas(1234567), "1,234,567");
    }

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("worker"), "\"worker\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("déjà vu"), "\"déjà vu\"");
        assert_eq!(go_quote("tab\there"), "\"tab\\there\"");
    }

    #[test]
    fn escape_sequences_are_neutralised() {
        let hostile = "evil\x1b[31mred\x1b[2J\u{9b}\u{202e}";
        for shown in [go_quote(hostile), sanitize(hostile)] {
            assert!(!shown.chars().any(|c| c.is_control()), "{shown:?}");
            assert!(shown.contains("\\x1b[31m"), "{shown:?}");
            assert!(shown.contains("\\u202e"), "{shown:?}");
        }
        assert_eq!(sanitize("plain text"), "plain text");
    }
}
