//! The shape of the real data: what share of rows is zero, unrated or a
//! best seller, how prices and categories are spread. The tests beside
//! this module check the shares on generated rows.

use rand::Rng;

use crate::text;

pub use shelf_contract::columns::PRODUCTS as HEADER;

/// Highest category id; about 20 ids below it are unused.
pub const MAX_CATEGORY_ID: i64 = 270;
/// Zipf exponent of category sizes: the biggest holds about 10 %.
const CATEGORY_SKEW: f64 = 0.8;
/// Prices are log-normal with median e^MU ≈ 20 and mean ≈ 43 overall:
/// each category has a price level of its own (a log-normal factor of
/// spread CATEGORY_PRICE_SIGMA, so the average price per category varies
/// as in the real file), and prices spread around it with the rest of the
/// overall sigma of 1.237.
const PRICE_MU: f64 = 2.996;
const CATEGORY_PRICE_SIGMA: f64 = 0.5;
const PRICE_SIGMA_IN_CATEGORY: f64 = 1.131;
const PRICE_MAX: f64 = 19_999.99;
const ZERO_PRICE: f64 = 0.023;
const NO_LIST_PRICE: f64 = 0.78;
const UNRATED: f64 = 0.09;
const NO_REVIEWS: f64 = 0.79;
const BEST_SELLER: f64 = 0.006;
const NOT_BOUGHT: f64 = 0.88;
/// The values `boughtInLastMonth` takes besides 0, most common first.
const BOUGHT: [u32; 17] = [
    50, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 2000, 3000, 5000, 10000, 50000, 100000,
];

pub struct Category {
    pub id: i64,
    pub name: String,
    /// Added to the log of every price in this category.
    pub price_level: f64,
}

/// The categories and the cumulative weights products are drawn with.
pub struct Categories {
    pub list: Vec<Category>,
    cumulative: Vec<f64>,
}

impl Categories {
    pub fn new(rng: &mut impl Rng) -> Self {
        let mut list: Vec<Category> = (1..=MAX_CATEGORY_ID)
            // Gaps: about one id in thirteen is unused, as in the real file.
            .filter(|_| !rng.random_bool(0.075))
            .map(|id| Category {
                id,
                name: text::category_name(id),
                price_level: 0.0,
            })
            .collect();
        list.sort_by_key(|c| c.id);
        // Sizes follow a Zipf law over a shuffled order, so the biggest
        // category is not always id 1.
        let mut ranks: Vec<usize> = (1..=list.len()).collect();
        for i in (1..ranks.len()).rev() {
            ranks.swap(i, rng.random_range(0..=i));
        }
        let weights: Vec<f64> = ranks
            .iter()
            .map(|&r| 1.0 / (r as f64).powf(CATEGORY_SKEW))
            .collect();
        let mut total = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                total += w;
                total
            })
            .collect();
        // Price levels, centred on their product-weighted mean so the
        // overall median stays at e^PRICE_MU.
        let levels: Vec<f64> = list
            .iter()
            .map(|_| CATEGORY_PRICE_SIGMA * normal(rng))
            .collect();
        let centre = levels.iter().zip(&weights).map(|(l, w)| l * w).sum::<f64>() / total;
        for (c, level) in list.iter_mut().zip(levels) {
            c.price_level = level - centre;
        }
        Self { list, cumulative }
    }

    pub fn pick(&self, rng: &mut impl Rng) -> &Category {
        let total = self.cumulative.last().copied().unwrap_or(1.0);
        let x = rng.random_range(0.0..total);
        let i = self.cumulative.partition_point(|&c| c <= x);
        &self.list[i.min(self.list.len() - 1)]
    }
}

/// One product row as the CSV holds it (text cells).
#[derive(Debug, Clone, PartialEq)]
pub struct ProductRow {
    pub cells: [String; 11],
}

impl ProductRow {
    /// Makes the row a version of the product `asin` (its URL follows).
    pub fn set_asin(&mut self, asin: String) {
        self.cells[3] = format!("https://www.amazon.com/dp/{asin}");
        self.cells[0] = asin;
    }

    /// The row as a CSV line: cells quoted when they hold a comma, a quote
    /// or a line break, quotes doubled.
    pub fn to_csv_line(&self) -> Vec<u8> {
        let mut line = String::with_capacity(256);
        for (i, cell) in self.cells.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            if cell.contains([',', '"', '\n', '\r']) {
                line.push('"');
                line.push_str(&cell.replace('"', "\"\""));
                line.push('"');
            } else {
                line.push_str(cell);
            }
        }
        line.push('\n');
        line.into_bytes()
    }
}

/// Draws product `index`. Asins are unique per seed.
pub fn product(
    rng: &mut impl Rng,
    index: u64,
    seed: u64,
    categories: &Categories,
    titles: &mut text::Titles,
) -> ProductRow {
    let asin = text::asin(rng, index, seed);
    let category = categories.pick(rng);
    let price = if rng.random_bool(ZERO_PRICE) {
        0.0
    } else {
        (PRICE_MU + category.price_level + PRICE_SIGMA_IN_CATEGORY * normal(rng))
            .exp()
            .clamp(0.99, PRICE_MAX)
    };
    let list_price = if price == 0.0 || rng.random_bool(NO_LIST_PRICE) {
        0.0
    } else {
        price * rng.random_range(1.05..1.8)
    };
    let stars = if rng.random_bool(UNRATED) {
        0.0
    } else {
        (4.4 + 0.35 * normal(rng)).clamp(1.0, 5.0)
    };
    let reviews = if rng.random_bool(NO_REVIEWS) {
        0
    } else {
        (3.0 + 2.0 * normal(rng)).exp().clamp(1.0, 500_000.0) as u64
    };
    let bought = if rng.random_bool(NOT_BOUGHT) {
        0
    } else {
        // Smaller values are more common: geometric over the list.
        let mut i = 0;
        while i + 1 < BOUGHT.len() && rng.random_bool(0.45) {
            i += 1;
        }
        BOUGHT[i]
    };
    let title = titles.next(rng);
    let img = format!(
        "https://m.media-amazon.com/images/I/{}.jpg",
        text::image_id(rng)
    );
    let url = format!("https://www.amazon.com/dp/{asin}");
    ProductRow {
        cells: [
            asin,
            title,
            img,
            url,
            format!("{:.1}", stars),
            reviews.to_string(),
            format!("{:.2}", price),
            format!("{:.2}", list_price),
            category.id.to_string(),
            if rng.random_bool(BEST_SELLER) {
                "True".into()
            } else {
                "False".into()
            },
            bought.to_string(),
        ],
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}
