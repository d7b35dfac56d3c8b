//! Flags and environment of `shelf ingest serve`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

use crate::auth::Tokens;

/// Settings of the gateway; every flag also reads a `SHELF_INGEST_*`
/// variable, and the defaults fit the local platform.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (HTTP).
    #[arg(long, env = "SHELF_INGEST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// File of bearer tokens, one per line (`#` starts a comment). A line
    /// `sha256:<hex>` holds a token's SHA-256 instead of the token
    /// (`printf %s "$TOKEN" | sha256sum`).
    #[arg(long, env = "SHELF_INGEST_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,

    /// Bearer tokens, comma-separated. With neither this nor --tokens-file
    /// the gateway accepts anyone (local use).
    #[arg(
        long,
        env = "SHELF_INGEST_TOKENS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub tokens: Vec<String>,

    /// Accept requests without a token even when tokens are configured.
    #[arg(long, env = "SHELF_INGEST_NO_AUTH")]
    pub no_auth: bool,

    /// Largest request body in bytes, compressed and decompressed (413 above).
    #[arg(long, env = "SHELF_INGEST_MAX_BODY_BYTES", default_value_t = 16 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Largest single record in bytes (413 above).
    #[arg(long, env = "SHELF_INGEST_MAX_RECORD_BYTES", default_value_t = 1024 * 1024)]
    pub max_record_bytes: usize,

    /// Records per second per client (its token, or its address without
    /// auth); 0 means no limit (429 above).
    #[arg(long, env = "SHELF_INGEST_RATE_LIMIT", default_value_t = 0.0)]
    pub rate_limit: f64,

    /// Records produced and not yet acknowledged, across all requests. A
    /// request that finds no room within --queue-wait-ms gets 503.
    #[arg(long, env = "SHELF_INGEST_MAX_IN_FLIGHT", default_value_t = 200_000)]
    pub max_in_flight_records: usize,

    /// How long a request may wait for room in the in-flight bound (ms).
    #[arg(long, env = "SHELF_INGEST_QUEUE_WAIT_MS", default_value_t = 500)]
    pub queue_wait_ms: u64,

    /// How long the broker may take to acknowledge a request's records
    /// before it fails with 503 (ms).
    #[arg(
        long,
        env = "SHELF_INGEST_DELIVERY_TIMEOUT_MS",
        default_value_t = 15_000
    )]
    pub delivery_timeout_ms: u64,

    /// Partitions of the ingest topics when the gateway creates them.
    #[arg(long, env = "SHELF_INGEST_PARTITIONS", default_value_t = 6)]
    pub partitions: i32,

    /// Replication factor of the ingest topics when the gateway creates them
    /// (default: the broker's default.replication.factor).
    #[arg(long, env = "SHELF_INGEST_REPLICATION")]
    pub replication: Option<i32>,

    /// How long to wait for in-flight requests and the producer at shutdown (ms).
    #[arg(
        long,
        env = "SHELF_INGEST_SHUTDOWN_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub shutdown_timeout_ms: u64,
}

#[derive(Parser)]
struct Standalone {
    #[command(flatten)]
    args: ServeArgs,
}

/// A configuration problem found at start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read tokens file {path}: {error}")]
    TokensFile {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl ServeArgs {
    /// Parses gateway flags alone (defaults for everything not given), for
    /// tests and embedding.
    pub fn from_flags<I, T>(flags: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let argv = std::iter::once(std::ffi::OsString::from("serve"))
            .chain(flags.into_iter().map(Into::into));
        Standalone::try_parse_from(argv).map(|s| s.args)
    }

    /// The tokens to check, from the file and the flag together.
    pub fn load_tokens(&self) -> Result<Tokens, ConfigError> {
        let mut tokens = self.tokens.clone();
        if let Some(path) = &self.tokens_file {
            let text = std::fs::read_to_string(path).map_err(|error| ConfigError::TokensFile {
                path: path.clone(),
                error,
            })?;
            tokens.extend(
                text.lines()
                    .map(|l| l.split('#').next().unwrap_or("").trim().to_owned())
                    .filter(|l| !l.is_empty()),
            );
        }
        tokens.retain(|t| !t.trim().is_empty());
        if self.no_auth || tokens.is_empty() {
            Ok(Tokens::open())
        } else {
            Ok(Tokens::required(tokens))
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let positive = [
            ("--max-body-bytes", self.max_body_bytes),
            ("--max-record-bytes", self.max_record_bytes),
            ("--max-in-flight-records", self.max_in_flight_records),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be above 0")));
            }
        }
        if self.max_in_flight_records > u32::MAX as usize {
            return Err(ConfigError::Invalid(
                "--max-in-flight-records is too large".into(),
            ));
        }
        if self.partitions < 1 || self.replication.is_some_and(|r| r < 1) {
            return Err(ConfigError::Invalid(
                "--partitions and --replication must be at least 1".into(),
            ));
        }
        if !(self.rate_limit >= 0.0 && self.rate_limit.is_finite()) {
            return Err(ConfigError::Invalid(
                "--rate-limit must be a number >= 0".into(),
            ));
        }
        Ok(())
    }

    pub fn queue_wait(&self) -> Duration {
        Duration::from_millis(self.queue_wait_ms)
    }

    pub fn delivery_timeout(&self) -> Duration {
        Duration::from_millis(self.delivery_timeout_ms.max(1))
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_tokens_file() {
        let a = ServeArgs::from_flags(Vec::<String>::new()).unwrap();
        assert_eq!(a.max_body_bytes, 16 * 1024 * 1024);
        assert_eq!(a.partitions, 6);
        assert!(a.load_tokens().unwrap().is_open());
        a.validate().unwrap();

        let dir = std::env::temp_dir().join(format!("shelf-tokens-{}", std::process::id()));
        std::fs::write(&dir, "# ops team\nalpha\n\n beta # ci\n").unwrap();
        let a = ServeArgs::from_flags(["--tokens-file", dir.to_str().unwrap()]).unwrap();
        let t = a.load_tokens().unwrap();
        let peer = std::net::IpAddr::from([127, 0, 0, 1]);
        assert!(t.authenticate(Some("Bearer beta"), peer).is_some());
        assert!(t.authenticate(Some("Bearer alpha"), peer).is_some());
        assert!(t.authenticate(Some("Bearer ops"), peer).is_none());
        let a =
            ServeArgs::from_flags(["--tokens-file", dir.to_str().unwrap(), "--no-auth"]).unwrap();
        assert!(a.load_tokens().unwrap().is_open());
        std::fs::remove_file(&dir).unwrap();

        let missing = ServeArgs::from_flags(["--tokens-file", "/nonexistent/tokens"]).unwrap();
        let err = missing.load_tokens().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/tokens"), "{err}");
    }

    #[test]
    fn validation() {
        assert!(ServeArgs::from_flags(["--max-body-bytes", "0"])
            .unwrap()
            .validate()
            .is_err());
        assert!(ServeArgs::from_flags(["--partitions", "0"])
            .unwrap()
            .validate()
            .is_err());
    }
}
