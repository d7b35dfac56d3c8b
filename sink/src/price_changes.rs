//! `price_changes` documents: one per product version whose price or list
//! price differs from the version before it in observation order
//! ([`crate::history`] says which).
//!
//! The `_id` is the asin and the version's offset in the product topic, so
//! a late version that moves a change point rewrites or deletes exactly the
//! documents it affects, and a replay writes the same documents again.
//!
//! They are written before the product whose history they come from (a
//! replay skips what the product holds), so the product's own guard does
//! not fence them: each carries `_src`, the offset its product was stored
//! at when the change was computed, and a write expects the stored one no
//! greater ([`guard`]). A sink that lost the partition and still writes
//! what it computed from an older state of the product is refused; a
//! replay of the same batch, whatever its boundaries, computes from the
//! same state.

use bson::{doc, Bson, DateTime, Document};
use shelf_contract::fields::{price_change as change_field, product as field};
use shelf_contract::time::{day_number, format_day};

use crate::figures::from_micros;
use crate::history::{Change, Version};

/// Where a change was computed: the offset its product was stored at
/// (the sink's own field, as on `products`).
pub const SRC: &str = "_src";

/// The `_id` of the change a version makes: `{asin}:{offset}`.
pub fn id(asin: &str, version: &Version) -> String {
    format!("{asin}:{}", version.offset)
}

fn amount(micros: Option<i128>) -> Bson {
    micros.map_or(Bson::Null, |m| Bson::Double(from_micros(m)))
}

/// The document of a change.
pub fn document(asin: &str, change: &Change) -> Document {
    let (prev, new) = (&change.prev, &change.new);
    doc! {
        "_id": id(asin, new),
        field::ASIN: asin,
        field::OBSERVED_AT: DateTime::from_millis(new.at),
        field::DAY: format_day(day_number(new.at)),
        field::CATEGORY_ID: new.contribution.category_id,
        field::PRICE: amount(new.contribution.price_micros),
        field::LIST_PRICE: amount(new.list_micros),
        change_field::PREV_PRICE: amount(prev.contribution.price_micros),
        change_field::PREV_LIST_PRICE: amount(prev.list_micros),
        change_field::PREV_OBSERVED_AT: DateTime::from_millis(prev.at),
        change_field::CHANGE_PCT: change
            .pct_tenths()
            .map_or(Bson::Null, |t| Bson::Double(t as f64 / 10.0)),
    }
}

/// The condition a write computed at `src` puts on the stored change:
/// written at the same point or an earlier one (or before `_src` existed).
pub fn guard(src: i64) -> Document {
    doc! { "$or": [ { SRC: { "$exists": false } }, { SRC: { "$lte": src } } ] }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::{to_micros, Contribution};

    fn version(at: i64, offset: i64, price: Option<f64>, list: Option<f64>) -> Version {
        Version {
            at,
            offset,
            contribution: Contribution {
                category_id: 4,
                price_micros: price.and_then(to_micros),
                stars_micros: None,
                bestseller: false,
                bought_last_month: 0,
                bucket: "x".into(),
                bucket_lo: None,
            },
            list_micros: list.and_then(to_micros),
        }
    }

    #[test]
    fn a_change_names_both_versions_and_its_percentage() {
        let change = Change {
            prev: version(1_693_526_400_000, 3, Some(100.0), None),
            new: version(1_693_612_800_000, 9, Some(87.75), Some(120.0)),
        };
        let d = document("B0ABCDEFGH", &change);
        assert_eq!(d.get_str("_id").unwrap(), "B0ABCDEFGH:9");
        assert_eq!(d.get_str("day").unwrap(), "2023-09-02");
        assert_eq!(d.get_f64("change_pct").unwrap(), -12.3);
        assert_eq!(d.get_f64("price").unwrap(), 87.75);
        assert_eq!(d.get_f64("listPrice").unwrap(), 120.0);
        assert_eq!(d.get("prev_listPrice"), Some(&Bson::Null));
        assert_eq!(
            d.get_datetime("prev_observed_at")
                .unwrap()
                .timestamp_millis(),
            1_693_526_400_000
        );
        assert_eq!(d.get_i64("category_id").unwrap(), 4);
        let unpriced = Change {
            prev: change.prev.clone(),
            new: version(1_693_612_800_000, 10, None, None),
        };
        assert_eq!(
            document("B0", &unpriced).get("change_pct"),
            Some(&Bson::Null)
        );
    }
}
