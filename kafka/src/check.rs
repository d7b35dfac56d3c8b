//! Does the cluster answer, and does it accept our credentials?
//!
//! librdkafka retries a refused login or a failed TLS handshake for ever
//! and only reports it through error events; a service would hang. So every
//! service first asks for the cluster's metadata through a client that
//! records those events, and stops with an error naming the setting to fix.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;

use crate::KafkaClients;

/// Why the cluster could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConnectError {
    #[error("Kafka at {bootstrap} refused the SASL login of user '{user}' ({mechanism}): {reason}. Check --kafka-sasl-username and --kafka-sasl-password / --kafka-sasl-password-file (SHELF_KAFKA_SASL_*)")]
    Authentication {
        bootstrap: String,
        user: String,
        mechanism: String,
        reason: String,
    },
    #[error("TLS with Kafka at {bootstrap} failed: {reason}. If the broker's certificate is not trusted, set --kafka-ca (SHELF_KAFKA_CA) to the CA that signed it")]
    Tls { bootstrap: String, reason: String },
    #[error("Kafka at {bootstrap} did not answer within {waited:?} with --kafka-security-protocol {protocol}{last}")]
    Unreachable {
        bootstrap: String,
        protocol: String,
        waited: Duration,
        last: String,
    },
    #[error("cannot create a Kafka client: {0}")]
    Client(String),
}

/// What the cluster said about itself.
#[derive(Debug, Clone)]
pub struct ClusterInfo {
    /// `id@host:port` of each broker.
    pub brokers: Vec<String>,
    pub topics: usize,
}

/// Records the error events of a client.
#[derive(Default)]
struct ErrorRecorder {
    events: Mutex<Vec<(RDKafkaErrorCode, String)>>,
}

impl ClientContext for ErrorRecorder {
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail);
        if let Ok(mut events) = self.events.lock() {
            events.push((code, reason.to_owned()));
        }
    }
}

impl ProducerContext for ErrorRecorder {
    type DeliveryOpaque = ();
    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: ()) {}
}

impl KafkaClients {
    /// Fetches the cluster's metadata, failing early and clearly on a
    /// refused login or an untrusted certificate.
    pub fn check(&self, timeout: Duration) -> Result<ClusterInfo, ConnectError> {
        let mut config = self.admin();
        // Fail fast instead of librdkafka's backoff of up to 10 s.
        config
            .set("reconnect.backoff.max.ms", "1000")
            .set("socket.connection.setup.timeout.ms", "3000")
            // The check reports what fails; librdkafka's log would only
            // repeat it on stderr.
            .set_log_level(rdkafka::config::RDKafkaLogLevel::Emerg);
        let client: BaseProducer<ErrorRecorder> = config
            .create_with_context(ErrorRecorder::default())
            .map_err(|e| ConnectError::Client(e.to_string()))?;
        let started = Instant::now();
        loop {
            let left = timeout.saturating_sub(started.elapsed());
            match client
                .client()
                .fetch_metadata(None, left.min(Duration::from_millis(500)))
            {
                Ok(metadata) if !metadata.brokers().is_empty() => {
                    return Ok(ClusterInfo {
                        brokers: metadata
                            .brokers()
                            .iter()
                            .map(|b| format!("{}@{}:{}", b.id(), b.host(), b.port()))
                            .collect(),
                        topics: metadata.topics().len(),
                    })
                }
                _ => {}
            }
            // Serves the error events into the recorder.
            client.poll(Duration::ZERO);
            if let Some(e) = self.diagnose(client.context()) {
                return Err(e);
            }
            if started.elapsed() >= timeout {
                let last = client
                    .context()
                    .events
                    .lock()
                    .ok()
                    .and_then(|events| events.last().map(|(_, reason)| format!(": {reason}")))
                    .unwrap_or_default();
                return Err(ConnectError::Unreachable {
                    bootstrap: self.bootstrap().to_owned(),
                    protocol: self.security_protocol().to_string(),
                    waited: timeout,
                    last,
                });
            }
        }
    }

    /// [`check`](Self::check) on a blocking thread, for async callers.
    pub async fn check_async(&self, timeout: Duration) -> Result<ClusterInfo, ConnectError> {
        let checker = self.clone();
        tokio::task::spawn_blocking(move || checker.check(timeout))
            .await
            .map_err(|e| ConnectError::Client(e.to_string()))?
    }

    fn diagnose(&self, recorder: &ErrorRecorder) -> Option<ConnectError> {
        let events = recorder.events.lock().ok()?;
        events.iter().find_map(|(code, reason)| match code {
            RDKafkaErrorCode::Authentication => {
                let (mechanism, user) = self
                    .sasl()
                    .map_or(("none".to_owned(), ""), |(m, u)| (m.to_string(), u));
                Some(ConnectError::Authentication {
                    bootstrap: self.bootstrap().to_owned(),
                    user: user.to_owned(),
                    mechanism,
                    reason: reason.clone(),
                })
            }
            RDKafkaErrorCode::SSL => Some(ConnectError::Tls {
                bootstrap: self.bootstrap().to_owned(),
                reason: reason.clone(),
            }),
            _ => None,
        })
    }
}
