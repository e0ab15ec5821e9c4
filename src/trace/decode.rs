//! Decoding of a trace message's payload by its `Content-Encoding` header: the snappy
//! framing format (what nats-server writes for `snappy`), gzip, or none/`identity`.
//! Output is bounded so that a decompression bomb cannot exhaust memory.

use std::io::Read;

/// The largest decompressed trace message accepted, in bytes.
pub const MAX_DECODED_BYTES: u64 = 16 * 1024 * 1024;

/// Compression to ask the servers for with `Accept-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Snappy,
    Gzip,
    None,
}

impl Compression {
    /// The `Accept-Encoding` value to send, if any.
    pub fn accept_encoding(self) -> Option<&'static str> {
        match self {
            Compression::Snappy => Some("snappy"),
            Compression::Gzip => Some("gzip"),
            Compression::None => None,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("unsupported Content-Encoding {0:?}")]
    UnsupportedEncoding(String),
    #[error("corrupt {encoding} data: {detail}")]
    Corrupt {
        encoding: &'static str,
        detail: String,
    },
    #[error("decompressed trace message is larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

/// Decodes `payload` as announced by `content_encoding` (`None` when the header is absent).
pub fn decode(content_encoding: Option<&str>, payload: &[u8]) -> Result<Vec<u8>, DecodeError> {
    decode_with_limit(content_encoding, payload, MAX_DECODED_BYTES)
}

/// As [`decode`], with an explicit bound on the decoded size.
pub fn decode_with_limit(
    content_encoding: Option<&str>,
    payload: &[u8],
    limit: u64,
) -> Result<Vec<u8>, DecodeError> {
    let encoding = content_encoding.map(str::trim).unwrap_or("");
    if encoding.is_empty() || encoding.eq_ignore_ascii_case("identity") {
        if payload.len() as u64 > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        return Ok(payload.to_vec());
    }
    if encoding.eq_ignore_ascii_case("snappy") || encoding.eq_ignore_ascii_case("s2") {
        read_bounded(snap::read::FrameDecoder::new(payload), "snappy", limit)
    } else if encoding.eq_ignore_ascii_case("gzip") {
        read_bounded(flate2::read::GzDecoder::new(payload), "gzip", limit)
    } else {
        Err(DecodeError::UnsupportedEncoding(encoding.to_string()))
    }
}

fn read_bounded(
    reader: impl Read,
    encoding: &'static str,
    limit: u64,
) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Corrupt {
            encoding,
            detail: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    if out.is_empty() {
        return Err(DecodeError::Corrupt {
            encoding,
            detail: "no data".to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const JSON: &[u8] = br#"{"server":{"name":"n1"},"events":[]}"#;

    fn snappy(data: &[u8]) -> Vec<u8> {
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(data).expect("write");
        w.into_inner().expect("finish")
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        w.write_all(data).expect("write");
        w.finish().expect("finish")
    }

    #[test]
    fn every_encoding_gives_back_the_json() {
        assert_eq!(decode(None, JSON).as_deref(), Ok(JSON));
        assert_eq!(decode(Some("identity"), JSON).as_deref(), Ok(JSON));
        assert_eq!(decode(Some("snappy"), &snappy(JSON)).as_deref(), Ok(JSON));
        assert_eq!(decode(Some("gzip"), &gzip(JSON)).as_deref(), Ok(JSON));
    }

    #[test]
    fn corrupt_data_is_an_error_not_a_panic() {
        let mut broken = snappy(JSON);
        let last = broken.len() - 1;
        broken[last] ^= 0xff;
        assert!(matches!(
            decode(Some("snappy"), &broken),
            Err(DecodeError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(Some("gzip"), b"not gzip"),
            Err(DecodeError::Corrupt { .. })
        ));
        assert!(matches!(
            decode(Some("snappy"), b""),
            Err(DecodeError::Corrupt { .. })
        ));
        assert_eq!(
            decode(Some("brotli"), JSON),
            Err(DecodeError::UnsupportedEncoding("brotli".into()))
        );
    }

    #[test]
    fn a_decompression_bomb_is_refused() {
        let bomb = gzip(&vec![b'a'; 1 << 20]);
        assert!(bomb.len() < 4096);
        assert_eq!(
            decode_with_limit(Some("gzip"), &bomb, 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        );
        assert_eq!(
            decode_with_limit(Some("snappy"), &snappy(&vec![0; 5000]), 1000),
            Err(DecodeError::TooLarge { limit: 1000 })
        );
    }
}
