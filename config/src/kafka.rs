//! How to reach and authenticate to the Kafka-API cluster.
//!
//! These are settings only; `shelf_kafka::KafkaClients` checks them and
//! turns them into librdkafka configurations, one per client role.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, ValueEnum};

/// Default Kafka bootstrap servers of the local platform.
pub const DEFAULT_KAFKA: &str = "127.0.0.1:9092";

/// Broker address, transport security, SASL credentials and pass-through
/// librdkafka properties.
#[derive(Clone, Args)]
#[command(next_help_heading = "Connection settings (flags, SHELF_* variables or --config)")]
pub struct KafkaSettings {
    /// Kafka bootstrap servers (any Kafka-API broker: Apache Kafka, Redpanda).
    #[arg(long = "kafka", env = "SHELF_KAFKA", default_value = DEFAULT_KAFKA, global = true)]
    pub bootstrap: String,

    /// How clients talk to the brokers.
    #[arg(
        long = "kafka-security-protocol",
        env = "SHELF_KAFKA_SECURITY_PROTOCOL",
        value_enum,
        default_value_t = SecurityProtocol::Plaintext,
        global = true
    )]
    pub security_protocol: SecurityProtocol,

    /// SASL mechanism (with sasl_plaintext or sasl_ssl).
    #[arg(
        long = "kafka-sasl-mechanism",
        env = "SHELF_KAFKA_SASL_MECHANISM",
        value_enum,
        global = true
    )]
    pub sasl_mechanism: Option<SaslMechanism>,

    /// SASL user name.
    #[arg(
        long = "kafka-sasl-username",
        env = "SHELF_KAFKA_SASL_USERNAME",
        global = true
    )]
    pub sasl_username: Option<String>,

    /// SASL password. Prefer --kafka-sasl-password-file: a flag's value is
    /// visible to every user of the machine.
    #[arg(
        long = "kafka-sasl-password",
        env = "SHELF_KAFKA_SASL_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub sasl_password: Option<Secret>,

    /// File holding the SASL password (one line; a trailing newline is
    /// ignored).
    #[arg(
        long = "kafka-sasl-password-file",
        env = "SHELF_KAFKA_SASL_PASSWORD_FILE",
        global = true
    )]
    pub sasl_password_file: Option<PathBuf>,

    /// PEM file of the CA certificates that sign the brokers' certificates
    /// (with ssl or sasl_ssl; default: the system's trust store).
    #[arg(long = "kafka-ca", env = "SHELF_KAFKA_CA", global = true)]
    pub ca: Option<PathBuf>,

    /// PEM file of this client's certificate, for brokers that ask for one.
    #[arg(long = "kafka-cert", env = "SHELF_KAFKA_CERT", global = true)]
    pub cert: Option<PathBuf>,

    /// PEM file of this client's private key (with --kafka-cert).
    #[arg(long = "kafka-key", env = "SHELF_KAFKA_KEY", global = true)]
    pub key: Option<PathBuf>,

    /// Any librdkafka property, as key=value (repeatable; in the variable,
    /// separated by ';'). Applies to every client; the settings
    /// shelfstream's guarantees rest on (transactional.id, isolation.level,
    /// enable.auto.commit, ...) are set after it.
    #[arg(
        long = "kafka-option",
        env = "SHELF_KAFKA_OPTIONS",
        value_delimiter = ';',
        global = true
    )]
    pub options: Vec<KafkaOption>,
}

impl KafkaSettings {
    /// Plaintext settings for a broker at `bootstrap`.
    pub fn plaintext(bootstrap: impl Into<String>) -> Self {
        Self {
            bootstrap: bootstrap.into(),
            ..Self::default()
        }
    }
}

impl KafkaSettings {
    /// The environment variables that give a child process these settings
    /// (the password included: hand them only to processes of our own).
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
        let options: Vec<String> = self
            .options
            .iter()
            .map(|o| format!("{}={}", o.key, o.value))
            .collect();
        [
            ("SHELF_KAFKA", Some(self.bootstrap.clone())),
            (
                "SHELF_KAFKA_SECURITY_PROTOCOL",
                Some(self.security_protocol.to_string()),
            ),
            (
                "SHELF_KAFKA_SASL_MECHANISM",
                self.sasl_mechanism.map(|m| m.to_string()),
            ),
            ("SHELF_KAFKA_SASL_USERNAME", self.sasl_username.clone()),
            (
                "SHELF_KAFKA_SASL_PASSWORD",
                self.sasl_password.as_ref().map(|p| p.expose().to_owned()),
            ),
            (
                "SHELF_KAFKA_SASL_PASSWORD_FILE",
                path(&self.sasl_password_file),
            ),
            ("SHELF_KAFKA_CA", path(&self.ca)),
            ("SHELF_KAFKA_CERT", path(&self.cert)),
            ("SHELF_KAFKA_KEY", path(&self.key)),
            (
                "SHELF_KAFKA_OPTIONS",
                (!options.is_empty()).then(|| options.join(";")),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap: DEFAULT_KAFKA.to_owned(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            sasl_password_file: None,
            ca: None,
            cert: None,
            key: None,
            options: Vec::new(),
        }
    }
}

// By hand so that no password reaches a log line through `{:?}`.
impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaSettings")
            .field("bootstrap", &self.bootstrap)
            .field("security_protocol", &self.security_protocol)
            .field("sasl_mechanism", &self.sasl_mechanism)
            .field("sasl_username", &self.sasl_username)
            .field("sasl_password", &self.sasl_password)
            .field("sasl_password_file", &self.sasl_password_file)
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("options", &self.options)
            .finish()
    }
}

/// librdkafka's `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecurityProtocol {
    #[value(name = "plaintext", alias = "PLAINTEXT")]
    Plaintext,
    #[value(name = "ssl", alias = "SSL")]
    Ssl,
    #[value(name = "sasl_plaintext", alias = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[value(name = "sasl_ssl", alias = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    /// The value librdkafka expects.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Self::Plaintext => "plaintext",
            Self::Ssl => "ssl",
            Self::SaslPlaintext => "sasl_plaintext",
            Self::SaslSsl => "sasl_ssl",
        }
    }

    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_librdkafka())
    }
}

/// librdkafka's `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanism {
    #[value(name = "PLAIN", alias = "plain")]
    Plain,
    #[value(name = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
    #[value(name = "SCRAM-SHA-512", alias = "scram-sha-512")]
    ScramSha512,
}

impl SaslMechanism {
    /// The value librdkafka expects.
    pub fn as_librdkafka(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_librdkafka())
    }
}

/// A value that must not be shown: `{:?}` and `{}` print a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that hands it on.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// One pass-through librdkafka property.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaOption {
    pub key: String,
    pub value: String,
}

impl KafkaOption {
    /// Whether the value may be a credential (`sasl.password`,
    /// `ssl.key.password`, `sasl.jaas.config`, an inline PEM key, ...).
    pub fn is_secret(&self) -> bool {
        ["password", "secret", "jaas", "ssl.key.pem", "token"]
            .iter()
            .any(|word| self.key.contains(word))
    }
}

impl fmt::Debug for KafkaOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_secret() {
            write!(f, "{}=<redacted>", self.key)
        } else {
            write!(f, "{}={}", self.key, self.value)
        }
    }
}

impl FromStr for KafkaOption {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| format!("expected key=value (a librdkafka property), got '{s}'"))?;
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return Err(format!("'{key}' is not a librdkafka property name"));
        }
        Ok(Self {
            key: key.to_owned(),
            value: value.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        kafka: KafkaSettings,
    }

    #[test]
    fn security_flags_parse() {
        let cli = Cli::parse_from([
            "x",
            "--kafka-security-protocol",
            "sasl_ssl",
            "--kafka-sasl-mechanism",
            "SCRAM-SHA-512",
            "--kafka-sasl-username",
            "shelf",
            "--kafka-sasl-password",
            "hunter2",
            "--kafka-option",
            "linger.ms=5",
            "--kafka-option",
            "sasl.oauthbearer.config=a=b",
        ]);
        let k = cli.kafka;
        assert_eq!(k.security_protocol, SecurityProtocol::SaslSsl);
        assert_eq!(k.sasl_mechanism, Some(SaslMechanism::ScramSha512));
        assert_eq!(
            k.sasl_password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
        assert_eq!(k.options[1].value, "a=b");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let mut k = KafkaSettings::plaintext("b:1");
        k.sasl_password = Some(Secret::new("hunter2"));
        k.options = vec![
            "sasl.password=hunter3".parse().unwrap(),
            "linger.ms=7".parse().unwrap(),
        ];
        let shown = format!("{k:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(shown.contains("linger.ms=7"), "{shown}");
    }

    #[test]
    fn to_env_round_trips_through_the_flags_variables() {
        let mut k = KafkaSettings::plaintext("b:1");
        k.security_protocol = SecurityProtocol::SaslSsl;
        k.sasl_mechanism = Some(SaslMechanism::ScramSha256);
        k.sasl_username = Some("u".into());
        k.sasl_password_file = Some("/p".into());
        k.options = vec!["linger.ms=5".parse().unwrap(), "acks=all".parse().unwrap()];
        let env = k.to_env();
        // Every variable named is one that a flag reads.
        use clap::CommandFactory;
        let command = Cli::command();
        let known: Vec<&str> = command
            .get_arguments()
            .filter_map(|a| a.get_env().and_then(|e| e.to_str()))
            .collect();
        for (name, _) in &env {
            assert!(known.contains(name), "{name}");
        }
        assert!(env.contains(&("SHELF_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256".into())));
        assert!(env.contains(&("SHELF_KAFKA_OPTIONS", "linger.ms=5;acks=all".into())));
        let mut args = vec!["x".to_owned()];
        for (name, value) in &env {
            let flag = command
                .get_arguments()
                .find(|a| a.get_env().and_then(|e| e.to_str()) == Some(name))
                .and_then(|a| a.get_long())
                .unwrap();
            for v in value.split(';') {
                args.push(format!("--{flag}={v}"));
            }
        }
        let back = Cli::parse_from(args).kafka;
        assert_eq!(format!("{back:?}"), format!("{k:?}"));
    }

    #[test]
    fn options_need_a_key_and_a_value() {
        assert!("linger.ms".parse::<KafkaOption>().is_err());
        assert!("=5".parse::<KafkaOption>().is_err());
        assert!("bad key=5".parse::<KafkaOption>().is_err());
    }

    #[test]
    fn help_shows_no_password_from_the_environment() {
        use clap::CommandFactory;
        // hide_env_values: `--help` must not print the variable's value.
        let arg = Cli::command();
        let password = arg
            .get_arguments()
            .find(|a| a.get_id() == "sasl_password")
            .map(|a| a.is_hide_env_values_set());
        assert_eq!(password, Some(true));
    }
}
