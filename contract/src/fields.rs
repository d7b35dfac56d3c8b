//! Field names of the records and documents, so no stage spells one by
//! hand.

/// A product, from the CSV row to the `products` document.
pub mod product {
    pub const ASIN: &str = "asin";
    pub const TITLE: &str = "title";
    pub const IMG_URL: &str = "imgUrl";
    pub const PRODUCT_URL: &str = "productURL";
    pub const STARS: &str = "stars";
    pub const REVIEWS: &str = "reviews";
    pub const PRICE: &str = "price";
    pub const LIST_PRICE: &str = "listPrice";
    pub const CATEGORY_ID: &str = "category_id";
    pub const IS_BEST_SELLER: &str = "isBestSeller";
    pub const BOUGHT_IN_LAST_MONTH: &str = "boughtInLastMonth";
    /// Derived by `price-bucket`.
    pub const DISCOUNT_PCT: &str = "discount_pct";
    /// Derived by `price-bucket`.
    pub const PRICE_BUCKET: &str = "price_bucket";
    /// Derived by `price-bucket`.
    pub const PRICE_BUCKET_LO: &str = "price_bucket_lo";
    /// Set by the sink from the categories stream.
    pub const CATEGORY_NAME: &str = "category_name";
    /// When the product was observed: on the wire, the input's value
    /// (`time::parse_observed_at`), written by `clean` as UTC text; in
    /// `products`, a date.
    pub const OBSERVED_AT: &str = "observed_at";
    /// An older feed's observation time, `DD/MM/YYYY HH:MM` (UTC).
    pub const DATE: &str = "date";
    /// Set by the sink: the UTC day of `observed_at`, `YYYY-MM-DD`.
    pub const DAY: &str = "day";
    /// Set by the sink: the earliest and latest observation of the asin.
    pub const FIRST_SEEN: &str = "first_seen";
    pub const LAST_SEEN: &str = "last_seen";
    /// Set by the sink: the asin's versions whose price or list price
    /// differs from the version before (its `price_changes` documents).
    pub const PRICE_CHANGE_COUNT: &str = "price_change_count";
}

/// A `price_changes` document (besides [`product::ASIN`],
/// [`product::OBSERVED_AT`], [`product::DAY`], [`product::CATEGORY_ID`],
/// [`product::PRICE`] and [`product::LIST_PRICE`] of the new version).
pub mod price_change {
    pub const PREV_PRICE: &str = "prev_price";
    pub const PREV_LIST_PRICE: &str = "prev_listPrice";
    pub const PREV_OBSERVED_AT: &str = "prev_observed_at";
    pub const CHANGE_PCT: &str = "change_pct";
}

/// A category record (`ingest-category`) and `categories` document.
pub mod category {
    /// The record's id; the document's `_id`.
    pub const ID: &str = "id";
    /// The record's name field.
    pub const CATEGORY_NAME: &str = "category_name";
    /// The document's name field.
    pub const NAME: &str = "name";
}

/// Fields of a `rejects` document beside those of
/// [`RejectDocument`](crate::documents::RejectDocument)'s serde names.
pub mod reject {
    pub const REASON: &str = "reason";
    pub const STAGE: &str = "stage";
    pub const PAYLOAD: &str = "payload";
    /// Where the record was read: `{topic, partition, offset}`.
    pub const SOURCE: &str = "source";
    /// The input row: `{file, line}`.
    pub const ORIGIN: &str = "origin";
    /// When the gateway received the record (a date).
    pub const RECEIVED_AT: &str = "received_at";
    /// The replay run whose redrive was rejected again.
    pub const REPLAY: &str = "replay";
    /// Set once a redrive of the record was stored: `{at, replay, chain}`.
    pub const RESOLVED: &str = "resolved";
}
