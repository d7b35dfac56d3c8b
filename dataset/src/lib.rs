//! `shelf dataset generate`: product and category CSVs with the columns,
//! quirks and shape of the public "Amazon Products 2023" data set (see
//! `docs/data-contract.md`), deterministic for a seed, optionally with
//! faulty rows of every kind the pipeline must account for.
//!
//! - [`shape`]: the distributions (prices, ratings, counts, categories).
//! - [`text`]: asins, titles and category names.
//! - [`dirty`]: rows that the transforms reject, and lines no CSV reader
//!   can parse.
//! - [`days`]: daily snapshots of a drifting catalogue (`--days`).

pub mod days;
pub mod dirty;
pub mod shape;
pub mod text;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows in the real products file.
pub const FULL_SIZE: u64 = 1_426_337;

/// Flags of `shelf dataset generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// Product rows to write (the real file has 1,426,337).
    #[arg(long, default_value_t = 10_000)]
    pub rows: u64,
    /// Directory for products.csv and categories.csv (created if missing).
    #[arg(long, default_value = "dataset/generated")]
    pub out: PathBuf,
    /// Same seed, same files, byte for byte.
    #[arg(long, default_value_t = 2023)]
    pub seed: u64,
    /// Share of product rows made faulty (0 to 1): every reject reason of
    /// the data contract, and lines a CSV reader cannot parse.
    #[arg(long, default_value_t = 0.0)]
    pub dirty: f64,
    /// Share of product rows (0 to 1) that are a later version of one of
    /// the last 2,000 products written: the same asin with new figures and
    /// perhaps another category, which replaces the earlier state.
    #[arg(long, default_value_t = 0.0)]
    pub updates: f64,
}

/// How far back an update reaches: close enough that both versions are
/// often in batches the client has in flight together.
const UPDATE_WINDOW: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {error}")]
    Csv { path: PathBuf, error: csv::Error },
    #[error("--dirty must be between 0 and 1, not {0}")]
    DirtyRate(f64),
    #[error("--updates must be between 0 and 1, not {0}")]
    UpdateRate(f64),
    #[error("{0}")]
    Start(String),
    #[error("{0}: no header line")]
    NoHeader(PathBuf),
}

/// What was written.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub products: u64,
    pub categories: u64,
    /// Rows made to fail a contract rule, by the reason they should get.
    pub faulty: std::collections::BTreeMap<&'static str, u64>,
    /// Lines written so that a CSV reader cannot parse them.
    pub unparseable: u64,
    /// Rows that repeat the asin of an earlier row (`--updates`).
    pub updates: u64,
}

pub fn generate(args: &GenerateArgs) -> Result<Summary, DatasetError> {
    if !(0.0..=1.0).contains(&args.dirty) {
        return Err(DatasetError::DirtyRate(args.dirty));
    }
    if !(0.0..=1.0).contains(&args.updates) {
        return Err(DatasetError::UpdateRate(args.updates));
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| DatasetError::Io { path, error }
    };
    let (mut rng, categories, written) = start(args)?;
    let mut summary = Summary {
        categories: written,
        ..Summary::default()
    };

    let path = args.out.join("products.csv");
    let file = File::create(&path).map_err(io(&path))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(shape::HEADER.join(",").as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .map_err(io(&path))?;
    let mut titles = text::Titles::default();
    let mut recent = std::collections::VecDeque::with_capacity(UPDATE_WINDOW);
    for i in 0..args.rows {
        let mut row = shape::product(&mut rng, i, args.seed, &categories, &mut titles);
        // Drawn only when asked for, so that files without updates stay
        // the same bytes as before the flag existed.
        if args.updates > 0.0 && !recent.is_empty() && rng.random_bool(args.updates) {
            let earlier: &String = &recent[rng.random_range(0..recent.len())];
            row.set_asin(earlier.clone());
            summary.updates += 1;
        } else {
            if recent.len() == UPDATE_WINDOW {
                recent.pop_front();
            }
            recent.push_back(row.cells[0].clone());
        }
        let line = if args.dirty > 0.0 && rng.random_bool(args.dirty) {
            match dirty::spoil(&mut rng, &mut row) {
                dirty::Spoiled::Row(reason) => {
                    *summary.faulty.entry(reason).or_default() += 1;
                    row.to_csv_line()
                }
                dirty::Spoiled::Line(bytes) => {
                    summary.unparseable += 1;
                    bytes
                }
            }
        } else {
            row.to_csv_line()
        };
        out.write_all(&line).map_err(io(&path))?;
        summary.products += 1;
    }
    out.flush().map_err(io(&path))?;
    Ok(summary)
}

/// The output directory made, the seed's random stream, and its
/// categories drawn first and written (how many): how every generated set
/// starts, so one seed gives the same categories in each.
fn start(args: &GenerateArgs) -> Result<(ChaCha8Rng, shape::Categories, u64), DatasetError> {
    std::fs::create_dir_all(&args.out).map_err(|error| DatasetError::Io {
        path: args.out.clone(),
        error,
    })?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let categories = shape::Categories::new(&mut rng);
    let written = write_categories(&args.out, &categories)?;
    Ok((rng, categories, written))
}

/// Writes `categories.csv` in `out`; returns how many.
fn write_categories(out: &Path, categories: &shape::Categories) -> Result<u64, DatasetError> {
    let path = out.join("categories.csv");
    let csv_err = |error| DatasetError::Csv {
        path: path.clone(),
        error,
    };
    let mut w = csv::Writer::from_path(&path).map_err(csv_err)?;
    w.write_record(["id", "category_name"]).map_err(csv_err)?;
    for c in &categories.list {
        w.write_record([c.id.to_string(), c.name.clone()])
            .map_err(csv_err)?;
    }
    w.flush().map_err(|error| DatasetError::Io {
        path: path.clone(),
        error,
    })?;
    Ok(categories.list.len() as u64)
}

/// Writes `to`, a products file with `from`'s header and no rows: with a
/// categories file, a run of `shelf stream` that sends only the categories
/// (late, after the products). Reads bytes: dirty rows may not be UTF-8.
pub fn header_only(from: &Path, to: &Path) -> Result<(), DatasetError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| DatasetError::Io { path, error }
    };
    let products = std::fs::read(from).map_err(io(from))?;
    let end = products
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| DatasetError::NoHeader(from.to_owned()))?;
    std::fs::write(to, &products[..=end]).map_err(io(to))
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use super::*;

    fn generated(rows: u64, seed: u64, dirty: f64) -> (PathBuf, Summary) {
        let out = std::env::temp_dir().join(format!(
            "shelf-dataset-{}-{rows}-{seed}-{dirty}",
            std::process::id()
        ));
        let summary = generate(&GenerateArgs {
            rows,
            out: out.clone(),
            seed,
            dirty,
            updates: 0.0,
        })
        .unwrap();
        (out, summary)
    }

    fn records(dir: &Path) -> Vec<Vec<String>> {
        csv::Reader::from_path(dir.join("products.csv"))
            .unwrap()
            .into_records()
            .filter_map(Result::ok)
            .filter(|r| r.len() == 11)
            .map(|r| r.iter().map(String::from).collect())
            .collect()
    }

    fn share(rows: &[Vec<String>], f: impl Fn(&[String]) -> bool) -> f64 {
        rows.iter().filter(|r| f(r)).count() as f64 / rows.len() as f64
    }

    #[test]
    fn same_seed_same_bytes() {
        let (a, _) = generated(2000, 7, 0.05);
        let (b, _) = generated(2000, 7, 0.05);
        let (c, _) = generated(2000, 8, 0.05);
        let read = |d: &Path| std::fs::read(d.join("products.csv")).unwrap();
        assert_eq!(read(&a), read(&b));
        assert_ne!(read(&a), read(&c));
    }

    #[test]
    fn shaped_like_the_real_file() {
        let (dir, summary) = generated(40_000, 1, 0.0);
        let rows = records(&dir);
        assert_eq!(rows.len(), 40_000);
        assert!((240..=260).contains(&summary.categories), "{summary:?}");

        let asins: HashSet<&str> = rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(asins.len(), rows.len(), "asins are unique");
        let digits = share(&rows, |r| r[0].bytes().all(|b| b.is_ascii_digit()));
        assert!(digits > 0.0 && digits < 0.01, "ISBN-style asins {digits}");

        let f = |r: &[String], i: usize| r[i].parse::<f64>().unwrap();
        let mut prices: Vec<f64> = rows.iter().map(|r| f(r, 6)).filter(|&p| p > 0.0).collect();
        prices.sort_by(f64::total_cmp);
        let median = prices[prices.len() / 2];
        let mean = prices.iter().sum::<f64>() / prices.len() as f64;
        assert!((17.0..23.0).contains(&median), "median {median}");
        assert!((36.0..52.0).contains(&mean), "mean {mean}");
        assert!(*prices.last().unwrap() <= 20_000.0);
        let zero = share(&rows, |r| f(r, 6) == 0.0);
        assert!((0.018..0.028).contains(&zero), "zero prices {zero}");
        assert!(share(&rows, |r| f(r, 7) == 0.0) >= 0.75, "listPrice 0");
        let stars_mean = rows.iter().map(|r| f(r, 4)).sum::<f64>() / rows.len() as f64;
        assert!((3.9..4.1).contains(&stars_mean), "stars mean {stars_mean}");
        let unrated = share(&rows, |r| f(r, 4) == 0.0);
        assert!((0.08..0.10).contains(&unrated), "unrated {unrated}");
        let no_reviews = share(&rows, |r| r[5] == "0");
        assert!(
            (0.77..0.81).contains(&no_reviews),
            "no reviews {no_reviews}"
        );
        let best = share(&rows, |r| r[9] == "True");
        assert!((0.004..0.008).contains(&best), "best sellers {best}");
        assert!(rows.iter().all(|r| r[9] == "True" || r[9] == "False"));
        let bought: HashSet<u32> = rows.iter().map(|r| r[10].parse().unwrap()).collect();
        assert!(bought.iter().all(|&b| b == 0 || b >= 50), "{bought:?}");
        let non_ascii = share(&rows, |r| !r[1].is_ascii());
        assert!(
            (0.04..0.08).contains(&non_ascii),
            "non-ASCII titles {non_ascii}"
        );
        assert!(
            rows.iter().any(|r| r[1].contains("\"")),
            "titles with quotes"
        );

        let mut per_category: HashMap<&str, usize> = HashMap::new();
        for r in &rows {
            *per_category.entry(r[8].as_str()).or_default() += 1;
        }
        let biggest = *per_category.values().max().unwrap() as f64 / rows.len() as f64;
        assert!(
            (0.07..0.14).contains(&biggest),
            "biggest category {biggest}"
        );
        assert!(per_category
            .keys()
            .all(|id| (1..=270).contains(&id.parse::<i64>().unwrap())));
    }

    #[test]
    fn updates_repeat_a_recent_asin_with_new_figures() {
        let out =
            std::env::temp_dir().join(format!("shelf-dataset-updates-{}", std::process::id()));
        let summary = generate(&GenerateArgs {
            rows: 20_000,
            out: out.clone(),
            seed: 5,
            dirty: 0.0,
            updates: 0.05,
        })
        .unwrap();
        let rows = records(&out);
        let share = summary.updates as f64 / rows.len() as f64;
        assert!((0.04..0.06).contains(&share), "updates {share}");
        // asin -> how many new products had been written before it.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut repeats = 0;
        for r in &rows {
            let new = seen.len();
            match seen.get(r[0].as_str()) {
                Some(&ordinal) => {
                    repeats += 1;
                    assert!(new - ordinal <= UPDATE_WINDOW, "{} is too old", r[0]);
                    assert_eq!(r[3], format!("https://www.amazon.com/dp/{}", r[0]));
                }
                None => {
                    seen.insert(r[0].as_str(), new);
                }
            }
        }
        assert_eq!(repeats, summary.updates);
        let _ = std::fs::remove_dir_all(&out);
    }

    #[test]
    fn faulty_rows_get_the_reason_they_were_made_for() {
        let (dir, summary) = generated(20_000, 3, 0.1);
        assert_eq!(
            summary.faulty.keys().copied().collect::<Vec<_>>().len(),
            dirty::REASONS.len(),
            "every reason: {summary:?}"
        );
        assert!(summary.unparseable > 0);

        // Read as the client reads, then through its conversion and the
        // contract's rules.
        let header: Vec<String> = shape::HEADER.iter().map(|h| h.to_string()).collect();
        let mut rejected: BTreeMap<&str, u64> = BTreeMap::new();
        let mut unparseable = 0;
        let mut reader = shelf_client::rows::Rows::open(
            &dir.join("products.csv"),
            &shelf_client::PRODUCT_COLUMNS,
            &[],
        )
        .unwrap();
        while let Some(row) = reader.next_row() {
            match row.unwrap() {
                Ok(r) => {
                    let record = shelf_client::convert::product(&header, &r.cells, None);
                    if let Err(reject) = shelf_rules::clean(&record) {
                        *rejected.entry(reject.reason.as_str()).or_default() += 1;
                    }
                }
                Err(_) => unparseable += 1,
            }
        }
        assert_eq!(rejected, summary.faulty);
        assert_eq!(unparseable, summary.unparseable);
    }

    #[test]
    fn a_header_only_copy_keeps_the_header_and_refuses_a_file_without_one() {
        let dir = std::env::temp_dir().join(format!("shelf-header-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (from, to) = (dir.join("products.csv"), dir.join("late.csv"));
        std::fs::write(&from, b"asin,title\nB000000001,caf\xe9\n").unwrap();
        header_only(&from, &to).unwrap();
        assert_eq!(std::fs::read(&to).unwrap(), b"asin,title\n");
        std::fs::write(&from, b"").unwrap();
        assert!(matches!(
            header_only(&from, &to),
            Err(DatasetError::NoHeader(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
