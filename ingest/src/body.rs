//! Content negotiation and decompression of a request body.

use std::io::Read;

use crate::records::Format;

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("unsupported Content-Type {0:?}: send application/json or application/x-ndjson")]
    UnsupportedType(String),
    #[error("unsupported Content-Encoding {0:?}: send gzip or no encoding")]
    UnsupportedEncoding(String),
    #[error("body is over the limit of {limit} bytes")]
    TooLarge { limit: usize },
    #[error("body is not valid gzip: {0}")]
    BadGzip(String),
}

/// The record format named by a `Content-Type` header.
pub fn format_of(content_type: Option<&str>) -> Result<Format, BodyError> {
    let Some(value) = content_type else {
        return Err(BodyError::UnsupportedType("(none)".into()));
    };
    let mime = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Format::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines" => Ok(Format::NdJson),
        _ => Err(BodyError::UnsupportedType(value.to_owned())),
    }
}

/// Undoes the `Content-Encoding`, refusing bodies that would decompress to
/// more than `limit` bytes (so that a small gzip bomb cannot exhaust memory).
pub fn decode(
    encoding: Option<&str>,
    raw: bytes::Bytes,
    limit: usize,
) -> Result<bytes::Bytes, BodyError> {
    let encoding = encoding.map(|e| e.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => {
            if raw.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(raw)
        }
        Some("gzip") | Some("x-gzip") => {
            let mut out = Vec::with_capacity((raw.len() * 4).min(limit));
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| BodyError::BadGzip(e.to_string()))?;
            if out.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(out.into())
        }
        Some(other) => Err(BodyError::UnsupportedEncoding(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> bytes::Bytes {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap().into()
    }

    #[test]
    fn content_types() {
        assert_eq!(
            format_of(Some("application/json; charset=utf-8")),
            Ok(Format::Json)
        );
        assert_eq!(format_of(Some("Application/X-NDJSON")), Ok(Format::NdJson));
        assert!(matches!(
            format_of(Some("text/csv")),
            Err(BodyError::UnsupportedType(_))
        ));
        assert!(matches!(
            format_of(None),
            Err(BodyError::UnsupportedType(_))
        ));
    }

    #[test]
    fn gzip_round_trip_and_bomb_limit() {
        let data = b"{\"asin\":\"A\"}\n".repeat(100);
        assert_eq!(decode(Some("gzip"), gzip(&data), 10_000).unwrap(), data);
        assert_eq!(
            decode(Some("gzip"), gzip(&data), data.len() - 1),
            Err(BodyError::TooLarge {
                limit: data.len() - 1
            })
        );
        assert!(matches!(
            decode(Some("gzip"), bytes::Bytes::from_static(b"nope"), 100),
            Err(BodyError::BadGzip(_))
        ));
        assert!(matches!(
            decode(Some("br"), gzip(&data), 100),
            Err(BodyError::UnsupportedEncoding(_))
        ));
        assert_eq!(
            decode(None, bytes::Bytes::from_static(b"abc"), 2),
            Err(BodyError::TooLarge { limit: 2 })
        );
    }
}
