//! The day's movers: the latest observed day's biggest price drops and
//! rises, read from `price_changes` through its `day` index.

use std::fmt;

use bson::{doc, Bson, Document};
use futures::TryStreamExt;
use mongodb::options::FindOptions;
use mongodb::Database;
use shelf_contract::collections;
use shelf_contract::fields::{price_change as change, product};

use crate::ReportError;

/// Movers shown each way.
const TOP: i64 = 5;

/// One price change, as shown.
#[derive(Debug, Clone, PartialEq)]
pub struct Mover {
    pub asin: String,
    pub category_id: i64,
    pub old: Option<f64>,
    pub new: Option<f64>,
    pub change_pct: f64,
}

/// The latest observed day's movers; `None` before any daily figures.
#[derive(Debug, Clone, PartialEq)]
pub struct Movers {
    pub day: String,
    pub changes: u64,
    pub drops: Vec<Mover>,
    pub rises: Vec<Mover>,
}

pub async fn load(db: &Database) -> Result<Option<Movers>, ReportError> {
    let changes = db.collection::<Document>(collections::PRICE_CHANGES);
    // The latest observed day: from the daily figures (a document per
    // category and day), far fewer than the price changes.
    let latest = db
        .collection::<Document>(collections::CATEGORY_DAILY)
        .find_one(doc! {})
        .sort(doc! { product::DAY: -1 })
        .await?;
    let Some(day) = latest.and_then(|d| d.get_str(product::DAY).ok().map(str::to_owned)) else {
        return Ok(None);
    };
    let count = changes.count_documents(doc! { product::DAY: &day }).await?;
    let top = |direction: i32| {
        let filter = if direction > 0 {
            doc! { product::DAY: &day, change::CHANGE_PCT: { "$lt": 0 } }
        } else {
            doc! { product::DAY: &day, change::CHANGE_PCT: { "$gt": 0 } }
        };
        let options = FindOptions::builder()
            .sort(doc! { change::CHANGE_PCT: direction, "_id": 1 })
            .limit(TOP)
            .build();
        let changes = changes.clone();
        async move {
            let docs: Vec<Document> = changes
                .find(filter)
                .with_options(options)
                .await?
                .try_collect()
                .await?;
            Ok::<_, ReportError>(docs.iter().filter_map(mover).collect::<Vec<_>>())
        }
    };
    Ok(Some(Movers {
        drops: top(1).await?,
        rises: top(-1).await?,
        day,
        changes: count,
    }))
}

fn mover(d: &Document) -> Option<Mover> {
    let amount = |k: &str| match d.get(k) {
        Some(Bson::Double(x)) => Some(*x),
        _ => None,
    };
    Some(Mover {
        asin: d.get_str(product::ASIN).ok()?.to_owned(),
        category_id: match d.get(product::CATEGORY_ID)? {
            Bson::Int32(i) => i64::from(*i),
            Bson::Int64(i) => *i,
            _ => return None,
        },
        old: amount(change::PREV_PRICE),
        new: amount(product::PRICE),
        change_pct: amount(change::CHANGE_PCT)?,
    })
}

impl fmt::Display for Movers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "The day's movers ({}, {} price changes)",
            self.day, self.changes
        )?;
        let money = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("${x:.2}"));
        for (what, list) in [("drops", &self.drops), ("rises", &self.rises)] {
            writeln!(f, "  biggest {what}")?;
            if list.is_empty() {
                writeln!(f, "    none")?;
            }
            for m in list {
                writeln!(
                    f,
                    "    {:<10}  category {:>4}  {:>10} → {:<10} {:>+7.1} %",
                    m.asin,
                    m.category_id,
                    money(m.old),
                    money(m.new),
                    m.change_pct
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn movers_print_old_and_new_prices() {
        let m = Movers {
            day: "2023-09-30".into(),
            changes: 2,
            drops: vec![Mover {
                asin: "B0ABCDEFGH".into(),
                category_id: 7,
                old: Some(100.0),
                new: Some(87.75),
                change_pct: -12.3,
            }],
            rises: vec![],
        };
        let text = m.to_string();
        assert!(text.contains("2023-09-30, 2 price changes"), "{text}");
        assert!(text.contains("$100.00 → $87.75"), "{text}");
        assert!(text.contains("-12.3 %"), "{text}");
        assert!(text.contains("none"), "{text}");
    }
}
