//! The registry of deployed modules and chains: a compacted topic
//! (`_shelf_transforms`) in the cluster itself, so every runtime sees the
//! same deployments and no other store is needed.
//!
//! Key `module/<name>` or `chain/<name>`; value a JSON [`Entry`]; an empty
//! value (tombstone) removes the entry. Each deploy writes the next version.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shelf_kafka::{ensure_topics, KafkaClients, TopicSpec};

/// Largest module the registry takes (the topic's max.message.bytes).
pub const MAX_MODULE_BYTES: usize = 12 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("registry topic {topic}")]
    Kafka {
        topic: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("registry entry {key} is not valid: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("module is {size} bytes, over the registry's limit of {MAX_MODULE_BYTES}")]
    TooLarge { size: usize },
}

/// A deployed module.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleSpec {
    pub name: String,
    pub version: u32,
    pub sha256: String,
    pub size: usize,
    pub params: BTreeMap<String, String>,
    pub deployed_at: String,
    /// The module's bytes, base64.
    pub wasm: String,
}

impl ModuleSpec {
    pub fn new(name: &str, version: u32, wasm: &[u8], params: BTreeMap<String, String>) -> Self {
        Self {
            name: name.to_owned(),
            version,
            sha256: sha256_hex(wasm),
            size: wasm.len(),
            params,
            deployed_at: now(),
            wasm: base64::engine::general_purpose::STANDARD.encode(wasm),
        }
    }

    pub fn wasm_bytes(&self) -> Result<Vec<u8>, RegistryError> {
        base64::engine::general_purpose::STANDARD
            .decode(&self.wasm)
            .map_err(|e| RegistryError::Corrupt {
                key: module_key(&self.name),
                reason: e.to_string(),
            })
    }
}

/// A deployed chain: which modules, in which order, from where to where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    pub name: String,
    pub version: u32,
    pub modules: Vec<String>,
    pub input: String,
    pub output: String,
    pub dlq: String,
    pub deployed_at: String,
}

impl ChainSpec {
    pub fn new(
        name: &str,
        version: u32,
        modules: Vec<String>,
        input: &str,
        output: &str,
        dlq: &str,
    ) -> Self {
        Self {
            name: name.to_owned(),
            version,
            modules,
            input: input.to_owned(),
            output: output.to_owned(),
            dlq: dlq.to_owned(),
            deployed_at: now(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    Module(ModuleSpec),
    Chain(ChainSpec),
}

pub fn module_key(name: &str) -> String {
    format!("module/{name}")
}

pub fn chain_key(name: &str) -> String {
    format!("chain/{name}")
}

/// Everything deployed, as of some point in the registry topic.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deployments {
    pub modules: BTreeMap<String, ModuleSpec>,
    pub chains: BTreeMap<String, ChainSpec>,
}

impl Deployments {
    /// Applies one registry record (a later record for a key replaces the
    /// earlier; an empty value removes it).
    pub fn apply(&mut self, key: &str, value: Option<&[u8]>) -> Result<(), RegistryError> {
        let corrupt = |reason: String| RegistryError::Corrupt {
            key: key.to_owned(),
            reason,
        };
        match value.filter(|v| !v.is_empty()) {
            None => {
                if let Some(name) = key.strip_prefix("module/") {
                    self.modules.remove(name);
                } else if let Some(name) = key.strip_prefix("chain/") {
                    self.chains.remove(name);
                }
            }
            Some(v) => {
                match serde_json::from_slice::<Entry>(v).map_err(|e| corrupt(e.to_string()))? {
                    Entry::Module(m) => {
                        self.modules.insert(m.name.clone(), m);
                    }
                    Entry::Chain(c) => {
                        self.chains.insert(c.name.clone(), c);
                    }
                }
            }
        }
        Ok(())
    }

    /// The modules of a chain, in order; `None` names the first missing one.
    pub fn chain_modules(&self, chain: &ChainSpec) -> Result<Vec<&ModuleSpec>, String> {
        chain
            .modules
            .iter()
            .map(|m| self.modules.get(m).ok_or_else(|| m.clone()))
            .collect()
    }
}

/// Reads and writes the registry topic.
pub struct Registry {
    kafka: KafkaClients,
    topic: String,
}

impl Registry {
    pub fn new(kafka: &KafkaClients, topic: &str) -> Self {
        Self {
            kafka: kafka.clone(),
            topic: topic.to_owned(),
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    fn err(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> RegistryError {
        RegistryError::Kafka {
            topic: self.topic.clone(),
            source: source.into(),
        }
    }

    /// Creates the compacted topic if it is missing.
    pub async fn ensure_topic(&self) -> Result<(), RegistryError> {
        let mut spec = TopicSpec::new(&self.topic, 1);
        spec.config = vec![
            ("cleanup.policy", "compact".to_owned()),
            ("max.message.bytes", MAX_MODULE_BYTES.to_string()),
        ];
        ensure_topics(&self.kafka, &[spec], Duration::from_secs(30))
            .await
            .map_err(|e| self.err(e))
    }

    /// Writes one entry and waits until the broker has it.
    pub fn put(&self, key: &str, entry: Option<&Entry>) -> Result<(), RegistryError> {
        let value = entry
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| self.err(e))?
            .unwrap_or_default();
        if value.len() > MAX_MODULE_BYTES {
            return Err(RegistryError::TooLarge { size: value.len() });
        }
        let producer: ThreadedProducer<DefaultProducerContext> = self
            .kafka
            .producer()
            .set("enable.idempotence", "true")
            .set("message.max.bytes", (MAX_MODULE_BYTES + 65_536).to_string())
            .create()
            .map_err(|e| self.err(e))?;
        producer
            .send(BaseRecord::to(&self.topic).key(key).payload(&value))
            .map_err(|(e, _)| self.err(e))?;
        producer
            .flush(Duration::from_secs(30))
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A consumer positioned at the start of the registry.
    pub fn reader(&self) -> Result<RegistryReader, RegistryError> {
        let consumer: BaseConsumer = self
            .kafka
            .consumer("shelf-registry-reader")
            .set(
                "fetch.message.max.bytes",
                (MAX_MODULE_BYTES + 65_536).to_string(),
            )
            .create()
            .map_err(|e| self.err(e))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.topic, 0, Offset::Beginning)
            .map_err(|e| self.err(e))?;
        consumer.assign(&tpl).map_err(|e| self.err(e))?;
        let watermarks = self
            .kafka
            .consumer("shelf-registry-reader")
            .create()
            .map_err(|e| self.err(e))?;
        Ok(RegistryReader {
            consumer,
            watermarks,
            topic: self.topic.clone(),
            state: Deployments::default(),
        })
    }

    /// Everything deployed now.
    pub fn load(&self) -> Result<Deployments, RegistryError> {
        let mut reader = self.reader()?;
        reader.catch_up(Duration::from_secs(30))?;
        Ok(reader.state)
    }
}

/// Follows the registry topic and keeps the current deployments.
pub struct RegistryReader {
    consumer: BaseConsumer,
    /// Asks for the topic's end on a connection of its own: on the
    /// reader's, the request waits behind its long-polling fetch (up to
    /// `fetch.wait.max.ms`, 500 ms), which cost a busy runtime 0.4 s per
    /// batch.
    watermarks: BaseConsumer,
    topic: String,
    pub state: Deployments,
}

impl RegistryReader {
    /// Reads up to the current end of the topic.
    pub fn catch_up(&mut self, timeout: Duration) -> Result<(), RegistryError> {
        let topic = self.topic.clone();
        let err = |source: Box<dyn std::error::Error + Send + Sync>| RegistryError::Kafka {
            topic: topic.clone(),
            source,
        };
        let (_, high) = self
            .watermarks
            .fetch_watermarks(&self.topic, 0, timeout)
            .map_err(|e| err(e.into()))?;
        let deadline = std::time::Instant::now() + timeout;
        let mut position = self.position();
        while position < high {
            if std::time::Instant::now() > deadline {
                return Err(err(format!(
                    "read to offset {position} of {high} within {timeout:?}"
                )
                .into()));
            }
            if self.poll(Duration::from_millis(200))? {
                position = self.position();
            }
        }
        Ok(())
    }

    fn position(&self) -> i64 {
        self.consumer
            .position()
            .ok()
            .and_then(|p| p.find_partition(&self.topic, 0).map(|e| e.offset()))
            .and_then(|o| o.to_raw())
            .filter(|&o| o >= 0)
            .unwrap_or(0)
    }

    /// Applies the next record if one arrives within `timeout`; `true` if
    /// one did.
    pub fn poll(&mut self, timeout: Duration) -> Result<bool, RegistryError> {
        match self.consumer.poll(timeout) {
            None => Ok(false),
            // librdkafka reports a broker it lost (and reconnects by itself);
            // only an error that ends the consumer ends the reading.
            Some(Err(e)) => match self.consumer.client().fatal_error() {
                Some((_, reason)) => Err(RegistryError::Kafka {
                    topic: self.topic.clone(),
                    source: reason.into(),
                }),
                None => {
                    tracing::warn!(topic = %self.topic, error = %e, "registry consumer error");
                    Ok(false)
                }
            },
            Some(Ok(m)) => {
                let key = m
                    .key()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .unwrap_or_default();
                if let Err(e) = self.state.apply(&key, m.payload()) {
                    // One bad entry must not hide the others.
                    tracing::error!(error = %e, "skipping registry entry");
                }
                Ok(true)
            }
        }
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_versions_and_tombstones() {
        let mut d = Deployments::default();
        let m1 = Entry::Module(ModuleSpec::new("clean", 1, b"\0asm", BTreeMap::new()));
        let m2 = Entry::Module(ModuleSpec::new("clean", 2, b"\0asm2", BTreeMap::new()));
        d.apply("module/clean", Some(&serde_json::to_vec(&m1).unwrap()))
            .unwrap();
        d.apply("module/clean", Some(&serde_json::to_vec(&m2).unwrap()))
            .unwrap();
        assert_eq!(d.modules["clean"].version, 2);
        assert_eq!(d.modules["clean"].wasm_bytes().unwrap(), b"\0asm2");
        let c = Entry::Chain(ChainSpec::new(
            "default",
            1,
            vec!["clean".into(), "missing".into()],
            "i",
            "o",
            "d",
        ));
        d.apply("chain/default", Some(&serde_json::to_vec(&c).unwrap()))
            .unwrap();
        assert_eq!(
            d.chain_modules(&d.chains["default"]).unwrap_err(),
            "missing"
        );
        d.apply("module/clean", None).unwrap();
        assert!(d.modules.is_empty());
        assert!(d.apply("module/x", Some(b"{")).is_err());
    }

    #[test]
    fn sha256_of_empty() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
