//! The seed's three analyses, read from the aggregates the sink keeps (not
//! recomputed from products), drawn as horizontal bars.

use std::fmt::Write;

use bson::{doc, Document};
use futures::TryStreamExt;
use mongodb::Database;
use shelf_contract::collections;
use shelf_contract::documents::{CategoryStats, PriceBucket};

use crate::ReportError;

/// Bars shown per chart; the rest are summed into one line.
const TOP: usize = 20;
const WIDTH: usize = 40;

pub struct Charts {
    /// (label, lo, products), cheapest first, "unpriced" last.
    pub buckets: Vec<(String, Option<f64>, i64)>,
    /// (category name, products, average price), most products first.
    pub categories: Vec<(String, i64, Option<f64>)>,
    pub products: u64,
}

pub async fn load(db: &Database) -> Result<Charts, ReportError> {
    let buckets: Vec<PriceBucket> = db
        .collection::<PriceBucket>(collections::PRICE_BUCKETS)
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    let mut buckets: Vec<(String, Option<f64>, i64)> = buckets
        .into_iter()
        .map(|b| (b.label, b.lo.map(|lo| lo as f64), b.products))
        .collect();
    buckets.sort_by(|a, b| {
        a.1.unwrap_or(f64::INFINITY)
            .total_cmp(&b.1.unwrap_or(f64::INFINITY))
    });
    let stats: Vec<CategoryStats> = db
        .collection::<CategoryStats>(collections::CATEGORY_STATS)
        .find(doc! {})
        .await?
        .try_collect()
        .await?;
    let mut categories: Vec<(String, i64, Option<f64>)> = stats
        .into_iter()
        .map(|s| {
            let name = s
                .category_name
                .unwrap_or_else(|| format!("category {}", s.id));
            (name, s.products, s.avg_price)
        })
        .collect();
    categories.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let products = db
        .collection::<Document>(collections::PRODUCTS)
        .estimated_document_count()
        .await?;
    Ok(Charts {
        buckets,
        categories,
        products,
    })
}

fn bar(value: f64, max: f64) -> String {
    let n = if max > 0.0 {
        ((value / max) * WIDTH as f64).round() as usize
    } else {
        0
    };
    "█".repeat(n.min(WIDTH))
}

impl std::fmt::Display for Charts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        let max = self.buckets.iter().map(|b| b.2).max().unwrap_or(0) as f64;
        let _ = writeln!(out, "Products per price bucket (USD)");
        for (label, _, n) in &self.buckets {
            let _ = writeln!(out, "  {label:>10} {:<WIDTH$} {n}", bar(*n as f64, max));
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Products per category (top {TOP} of {})",
            self.categories.len()
        );
        let max = self.categories.first().map_or(0, |c| c.1) as f64;
        for (name, n, _) in self.categories.iter().take(TOP) {
            let _ = writeln!(
                out,
                "  {:>32} {:<WIDTH$} {n}",
                clip(name),
                bar(*n as f64, max)
            );
        }
        let rest: i64 = self.categories.iter().skip(TOP).map(|c| c.1).sum();
        if rest > 0 {
            let _ = writeln!(out, "  {:>32} {rest}", "(all others)");
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Average price per category (same categories)");
        let max = self
            .categories
            .iter()
            .take(TOP)
            .filter_map(|c| c.2)
            .fold(0.0, f64::max);
        for (name, _, avg) in self.categories.iter().take(TOP) {
            match avg {
                Some(a) => {
                    let _ = writeln!(out, "  {:>32} {:<WIDTH$} {a:.2}", clip(name), bar(*a, max));
                }
                None => {
                    let _ = writeln!(out, "  {:>32} (nothing priced)", clip(name));
                }
            }
        }
        let _ = write!(out, "\n{} products stored", self.products);
        f.write_str(&out)
    }
}

fn clip(name: &str) -> String {
    if name.chars().count() <= 32 {
        name.to_owned()
    } else {
        name.chars().take(31).chain(['…']).collect()
    }
}
