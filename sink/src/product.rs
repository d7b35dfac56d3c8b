//! Reading a `product-clean` record and checking that MongoDB will take it.
//!
//! The sink stores every field a product carries (a user's own module may
//! add fields), so it checks what MongoDB and FerretDB refuse before any
//! figure counts the product: keys with dots or a leading `$`, documents
//! over 16 MiB. (JSON cannot carry NaN.) A record that fails is rejected
//! with its reason instead of stalling its partition.

use bson::{Bson, Document, RawBsonRef, RawDocument, RawDocumentBuf};

use shelf_contract::fields::product as field;
use shelf_contract::{Reject, RejectReason};

use crate::figures::{to_micros, Contribution};
use crate::{bson_bytes, json_bson};

/// MongoDB's document size limit, less room for the fields the sink adds.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024 * 1024 - 16 * 1024;

fn invalid(detail: impl Into<String>) -> Reject {
    Reject::new(RejectReason::InvalidRecord, detail)
}

fn unstorable(detail: impl Into<String>) -> Reject {
    Reject::new(RejectReason::UnstorableDocument, detail)
}

/// A product event ready to store: its fields as BSON (without the
/// fields the sink owns, [`SINK_OWNED`]), what it adds to the figures, and
/// what its history keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductEvent {
    pub asin: String,
    pub fields: RawDocumentBuf,
    pub contribution: Contribution,
    pub list_micros: Option<i128>,
    /// Its `observed_at`; `None`: the record's timestamp stands in.
    pub observed_at: Option<i64>,
}

/// Fields of a stored product that the sink writes, whatever a record
/// says: `_id` is the asin, the name comes from the categories stream,
/// the times and the history from the versions, `_src` is where the last
/// version was read.
pub const SINK_OWNED: [&str; 10] = [
    "_id",
    field::CATEGORY_NAME,
    field::OBSERVED_AT,
    field::DAY,
    field::FIRST_SEEN,
    field::LAST_SEEN,
    field::PRICE_CHANGE_COUNT,
    crate::stored_document::ROWS,
    crate::stored_document::LEGACY_HISTORY,
    "_src",
];

/// Parses and checks one `product-clean` value.
pub fn parse(value: &[u8]) -> Result<ProductEvent, Reject> {
    let (fields, observed_at) =
        json_bson::document_capturing(value, &SINK_OWNED, Some(field::OBSERVED_AT)).map_err(
            |e| match e {
                json_bson::Error::Json(e) => invalid(format!("not valid JSON: {e}")),
                json_bson::Error::NotAnObject => invalid("the record is not a JSON object"),
                json_bson::Error::Key(detail) => unstorable(detail),
            },
        )?;
    let observed_at = match observed_at {
        None => None,
        Some(text) => Some(shelf_contract::time::parse_observed_at(&text).map_err(|e| {
            Reject::new(
                RejectReason::InvalidObservedAt,
                format!("field `observed_at`: \"{text}\" {e}"),
            )
        })?),
    };
    let asin = match fields.get(field::ASIN) {
        Ok(Some(RawBsonRef::String(s))) if !s.is_empty() => s.to_owned(),
        _ => return Err(invalid("field `asin`: missing or not a string")),
    };
    let (contribution, list_micros) = raw_counted(&fields);
    let contribution = contribution.map_err(invalid)?;
    let size = fields.as_bytes().len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(unstorable(format!(
            "the document is {size} bytes, over MongoDB's 16 MiB limit"
        )));
    }
    Ok(ProductEvent {
        asin,
        fields,
        contribution,
        list_micros,
        observed_at,
    })
}

/// A stored product's list price in millionths (what its history keeps).
pub fn list_micros(fields: &Document) -> Option<i128> {
    fields
        .get(field::LIST_PRICE)
        .map(Scalar::from)
        .and_then(number)
        .and_then(to_micros)
}

/// [`list_micros`] of a raw document.
pub fn raw_list_micros(fields: &RawDocument) -> Option<i128> {
    match fields.get(field::LIST_PRICE) {
        Ok(Some(v)) => number(Scalar::from(v)).and_then(to_micros),
        _ => None,
    }
}

/// Every field [`contribution`] reads: what a read of stored products for
/// their figures must project (`shelf sink rebuild`).
pub const COUNTED_FIELDS: [&str; 7] = [
    field::CATEGORY_ID,
    field::PRICE,
    field::STARS,
    field::IS_BEST_SELLER,
    field::BOUGHT_IN_LAST_MONTH,
    field::PRICE_BUCKET,
    field::PRICE_BUCKET_LO,
];

/// What a stored or incoming product adds to the figures, read from its
/// fields ([`COUNTED_FIELDS`]). The error names the field.
pub fn contribution(fields: &Document) -> Result<Contribution, String> {
    contribution_of(|name| fields.get(name).map(Scalar::from))
}

/// [`contribution`] of an event's fields or a stored product, read in one
/// pass.
pub fn raw_contribution(fields: &RawDocument) -> Result<Contribution, String> {
    let mut found = [None; COUNTED_FIELDS.len()];
    // By element: only the counted values are parsed.
    for e in fields.iter_elements().flatten() {
        if let Some(i) = COUNTED_FIELDS.iter().position(|f| *f == e.key()) {
            found[i] = e.value().ok().map(Scalar::from);
        }
    }
    contribution_of(|name| {
        let i = COUNTED_FIELDS.iter().position(|f| *f == name)?;
        found[i]
    })
}

/// [`raw_contribution`] and [`raw_list_micros`] in one pass over the
/// elements by their sizes: every record and every stored product a batch
/// reads goes through here, and `RawDocument`'s iterator validates every
/// value it passes (a twentieth of the sink's CPU over 30 days).
pub fn raw_counted(fields: &RawDocument) -> (Result<Contribution, String>, Option<i128>) {
    match bson_bytes::elements(fields.as_bytes()) {
        Some(elements) => counted(&elements),
        None => (raw_contribution(fields), raw_list_micros(fields)),
    }
}

/// [`raw_counted`] of a document's elements, already walked.
pub fn counted(
    elements: &[bson_bytes::Element<'_>],
) -> (Result<Contribution, String>, Option<i128>) {
    let mut found = [None; COUNTED_FIELDS.len()];
    let mut list = None;
    for e in elements {
        if e.key == field::LIST_PRICE.as_bytes() {
            list = Scalar::of_element(e);
        } else if let Some(i) = COUNTED_FIELDS.iter().position(|f| f.as_bytes() == e.key) {
            found[i] = Scalar::of_element(e);
        }
    }
    let contribution = contribution_of(|name| {
        let i = COUNTED_FIELDS.iter().position(|f| *f == name)?;
        found[i]
    });
    let list_micros = list.and_then(number).and_then(to_micros);
    (contribution, list_micros)
}

/// A field's value as the figures read it, from a document or raw BSON.
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(&'a str),
    Other,
}

impl<'a> From<&'a Bson> for Scalar<'a> {
    fn from(v: &'a Bson) -> Self {
        match v {
            Bson::Null => Scalar::Null,
            Bson::Boolean(b) => Scalar::Bool(*b),
            Bson::Int32(i) => Scalar::Int(i64::from(*i)),
            Bson::Int64(i) => Scalar::Int(*i),
            Bson::Double(x) => Scalar::Double(*x),
            Bson::String(s) => Scalar::Str(s),
            _ => Scalar::Other,
        }
    }
}

impl<'a> Scalar<'a> {
    /// `None` where a value is malformed, as `RawBsonRef` would refuse it.
    fn of_element(e: &bson_bytes::Element<'a>) -> Option<Self> {
        Some(match e.kind {
            bson_bytes::NULL => Scalar::Null,
            bson_bytes::BOOLEAN => Scalar::Bool(*e.value.first()? != 0),
            bson_bytes::INT32 => {
                Scalar::Int(i64::from(i32::from_le_bytes(e.value.try_into().ok()?)))
            }
            bson_bytes::INT64 => Scalar::Int(i64::from_le_bytes(e.value.try_into().ok()?)),
            bson_bytes::DOUBLE => Scalar::Double(f64::from_le_bytes(e.value.try_into().ok()?)),
            bson_bytes::STRING => Scalar::Str(e.as_str()?),
            _ => Scalar::Other,
        })
    }
}

impl<'a> From<RawBsonRef<'a>> for Scalar<'a> {
    fn from(v: RawBsonRef<'a>) -> Self {
        match v {
            RawBsonRef::Null => Scalar::Null,
            RawBsonRef::Boolean(b) => Scalar::Bool(b),
            RawBsonRef::Int32(i) => Scalar::Int(i64::from(i)),
            RawBsonRef::Int64(i) => Scalar::Int(i),
            RawBsonRef::Double(x) => Scalar::Double(x),
            RawBsonRef::String(s) => Scalar::Str(s),
            _ => Scalar::Other,
        }
    }
}

/// What a product adds to the figures, its counted fields given by `get`.
fn contribution_of<'a>(get: impl Fn(&str) -> Option<Scalar<'a>>) -> Result<Contribution, String> {
    let field = |name: &str| get(name).filter(|v| !matches!(v, Scalar::Null));
    let category_id = field(field::CATEGORY_ID)
        .and_then(whole_scalar)
        .filter(|&c| c >= 1)
        .ok_or("field `category_id`: missing or not a whole number >= 1")?;
    let price_micros = match field(field::PRICE) {
        None => None,
        Some(v) => Some(
            number(v)
                .filter(|&p| p >= 0.0)
                .and_then(to_micros)
                .ok_or("field `price`: not a number >= 0 (or over 1e20)")?,
        ),
    };
    let stars_micros = match field(field::STARS) {
        None => None,
        Some(v) => Some(
            number(v)
                .filter(|s| (0.0..=5.0).contains(s))
                .and_then(to_micros)
                .ok_or("field `stars`: not a number in [0, 5]")?,
        ),
    };
    let bestseller = match field(field::IS_BEST_SELLER) {
        None => false,
        Some(Scalar::Bool(b)) => b,
        Some(_) => return Err("field `isBestSeller`: not a boolean".into()),
    };
    let bought_last_month = match field(field::BOUGHT_IN_LAST_MONTH) {
        None => 0,
        Some(v) => whole_scalar(v)
            .filter(|&n| n >= 0)
            .ok_or("field `boughtInLastMonth`: not a whole number >= 0")?,
    };
    let bucket = match field(field::PRICE_BUCKET) {
        Some(Scalar::Str(s)) if !s.is_empty() && !s.contains('.') && !s.starts_with('$') => {
            s.into()
        }
        _ => {
            return Err(
                "field `price_bucket`: missing, or not a label usable as a key (no '.', no leading '$')"
                    .into(),
            )
        }
    };
    let bucket_lo = match field(field::PRICE_BUCKET_LO) {
        None => None,
        Some(v) => Some(whole_scalar(v).ok_or("field `price_bucket_lo`: not a whole number")?),
    };
    Ok(Contribution {
        category_id,
        price_micros,
        stars_micros,
        bestseller,
        bought_last_month: i128::from(bought_last_month),
        bucket,
        bucket_lo,
    })
}

fn number(v: Scalar<'_>) -> Option<f64> {
    match v {
        Scalar::Double(x) => x.is_finite().then_some(x),
        Scalar::Int(i) => Some(i as f64),
        _ => None,
    }
}

/// An integer field, however the store or the JSON typed it.
pub(crate) fn whole(v: &Bson) -> Option<i64> {
    whole_scalar(Scalar::from(v))
}

fn whole_scalar(v: Scalar<'_>) -> Option<i64> {
    match v {
        Scalar::Int(i) => Some(i),
        Scalar::Double(x) if x.fract() == 0.0 && x.abs() < 9e15 => Some(x as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(extra: &str) -> Vec<u8> {
        format!(
            r#"{{"asin":"B014TMV5YE","title":"Kettle","price":19.99,"stars":4.5,"category_id":3,
            "isBestSeller":true,"boughtInLastMonth":100,"price_bucket":"15-20","price_bucket_lo":15{extra}}}"#
        )
        .into_bytes()
    }

    #[test]
    fn a_clean_product_is_counted_with_all_its_fields() {
        let e = parse(&clean(r#","specs":{"colour":"red"}"#)).unwrap();
        assert_eq!(e.asin, "B014TMV5YE");
        assert_eq!(e.contribution.category_id, 3);
        assert_eq!(e.contribution.price_micros, Some(19_990_000));
        assert_eq!(e.contribution.stars_micros, Some(4_500_000));
        assert!(e.contribution.bestseller);
        assert_eq!(e.contribution.bucket_lo, Some(15));
        assert!(e.fields.get_document("specs").is_ok());
        assert_eq!(
            contribution(&e.fields.to_document().unwrap()).unwrap(),
            e.contribution
        );
    }

    #[test]
    fn the_counted_fields_are_all_a_contribution_reads() {
        let e = parse(&clean(r#","specs":{"colour":"red"}"#)).unwrap();
        let projected: Document = e
            .fields
            .to_document()
            .unwrap()
            .iter()
            .filter(|(k, _)| COUNTED_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(contribution(&projected).unwrap(), e.contribution);
    }

    #[test]
    fn one_pass_by_sizes_reads_what_the_validating_reads_read() {
        use bson::rawdoc;
        let docs = [
            rawdoc! { "category_id": 3, "price": 19.99, "listPrice": 25_i64, "stars": "4.5",
            "isBestSeller": true, "boughtInLastMonth": 100_i64, "price_bucket": "15-20",
            "price_bucket_lo": 15 },
            rawdoc! { "category_id": 3_i64, "price": bson::RawBson::Null, "listPrice": "12.5",
            "isBestSeller": false, "price_bucket": "unpriced", "price_bucket_lo": bson::RawBson::Null },
            rawdoc! { "title": "x", "category_id": 2.0, "price": 3, "listPrice": bson::RawBson::Null,
            "specs": { "price": 1 }, "price_bucket": "0-5", "price_bucket_lo": 0, "price": 4 },
            rawdoc! { "category_id": "7", "price": [1], "listPrice": true, "price_bucket": "0-5" },
            rawdoc! {},
        ];
        for d in &docs {
            let (contribution, list) = raw_counted(d);
            assert_eq!(contribution, raw_contribution(d), "{d:?}");
            assert_eq!(list, raw_list_micros(d), "{d:?}");
        }
        assert_eq!(raw_counted(&docs[0]).1, Some(25_000_000));
    }

    #[test]
    fn keys_mongodb_refuses_are_named() {
        let e = parse(&clean(r#","specs":{"size.cm":3}"#)).unwrap_err();
        assert_eq!(e.reason, RejectReason::UnstorableDocument);
        assert!(e.detail.contains("`specs/size.cm`"), "{}", e.detail);
        let e = parse(&clean(r#","list":[{"$where":1}]"#)).unwrap_err();
        assert_eq!(e.reason, RejectReason::UnstorableDocument);
        assert!(e.detail.contains("'$'"), "{}", e.detail);
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = format!(r#","blob":"{}""#, "x".repeat(MAX_DOCUMENT_BYTES));
        let e = parse(&clean(&big)).unwrap_err();
        assert_eq!(e.reason, RejectReason::UnstorableDocument);
        assert!(e.detail.contains("16 MiB"));
    }

    #[test]
    fn records_the_figures_cannot_count_are_invalid() {
        for (bad, field) in [
            (r#"{"asin":"B0","price_bucket":"0-5"}"#, "category_id"),
            (
                r#"{"asin":"B0","category_id":2,"price":-1,"price_bucket":"0-5"}"#,
                "price",
            ),
            (
                r#"{"asin":"B0","category_id":2,"stars":7,"price_bucket":"0-5"}"#,
                "stars",
            ),
            (
                r#"{"asin":"B0","category_id":2,"price_bucket":"2.5-5"}"#,
                "price_bucket",
            ),
            (r#"{"category_id":2,"price_bucket":"0-5"}"#, "asin"),
        ] {
            let e = parse(bad.as_bytes()).unwrap_err();
            assert_eq!(e.reason, RejectReason::InvalidRecord, "{bad}");
            assert!(e.detail.contains(field), "{bad}: {}", e.detail);
        }
        let e = parse(br#"{"asin":"B0","price":NaN}"#).unwrap_err();
        assert!(e.detail.starts_with("not valid JSON"), "{}", e.detail);
    }
}
