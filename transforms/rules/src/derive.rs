//! Derived fields: discount and price bucket.

use serde::{Deserialize, Serialize};

use shelf_contract::module_params;

use crate::clean::CleanProduct;

/// Price bucket width and cap, in whole dollars (a transform parameter set
/// at deploy time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketParams {
    pub width: u32,
    pub cap: u32,
}

impl Default for BucketParams {
    fn default() -> Self {
        Self { width: 5, cap: 300 }
    }
}

/// A bad `width` or `cap` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError(pub String);

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParamError {}

impl BucketParams {
    /// The parameters a bucketing module takes.
    pub const NAMES: [&'static str; 2] = ["width", "cap"];

    /// Reads `width` and `cap` from a module's parameters, looked up by
    /// name.
    /// A name the host passed that is not one of these (the host lists
    /// them in [`module_params::GIVEN`]) is refused: the host refuses it
    /// first when the module declares its names, this is the second guard.
    pub fn from_named<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, ParamError> {
        if let Some(given) = get(module_params::GIVEN) {
            if let Some(name) = module_params::unknown(given, &Self::NAMES).first() {
                return Err(ParamError(format!(
                    "unknown parameter `{name}` (known: width, cap)"
                )));
            }
        }
        let given: Vec<(&str, &str)> = Self::NAMES
            .into_iter()
            .filter_map(|name| get(name).map(|v| (name, v)))
            .collect();
        Self::from_params(given)
    }

    /// Reads `width` and `cap` from string parameters (defaults for those
    /// not given), refusing values that would make meaningless buckets.
    pub fn from_params<'a>(
        params: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ParamError> {
        let mut p = Self::default();
        for (name, value) in params {
            let parse = |v: &str| {
                v.trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|&x| (1..=1_000_000).contains(&x))
                    .ok_or_else(|| ParamError(format!("parameter `{name}` must be a whole number of dollars from 1 to 1000000, got {v:?}")))
            };
            match name {
                "width" => p.width = parse(value)?,
                "cap" => p.cap = parse(value)?,
                other => {
                    return Err(ParamError(format!(
                        "unknown parameter `{other}` (known: width, cap)"
                    )))
                }
            }
        }
        if p.cap < p.width {
            return Err(ParamError(format!(
                "cap ({}) must not be below width ({})",
                p.cap, p.width
            )));
        }
        Ok(p)
    }
}

/// A cleaned product with its derived fields: what `product-clean` carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PricedProduct {
    #[serde(flatten)]
    pub product: CleanProduct,
    pub discount_pct: Option<f64>,
    pub price_bucket: String,
    pub price_bucket_lo: Option<u32>,
}

/// The fields [`derive`] writes.
const DERIVED: [&str; 3] = ["discount_pct", "price_bucket", "price_bucket_lo"];

/// Adds the derived fields (replacing any a record already had, say from
/// a bucketing module earlier in the chain).
pub fn derive(mut product: CleanProduct, params: BucketParams) -> PricedProduct {
    product.extra.retain(|k, _| !DERIVED.contains(&k.as_str()));
    let discount_pct = discount_pct(product.price, product.list_price);
    let (price_bucket, price_bucket_lo) = price_bucket(product.price, params);
    PricedProduct {
        product,
        discount_pct,
        price_bucket,
        price_bucket_lo,
    }
}

/// `100 * (listPrice - price) / listPrice` to one decimal, when both are
/// known and the list price is higher: on whole cents, in integers, rounded
/// half up. Floating point gets exact ties wrong (0.39 against 2.40 is
/// exactly 83.75 %, which must give 83.8; `(1000.0 * 2.01 / 2.40).round()`
/// lands on 83.7).
pub fn discount_pct(price: Option<f64>, list_price: Option<f64>) -> Option<f64> {
    let (p, lp) = (cents(price?), cents(list_price?));
    if lp <= p {
        return None;
    }
    // Tenths of a percent: 1000 (lp - p) / lp, plus one half, floored.
    let tenths = (2000 * (lp - p) + lp) / (2 * lp);
    Some(tenths as f64 / 10.0)
}

/// A price in whole cents (cleaned prices are finite and not negative).
fn cents(price: f64) -> u64 {
    (price * 100.0).round() as u64
}

/// The bucket label and its lower bound, computed on whole cents:
/// `"unpriced"` without a price, `"{cap}+"` at or above the cap, else
/// `"{lo}-{lo+width}"`.
pub fn price_bucket(price: Option<f64>, params: BucketParams) -> (String, Option<u32>) {
    let Some(price) = price else {
        return ("unpriced".to_owned(), None);
    };
    let cents = cents(price);
    if cents >= u64::from(params.cap) * 100 {
        return (format!("{}+", params.cap), Some(params.cap));
    }
    let width_cents = u64::from(params.width) * 100;
    // Below the cap, so lo < cap fits in u32.
    let lo = (cents / width_cents * u64::from(params.width)) as u32;
    (format!("{lo}-{}", lo + params.width), Some(lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: BucketParams = BucketParams { width: 5, cap: 300 };

    #[test]
    fn contract_examples() {
        assert_eq!(
            price_bucket(Some(139.99), D),
            ("135-140".to_owned(), Some(135))
        );
        assert_eq!(price_bucket(Some(5.00), D), ("5-10".to_owned(), Some(5)));
        assert_eq!(
            price_bucket(Some(4.999), D),
            ("5-10".to_owned(), Some(5)),
            "whole cents: 4.999 is 500 cents"
        );
        assert_eq!(price_bucket(Some(0.01), D), ("0-5".to_owned(), Some(0)));
        assert_eq!(
            price_bucket(Some(299.99), D),
            ("295-300".to_owned(), Some(295))
        );
        assert_eq!(price_bucket(Some(300.0), D), ("300+".to_owned(), Some(300)));
        assert_eq!(
            price_bucket(Some(19999.0), D),
            ("300+".to_owned(), Some(300))
        );
        assert_eq!(price_bucket(None, D), ("unpriced".to_owned(), None));
        let w10 = BucketParams {
            width: 10,
            cap: 100,
        };
        assert_eq!(
            price_bucket(Some(99.99), w10),
            ("90-100".to_owned(), Some(90))
        );
        assert_eq!(
            price_bucket(Some(100.0), w10),
            ("100+".to_owned(), Some(100))
        );
    }

    #[test]
    fn discounts() {
        assert_eq!(discount_pct(Some(75.0), Some(100.0)), Some(25.0));
        assert_eq!(discount_pct(Some(19.99), Some(29.99)), Some(33.3));
        assert_eq!(discount_pct(Some(2.0), Some(3.0)), Some(33.3));
        assert_eq!(discount_pct(Some(1.0), Some(3.0)), Some(66.7));
        assert_eq!(discount_pct(Some(100.0), Some(100.0)), None);
        assert_eq!(discount_pct(Some(120.0), Some(100.0)), None);
        assert_eq!(discount_pct(None, Some(100.0)), None);
        assert_eq!(discount_pct(Some(10.0), None), None);
        // Exact ties round up (the contract's examples and the issue's).
        assert_eq!(discount_pct(Some(10.99), Some(20.00)), Some(45.1));
        for (price, tie) in [(0.39, 83.8), (0.81, 66.3), (1.05, 56.3)] {
            assert_eq!(discount_pct(Some(price), Some(2.40)), Some(tie), "{price}");
        }
    }

    /// The discount in tenths of a percent by long division on whole
    /// cents: the contract's rule, written independently.
    fn tenths_by_division(p: u64, lp: u64) -> u64 {
        let n = 1000 * u128::from(lp - p);
        let (q, r) = (n / u128::from(lp), n % u128::from(lp));
        (q + u128::from(2 * r >= u128::from(lp))) as u64
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        #[test]
        fn discounts_equal_integer_arithmetic(lp in 2u64..5_000_000, p_share in 0.0f64..1.0) {
            let p = ((lp as f64 * p_share) as u64).clamp(1, lp - 1);
            let got = discount_pct(Some(p as f64 / 100.0), Some(lp as f64 / 100.0));
            let want = tenths_by_division(p, lp) as f64 / 10.0;
            proptest::prop_assert_eq!(got, Some(want), "{} against {}", p, lp);
        }
    }

    #[test]
    fn discounts_on_every_pair_of_small_prices_equal_integer_arithmetic() {
        // Every pair up to $12.00: where ties are densest.
        for lp in 2..=1200u64 {
            for p in 1..lp {
                let got = discount_pct(Some(p as f64 / 100.0), Some(lp as f64 / 100.0));
                assert_eq!(
                    got,
                    Some(tenths_by_division(p, lp) as f64 / 10.0),
                    "{p} against {lp}"
                );
            }
        }
    }

    #[test]
    fn params() {
        assert_eq!(BucketParams::from_params([]).unwrap(), D);
        assert_eq!(
            BucketParams::from_params([("width", "10"), ("cap", "500")]).unwrap(),
            BucketParams {
                width: 10,
                cap: 500
            }
        );
        assert!(BucketParams::from_params([("width", "0")]).is_err());
        assert!(BucketParams::from_params([("width", "2.5")]).is_err());
        assert!(
            BucketParams::from_params([("cap", "3")]).is_err(),
            "cap below the default width"
        );
        let e = BucketParams::from_params([("colour", "red")]).unwrap_err();
        assert!(e.0.contains("colour"), "{e}");
    }

    #[test]
    fn a_name_the_host_passed_but_unknown_is_refused_by_name() {
        let named = |pairs: &'static [(&'static str, &'static str)]| {
            BucketParams::from_named(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
        };
        let e = named(&[("widht", "10"), ("shelf.given", "widht")]).unwrap_err();
        assert!(e.0.contains("`widht`"), "{e}");
        let ok = named(&[("width", "10"), ("shelf.given", "width")]).unwrap();
        assert_eq!(ok.width, 10);
        // An older host passes no list: the known names are read as before.
        assert_eq!(named(&[("cap", "50")]).unwrap().cap, 50);
    }
}
