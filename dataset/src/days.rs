//! Daily snapshots: one products file per day, each row with an
//! `observed_at` column, the catalogue drifting from one day to the next
//! the way a scraped catalogue does.
//!
//! Each day about 3 % of prices change (three discounts of 5–40 % for two
//! raises of 5–20 %), about 1 % of products are new and 0.5 % are not seen
//! again, a few move category and 1 % flip their best-seller flag. The
//! first day is the single-snapshot generator's file; the same seed gives
//! the same files byte for byte.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use shelf_contract::time::{day_number, format_day, parse_observed_at};

use crate::shape::{self, ProductRow};
use crate::{start, text, DatasetError, GenerateArgs};

const PRICE_CHANGE: f64 = 0.03;
const DISCOUNT_SHARE: f64 = 0.6;
const NEW: f64 = 0.01;
const GONE: f64 = 0.005;
const MOVE: f64 = 0.002;
const FLIP: f64 = 0.01;

/// Flags of `shelf dataset generate` for daily snapshots.
#[derive(Debug, Clone, Args)]
pub struct DaysArgs {
    /// Write this many daily snapshots, `products-YYYY-MM-DD.csv`, each
    /// with an `observed_at` column and `--rows` products on the first day
    /// (0: one `products.csv` without time, as always).
    #[arg(long, default_value_t = 0)]
    pub days: u32,
    /// The first snapshot's day.
    #[arg(long, default_value = "2023-09-01")]
    pub start: String,
}

/// What the daily snapshots hold.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DaysSummary {
    pub files: Vec<PathBuf>,
    pub categories: u64,
    /// Rows over all files.
    pub observations: u64,
    /// Distinct products over all days.
    pub products: u64,
    pub price_changes: u64,
    pub moves: u64,
    pub gone: u64,
}

/// The file of a day.
pub fn file_name(day: &str) -> String {
    format!("products-{day}.csv")
}

pub fn generate_days(args: &GenerateArgs, days: &DaysArgs) -> Result<DaysSummary, DatasetError> {
    let first = parse_observed_at(&days.start)
        .map(day_number)
        .map_err(|e| DatasetError::Start(format!("--start `{}` {e}", days.start)))?;
    let (mut rng, categories, written) = start(args)?;
    let mut summary = DaysSummary {
        categories: written,
        ..DaysSummary::default()
    };
    let mut titles = text::Titles::default();
    let mut next_index = 0;
    let mut draw = |rng: &mut ChaCha8Rng| {
        next_index += 1;
        shape::product(rng, next_index - 1, args.seed, &categories, &mut titles)
    };
    let mut catalogue: Vec<ProductRow> = (0..args.rows).map(|_| draw(&mut rng)).collect();
    summary.products = args.rows;
    for d in 0..days.days {
        if d > 0 {
            let before = catalogue.len();
            catalogue.retain(|_| !rng.random_bool(GONE));
            summary.gone += (before - catalogue.len()) as u64;
            for row in &mut catalogue {
                drift(&mut rng, row, &categories, &mut summary);
            }
            let new = (before as f64 * NEW).round() as u64;
            for _ in 0..new {
                catalogue.push(draw(&mut rng));
            }
            summary.products += new;
        }
        let day = format_day(first + i64::from(d));
        let path = args.out.join(file_name(&day));
        write_day(&path, &catalogue, &day)?;
        summary.observations += catalogue.len() as u64;
        summary.files.push(path);
    }
    Ok(summary)
}

/// One day's changes to a product.
fn drift(
    rng: &mut ChaCha8Rng,
    row: &mut ProductRow,
    categories: &shape::Categories,
    summary: &mut DaysSummary,
) {
    let price: f64 = row.cells[6].parse().unwrap_or(0.0);
    if price > 0.0 && rng.random_bool(PRICE_CHANGE) {
        let factor = if rng.random_bool(DISCOUNT_SHARE) {
            1.0 - rng.random_range(0.05..0.40)
        } else {
            1.0 + rng.random_range(0.05..0.20)
        };
        row.cells[6] = format!("{:.2}", (price * factor).max(0.99));
        summary.price_changes += 1;
    }
    if rng.random_bool(MOVE) {
        row.cells[8] = categories.pick(rng).id.to_string();
        summary.moves += 1;
    }
    if rng.random_bool(FLIP) {
        let flipped = if row.cells[9] == "True" {
            "False"
        } else {
            "True"
        };
        row.cells[9] = flipped.into();
    }
}

fn write_day(path: &Path, catalogue: &[ProductRow], day: &str) -> Result<(), DatasetError> {
    let io = |error| DatasetError::Io {
        path: path.to_owned(),
        error,
    };
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io)?);
    let mut header = shape::HEADER.join(",");
    header.push_str(",observed_at\n");
    out.write_all(header.as_bytes()).map_err(io)?;
    for row in catalogue {
        let mut line = row.to_csv_line();
        line.pop(); // the line break
        line.push(b',');
        line.extend_from_slice(day.as_bytes());
        line.push(b'\n');
        out.write_all(&line).map_err(io)?;
    }
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(out: &Path) -> (GenerateArgs, DaysArgs) {
        (
            GenerateArgs {
                rows: 2_000,
                out: out.to_owned(),
                seed: 7,
                dirty: 0.0,
                updates: 0.0,
            },
            DaysArgs {
                days: 5,
                start: "2023-09-01".into(),
            },
        )
    }

    #[test]
    fn daily_files_drift_and_are_the_same_for_a_seed() {
        let base = std::env::temp_dir().join(format!("shelf-days-{}", std::process::id()));
        let (a, days) = args(&base.join("a"));
        let summary = generate_days(&a, &days).unwrap();
        assert_eq!(summary.files.len(), 5);
        assert!(summary.files[4].ends_with("products-2023-09-05.csv"));
        // About 3 % of about 2,000 prices a day for 4 days.
        assert!((150..330).contains(&summary.price_changes), "{summary:?}");
        assert!(summary.products > 2_000 && summary.gone > 0, "{summary:?}");
        let day1 = std::fs::read_to_string(&summary.files[0]).unwrap();
        let mut lines = day1.lines();
        assert!(lines
            .next()
            .unwrap()
            .ends_with(",boughtInLastMonth,observed_at"));
        assert!(lines.next().unwrap().ends_with(",2023-09-01"));
        assert_eq!(day1.lines().count(), 2_001);

        let (b, _) = args(&base.join("b"));
        let again = generate_days(&b, &days).unwrap();
        for (x, y) in summary.files.iter().zip(&again.files) {
            assert_eq!(std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
        }
        let _ = std::fs::remove_dir_all(&base);
    }
}
