//! The cleaning rules of the data contract, applied in its order; the first
//! violated rule decides the reject reason.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use shelf_contract::{Reject, RejectReason};

use crate::value::{finite_number, is_blank, show, whole_number};

/// A reject naming the field and its value.
fn reject(reason: RejectReason, field: &str, value: Option<&Value>, why: &str) -> Reject {
    Reject::new(reason, format!("field `{field}`: {} {why}", show(value)))
}

/// A product after cleaning. Field names are those of the input CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanProduct {
    pub asin: String,
    pub title: String,
    #[serde(rename = "imgUrl")]
    pub img_url: Option<String>,
    #[serde(rename = "productURL")]
    pub product_url: Option<String>,
    pub stars: Option<f64>,
    pub reviews: u64,
    pub price: Option<f64>,
    #[serde(rename = "listPrice")]
    pub list_price: Option<f64>,
    pub category_id: u64,
    #[serde(rename = "isBestSeller")]
    pub is_best_seller: bool,
    #[serde(rename = "boughtInLastMonth")]
    pub bought_in_last_month: u64,
    /// When the product was observed, as UTC text
    /// (`shelf_contract::time::format_utc`); absent when the record has no
    /// time, and the time the gateway received it stands in (the Kafka
    /// record's timestamp, which the runtime carries over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// Fields the contract does not name (a module of the user's may add
    /// them before `clean`), passed through unchanged.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The fields cleaning reads: every other field passes through. (`date`,
/// an older feed's observation time, becomes `observed_at`.)
const READ: [&str; 13] = [
    "asin",
    "title",
    "imgUrl",
    "productURL",
    "stars",
    "reviews",
    "price",
    "listPrice",
    "category_id",
    "isBestSeller",
    "boughtInLastMonth",
    shelf_contract::fields::product::OBSERVED_AT,
    shelf_contract::fields::product::DATE,
];

/// Cleans a raw record given as JSON bytes.
pub fn clean_bytes(raw: &[u8]) -> Result<CleanProduct, Reject> {
    match serde_json::from_slice::<Value>(raw) {
        Ok(v) => clean(&v),
        Err(e) => Err(Reject {
            reason: RejectReason::InvalidRecord,
            detail: format!("not valid JSON: {e}"),
        }),
    }
}

/// Cleans a raw record (the contract's "Clean" table, in its order).
pub fn clean(raw: &Value) -> Result<CleanProduct, Reject> {
    let Value::Object(obj) = raw else {
        return Err(Reject {
            reason: RejectReason::InvalidRecord,
            detail: "the record is not a JSON object".to_owned(),
        });
    };
    let asin = asin(obj)?;
    let title = title(obj)?;
    let price = price(obj)?;
    let list_price = obj
        .get("listPrice")
        .and_then(finite_number)
        .filter(|&x| x > 0.0);
    let stars = stars(obj)?;
    let reviews = count(obj, "reviews")?;
    let bought_in_last_month = count(obj, "boughtInLastMonth")?;
    let is_best_seller = flag(obj, "isBestSeller")?;
    let category_id = category(obj)?;
    let observed_at = observed_at(obj)?;
    Ok(CleanProduct {
        asin,
        title,
        img_url: text(obj, "imgUrl"),
        product_url: text(obj, "productURL"),
        stars,
        reviews,
        price,
        list_price,
        category_id,
        is_best_seller,
        bought_in_last_month,
        observed_at,
        extra: obj
            .iter()
            .filter(|(k, _)| !READ.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    })
}

/// `observed_at`, else an older feed's `date`, as UTC text; `None` when
/// the record has neither (blank counts as absent).
fn observed_at(obj: &Map<String, Value>) -> Result<Option<String>, Reject> {
    use shelf_contract::fields::product::{DATE, OBSERVED_AT};
    use shelf_contract::time::{format_utc, parse_feed_date, parse_observed_at};
    type Parse = fn(&str) -> Result<i64, shelf_contract::time::TimeError>;
    let given = |name| obj.get(name).filter(|v| !is_blank(Some(v)));
    let (field, v, parse): (&str, &Value, Parse) = match (given(OBSERVED_AT), given(DATE)) {
        (Some(v), _) => (OBSERVED_AT, v, parse_observed_at),
        (None, Some(v)) => (DATE, v, parse_feed_date),
        (None, None) => return Ok(None),
    };
    let bad = |why: &str| reject(RejectReason::InvalidObservedAt, field, Some(v), why);
    let Value::String(text) = v else {
        return Err(bad("is not a text"));
    };
    match parse(text) {
        Ok(ms) => Ok(Some(format_utc(ms))),
        Err(e) => Err(bad(&e.to_string())),
    }
}

fn asin(obj: &Map<String, Value>) -> Result<String, Reject> {
    let v = obj.get("asin");
    let bad = |why: &str| reject(RejectReason::InvalidAsin, "asin", v, why);
    let asin = match v {
        Some(Value::String(s)) => shelf_contract::wire::product_key(s),
        // An all-digit (ISBN-style) asin sent as a number.
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => return Err(bad("is not a string")),
    };
    let valid = asin.len() == 10
        && asin
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if !valid {
        return Err(bad("does not match ^[A-Z0-9]{10}$"));
    }
    Ok(asin)
}

fn title(obj: &Map<String, Value>) -> Result<String, Reject> {
    let v = obj.get("title");
    let text = match v {
        Some(Value::String(s)) => s.split_whitespace().collect::<Vec<_>>().join(" "),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    };
    if text.is_empty() {
        return Err(reject(
            RejectReason::MissingTitle,
            "title",
            v,
            "is empty or missing",
        ));
    }
    Ok(text)
}

fn price(obj: &Map<String, Value>) -> Result<Option<f64>, Reject> {
    let v = obj.get("price");
    let bad = |why: &str| reject(RejectReason::InvalidPrice, "price", v, why);
    if is_blank(v) {
        return Err(bad("is missing"));
    }
    let p = v
        .and_then(finite_number)
        .ok_or_else(|| bad("is not a finite number"))?;
    if p < 0.0 {
        return Err(bad("is negative"));
    }
    // 0 means "not available".
    Ok((p != 0.0).then_some(p))
}

fn stars(obj: &Map<String, Value>) -> Result<Option<f64>, Reject> {
    let v = obj.get("stars");
    if is_blank(v) {
        return Ok(None);
    }
    let bad = |why: &str| reject(RejectReason::InvalidStars, "stars", v, why);
    let s = v
        .and_then(finite_number)
        .ok_or_else(|| bad("is not a number"))?;
    if !(0.0..=5.0).contains(&s) {
        return Err(bad("is outside [0, 5]"));
    }
    // 0 means "unrated".
    Ok((s != 0.0).then_some(s))
}

fn count(obj: &Map<String, Value>, field: &str) -> Result<u64, Reject> {
    let v = obj.get(field);
    if is_blank(v) {
        return Ok(0);
    }
    v.and_then(whole_number).ok_or_else(|| {
        reject(
            RejectReason::InvalidCount,
            field,
            v,
            "is not a whole number >= 0",
        )
    })
}

fn flag(obj: &Map<String, Value>, field: &str) -> Result<bool, Reject> {
    let v = obj.get(field);
    let parsed = match v {
        None | Some(Value::Null) => Some(false),
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Some(Value::Number(n)) => match n.as_f64() {
            Some(1.0) => Some(true),
            Some(0.0) => Some(false),
            _ => None,
        },
        Some(_) => None,
    };
    parsed.ok_or_else(|| reject(RejectReason::InvalidFlag, field, v, "is not true/false/0/1"))
}

fn category(obj: &Map<String, Value>) -> Result<u64, Reject> {
    let v = obj.get("category_id");
    v.and_then(whole_number).filter(|&c| c >= 1).ok_or_else(|| {
        reject(
            RejectReason::InvalidCategory,
            "category_id",
            v,
            "is not a whole number >= 1",
        )
    })
}

fn text(obj: &Map<String, Value>, field: &str) -> Option<String> {
    match obj.get(field) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
