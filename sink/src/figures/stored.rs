//! The stored form of [`Figures`], inside the JSON texts of `sink_partials`
//! and `sink_daily`.
//!
//! Layout 4 writes an array, `[products, priced, price_micros,
//! bestsellers, rated, stars_micros, bought_last_month, [[label,
//! products, lo], ...]]`, with the `i128` sums as decimal text (no JSON
//! reader keeps 128-bit integers). Layout 3 wrote an object with those
//! names and the buckets as two maps by label; it is still read.
//!
//! Why an array: these texts are rewritten at every batch, one per
//! partition, and FerretDB's cost of a statement grows with its bytes. A
//! partition's text, every category's figures, cost the store 70 times a
//! product's insert; without the names and the labels written twice it
//! is about half as long.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Bucket, Buckets, Figures};

impl Serialize for Figures {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(8)?;
        t.serialize_element(&self.products)?;
        t.serialize_element(&self.priced)?;
        t.serialize_element(&Text(self.price_micros))?;
        t.serialize_element(&self.bestsellers)?;
        t.serialize_element(&self.rated)?;
        t.serialize_element(&Text(self.stars_micros))?;
        t.serialize_element(&Text(self.bought_last_month))?;
        t.serialize_element(&Rows(&self.buckets))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Figures {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FiguresVisitor)
    }
}

/// An `i128` amount written as a JSON string of its digits (no JSON
/// reader keeps 128-bit integers); the stored histories use it too.
pub(crate) struct Text(pub(crate) i128);

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// The buckets as `[label, products, lo]` rows.
struct Rows<'a>(&'a Buckets);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|b| (&*b.label, b.products, b.lo)))
    }
}

fn parse_i128<E: de::Error>(text: &str) -> Result<i128, E> {
    text.parse()
        .map_err(|_| E::custom(format!("not a whole number: {text:?}")))
}

struct FiguresVisitor;

impl<'de> Visitor<'de> for FiguresVisitor {
    type Value = Figures;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a category's figures (an array, or an object of layout 3)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Figures, A::Error> {
        fn next<'de, T: Deserialize<'de>, A: SeqAccess<'de>>(
            seq: &mut A,
            what: &str,
        ) -> Result<T, A::Error> {
            seq.next_element()?
                .ok_or_else(|| de::Error::custom(format!("figures: `{what}` missing")))
        }
        let products = next(&mut seq, "products")?;
        let priced = next(&mut seq, "priced")?;
        let price_micros: String = next(&mut seq, "price_micros")?;
        let bestsellers = next(&mut seq, "bestsellers")?;
        let rated = next(&mut seq, "rated")?;
        let stars_micros: String = next(&mut seq, "stars_micros")?;
        let bought_last_month: String = next(&mut seq, "bought_last_month")?;
        let mut rows: Vec<(String, i64, Option<i64>)> = next(&mut seq, "buckets")?;
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.dedup_by(|a, b| a.0 == b.0);
        Ok(Figures {
            products,
            priced,
            price_micros: parse_i128(&price_micros)?,
            bestsellers,
            rated,
            stars_micros: parse_i128(&stars_micros)?,
            bought_last_month: parse_i128(&bought_last_month)?,
            buckets: Buckets::from_rows(rows.into_iter().map(|(label, products, lo)| Bucket {
                label: label.into(),
                products,
                lo,
            })),
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Figures, A::Error> {
        let f = Layout3::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Figures {
            products: f.products,
            priced: f.priced,
            price_micros: parse_i128(&f.price_micros)?,
            bestsellers: f.bestsellers,
            rated: f.rated,
            stars_micros: parse_i128(&f.stars_micros)?,
            bought_last_month: parse_i128(&f.bought_last_month)?,
            buckets: Buckets::from_maps(f.buckets, f.bucket_lo),
        })
    }
}

/// The figures as layout 3 wrote them.
#[derive(Deserialize)]
struct Layout3 {
    products: i64,
    priced: i64,
    price_micros: String,
    bestsellers: i64,
    rated: i64,
    stars_micros: String,
    bought_last_month: String,
    buckets: BTreeMap<String, i64>,
    bucket_lo: BTreeMap<String, Option<i64>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figures::tests::product;

    fn figures() -> Figures {
        let mut f = Figures::default();
        f.apply(&product(3, Some(12.5), "10-15"), 1);
        f.apply(&product(3, None, "unpriced"), 1);
        f.apply(&product(3, Some(1e15), "300+"), 1);
        f
    }

    #[test]
    fn the_array_form_round_trips() {
        let f = figures();
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.starts_with("[3,2,"), "{text}");
        assert_eq!(serde_json::from_str::<Figures>(&text).unwrap(), f);
    }

    #[test]
    fn layout_3_objects_are_still_read() {
        let text = r#"{"products":3,"priced":2,"price_micros":"1000000000000012500000",
            "bestsellers":0,"rated":3,"stars_micros":"13500000","bought_last_month":"150",
            "buckets":{"10-15":1,"300+":1,"unpriced":1},
            "bucket_lo":{"10-15":10,"300+":null,"unpriced":null}}"#;
        assert_eq!(serde_json::from_str::<Figures>(text).unwrap(), figures());
    }

    #[test]
    fn a_malformed_amount_is_named() {
        let text = r#"[1,1,"12x",0,0,"0","0",[]]"#;
        let e = serde_json::from_str::<Figures>(text).unwrap_err();
        assert!(e.to_string().contains("not a whole number: \"12x\""), "{e}");
    }
}
