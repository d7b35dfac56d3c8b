//! Posting NDJSON batches to the gateway: gzip, retries with exponential
//! backoff and jitter (honouring `Retry-After`) on 429, 503 and network
//! errors, and a 400 turned into the CSV lines it names.

use std::io::Write;
use std::time::Duration;

use flate2::write::GzEncoder;
use rand::Rng;
use reqwest::header::{HeaderMap, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;
use shelf_contract::wire::{http_headers, line_ranges};

/// Records of one request, with the CSV line each came from.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub lines: Vec<u64>,
    /// Each row's first byte in the file, beside `lines`.
    pub starts: Vec<u64>,
    pub records: Vec<Value>,
    /// Bytes of CSV behind the batch (for progress).
    pub bytes: u64,
    /// Rows read and rows unparseable in the file up to the batch's last
    /// line: what a checkpoint after this batch may claim.
    pub read_through: u64,
    pub unparseable_through: u64,
}

/// A row the gateway refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub line: u64,
    /// Its first byte in the file.
    pub start: u64,
    pub reason: String,
}

/// How a batch ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: u64,
    /// Rows the gateway refused, with its reason.
    pub refused: Vec<Refused>,
    pub retries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the gateway refused the request: {status} {body}")]
    Refused { status: u16, body: String },
    #[error("the gateway did not accept the batch after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
}

pub struct Sender {
    pub http: reqwest::Client,
    pub url: String,
    pub token: Option<String>,
    pub max_attempts: u32,
    /// The input file, percent-encoded, sent with each record's line so
    /// that downstream rejects name their row (see [`source_header`]).
    pub source: String,
    /// Bodies gzip-compressed, or as they are ([`Compression::gzip_for`]).
    pub gzip: bool,
    /// Where "waiting for the gateway" shows while it cannot be reached.
    pub progress: indicatif::ProgressBar,
}

/// How request bodies travel (`--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Compression {
    Auto,
    Gzip,
    None,
}

impl Compression {
    /// Whether bodies to this gateway URL are gzip-compressed: `Auto`
    /// compresses unless the gateway is on loopback.
    pub fn gzip_for(self, gateway: &str) -> bool {
        match self {
            Compression::Gzip => true,
            Compression::None => false,
            Compression::Auto => {
                let host = reqwest::Url::parse(gateway)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_default();
                let loopback = host == "localhost"
                    || host
                        .trim_matches(|c| c == '[' || c == ']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                !loopback
            }
        }
    }
}

/// One JSON line per record. Writing to memory cannot fail, nor can
/// serialising a `Value`.
fn write_ndjson(out: &mut impl Write, records: &[Value]) {
    for r in records {
        let _ = serde_json::to_writer(&mut *out, r);
        let _ = out.write_all(b"\n");
    }
}

/// `path` made absolute and percent-encoded for the `X-Shelf-Source`
/// header (which takes visible ASCII only).
pub fn source_header(path: &std::path::Path) -> String {
    let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut out = String::new();
    for b in absolute.to_string_lossy().bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Sender {
    /// Sends `batch` until it is accepted. Records the gateway names in a
    /// 400 are taken out and reported; the rest are sent again.
    pub async fn send(&self, mut batch: Batch) -> Result<Outcome, SendError> {
        let mut outcome = Outcome::default();
        let mut backoff = Duration::from_millis(200);
        let mut attempts = 0;
        while !batch.records.is_empty() {
            attempts += 1;
            let wait = match self.post(&batch.records, &batch.lines).await {
                Ok(Answer::Accepted(n)) => {
                    outcome.accepted += n;
                    return Ok(outcome);
                }
                Ok(Answer::BadRecords(bad)) if !bad.is_empty() => {
                    let mut keep = Batch {
                        bytes: batch.bytes,
                        ..Batch::default()
                    };
                    let rows = batch.lines.iter().zip(&batch.starts).zip(batch.records);
                    for (i, ((&line, &start), record)) in rows.enumerate() {
                        match bad.iter().find(|(at, _)| *at == i + 1) {
                            Some((_, reason)) => outcome.refused.push(Refused {
                                line,
                                start,
                                reason: reason.clone(),
                            }),
                            None => {
                                keep.lines.push(line);
                                keep.starts.push(start);
                                keep.records.push(record);
                            }
                        }
                    }
                    batch = keep;
                    continue;
                }
                Ok(Answer::BadRecords(_)) => {
                    return Err(SendError::Refused {
                        status: 400,
                        body: "a 400 naming no record".into(),
                    })
                }
                Ok(Answer::Fatal(status, body)) => return Err(SendError::Refused { status, body }),
                Ok(Answer::Retry(after, why)) => {
                    if attempts >= self.max_attempts {
                        return Err(SendError::GaveUp {
                            attempts,
                            last: why,
                        });
                    }
                    tracing::debug!(why, "retrying");
                    after.unwrap_or(backoff)
                }
                Err(e) => {
                    let why = self.unreachable(&e);
                    if attempts >= self.max_attempts {
                        return Err(SendError::GaveUp {
                            attempts,
                            last: why,
                        });
                    }
                    if attempts == 1 {
                        tracing::warn!("{why}; retrying");
                    }
                    self.progress
                        .set_message(format!("waiting for the gateway ({why})"));
                    backoff
                }
            };
            outcome.retries += 1;
            // Full jitter: clients that failed together do not retry together.
            let jittered = wait.mul_f64(rand::rng().random_range(0.5..1.5));
            tokio::time::sleep(jittered).await;
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
        Ok(outcome)
    }

    /// What went wrong reaching the gateway, in words a user can act on:
    /// the innermost cause (`connection refused`), and the service to
    /// start when nothing listens.
    fn unreachable(&self, e: &reqwest::Error) -> String {
        let mut cause: &dyn std::error::Error = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        let reason = cause.to_string();
        if e.is_connect() {
            format!(
                "cannot connect to {}: {reason}; is `shelf ingest serve` running?",
                self.url
            )
        } else {
            format!("sending to {}: {e}: {reason}", self.url)
        }
    }

    async fn post(&self, records: &[Value], lines: &[u64]) -> Result<Answer, reqwest::Error> {
        let mut request = self
            .http
            .post(&self.url)
            .header(CONTENT_TYPE, "application/x-ndjson");
        request = if self.gzip {
            let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            write_ndjson(&mut gz, records);
            request
                .header(CONTENT_ENCODING, "gzip")
                .body(gz.finish().unwrap_or_default())
        } else {
            let mut body = Vec::with_capacity(records.len() * 512);
            write_ndjson(&mut body, records);
            request.body(body)
        };
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = request
            .header(http_headers::FILE, &self.source)
            .header(http_headers::LINES, line_ranges(lines));
        let response = request.send().await?;
        let status = response.status();
        let after = retry_after(response.headers());
        let text = response.text().await?;
        Ok(match status {
            StatusCode::OK => Answer::Accepted(
                serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["accepted"].as_u64())
                    .unwrap_or(records.len() as u64),
            ),
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                Answer::Retry(after, format!("{status}: {text}"))
            }
            s if s.is_server_error() => Answer::Retry(after, format!("{status}: {text}")),
            StatusCode::BAD_REQUEST => Answer::BadRecords(bad_lines(&text)),
            s => Answer::Fatal(s.as_u16(), text),
        })
    }
}

enum Answer {
    Accepted(u64),
    /// NDJSON line (1-based) and reason of each refused record.
    BadRecords(Vec<(usize, String)>),
    Retry(Option<Duration>, String),
    Fatal(u16, String),
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs_f64(secs.clamp(0.0, 60.0)))
}

fn bad_lines(body: &str) -> Vec<(usize, String)> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    v["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| {
                    let line = e["line"].as_u64()? as usize;
                    Some((line, e["error"].as_str().unwrap_or("refused").to_owned()))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_400_names_ndjson_lines() {
        let body = r#"{"error":"2 invalid records","status":400,"invalid":2,
            "errors":[{"line":2,"error":"no asin"},{"line":5,"error":"not an object"}]}"#;
        assert_eq!(
            bad_lines(body),
            vec![(2, "no asin".into()), (5, "not an object".into())]
        );
        assert!(bad_lines("not json").is_empty());
    }

    #[test]
    fn a_source_header_is_visible_ascii() {
        let h = source_header(std::path::Path::new("/no such/dir/pé%.csv"));
        assert_eq!(h, "/no%20such/dir/p%C3%A9%25.csv");
    }

    #[test]
    fn retry_after_in_seconds() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
    }

    #[test]
    fn auto_compresses_only_for_a_gateway_off_this_machine() {
        use Compression::{Auto, Gzip, None as Plain};
        for (url, gzip) in [
            ("http://127.0.0.1:8080", false),
            ("http://localhost:8080/", false),
            ("http://[::1]:8080", false),
            ("http://127.0.0.2:8080", false),
            ("http://gw.example.com:8080", true),
            ("https://10.0.0.5", true),
            ("not a url", true),
        ] {
            assert_eq!(Auto.gzip_for(url), gzip, "{url}");
        }
        assert!(Gzip.gzip_for("http://127.0.0.1:8080"));
        assert!(!Plain.gzip_for("http://gw:8080"));
    }
}
