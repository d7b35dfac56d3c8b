//! Faulty rows. Each spoiled row either breaks one cleaning rule of the
//! data contract (and should come back as a reject with that reason) or
//! is a line no CSV reader accepts (and should be reported by the client).

use rand::Rng;

use crate::shape::ProductRow;

/// What a spoiled row became.
pub enum Spoiled {
    /// Still a CSV row; the transforms should reject it with this reason.
    Row(&'static str),
    /// A line that cannot be parsed: wrong column count, invalid UTF-8 or
    /// a quote that never closes.
    Line(Vec<u8>),
}

/// Column indexes of `shape::HEADER`.
const ASIN: usize = 0;
const TITLE: usize = 1;
const IMG_URL: usize = 2;
const STARS: usize = 4;
const REVIEWS: usize = 5;
const PRICE: usize = 6;
const CATEGORY: usize = 8;
const BEST_SELLER: usize = 9;
const BOUGHT: usize = 10;

pub const REASONS: [&str; 7] = [
    "invalid_asin",
    "missing_title",
    "invalid_price",
    "invalid_stars",
    "invalid_count",
    "invalid_flag",
    "invalid_category",
];

/// Spoils `row`: one of the seven reject reasons, or (one time in five) an
/// unparseable line.
pub fn spoil(rng: &mut impl Rng, row: &mut ProductRow) -> Spoiled {
    if rng.random_bool(0.2) {
        return Spoiled::Line(unparseable(rng, row));
    }
    let reason = REASONS[rng.random_range(0..REASONS.len())];
    let c = &mut row.cells;
    match reason {
        "invalid_asin" => c[ASIN] = pick(rng, &["B0-SHORT", "", "B0ABC/12345", "ÄBCDEFGHIJ"]),
        "missing_title" => c[TITLE] = pick(rng, &["", "   ", "\t"]),
        "invalid_price" => c[PRICE] = pick(rng, &["-4.99", "abc", "", "$12"]),
        "invalid_stars" => c[STARS] = pick(rng, &["5.5", "-1", "five"]),
        "invalid_count" => {
            let i = if rng.random_bool(0.5) {
                REVIEWS
            } else {
                BOUGHT
            };
            c[i] = pick(rng, &["-3", "many", "2.5"]);
        }
        "invalid_flag" => c[BEST_SELLER] = pick(rng, &["Maybe", "yes", "2"]),
        _ => c[CATEGORY] = pick(rng, &["0", "-7", "books", "3.5"]),
    }
    Spoiled::Row(reason)
}

fn unparseable(rng: &mut impl Rng, row: &ProductRow) -> Vec<u8> {
    let mut line = row.to_csv_line();
    match rng.random_range(0..3) {
        0 => {
            // Wrong column count: the last cell is missing.
            let cut = line
                .iter()
                .rposition(|&b| b == b',')
                .unwrap_or(line.len() - 1);
            line.truncate(cut);
            line.push(b'\n');
        }
        1 => {
            // Invalid UTF-8 in the title.
            let at = line.iter().position(|&b| b == b',').map_or(0, |i| i + 1);
            line.splice(at..at, [0xff, 0xfe, b'x']);
        }
        _ => {
            // Broken quoting: a quote opens the image URL and never closes.
            let url = format!(",{},", row.cells[IMG_URL]);
            if let Some(at) = find(&line, url.as_bytes()) {
                line.insert(at + 1, b'"');
            }
        }
    }
    line
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn pick(rng: &mut impl Rng, options: &[&str]) -> String {
    options[rng.random_range(0..options.len())].to_owned()
}
