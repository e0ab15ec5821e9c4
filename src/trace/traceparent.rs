//! W3C Trace Context `traceparent` values (`00-<trace-id>-<parent-id>-<flags>`): parsing
//! what applications send (ADR-41 "Trace Context activation" traces a message whose
//! `traceparent` has the sampled flag), and making fresh sampled ones for
//! `trace --traceparent`. Parsing follows the W3C rules: lower-case hex only, all-zero ids
//! invalid, version `ff` invalid; a future version may carry more fields after the flags.

use std::fmt;

/// The header carrying it, as applications write it.
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// A parsed `traceparent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceParent {
    pub version: u8,
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

/// Why a `traceparent` value is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceParentError {
    #[error("expected version-traceid-parentid-flags (00-<32 hex>-<16 hex>-<2 hex>)")]
    Shape,
    #[error("{0} is not lower-case hex of the right length")]
    Hex(&'static str),
    #[error("version ff is not allowed")]
    Version,
    #[error("the {0} is all zeros")]
    Zero(&'static str),
}

impl TraceParent {
    /// Parses a `traceparent` header value (surrounding spaces allowed).
    pub fn parse(text: &str) -> Result<TraceParent, TraceParentError> {
        let mut parts = text.trim().split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TraceParentError::Shape);
        };
        let version = hex_array::<1>(version, "the version")?[0];
        if version == 0xff {
            return Err(TraceParentError::Version);
        }
        // Version 00 has exactly four fields; later versions may append more.
        if version == 0 && parts.next().is_some() {
            return Err(TraceParentError::Shape);
        }
        let trace_id = hex_array::<16>(trace, "the trace-id")?;
        let parent_id = hex_array::<8>(parent, "the parent-id")?;
        let flags = hex_array::<1>(flags, "the flags")?[0];
        if trace_id == [0; 16] {
            return Err(TraceParentError::Zero("trace-id"));
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::Zero("parent-id"));
        }
        Ok(TraceParent {
            version,
            trace_id,
            parent_id,
            flags,
        })
    }

    /// A fresh, sampled `traceparent` with random ids.
    pub fn new_sampled() -> Result<TraceParent, getrandom::Error> {
        let mut bytes = [0u8; 24];
        loop {
            getrandom::fill(&mut bytes)?;
            let mut trace_id = [0u8; 16];
            let mut parent_id = [0u8; 8];
            trace_id.copy_from_slice(&bytes[..16]);
            parent_id.copy_from_slice(&bytes[16..]);
            if trace_id != [0; 16] && parent_id != [0; 8] {
                return Ok(TraceParent {
                    version: 0,
                    trace_id,
                    parent_id,
                    flags: 1,
                });
            }
        }
    }

    /// Bit 0 of the flags: the caller sampled this trace (servers trace only these).
    pub fn is_sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace-id as 32 lower-case hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The parent-id as 16 lower-case hex digits.
    pub fn parent_id_hex(&self) -> String {
        hex(&self.parent_id)
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:02x}-{}-{}-{:02x}",
            self.version,
            hex(&self.trace_id),
            hex(&self.parent_id),
            self.flags
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// `N` bytes from exactly `2N` lower-case hex digits.
fn hex_array<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], TraceParentError> {
    let digits = text.as_bytes();
    if digits.len() != 2 * N {
        return Err(TraceParentError::Hex(what));
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let high = nibble(pair[0]).ok_or(TraceParentError::Hex(what))?;
        let low = nibble(pair[1]).ok_or(TraceParentError::Hex(what))?;
        out[i] = high << 4 | low;
    }
    Ok(out)
}

fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn parses_and_prints_the_w3c_example() {
        let tp = TraceParent::parse(EXAMPLE).expect("valid");
        assert_eq!(tp.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(tp.parent_id_hex(), "00f067aa0ba902b7");
        assert!(tp.is_sampled());
        assert_eq!(tp.to_string(), EXAMPLE);
        let unsampled = TraceParent::parse(&EXAMPLE.replace("-01", "-00")).expect("valid");
        assert!(!unsampled.is_sampled());
    }

    #[test]
    fn rejects_malformed_values() {
        let cases = [
            ("", TraceParentError::Shape),
            ("00-abc", TraceParentError::Shape),
            (
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                TraceParentError::Hex("the trace-id"),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
                TraceParentError::Hex("the trace-id"),
            ),
            (
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                TraceParentError::Zero("trace-id"),
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                TraceParentError::Zero("parent-id"),
            ),
            (
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                TraceParentError::Version,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                TraceParentError::Shape,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
                TraceParentError::Hex("the flags"),
            ),
        ];
        for (text, wanted) in cases {
            assert_eq!(TraceParent::parse(text), Err(wanted), "{text:?}");
        }
        // A later version may carry more fields.
        assert!(
            TraceParent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x").is_ok()
        );
    }

    #[test]
    fn fresh_values_are_sampled_and_differ() {
        let a = TraceParent::new_sampled().expect("random");
        let b = TraceParent::new_sampled().expect("random");
        assert!(a.is_sampled());
        assert_ne!(a.trace_id, b.trace_id);
        assert_eq!(TraceParent::parse(&a.to_string()), Ok(a));
    }
}
