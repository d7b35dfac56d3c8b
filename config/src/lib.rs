//! Where shelfstream finds its broker and its store, and what the topics and
//! collections are called.
//!
//! Every service and tool takes the same settings, from flags, from
//! environment variables or from defaults that match the local platform that
//! `make up` starts. Embed [`Platform`] in a command's clap arguments with
//! `#[command(flatten)]`.
//!
//! The names are those of the data contract (`docs/data-contract.md`); each
//! can be overridden so that tests can run on private topics and databases.

use clap::Args;

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
pub struct Topics {
    /// Raw product records as clients sent them, keyed by asin.
    #[arg(
        long = "topic-ingest-product",
        env = "SHELF_TOPIC_INGEST_PRODUCT",
        default_value = "ingest-product",
        global = true
    )]
    pub ingest_product: String,

    /// Category records, keyed by id.
    #[arg(
        long = "topic-ingest-category",
        env = "SHELF_TOPIC_INGEST_CATEGORY",
        default_value = "ingest-category",
        global = true
    )]
    pub ingest_category: String,

    /// Cleaned products with derived fields, keyed by asin.
    #[arg(
        long = "topic-product-clean",
        env = "SHELF_TOPIC_PRODUCT_CLEAN",
        default_value = "product-clean",
        global = true
    )]
    pub product_clean: String,

    /// Dead letters: rejected records with their reason and origin.
    #[arg(
        long = "topic-product-dlq",
        env = "SHELF_TOPIC_PRODUCT_DLQ",
        default_value = "product-dlq",
        global = true
    )]
    pub product_dlq: String,

    /// Compacted topic holding deployed transform modules and chains.
    #[arg(
        long = "topic-transforms",
        env = "SHELF_TOPIC_TRANSFORMS",
        default_value = "_shelf_transforms",
        global = true
    )]
    pub transforms: String,
}

impl Default for Topics {
    fn default() -> Self {
        Self {
            ingest_product: "ingest-product".to_owned(),
            ingest_category: "ingest-category".to_owned(),
            product_clean: "product-clean".to_owned(),
            product_dlq: "product-dlq".to_owned(),
            transforms: "_shelf_transforms".to_owned(),
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

/// Columns of the input CSVs, in order (the data contract's input section).
pub mod columns {
    pub const PRODUCTS: [&str; 11] = [
        "asin",
        "title",
        "imgUrl",
        "productURL",
        "stars",
        "reviews",
        "price",
        "listPrice",
        "category_id",
        "isBestSeller",
        "boughtInLastMonth",
    ];
    pub const CATEGORIES: [&str; 2] = ["id", "category_name"];
}

/// Collection names of the store (see the data contract's store section).
pub mod collections {
    pub const PRODUCTS: &str = "products";
    pub const CATEGORIES: &str = "categories";
    pub const CATEGORY_STATS: &str = "category_stats";
    pub const PRICE_BUCKETS: &str = "price_buckets";
    pub const REJECTS: &str = "rejects";
    /// The sink's own state: per-partition partial figures (not for analysts).
    pub const SINK_PARTIALS: &str = "sink_partials";
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
