//! The one place that turns settings into librdkafka configurations.

use std::path::{Path, PathBuf};

use rdkafka::ClientConfig;
use shelf_config::{KafkaSettings, SaslMechanism, SecurityProtocol};

/// A setting that cannot work, named as the user gave it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("--kafka-security-protocol {protocol} needs {setting}")]
    Missing {
        protocol: SecurityProtocol,
        setting: &'static str,
    },
    #[error("{setting} is set, but --kafka-security-protocol is {protocol}, which {why}")]
    Unused {
        setting: &'static str,
        protocol: SecurityProtocol,
        why: &'static str,
    },
    #[error("give either --kafka-sasl-password or --kafka-sasl-password-file, not both")]
    TwoPasswords,
    // The reason is in the message, not a source: the doctor prints only
    // the message.
    #[error("{setting} {path}: {error}")]
    File {
        setting: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("--kafka-sasl-password-file {path} is empty")]
    EmptyPassword { path: PathBuf },
}

/// What a consumer fetches ahead of its reads, at most, in KiB: a few
/// full batches of products (about 300 bytes each). librdkafka holds each
/// fetched record as an op of a few hundred bytes beside its payload, so
/// its heap holds about twice this. The transform runtime's peak RSS at
/// full size follows it: 226-238 MiB at 32 MiB, 199-214 at 16 with 16 MiB
/// fetches, 169-177 at 12 with 4 MiB fetches (docs/benchmarks.md). Less
/// costs pace when the runtime reads a backlog alone.
pub const READ_AHEAD_KIB: usize = 12 * 1024;

/// What one fetch brings back, at most, in KiB. librdkafka stops fetching
/// at [`READ_AHEAD_KIB`] but lets fetches overshoot it: with fetches as
/// large as the read-ahead (16 MiB), the runtime's queue held over
/// 120,000 records at full size, and librdkafka's heap 80-100 MiB.
pub const FETCH_MAX_KIB: usize = 4 * 1024;

/// How long a transactional producer keeps an idle broker connection; also
/// the longest a transaction waits on a coordinator that is gone (see
/// [`KafkaClients::transactional_producer`]).
pub const TRANSACTIONAL_IDLE_CLOSE: std::time::Duration = std::time::Duration::from_secs(20);

/// How often every client refreshes the cluster's metadata, in ms
/// (librdkafka's default: 5 minutes). After a broker restarts, a client
/// can be told of a partition's new leader before it knows that broker
/// again ("new leader not found in cache"), and the partition then waits
/// for the next refresh. The three-broker test, after that warning, once
/// sat idle for nine minutes with nothing logged (a likely cause, not a
/// proven one). A metadata request every 10 s is cheap.
pub const METADATA_REFRESH_MS: u64 = 10_000;

/// Checked Kafka settings, from which every Kafka client of shelfstream is
/// configured: producers, transactional producers, consumers and admin
/// clients. Cheap to clone.
#[derive(Clone)]
pub struct KafkaClients {
    base: ClientConfig,
    bootstrap: String,
    security: SecurityProtocol,
    sasl: Option<(SaslMechanism, String)>,
}

// By hand: the base configuration holds the password.
impl std::fmt::Debug for KafkaClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaClients")
            .field("bootstrap", &self.bootstrap)
            .field("security", &self.security)
            .field("sasl", &self.sasl)
            .finish_non_exhaustive()
    }
}

impl KafkaClients {
    /// Checks the settings (reading the password file) and prepares the
    /// configuration they give.
    pub fn new(settings: &KafkaSettings) -> Result<Self, SettingsError> {
        let protocol = settings.security_protocol;
        let mut base = ClientConfig::new();
        base.set("bootstrap.servers", &settings.bootstrap)
            .set("security.protocol", protocol.as_librdkafka())
            .set(
                "topic.metadata.refresh.interval.ms",
                METADATA_REFRESH_MS.to_string(),
            );
        let sasl = if protocol.uses_sasl() {
            let missing = |setting| SettingsError::Missing { protocol, setting };
            let mechanism = settings
                .sasl_mechanism
                .ok_or_else(|| missing("--kafka-sasl-mechanism (SHELF_KAFKA_SASL_MECHANISM)"))?;
            let user = settings
                .sasl_username
                .clone()
                .ok_or_else(|| missing("--kafka-sasl-username (SHELF_KAFKA_SASL_USERNAME)"))?;
            let password = match (&settings.sasl_password, &settings.sasl_password_file) {
                (Some(_), Some(_)) => return Err(SettingsError::TwoPasswords),
                (Some(p), None) => p.expose().to_owned(),
                (None, Some(path)) => read_password(path)?,
                (None, None) => {
                    return Err(missing(
                        "--kafka-sasl-password-file or --kafka-sasl-password (SHELF_KAFKA_SASL_PASSWORD[_FILE])",
                    ))
                }
            };
            base.set("sasl.mechanism", mechanism.as_librdkafka())
                .set("sasl.username", &user)
                .set("sasl.password", password);
            Some((mechanism, user))
        } else {
            let unused = |setting| SettingsError::Unused {
                setting,
                protocol,
                why: "sends no SASL credentials (use sasl_ssl or sasl_plaintext)",
            };
            if settings.sasl_mechanism.is_some() {
                return Err(unused("--kafka-sasl-mechanism"));
            }
            if settings.sasl_username.is_some() {
                return Err(unused("--kafka-sasl-username"));
            }
            if settings.sasl_password.is_some() || settings.sasl_password_file.is_some() {
                return Err(unused("--kafka-sasl-password"));
            }
            None
        };
        let tls_files = [
            ("--kafka-ca", "ssl.ca.location", &settings.ca),
            ("--kafka-cert", "ssl.certificate.location", &settings.cert),
            ("--kafka-key", "ssl.key.location", &settings.key),
        ];
        for (setting, property, path) in tls_files {
            let Some(path) = path else { continue };
            if !protocol.uses_tls() {
                return Err(SettingsError::Unused {
                    setting,
                    protocol,
                    why: "does not use TLS (use ssl or sasl_ssl)",
                });
            }
            readable(setting, path)?;
            base.set(property, path.to_string_lossy());
        }
        if settings.cert.is_some() != settings.key.is_some() {
            return Err(SettingsError::Missing {
                protocol,
                setting: "--kafka-cert and --kafka-key together",
            });
        }
        for option in &settings.options {
            base.set(&option.key, &option.value);
        }
        Ok(Self {
            base,
            bootstrap: settings.bootstrap.clone(),
            security: protocol,
            sasl,
        })
    }

    /// Plaintext clients of the broker at `bootstrap`, for tests and tools.
    pub fn plaintext(bootstrap: &str) -> Self {
        match Self::new(&KafkaSettings::plaintext(bootstrap)) {
            Ok(clients) => clients,
            // Plaintext settings read no file and cannot conflict.
            Err(e) => unreachable!("plaintext settings are always valid: {e}"),
        }
    }

    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    pub fn security_protocol(&self) -> SecurityProtocol {
        self.security
    }

    /// The SASL mechanism and user, when SASL is on (for messages).
    pub fn sasl(&self) -> Option<(SaslMechanism, &str)> {
        self.sasl.as_ref().map(|(m, u)| (*m, u.as_str()))
    }

    /// A plain producer (callers add acks, batching, compression).
    pub fn producer(&self) -> ClientConfig {
        self.base.clone()
    }

    /// A transactional producer: idempotent, with `transactional.id`.
    ///
    /// It closes connections idle for [`TRANSACTIONAL_IDLE_CLOSE`] (unless
    /// `--kafka-option` sets `connections.max.idle.ms`): librdkafka 2.12
    /// can wait forever in `send_offsets_to_transaction` once the group's
    /// coordinator broker died and left the metadata (its cached
    /// coordinator is never looked up again, and the call's timeout is not
    /// checked: librdkafka issues 5456 and 5511). It looks again only when
    /// some broker connection goes up or down, which an idle connection
    /// closing does; without it, a runtime that lost a broker mid-stream
    /// stopped for good, and did not stop on SIGTERM.
    pub fn transactional_producer(&self, transactional_id: &str) -> ClientConfig {
        let mut c = self.base.clone();
        c.set("transactional.id", transactional_id)
            .set("enable.idempotence", "true");
        set_unless_given(
            &mut c,
            "connections.max.idle.ms",
            TRANSACTIONAL_IDLE_CLOSE.as_millis(),
        );
        c
    }

    /// A consumer that commits nothing by itself and sees only committed
    /// transactions; `group` is its `group.id` (librdkafka needs one even
    /// for consumers that only assign partitions).
    ///
    /// It reads ahead at most [`READ_AHEAD_KIB`], [`FETCH_MAX_KIB`] a
    /// fetch: librdkafka's default of 64 MiB of fetched records per
    /// consumer, on top of the batch in hand, took the transform runtime
    /// past 260 MiB with fast input. Memory against pace: `--kafka-option`
    /// may set either (`queued.max.messages.kbytes`, `fetch.max.bytes`).
    pub fn consumer(&self, group: &str) -> ClientConfig {
        let mut c = self.base.clone();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed");
        set_unless_given(&mut c, "queued.max.messages.kbytes", READ_AHEAD_KIB);
        set_unless_given(&mut c, "fetch.max.bytes", FETCH_MAX_KIB * 1024);
        c
    }

    /// An admin client (topics, metadata).
    pub fn admin(&self) -> ClientConfig {
        self.base.clone()
    }
}

fn read_password(path: &Path) -> Result<String, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|error| SettingsError::File {
        setting: "--kafka-sasl-password-file",
        path: path.to_owned(),
        error,
    })?;
    let password = text.trim_end_matches(['\n', '\r']);
    if password.is_empty() {
        return Err(SettingsError::EmptyPassword {
            path: path.to_owned(),
        });
    }
    Ok(password.to_owned())
}

fn readable(setting: &'static str, path: &Path) -> Result<(), SettingsError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|error| SettingsError::File {
            setting,
            path: path.to_owned(),
            error,
        })
}

/// Sets `key` to `value` unless `--kafka-option` gave it: a default of
/// shelfstream's, not a setting its guarantees rest on.
fn set_unless_given(c: &mut ClientConfig, key: &str, value: impl ToString) {
    if c.get(key).is_none() {
        c.set(key, value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shelf_config::Secret;

    fn sasl_ssl() -> KafkaSettings {
        KafkaSettings {
            security_protocol: SecurityProtocol::SaslSsl,
            sasl_mechanism: Some(SaslMechanism::ScramSha512),
            sasl_username: Some("shelf".into()),
            sasl_password: Some(Secret::new("hunter2")),
            ..KafkaSettings::plaintext("b:9093")
        }
    }

    #[test]
    fn sasl_settings_reach_every_role() {
        let clients = KafkaClients::new(&sasl_ssl()).unwrap();
        for c in [
            clients.producer(),
            clients.consumer("g"),
            clients.admin(),
            clients.transactional_producer("t"),
        ] {
            assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
            assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(c.get("sasl.password"), Some("hunter2"));
        }
        assert!(!format!("{clients:?}").contains("hunter2"));
    }

    #[test]
    fn a_transactional_producer_closes_idle_connections_unless_told_otherwise() {
        let clients = KafkaClients::new(&KafkaSettings::plaintext("b:1")).unwrap();
        let c = clients.transactional_producer("t");
        assert_eq!(c.get("connections.max.idle.ms"), Some("20000"));
        assert_eq!(clients.producer().get("connections.max.idle.ms"), None);

        let mut s = KafkaSettings::plaintext("b:1");
        s.options = vec!["connections.max.idle.ms=0".parse().unwrap()];
        let c = KafkaClients::new(&s).unwrap().transactional_producer("t");
        assert_eq!(c.get("connections.max.idle.ms"), Some("0"));
    }

    #[test]
    fn missing_and_unused_settings_are_named() {
        let mut s = sasl_ssl();
        s.sasl_username = None;
        let e = KafkaClients::new(&s).unwrap_err().to_string();
        assert!(e.contains("--kafka-sasl-username"), "{e}");

        let mut s = KafkaSettings::plaintext("b:1");
        s.sasl_username = Some("shelf".into());
        let e = KafkaClients::new(&s).unwrap_err().to_string();
        assert!(
            e.contains("--kafka-sasl-username is set") && e.contains("plaintext"),
            "{e}"
        );

        let mut s = KafkaSettings::plaintext("b:1");
        s.ca = Some("/nonexistent/ca.pem".into());
        let e = KafkaClients::new(&s).unwrap_err().to_string();
        assert!(e.contains("--kafka-ca") && e.contains("TLS"), "{e}");

        let mut s = sasl_ssl();
        s.ca = Some("/nonexistent/ca.pem".into());
        let e = KafkaClients::new(&s).unwrap_err().to_string();
        assert!(e.contains("--kafka-ca /nonexistent/ca.pem"), "{e}");
    }

    #[test]
    fn the_password_file_is_read_without_its_newline() {
        let dir = std::env::temp_dir().join(format!("shelf-kafka-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("password");
        std::fs::write(&file, "s3cret\n").unwrap();
        let mut s = sasl_ssl();
        s.sasl_password = None;
        s.sasl_password_file = Some(file.clone());
        let clients = KafkaClients::new(&s).unwrap();
        assert_eq!(clients.producer().get("sasl.password"), Some("s3cret"));
        std::fs::write(&file, "\n").unwrap();
        let e = KafkaClients::new(&s).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        s.sasl_password = Some(Secret::new("x"));
        assert!(matches!(
            KafkaClients::new(&s),
            Err(SettingsError::TwoPasswords)
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn pass_through_options_apply_but_guarantees_win() {
        let mut s = KafkaSettings::plaintext("b:1");
        s.options = vec![
            "linger.ms=7".parse().unwrap(),
            "isolation.level=read_uncommitted".parse().unwrap(),
        ];
        let clients = KafkaClients::new(&s).unwrap();
        assert_eq!(clients.producer().get("linger.ms"), Some("7"));
        assert_eq!(
            clients.consumer("g").get("isolation.level"),
            Some("read_committed")
        );
    }

    #[test]
    fn a_consumer_reads_ahead_a_bounded_amount_unless_told_otherwise() {
        let clients = KafkaClients::new(&KafkaSettings::plaintext("b:1")).unwrap();
        let c = clients.consumer("g");
        assert_eq!(c.get("queued.max.messages.kbytes"), Some("12288"));
        assert_eq!(c.get("fetch.max.bytes"), Some("4194304"));

        let mut s = KafkaSettings::plaintext("b:1");
        s.options = vec!["fetch.max.bytes=16777216".parse().unwrap()];
        let c = KafkaClients::new(&s).unwrap().consumer("g");
        assert_eq!(c.get("fetch.max.bytes"), Some("16777216"));
        assert_eq!(c.get("queued.max.messages.kbytes"), Some("12288"));
    }
}
