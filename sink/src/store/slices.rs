//! The rename sweeps' store work: a bounded slice of `products` in `_id`
//! order, and the renames it calls for (see `crate::rename`).

use std::collections::BTreeMap;

use bson::{doc, Document};
use mongodb::options::FindOptions;
use shelf_contract::collections;

use super::{Store, StoreError};
use crate::rename::Rename;

impl Store {
    /// A slice of `products` (for a rename sweep, a rebuild): at most
    /// `limit` products after `after` in `_id` order, with only the fields
    /// of `projection`.
    /// Bounded whatever the collection's size: an `_id` index range on
    /// MongoDB, and on the local FerretDB build too
    /// (`infra/ferretdb/sqlite-slices-by-id.patch`).
    pub async fn products_after(
        &self,
        after: &str,
        limit: usize,
        projection: Document,
    ) -> Result<Vec<Document>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let options = FindOptions::builder()
            .sort(doc! { "_id": 1 })
            .limit(limit)
            .batch_size(u32::try_from(limit).unwrap_or(u32::MAX))
            .projection(projection)
            .build();
        self.find_with(
            collections::PRODUCTS,
            doc! { "_id": { "$gt": after } },
            options,
        )
        .await
    }

    /// Gives each product its category's name: one statement per category
    /// for all of its products in the slice (`_id: {$in}`), since a store
    /// pays per statement far more than per document (FerretDB, unpatched:
    /// 0.83 s for 1000 statements of one `_id`, 0.19 s for one of 1000;
    /// infra/ferretdb/README.md). A product that
    /// has the name already, or has moved to another category since it was
    /// read, is left as it is.
    pub async fn rename(&self, renames: &[Rename]) -> Result<(), StoreError> {
        let mut by_category: BTreeMap<(i64, &str), Vec<&str>> = BTreeMap::new();
        for r in renames {
            by_category
                .entry((r.category_id, r.name.as_str()))
                .or_default()
                .push(r.asin.as_str());
        }
        let statements = by_category.into_iter().map(|((category_id, name), asins)| {
            doc! {
                "q": {
                    "_id": { "$in": asins },
                    "category_id": category_id,
                    "category_name": { "$ne": name },
                },
                "u": { "$set": { "category_name": name } },
                // FerretDB v1's single-document updates keep their query
                // open until the command ends (see `upsert`).
                "multi": true,
            }
        });
        self.update(collections::PRODUCTS, statements).await
    }
}
