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
