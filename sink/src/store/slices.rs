//! The rename sweeps' store work: a bounded slice of `products` in `_id`
//! order, and the renames it calls for (see `crate::rename`).

use bson::{doc, Document};
use mongodb::options::FindOptions;
use shelf_config::collections;

use super::{Store, StoreError};
use crate::rename::Rename;

impl Store {
    /// A slice of `products` for a rename sweep: at most `limit` products
    /// after `after` in `_id` order, with only the fields the sweep reads.
    /// Bounded whatever the collection's size: an `_id` index range on
    /// MongoDB, and on the local FerretDB build too
    /// (`infra/ferretdb/sqlite-slices-by-id.patch`).
    pub async fn products_after(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<Vec<Document>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(limit)
            .batch_size(u32::try_from(limit).unwrap_or(u32::MAX))
            .projection(doc! { "_src": 1, "category_id": 1, "category_name": 1 })
            .build();
        self.find_with(
            collections::PRODUCTS,
            doc! { "_id": { "$gt": after } },
            options,
        )
        .await
    }

    /// Gives each product its category's name, by `_id`; a product that
    /// has it already, or has moved to another category since it was read,
    /// is left as it is.
    pub async fn rename(&self, renames: &[Rename]) -> Result<(), StoreError> {
        let statements = renames.iter().map(|r| {
            doc! {
                "q": {
                    "_id": &r.asin,
                    "category_id": r.category_id,
                    "category_name": { "$ne": &r.name },
                },
                "u": { "$set": { "category_name": &r.name } },
                // FerretDB v1's single-document updates keep their query
                // open until the command ends (see `upsert`).
                "multi": true,
            }
        });
        self.update(collections::PRODUCTS, statements).await
    }
}
