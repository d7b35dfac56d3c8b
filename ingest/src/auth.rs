//! Bearer tokens and per-client rate limits.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Who is calling, for rate limits and logs: the token's index when auth is
/// on (never the token itself), the peer address otherwise.
pub type ClientId = String;

/// The configured bearer tokens; `None` lets everyone in.
#[derive(Debug, Default)]
pub struct Tokens {
    tokens: Option<Vec<Token>>,
}

/// A token as configured: the token itself, or `sha256:<64 hex digits>`,
/// its SHA-256, so that the tokens file need not hold the secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Token {
    Plain(String),
    Sha256([u8; 32]),
}

impl Token {
    fn parse(text: &str) -> Self {
        text.strip_prefix("sha256:")
            .and_then(parse_sha256)
            .map_or_else(|| Self::Plain(text.to_owned()), Self::Sha256)
    }

    fn matches(&self, presented: &str, presented_sha256: &[u8; 32]) -> bool {
        match self {
            Self::Plain(t) => constant_time_eq(t.as_bytes(), presented.as_bytes()),
            Self::Sha256(h) => constant_time_eq(h, presented_sha256),
        }
    }
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

impl Tokens {
    pub fn open() -> Self {
        Self { tokens: None }
    }

    pub fn required(tokens: impl IntoIterator<Item = String>) -> Self {
        let set: HashSet<Token> = tokens
            .into_iter()
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .map(|t| Token::parse(&t))
            .collect();
        Self {
            tokens: Some(set.into_iter().collect()),
        }
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_none()
    }

    /// Checks an `Authorization` header; returns who the client is.
    pub fn authenticate(&self, header: Option<&str>, peer: IpAddr) -> Option<ClientId> {
        let Some(tokens) = &self.tokens else {
            return Some(peer.to_string());
        };
        let presented = header?
            .strip_prefix("Bearer ")
            .or_else(|| header?.strip_prefix("bearer "))?
            .trim();
        let presented_sha256: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        tokens
            .iter()
            .position(|t| t.matches(presented, &presented_sha256))
            .map(|i| format!("token#{i}"))
    }
}

/// Compares without an early exit, so response timing says nothing about how
/// much of a token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A token bucket per client, counting records. A request may take the
/// bucket below zero (so a batch larger than the burst still passes once);
/// the client then waits until it is positive again.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<ClientId, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Buckets kept before full ones are forgotten.
const MAX_CLIENTS: usize = 10_000;

impl RateLimiter {
    /// `per_second` records per second per client; 0 disables the limit.
    pub fn new(per_second: f64) -> Self {
        Self {
            per_second,
            burst: per_second.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `records` from the client's bucket, or says how long to wait.
    pub fn take(&self, client: &str, records: usize, now: Instant) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_CLIENTS && !buckets.contains_key(client) {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, b| b.tokens + rate * now.duration_since(b.at).as_secs_f64() < burst);
        }
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled =
            bucket.tokens + self.per_second * now.duration_since(bucket.at).as_secs_f64();
        bucket.tokens = refilled.min(self.burst);
        bucket.at = now;
        if bucket.tokens <= 0.0 {
            let wait = -bucket.tokens / self.per_second;
            return Err(Duration::from_secs_f64(wait.max(0.001)));
        }
        bucket.tokens -= records as f64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn hashed_tokens_let_their_token_in() {
        // Another client's token, hashed.
        let hashed = format!("sha256:{}", "ab".repeat(32));
        let real: String = Sha256::digest(b"s3cret")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let t = Tokens::required([format!("sha256:{real}"), hashed]);
        assert!(t.authenticate(Some("Bearer s3cret"), PEER).is_some());
        assert!(t.authenticate(Some("Bearer s3cre"), PEER).is_none());
        // The hash itself is not a token.
        assert!(t
            .authenticate(Some(&format!("Bearer sha256:{real}")), PEER)
            .is_none());
        assert!(t
            .authenticate(Some(&format!("Bearer {real}")), PEER)
            .is_none());
        // Not 64 hex digits: an ordinary token that happens to start so.
        let plain = Tokens::required(["sha256:short".to_owned()]);
        assert!(plain
            .authenticate(Some("Bearer sha256:short"), PEER)
            .is_some());
    }

    #[test]
    fn tokens() {
        let t = Tokens::required(["s3cret".to_owned(), " other ".to_owned(), "".to_owned()]);
        assert!(t.authenticate(Some("Bearer s3cret"), PEER).is_some());
        assert!(t.authenticate(Some("Bearer other"), PEER).is_some());
        assert!(t.authenticate(Some("Bearer s3cre"), PEER).is_none());
        assert!(t.authenticate(Some("Basic s3cret"), PEER).is_none());
        assert!(t.authenticate(None, PEER).is_none());
        assert_eq!(
            Tokens::open().authenticate(None, PEER).as_deref(),
            Some("127.0.0.1")
        );
    }

    #[test]
    fn rate_limit_allows_burst_then_waits() {
        let rl = RateLimiter::new(100.0);
        let t0 = Instant::now();
        assert!(
            rl.take("a", 150, t0).is_ok(),
            "a first batch over the burst passes"
        );
        let wait = rl.take("a", 1, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 0.01, "{wait:?}");
        assert!(rl.take("b", 10, t0).is_ok(), "clients are independent");
        assert!(rl.take("a", 1, t0 + Duration::from_millis(600)).is_ok());
        assert!(RateLimiter::new(0.0).take("a", 1_000_000, t0).is_ok());
    }
}
