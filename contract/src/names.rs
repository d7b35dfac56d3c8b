//! The names of the contract's topics, collections and CSV columns.

/// Default topic names (the contract's topic table); each can be
/// configured (`shelf_config::Topics`).
pub mod topics {
    /// Raw product records as clients sent them, keyed by asin.
    pub const INGEST_PRODUCT: &str = "ingest-product";
    /// Category records, keyed by id.
    pub const INGEST_CATEGORY: &str = "ingest-category";
    /// Cleaned products with derived fields, keyed by asin.
    pub const PRODUCT_CLEAN: &str = "product-clean";
    /// Dead letters ([`crate::dead_letter::DeadLetter`]).
    pub const PRODUCT_DLQ: &str = "product-dlq";
    /// Compacted: deployed transform modules and chains.
    pub const TRANSFORMS: &str = "_shelf_transforms";
}

/// Collection names of the store (the contract's store section).
pub mod collections {
    pub const PRODUCTS: &str = "products";
    pub const CATEGORIES: &str = "categories";
    pub const CATEGORY_STATS: &str = "category_stats";
    pub const PRICE_BUCKETS: &str = "price_buckets";
    pub const REJECTS: &str = "rejects";
    /// One document per product version whose price or list price changed.
    pub const PRICE_CHANGES: &str = "price_changes";
    /// One document per category and UTC day: the end-of-day figures.
    pub const CATEGORY_DAILY: &str = "category_daily";
    /// The sink's own state: per-partition partial figures (not for analysts).
    pub const SINK_PARTIALS: &str = "sink_partials";
    /// The sink's own state: per-partition, per-day changes of the daily
    /// figures (not for analysts).
    pub const SINK_DAILY: &str = "sink_daily";
}

/// Columns of the input CSVs, in order (the contract's input section).
pub mod columns {
    use crate::fields::product as f;

    pub const PRODUCTS: [&str; 11] = [
        f::ASIN,
        f::TITLE,
        f::IMG_URL,
        f::PRODUCT_URL,
        f::STARS,
        f::REVIEWS,
        f::PRICE,
        f::LIST_PRICE,
        f::CATEGORY_ID,
        f::IS_BEST_SELLER,
        f::BOUGHT_IN_LAST_MONTH,
    ];
    pub const CATEGORIES: [&str; 2] = ["id", "category_name"];
}
