//! Where shelfstream finds its broker and its store, and what the topics
//! are called.
//!
//! Every service and tool takes the same settings, from flags, from
//! environment variables or from defaults that match the local platform that
//! `make up` starts. Embed [`Platform`] in a command's clap arguments with
//! `#[command(flatten)]`.
//!
//! The default topic names are the contract's (`shelf_contract::topics`);
//! each can be overridden so that tests can run on private topics and
//! databases. Collection and column names are in `shelf_contract` too.

use clap::Args;
use shelf_contract::topics;

pub mod file;
pub mod kafka;

pub use kafka::{
    KafkaOption, KafkaSettings, SaslMechanism, Secret, SecurityProtocol, DEFAULT_KAFKA,
};

/// Default MongoDB connection string of the local platform (FerretDB).
pub const DEFAULT_MONGO: &str = "mongodb://127.0.0.1:27017/";
/// Default database name.
pub const DEFAULT_DATABASE: &str = "shelfstream";

/// Broker and store connection settings.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection settings (flags, SHELF_* variables or --config)")]
pub struct Platform {
    /// Config file (TOML; keys are flag names without the --). Flags and
    /// environment variables win over it.
    #[arg(long = "config", env = file::CONFIG_ENV, global = true)]
    pub config: Option<std::path::PathBuf>,

    #[command(flatten)]
    pub kafka: KafkaSettings,

    /// MongoDB connection string (MongoDB or FerretDB).
    #[arg(long = "mongo", env = "SHELF_MONGO", default_value = DEFAULT_MONGO, global = true)]
    pub mongo: String,

    /// MongoDB database that holds the collections.
    #[arg(long = "database", env = "SHELF_DB", default_value = DEFAULT_DATABASE, global = true)]
    pub database: String,

    #[command(flatten)]
    pub topics: Topics,
}

impl Platform {
    /// The environment variables that give a child process these settings
    /// (`shelf run`'s services); the Kafka password included, so hand them
    /// only to processes of our own.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let t = &self.topics;
        let mut env = self.kafka.to_env();
        env.extend([
            ("SHELF_MONGO", self.mongo.clone()),
            ("SHELF_DB", self.database.clone()),
            ("SHELF_TOPIC_INGEST_PRODUCT", t.ingest_product.clone()),
            ("SHELF_TOPIC_INGEST_CATEGORY", t.ingest_category.clone()),
            ("SHELF_TOPIC_PRODUCT_CLEAN", t.product_clean.clone()),
            ("SHELF_TOPIC_PRODUCT_DLQ", t.product_dlq.clone()),
            ("SHELF_TOPIC_TRANSFORMS", t.transforms.clone()),
        ]);
        env
    }
}

impl Default for Platform {
    fn default() -> Self {
        Self {
            config: None,
            kafka: KafkaSettings::default(),
            mongo: DEFAULT_MONGO.to_owned(),
            database: DEFAULT_DATABASE.to_owned(),
            topics: Topics::default(),
        }
    }
}

/// Topic names (see the data contract's topic table).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Connection settings (flags, SHELF_* variables or --config)")]
pub struct Topics {
    /// Raw product records as clients sent them, keyed by asin.
    #[arg(
        long = "topic-ingest-product",
        env = "SHELF_TOPIC_INGEST_PRODUCT",
        default_value = topics::INGEST_PRODUCT,
        global = true
    )]
    pub ingest_product: String,

    /// Category records, keyed by id.
    #[arg(
        long = "topic-ingest-category",
        env = "SHELF_TOPIC_INGEST_CATEGORY",
        default_value = topics::INGEST_CATEGORY,
        global = true
    )]
    pub ingest_category: String,

    /// Cleaned products with derived fields, keyed by asin.
    #[arg(
        long = "topic-product-clean",
        env = "SHELF_TOPIC_PRODUCT_CLEAN",
        default_value = topics::PRODUCT_CLEAN,
        global = true
    )]
    pub product_clean: String,

    /// Dead letters: rejected records with their reason and origin.
    #[arg(
        long = "topic-product-dlq",
        env = "SHELF_TOPIC_PRODUCT_DLQ",
        default_value = topics::PRODUCT_DLQ,
        global = true
    )]
    pub product_dlq: String,

    /// Compacted topic holding deployed transform modules and chains.
    #[arg(
        long = "topic-transforms",
        env = "SHELF_TOPIC_TRANSFORMS",
        default_value = topics::TRANSFORMS,
        global = true
    )]
    pub transforms: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            ingest_product: topics::INGEST_PRODUCT.to_owned(),
            ingest_category: topics::INGEST_CATEGORY.to_owned(),
            product_clean: topics::PRODUCT_CLEAN.to_owned(),
            product_dlq: topics::PRODUCT_DLQ.to_owned(),
            transforms: topics::TRANSFORMS.to_owned(),
        }
    }
}

impl Topics {
    /// The same names with a prefix, so that a test can work on its own topics.
    pub fn prefixed(prefix: &str) -> Self {
        let d = Self::default();
        Self {
            ingest_product: format!("{prefix}{}", d.ingest_product),
            ingest_category: format!("{prefix}{}", d.ingest_category),
            product_clean: format!("{prefix}{}", d.product_clean),
            product_dlq: format!("{prefix}{}", d.product_dlq),
            transforms: format!("{prefix}{}", d.transforms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        platform: Platform,
    }

    #[test]
    fn flags_override_defaults() {
        let cli = Cli::parse_from(["x", "--kafka", "broker:1", "--topic-product-dlq", "dead"]);
        assert_eq!(cli.platform.kafka.bootstrap, "broker:1");
        assert_eq!(cli.platform.topics.product_dlq, "dead");
        assert_eq!(cli.platform.topics.product_clean, "product-clean");
    }

    #[test]
    fn clap_defaults_match_default_impl() {
        // Both are public entry points; they must not drift apart.
        let cli = Cli::parse_from(["x"]);
        let d = Platform::default();
        // The environment of the test process may set SHELF_*; compare only
        // when it does not.
        if std::env::var_os("SHELF_KAFKA").is_none() {
            assert_eq!(cli.platform.kafka.bootstrap, d.kafka.bootstrap);
        }
        if std::env::var_os("SHELF_TOPIC_INGEST_PRODUCT").is_none() {
            assert_eq!(cli.platform.topics.ingest_product, d.topics.ingest_product);
        }
    }

    #[test]
    fn prefixed_topics() {
        let t = Topics::prefixed("t1-");
        assert_eq!(t.ingest_product, "t1-ingest-product");
        assert_eq!(t.transforms, "t1-_shelf_transforms");
    }
}
