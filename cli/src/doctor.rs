//! `shelf doctor`: does the broker answer, does the store answer, and what are
//! they?
//!
//! Each check makes a real request (a Kafka metadata request, a MongoDB
//! `ping` followed by `buildInfo`), so a green doctor means the services can
//! do work, not merely that a port is open.

use std::fmt;
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use mongodb::options::ClientOptions;
use shelf_config::{KafkaSettings, Platform};
use shelf_kafka::{ConnectError, KafkaClients, SettingsError};

/// What the broker said about itself.
#[derive(Debug, Clone)]
pub struct KafkaInfo {
    pub bootstrap: String,
    pub brokers: Vec<String>,
    pub topics: usize,
    pub client_version: String,
}

/// What the store said about itself.
#[derive(Debug, Clone)]
pub struct MongoInfo {
    pub uri: String,
    /// Server product and version, e.g. `FerretDB v1.24.2` or `MongoDB 7.0.14`.
    pub server: String,
    /// MongoDB compatibility version reported by `buildInfo`.
    pub wire_version: String,
    pub database: String,
}

/// Why a service did not answer.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("Kafka settings: {0}")]
    KafkaSettings(#[from] SettingsError),
    #[error(transparent)]
    Kafka(#[from] ConnectError),
    #[error("MongoDB at {uri} does not answer: {reason}")]
    Mongo { uri: String, reason: String },
}

impl CheckError {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            CheckError::KafkaSettings(_) => {
                "fix the setting named above (a flag, its SHELF_KAFKA_* variable or the --config file)"
            }
            CheckError::Kafka(ConnectError::Authentication { .. } | ConnectError::Tls { .. }) => {
                "the broker answers but refuses these settings; fix the one named above"
            }
            CheckError::Kafka(_) => {
                "start the local platform with `make up`, or point --kafka / SHELF_KAFKA at a running Kafka-API broker"
            }
            CheckError::Mongo { .. } => {
                "start the local platform with `make up`, or point --mongo / SHELF_MONGO at a running MongoDB or FerretDB"
            }
        }
    }
}

/// The outcome of both checks.
#[derive(Debug)]
pub struct Report {
    pub kafka: Result<KafkaInfo, CheckError>,
    pub mongo: Result<MongoInfo, CheckError>,
}

impl Report {
    pub fn healthy(&self) -> bool {
        self.kafka.is_ok() && self.mongo.is_ok()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kafka {
            Ok(k) => writeln!(
                f,
                "ok    kafka  {}  brokers [{}], {} topic(s), librdkafka {}",
                k.bootstrap,
                k.brokers.join(", "),
                k.topics,
                k.client_version
            )?,
            Err(e) => writeln!(f, "FAIL  kafka  {e}\n      hint: {}", e.hint())?,
        }
        match &self.mongo {
            Ok(m) => writeln!(
                f,
                "ok    mongo  {}  {} (MongoDB {} compatible), database {}",
                m.uri, m.server, m.wire_version, m.database
            )?,
            Err(e) => writeln!(f, "FAIL  mongo  {e}\n      hint: {}", e.hint())?,
        }
        Ok(())
    }
}

/// Runs both checks concurrently, each bounded by `timeout`.
pub async fn check(platform: &Platform, timeout: Duration) -> Report {
    let (kafka, mongo) = tokio::join!(
        check_kafka(&platform.kafka, timeout),
        check_mongo(&platform.mongo, &platform.database, timeout)
    );
    Report { kafka, mongo }
}

/// Repeats [`check`] until both services answer or `wait` has passed; returns
/// the last report.
pub async fn check_until_healthy(platform: &Platform, timeout: Duration, wait: Duration) -> Report {
    let deadline = Instant::now() + wait;
    loop {
        let report = check(platform, timeout).await;
        if report.healthy() || Instant::now() >= deadline {
            return report;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sends a metadata request to the broker, with the settings every service
/// uses ([`KafkaClients::check`]).
pub async fn check_kafka(
    settings: &KafkaSettings,
    timeout: Duration,
) -> Result<KafkaInfo, CheckError> {
    let kafka = KafkaClients::new(settings)?;
    let cluster = kafka.check_async(timeout).await?;
    let (_, client_version) = rdkafka::util::get_rdkafka_version();
    Ok(KafkaInfo {
        bootstrap: kafka.bootstrap().to_owned(),
        brokers: cluster.brokers,
        topics: cluster.topics,
        client_version,
    })
}

/// Pings the store and asks it for its build information.
pub async fn check_mongo(
    uri: &str,
    database: &str,
    timeout: Duration,
) -> Result<MongoInfo, CheckError> {
    let fail = |reason: String| CheckError::Mongo {
        uri: uri.to_owned(),
        reason,
    };
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| fail(e.to_string()))?;
    options.server_selection_timeout = Some(timeout);
    options.connect_timeout = Some(timeout);
    options.app_name = Some("shelf-doctor".to_owned());
    let client = mongodb::Client::with_options(options).map_err(|e| fail(e.to_string()))?;
    let admin = client.database("admin");
    admin
        .run_command(doc! { "ping": 1 })
        .await
        .map_err(|e| fail(first_line(&e.to_string())))?;
    let info: Document = admin
        .run_command(doc! { "buildInfo": 1 })
        .await
        .map_err(|e| fail(first_line(&e.to_string())))?;
    let wire_version = info.get_str("version").unwrap_or("unknown").to_owned();
    let server = match info.get_str("ferretdbVersion") {
        Ok(v) => format!("FerretDB {v}"),
        Err(_) => format!("MongoDB {wire_version}"),
    };
    client.shutdown().await;
    Ok(MongoInfo {
        uri: uri.to_owned(),
        server,
        wire_version,
        database: database.to_owned(),
    })
}

/// The driver's server-selection errors carry a long topology dump; the first
/// line says what went wrong.
fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or(s).chars().take(300).collect()
}
