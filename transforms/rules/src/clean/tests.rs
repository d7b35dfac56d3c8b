//! The cleaning rules, one by one and in their order.

use super::*;
use serde_json::json;

fn base() -> Value {
    json!({
        "asin": "B014TMV5YE", "title": "Sion Softside Expandable Roller Luggage, Black, Checked-Large 29-Inch",
        "imgUrl": "https://m.media-amazon.com/images/I/815dLQKYIYL._AC_UL320_.jpg",
        "productURL": "https://www.amazon.com/dp/B014TMV5YE",
        "stars": 4.5, "reviews": 0, "price": 139.99, "listPrice": 0.0, "category_id": 104,
        "isBestSeller": false, "boughtInLastMonth": 2000
    })
}

fn with(field: &str, value: Value) -> Value {
    let mut v = base();
    v[field] = value;
    v
}

fn without(field: &str) -> Value {
    let mut v = base();
    v.as_object_mut().unwrap().remove(field);
    v
}

fn reason(v: &Value) -> RejectReason {
    clean(v).unwrap_err().reason
}

#[test]
fn a_real_row_cleans() {
    let p = clean(&base()).unwrap();
    assert_eq!(p.asin, "B014TMV5YE");
    assert_eq!(p.price, Some(139.99));
    assert_eq!(p.list_price, None, "0.0 list price means none");
    assert_eq!(p.stars, Some(4.5));
    assert_eq!(
        (p.reviews, p.bought_in_last_month, p.category_id),
        (0, 2000, 104)
    );
    assert!(!p.is_best_seller);
    assert_eq!(
        p.product_url.as_deref(),
        Some("https://www.amazon.com/dp/B014TMV5YE")
    );
}

#[test]
fn asin_rules() {
    assert_eq!(
        clean(&with("asin", json!("  b014tmv5ye "))).unwrap().asin,
        "B014TMV5YE"
    );
    assert_eq!(
        clean(&with("asin", json!(1234567890u64))).unwrap().asin,
        "1234567890"
    );
    assert_eq!(
        clean(&with("asin", json!("0123456789"))).unwrap().asin,
        "0123456789"
    );
    for bad in [
        json!("B014TMV5Y"),
        json!("B014TMV5YE1"),
        json!("B014-MV5YE"),
        json!("ß014TMV5YE"),
        json!(null),
        json!(12),
    ] {
        assert_eq!(
            reason(&with("asin", bad.clone())),
            RejectReason::InvalidAsin,
            "{bad}"
        );
    }
    assert_eq!(reason(&without("asin")), RejectReason::InvalidAsin);
}

#[test]
fn title_rules() {
    let p = clean(&with("title", json!("  Mug,\t\"30\"\"\"  \n Café  "))).unwrap();
    assert_eq!(p.title, "Mug, \"30\"\"\" Café");
    assert_eq!(clean(&with("title", json!(1984))).unwrap().title, "1984");
    for bad in [json!(""), json!("   \t "), json!(null), json!(true)] {
        assert_eq!(
            reason(&with("title", bad.clone())),
            RejectReason::MissingTitle,
            "{bad}"
        );
    }
    assert_eq!(reason(&without("title")), RejectReason::MissingTitle);
}

#[test]
fn price_rules() {
    assert_eq!(clean(&with("price", json!(0.0))).unwrap().price, None);
    assert_eq!(clean(&with("price", json!(0))).unwrap().price, None);
    assert_eq!(
        clean(&with("price", json!(" 12.50 "))).unwrap().price,
        Some(12.5)
    );
    for bad in [
        json!(-0.01),
        json!("abc"),
        json!(""),
        json!(null),
        json!("NaN"),
        json!("inf"),
        json!([1]),
    ] {
        assert_eq!(
            reason(&with("price", bad.clone())),
            RejectReason::InvalidPrice,
            "{bad}"
        );
    }
    assert_eq!(reason(&without("price")), RejectReason::InvalidPrice);
}

#[test]
fn list_price_never_rejects() {
    assert_eq!(
        clean(&with("listPrice", json!(159.99))).unwrap().list_price,
        Some(159.99)
    );
    for none in [json!(0), json!(-5), json!("x"), json!(null), json!("NaN")] {
        assert_eq!(
            clean(&with("listPrice", none.clone())).unwrap().list_price,
            None,
            "{none}"
        );
    }
    assert_eq!(clean(&without("listPrice")).unwrap().list_price, None);
}

#[test]
fn stars_rules() {
    assert_eq!(clean(&with("stars", json!(0.0))).unwrap().stars, None);
    assert_eq!(clean(&with("stars", json!(""))).unwrap().stars, None);
    assert_eq!(clean(&without("stars")).unwrap().stars, None);
    assert_eq!(clean(&with("stars", json!(5))).unwrap().stars, Some(5.0));
    for bad in [json!(5.1), json!(-1), json!("great"), json!(true)] {
        assert_eq!(
            reason(&with("stars", bad.clone())),
            RejectReason::InvalidStars,
            "{bad}"
        );
    }
}

#[test]
fn count_rules() {
    for (v, want) in [
        (json!(12), 12),
        (json!("12"), 12),
        (json!(12.0), 12),
        (json!(null), 0),
    ] {
        assert_eq!(
            clean(&with("reviews", v.clone())).unwrap().reviews,
            want,
            "{v}"
        );
    }
    assert_eq!(
        clean(&without("boughtInLastMonth"))
            .unwrap()
            .bought_in_last_month,
        0
    );
    for bad in [json!(-1), json!(1.5), json!("many"), json!(true)] {
        assert_eq!(
            reason(&with("reviews", bad.clone())),
            RejectReason::InvalidCount,
            "{bad}"
        );
        assert_eq!(
            reason(&with("boughtInLastMonth", bad.clone())),
            RejectReason::InvalidCount,
            "{bad}"
        );
    }
}

#[test]
fn flag_rules() {
    for (v, want) in [
        (json!(true), true),
        (json!("True"), true),
        (json!("FALSE"), false),
        (json!(1), true),
        (json!("0"), false),
        (json!(null), false),
    ] {
        assert_eq!(
            clean(&with("isBestSeller", v.clone()))
                .unwrap()
                .is_best_seller,
            want,
            "{v}"
        );
    }
    assert!(!clean(&without("isBestSeller")).unwrap().is_best_seller);
    for bad in [json!("yes"), json!(2), json!(""), json!([true])] {
        assert_eq!(
            reason(&with("isBestSeller", bad.clone())),
            RejectReason::InvalidFlag,
            "{bad}"
        );
    }
}

#[test]
fn category_rules() {
    assert_eq!(
        clean(&with("category_id", json!("270")))
            .unwrap()
            .category_id,
        270
    );
    for bad in [json!(0), json!(-3), json!(1.5), json!("toys"), json!(null)] {
        assert_eq!(
            reason(&with("category_id", bad.clone())),
            RejectReason::InvalidCategory,
            "{bad}"
        );
    }
    assert_eq!(
        reason(&without("category_id")),
        RejectReason::InvalidCategory
    );
}

#[test]
fn observation_time_rules() {
    let at = |v: &Value| clean(v).unwrap().observed_at;
    assert_eq!(at(&base()), None, "no time: the gateway's stands in");
    assert_eq!(
        at(&with("observed_at", json!("2023-09-01"))).as_deref(),
        Some("2023-09-01T00:00:00Z")
    );
    assert_eq!(
        at(&with("observed_at", json!("2023-09-01T08:30:00+02:00"))).as_deref(),
        Some("2023-09-01T06:30:00Z")
    );
    assert_eq!(
        at(&with("date", json!("31/12/2023 00:00"))).as_deref(),
        Some("2023-12-31T00:00:00Z")
    );
    // `observed_at` wins over `date`; blank counts as absent.
    let mut v = with("observed_at", json!("2023-09-02"));
    v["date"] = json!("31/12/2023 00:00");
    assert_eq!(at(&v).as_deref(), Some("2023-09-02T00:00:00Z"));
    let mut v = with("observed_at", json!(" "));
    v["date"] = json!("31/12/2023 00:00");
    assert_eq!(at(&v).as_deref(), Some("2023-12-31T00:00:00Z"));
    assert_eq!(at(&with("observed_at", Value::Null)), None);

    for (field, bad) in [
        ("observed_at", json!("yesterday")),
        ("observed_at", json!("1989-12-31")),
        ("observed_at", json!("2101-01-01T00:00:00Z")),
        ("observed_at", json!("2023-02-30")),
        ("observed_at", json!(1693526400)),
        ("date", json!("2023-09-01")),
    ] {
        let r = clean(&with(field, bad.clone())).unwrap_err();
        assert_eq!(r.reason, RejectReason::InvalidObservedAt, "{bad}");
        assert!(
            r.detail.starts_with(&format!("field `{field}`")),
            "{}",
            r.detail
        );
    }
    let r = clean(&with("observed_at", json!("1989-12-31"))).unwrap_err();
    assert!(
        r.detail.contains("1989") && r.detail.contains("1990"),
        "{}",
        r.detail
    );
}

#[test]
fn first_violation_in_contract_order_wins() {
    let mut v = base();
    v["price"] = json!(-1);
    v["stars"] = json!(9);
    v["observed_at"] = json!("never");
    assert_eq!(reason(&v), RejectReason::InvalidPrice);
    v["category_id"] = json!(0);
    assert_eq!(reason(&v), RejectReason::InvalidPrice);
    v["title"] = json!("");
    assert_eq!(reason(&v), RejectReason::MissingTitle);
    v["asin"] = json!("short");
    assert_eq!(reason(&v), RejectReason::InvalidAsin);
}

#[test]
fn details_name_field_and_value() {
    let r = clean(&with("stars", json!(7.5))).unwrap_err();
    assert_eq!(r.detail, "field `stars`: 7.5 is outside [0, 5]");
    let r = clean_bytes(b"{not json").unwrap_err();
    assert_eq!(r.reason, RejectReason::InvalidRecord);
    assert_eq!(
        clean(&json!([1])).unwrap_err().reason,
        RejectReason::InvalidRecord
    );
}

#[test]
fn urls_are_kept_as_they_are() {
    let p = clean(&with("imgUrl", json!(" https://x/a b "))).unwrap();
    assert_eq!(p.img_url.as_deref(), Some(" https://x/a b "));
    assert_eq!(clean(&without("productURL")).unwrap().product_url, None);
}
