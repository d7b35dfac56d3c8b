//! Every row read accounted for: rows read = unparseable + refused by the
//! gateway + rejected by the transforms + product events (stored, or
//! rejected by the sink). A difference is a FAIL.

use std::collections::BTreeMap;
use std::fmt::Write;

use bson::{doc, Document};
use futures::TryStreamExt;
use mongodb::Database;
use shelf_contract::collections;

use crate::ReportError;

#[derive(Debug, Clone, Default)]
pub struct Reconciliation {
    pub read: u64,
    pub unparseable: u64,
    pub refused: BTreeMap<String, u64>,
    /// Dead letters of the transforms in `rejects`, by reason.
    pub transform_rejects: BTreeMap<String, u64>,
    /// Records of `product-dlq` (should equal the above's total).
    pub dlq_records: u64,
    /// Records of `product-clean`.
    pub product_events: u64,
    /// Product events the sink refused, by reason.
    pub sink_rejects: BTreeMap<String, u64>,
    pub distinct_products: u64,
}

/// Products stored, counted exactly. MongoDB counts with its `_id` index.
/// FerretDB would read and decode every document for `count_documents` (an
/// aggregation; 3.5 minutes at 1.4 M products), so there it is the `count`
/// command, which for a whole collection our FerretDB answers from SQLite's
/// table pages (infra/ferretdb/count-whole-collection.patch) and an
/// unpatched one by reading every document, exact either way.
pub async fn stored_products(db: &Database) -> Result<u64, ReportError> {
    let products = db.collection::<Document>(collections::PRODUCTS);
    let info = db.run_command(doc! { "buildInfo": 1 }).await?;
    if !info.contains_key("ferretdbVersion") {
        return Ok(products.count_documents(doc! {}).await?);
    }
    let reply = db
        .run_command(doc! { "count": collections::PRODUCTS })
        .await?;
    let n = match reply.get("n") {
        Some(bson::Bson::Int32(n)) => u64::try_from(*n).ok(),
        Some(bson::Bson::Int64(n)) => u64::try_from(*n).ok(),
        _ => None,
    };
    n.ok_or_else(|| {
        ReportError::Reply(format!(
            "`count` of {} answered n = {:?}",
            collections::PRODUCTS,
            reply.get("n")
        ))
    })
}

/// Rejects stored, by stage (`transform`, `sink`) and reason. Those a
/// replay resolved (their record now stored) count under the stage
/// `resolved`.
pub async fn rejects(db: &Database) -> Result<BTreeMap<(String, String), u64>, ReportError> {
    let mut out = BTreeMap::new();
    let mut cursor = db
        .collection::<Document>(collections::REJECTS)
        .find(doc! {})
        .projection(doc! { "stage": 1, "reason": 1, "resolved": 1 })
        .await?;
    while let Some(d) = cursor.try_next().await? {
        let stage = match d.contains_key("resolved") {
            true => "resolved",
            false => d.get_str("stage").unwrap_or("?"),
        };
        let reason = d.get_str("reason").unwrap_or("?").to_owned();
        *out.entry((stage.to_owned(), reason)).or_default() += 1;
    }
    Ok(out)
}

impl Reconciliation {
    fn total(m: &BTreeMap<String, u64>) -> u64 {
        m.values().sum()
    }

    pub fn accounted(&self) -> u64 {
        self.unparseable
            + Self::total(&self.refused)
            + Self::total(&self.transform_rejects)
            + self.product_events
    }

    pub fn passes(&self) -> bool {
        self.read == self.accounted() && self.dlq_records == Self::total(&self.transform_rejects)
    }
}

impl std::fmt::Display for Reconciliation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut o = String::new();
        let sink = Self::total(&self.sink_rejects);
        let _ = writeln!(o, "Reconciliation");
        let _ = writeln!(o, "  rows read                      {:>10}", self.read);
        let _ = writeln!(
            o,
            "  = unparseable (client)         {:>10}",
            self.unparseable
        );
        let _ = writeln!(
            o,
            "  + refused by the gateway       {:>10}",
            Self::total(&self.refused)
        );
        for (reason, n) in &self.refused {
            let _ = writeln!(o, "      {n:>8}  {reason}");
        }
        let _ = writeln!(
            o,
            "  + rejected by the transforms   {:>10}",
            Self::total(&self.transform_rejects)
        );
        for (reason, n) in &self.transform_rejects {
            let _ = writeln!(o, "      {n:>8}  {reason}");
        }
        let _ = writeln!(
            o,
            "  + product events               {:>10}",
            self.product_events
        );
        let _ = writeln!(
            o,
            "      {:>8}  stored",
            self.product_events.saturating_sub(sink)
        );
        for (reason, n) in &self.sink_rejects {
            let _ = writeln!(o, "      {n:>8}  rejected by the sink: {reason}");
        }
        let _ = writeln!(
            o,
            "  distinct products stored       {:>10}",
            self.distinct_products
        );
        if self.passes() {
            let _ = write!(o, "PASS: every row is accounted for");
        } else {
            let _ = write!(
                o,
                "FAIL: {} rows read, {} accounted for; {} dead letters in Kafka, {} in rejects",
                self.read,
                self.accounted(),
                self.dlq_records,
                Self::total(&self.transform_rejects)
            );
        }
        f.write_str(&o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_row_fails() {
        let mut r = Reconciliation {
            read: 10,
            unparseable: 1,
            product_events: 7,
            dlq_records: 1,
            ..Default::default()
        };
        r.refused.insert("no asin".into(), 1);
        r.transform_rejects.insert(
            shelf_contract::RejectReason::InvalidPrice.as_str().into(),
            1,
        );
        assert!(r.passes(), "{r}");
        r.product_events = 6;
        assert!(!r.passes());
        assert!(r.to_string().contains("FAIL"));
    }
}
