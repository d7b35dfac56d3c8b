//! `price_changes` writes, each guarded by where it was computed
//! ([`crate::price_changes`] has the why).

use bson::Bson;
use shelf_contract::collections;

use super::{Store, StoreError};
use crate::plan::PriceChangeWrite;
use crate::price_changes::{guard, SRC};

impl Store {
    /// Writes the changes that have a document and deletes the others. A
    /// stored change written from a later point of its product (a greater
    /// `_src`) makes the write a [`StoreError::is_conflict`] error, and is
    /// not deleted.
    pub async fn write_price_changes(
        &self,
        changes: &[PriceChangeWrite],
    ) -> Result<(), StoreError> {
        let written = changes.iter().filter_map(|c| {
            let mut d = c.document.clone()?;
            let id = d.remove("_id").unwrap_or(Bson::Null);
            d.insert(SRC, c.src);
            Some((id, bson::doc! { "$set": d }))
        });
        let src: std::collections::HashMap<&str, i64> =
            changes.iter().map(|c| (c.id.as_str(), c.src)).collect();
        let at = |id: &str| guard(src.get(id).copied().unwrap_or(-1));
        self.update_by_id(collections::PRICE_CHANGES, written, Some(&at))
            .await?;
        let gone = changes
            .iter()
            .filter(|c| c.document.is_none())
            .map(|c| (Bson::String(c.id.clone()), guard(c.src)));
        self.delete_by_id(collections::PRICE_CHANGES, gone).await
    }
}
