//! Properties of the rules over random records.

use proptest::prelude::*;
use serde_json::{json, Value};
use shelf_rules::{clean, derive, price_bucket, BucketParams, PricedProduct, RejectReason};

fn asin() -> impl Strategy<Value = String> {
    "[A-Z0-9]{10}"
}

fn valid_record() -> impl Strategy<Value = Value> {
    (
        asin(),
        "[a-zA-Z0-9 ,\"&é]{1,40}[a-z]",
        0u64..2_000_000,
        prop::option::of(0u64..3_000_000),
        0u32..=50,
        0u64..100_000,
        1u64..300,
        any::<bool>(),
    )
        .prop_map(
            |(asin, title, cents, list_cents, stars10, reviews, cat, best)| {
                json!({
                    "asin": asin.to_lowercase(),
                    "title": format!("  {title} "),
                    "price": cents as f64 / 100.0,
                    "listPrice": list_cents.map(|c| c as f64 / 100.0).unwrap_or(0.0),
                    "stars": stars10 as f64 / 10.0,
                    "reviews": reviews,
                    "category_id": cat,
                    "isBestSeller": if best { "True" } else { "False" },
                    "boughtInLastMonth": 50,
                })
            },
        )
}

proptest! {
    #[test]
    fn valid_records_clean_and_normalise(raw in valid_record()) {
        let p = clean(&raw).unwrap();
        prop_assert_eq!(&p.asin, &raw["asin"].as_str().unwrap().to_uppercase());
        prop_assert_eq!(p.title.trim(), p.title.as_str());
        prop_assert!(!p.title.contains("  "));
        prop_assert!(p.price.is_none_or(|x| x > 0.0));
        prop_assert!(p.stars.is_none_or(|s| s > 0.0 && s <= 5.0));
        prop_assert!(p.list_price.is_none_or(|x| x > 0.0));
    }

    #[test]
    fn bucket_contains_its_price(cents in 1u64..10_000_000, width in 1u32..50, cap_mult in 1u32..40) {
        let params = BucketParams { width, cap: width * cap_mult };
        let price = cents as f64 / 100.0;
        let (label, lo) = price_bucket(Some(price), params);
        let lo = lo.unwrap();
        if cents >= u64::from(params.cap) * 100 {
            prop_assert_eq!(label, format!("{}+", params.cap));
        } else {
            prop_assert!(u64::from(lo) * 100 <= cents && cents < u64::from(lo + width) * 100);
            prop_assert_eq!(label, format!("{}-{}", lo, lo + width));
            prop_assert_eq!(lo % width, 0);
        }
    }

    #[test]
    fn priced_product_survives_json(raw in valid_record()) {
        let priced = derive(clean(&raw).unwrap(), BucketParams::default());
        let text = serde_json::to_string(&priced).unwrap();
        let back: PricedProduct = serde_json::from_str(&text).unwrap();
        prop_assert_eq!(back, priced);
    }

    #[test]
    fn garbage_never_panics(raw in any::<Vec<u8>>()) {
        let _ = shelf_rules::clean_bytes(&raw);
    }

    #[test]
    fn negative_prices_reject(raw in valid_record(), cents in 1u64..1_000_000) {
        let mut raw = raw;
        raw["price"] = json!(-(cents as f64) / 100.0);
        prop_assert_eq!(clean(&raw).unwrap_err().reason, RejectReason::InvalidPrice);
    }
}
