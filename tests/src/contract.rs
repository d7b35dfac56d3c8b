//! The data contract (`docs/data-contract.md`) restated from the CSV
//! side, for end-to-end checks: what every row of a products file should
//! become. Written from the contract's text alone; nothing here calls the
//! client's conversion, the gateway or the cleaning rules of the transforms.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use anyhow::{Context, Result};

use crate::sink::State;

/// A stored product as the contract says it should look.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    pub state: State,
    pub title: String,
    pub img_url: Option<String>,
    pub product_url: Option<String>,
    pub reviews: i64,
    pub list_price: Option<f64>,
    pub discount_pct: Option<f64>,
}

/// What one products file and its categories file should turn into.
#[derive(Debug, Default)]
pub struct Expectation {
    /// Data rows in the products file.
    pub rows: u64,
    /// Lines the client cannot parse (wrong column count, invalid UTF-8,
    /// a quote that never closes).
    pub unparseable: BTreeSet<u64>,
    /// Lines the gateway refuses: no asin to key the record by.
    pub refused: BTreeSet<u64>,
    /// Records the transforms reject: (reason, asin cell) -> how many.
    pub rejects: BTreeMap<(String, String), u64>,
    /// The same by line: line -> reason.
    pub reject_lines: BTreeMap<u64, String>,
    /// Rows that clean: product events, every version of a product.
    pub events: u64,
    /// Stored products by asin (the last version of each, in file order).
    pub products: BTreeMap<String, Product>,
    /// Category names by id.
    pub names: HashMap<i64, String>,
    /// The products file.
    pub products_csv: std::path::PathBuf,
}

impl Expectation {
    /// Reads `products.csv` and `categories.csv` of `dir`.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let mut e = Self {
            products_csv: dir.join("products.csv"),
            ..Self::default()
        };
        let mut categories = csv::Reader::from_path(dir.join("categories.csv"))?;
        for record in categories.records() {
            let r = record?;
            let id = r[0].trim().parse().context("category id")?;
            e.names.insert(id, r[1].to_owned());
        }
        for (line, cells) in product_rows(&dir.join("products.csv"))? {
            e.rows += 1;
            match cells {
                Some(cells) => e.add(line, &cells.iter().map(String::as_str).collect::<Vec<_>>()),
                None => {
                    e.unparseable.insert(line);
                }
            }
        }
        Ok(e)
    }

    fn add(&mut self, line: u64, cells: &[&str]) {
        if cells[0].trim().is_empty() {
            self.refused.insert(line);
            return;
        }
        match clean(cells) {
            Ok((asin, product)) => {
                self.events += 1;
                self.products.insert(asin, product);
            }
            Err(reason) => {
                self.reject_lines.insert(line, reason.to_owned());
                *self
                    .rejects
                    .entry((reason.to_owned(), cells[0].to_owned()))
                    .or_default() += 1;
            }
        }
    }

    pub fn rejected(&self) -> u64 {
        self.rejects.values().sum()
    }
}

/// The data rows of a generated products file: line number and the 11
/// cells, or `None` for a line that cannot be parsed (wrong column count,
/// invalid UTF-8, a quote that never closes). Generated files never hold a
/// line break inside a field, so each line is a row, parsed on its own: a
/// quote that never closes spoils its line and no other.
pub fn product_rows(path: &Path) -> Result<Vec<(u64, Option<Vec<String>>)>> {
    let text = std::fs::read(path)?;
    let mut rows = Vec::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate().skip(1) {
        if line.is_empty() {
            continue;
        }
        let mut record = csv::ByteRecord::new();
        let parsed = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(line)
            .read_byte_record(&mut record);
        let cells: Option<Vec<String>> = record
            .iter()
            .map(|c| std::str::from_utf8(c).ok().map(str::to_owned))
            .collect();
        let cells = match (parsed, cells) {
            (Ok(true), Some(cells)) if cells.len() == 11 => Some(cells),
            _ => None,
        };
        rows.push((i as u64 + 1, cells));
    }
    Ok(rows)
}

/// The contract's "Clean" table, rule by rule in its order, on the cells
/// `asin,title,imgUrl,productURL,stars,reviews,price,listPrice,category_id,
/// isBestSeller,boughtInLastMonth`.
fn clean(c: &[&str]) -> Result<(String, Product), &'static str> {
    let asin = c[0].trim().to_uppercase();
    if asin.len() != 10
        || !asin
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err("invalid_asin");
    }
    let title = c[1].split_whitespace().collect::<Vec<_>>().join(" ");
    if title.is_empty() {
        return Err("missing_title");
    }
    let price = match number(c[6]) {
        Some(p) if p > 0.0 => Some(p),
        Some(0.0) => None,
        _ => return Err("invalid_price"),
    };
    let list_price = number(c[7]).filter(|&p| p > 0.0);
    let stars = if c[4].trim().is_empty() {
        None
    } else {
        match number(c[4]) {
            Some(0.0) => None,
            Some(s) if (0.0..=5.0).contains(&s) => Some(s),
            _ => return Err("invalid_stars"),
        }
    };
    let reviews = count(c[5]).ok_or("invalid_count")?;
    let bought = count(c[10]).ok_or("invalid_count")?;
    let best_seller = match c[9].trim().to_lowercase().as_str() {
        "" | "false" | "0" => false,
        "true" | "1" => true,
        _ => return Err("invalid_flag"),
    };
    let category_id = match number(c[8]) {
        Some(id) if id >= 1.0 && id.fract() == 0.0 => id as i64,
        _ => return Err("invalid_category"),
    };
    // Whole cents, then tenths of a percent by long division, half up.
    let cents = |x: f64| (x * 100.0).round() as u64;
    let discount_pct = match (price.map(cents), list_price.map(cents)) {
        (Some(p), Some(lp)) if lp > p => {
            let n = 1000 * (lp - p);
            Some((n / lp + u64::from(2 * (n % lp) >= lp)) as f64 / 10.0)
        }
        _ => None,
    };
    let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    Ok((
        asin,
        Product {
            state: State {
                category_id,
                price,
                stars,
                best_seller,
                bought,
            },
            title,
            img_url: text(c[2]),
            product_url: text(c[3]),
            reviews,
            list_price,
            discount_pct,
        },
    ))
}

/// A finite number written in the cell.
fn number(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A whole number >= 0; an empty cell is 0.
fn count(cell: &str) -> Option<i64> {
    if cell.trim().is_empty() {
        return Some(0);
    }
    number(cell)
        .filter(|x| *x >= 0.0 && x.fract() == 0.0)
        .map(|x| x as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: &str) -> Vec<&str> {
        line.split('|').collect()
    }

    #[test]
    fn the_contracts_examples() {
        let (asin, p) = clean(&row(
            " b0abcdefgh |  A  \"30\"\"\"  TV ||u|0.0||139.99|199.99|7|False|",
        ))
        .unwrap();
        assert_eq!(asin, "B0ABCDEFGH");
        assert_eq!(p.title, "A \"30\"\"\" TV");
        assert_eq!(p.state.stars, None);
        assert_eq!(p.state.bucket(), ("135-140".into(), Some(135)));
        assert_eq!(p.discount_pct, Some(30.0));
        assert_eq!(p.img_url, None);
        assert_eq!(p.state.bought, 0);
        for (cells, reason) in [
            ("B0-SHORT|t|||4|1|1|0|1|True|0", "invalid_asin"),
            ("B0ABCDEFGH| |||4|1|1|0|1|True|0", "missing_title"),
            ("B0ABCDEFGH|t|||4|1|-1|0|1|True|0", "invalid_price"),
            ("B0ABCDEFGH|t|||5.5|1|1|0|1|True|0", "invalid_stars"),
            ("B0ABCDEFGH|t|||4|2.5|1|0|1|True|0", "invalid_count"),
            ("B0ABCDEFGH|t|||4|1|1|0|1|Maybe|0", "invalid_flag"),
            ("B0ABCDEFGH|t|||4|1|1|0|3.5|True|0", "invalid_category"),
        ] {
            assert_eq!(clean(&row(cells)).unwrap_err(), reason, "{cells}");
        }
    }
}
