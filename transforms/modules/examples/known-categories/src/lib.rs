//! `known-categories`: rejects a product whose `category_id` is not in the
//! module's `ids` parameter (`1-20,42`: ranges and single ids), as
//! `invalid_category` with the id in the detail. Placed before `clean`, so
//! a category the analysts have not set up yet waits in `rejects` until it
//! is added to the list and the rejects are replayed
//! (`shelf rejects replay --reason invalid_category`).
//!
//! A record without a whole-number `category_id` is passed on for `clean`
//! to reject with its own reason.

use std::sync::OnceLock;

use fluvio_smartmodule::dataplane::smartmodule::SmartModuleExtraParams;
use fluvio_smartmodule::{eyre, smartmodule, RecordData, Result, SmartModuleRecord};
use serde_json::Value;
use shelf_rules::{envelope, module_params, Reject, RejectReason};

shelf_rules::declare_params!("ids");

static IDS: OnceLock<Vec<(i64, i64)>> = OnceLock::new();

#[smartmodule(init)]
fn init(params: SmartModuleExtraParams) -> Result<()> {
    if let Some(name) = params
        .get(module_params::GIVEN)
        .and_then(|given| module_params::unknown(given, &["ids"]).first().copied())
    {
        return Err(eyre!("unknown parameter `{name}` (known: ids)"));
    }
    let ids = params
        .get("ids")
        .ok_or_else(|| eyre!("parameter `ids` is required, for example ids=1-20,42"))?;
    let ranges = parse_ids(ids).map_err(|e| eyre!("parameter `ids`: {e}"))?;
    let _ = IDS.set(ranges);
    Ok(())
}

#[smartmodule(filter_map)]
pub fn filter_map(record: &SmartModuleRecord) -> Result<Option<(Option<RecordData>, RecordData)>> {
    let raw = record.value.as_ref();
    let passed = Ok(Some((record.key.clone(), record.value.clone())));
    let Some(id) = category_id(raw) else {
        return passed;
    };
    let known = IDS
        .get()
        .is_some_and(|ranges| ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(&id)));
    if known {
        return passed;
    }
    let reject = Reject::new(
        RejectReason::InvalidCategory,
        format!("field `category_id`: {id} is not one of the categories known to this pipeline"),
    );
    Ok(Some((
        record.key.clone(),
        RecordData::from(envelope::encode_reject(&reject, raw)),
    )))
}

/// The record's `category_id` as a whole number (`7` or `"7"`).
fn category_id(raw: &[u8]) -> Option<i64> {
    match serde_json::from_slice::<Value>(raw)
        .ok()?
        .get("category_id")?
    {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `1-20,42` → `[(1, 20), (42, 42)]`.
pub fn parse_ids(text: &str) -> std::result::Result<Vec<(i64, i64)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            let number = |s: &str| {
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{s:?} in {text:?} is not a whole number"))
            };
            let (lo, hi) = match part.split_once('-') {
                Some((lo, hi)) => (number(lo)?, number(hi)?),
                None => (number(part)?, number(part)?),
            };
            if lo > hi {
                return Err(format!("range {part:?} runs backwards"));
            }
            Ok((lo, hi))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_ranges_and_single_ids() {
        assert_eq!(parse_ids("1-20, 42").unwrap(), [(1, 20), (42, 42)]);
        assert!(parse_ids("1-x").unwrap_err().contains("\"x\""));
        assert!(parse_ids("9-3").unwrap_err().contains("backwards"));
    }

    #[test]
    fn the_category_is_read_as_a_number_or_text() {
        assert_eq!(category_id(br#"{"category_id":7}"#), Some(7));
        assert_eq!(category_id(br#"{"category_id":" 7"}"#), Some(7));
        assert_eq!(category_id(br#"{"category_id":"x"}"#), None);
        assert_eq!(category_id(b"not json"), None);
    }
}
