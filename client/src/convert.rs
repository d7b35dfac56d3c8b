//! CSV cells to the typed JSON the gateway takes. Numbers become numbers,
//! `True`/`False` booleans, empty cells `null` (but an empty asin or title
//! stays text, for the transforms to reject by name); anything else stays text,
//! so the transforms judge it by the data contract (and reject it with the
//! contract's reason) instead of the client guessing.

use serde_json::{Map, Number, Value};

/// Columns that hold numbers in the products file.
const NUMERIC: [&str; 6] = [
    "stars",
    "reviews",
    "price",
    "listPrice",
    "category_id",
    "boughtInLastMonth",
];

/// A products row as JSON; `stamp`, when given, is its `observed_at` (the
/// file has no time column: `--observed-at`).
pub fn product(header: &[String], cells: &[String], stamp: Option<&str>) -> Value {
    let mut object = Map::with_capacity(header.len() + 1);
    for (name, cell) in header.iter().zip(cells) {
        let value = if name == "isBestSeller" {
            flag(cell)
        } else if NUMERIC.contains(&name.as_str()) {
            number(cell)
        } else if cell.is_empty() && name != "asin" && name != "title" {
            Value::Null
        } else {
            Value::String(cell.clone())
        };
        object.insert(name.clone(), value);
    }
    if let Some(at) = stamp {
        object.insert(
            shelf_contract::fields::product::OBSERVED_AT.into(),
            Value::String(at.to_owned()),
        );
    }
    Value::Object(object)
}

/// A categories row as JSON, its cells read by column name (the header
/// was checked to have `id` and `category_name`, in any order).
pub fn category(header: &[String], cells: &[String]) -> Value {
    let mut object = Map::with_capacity(2);
    for (name, cell) in header.iter().zip(cells) {
        let value = match name.as_str() {
            "id" => number(cell),
            _ => Value::String(cell.clone()),
        };
        object.insert(name.clone(), value);
    }
    Value::Object(object)
}

fn number(cell: &str) -> Value {
    let t = cell.trim();
    if t.is_empty() {
        return Value::Null;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Value::Number(i.into());
    }
    match t.parse::<f64>().ok().and_then(Number::from_f64) {
        Some(n) => Value::Number(n),
        None => Value::String(cell.to_owned()),
    }
}

fn flag(cell: &str) -> Value {
    match cell.trim() {
        "True" => Value::Bool(true),
        "False" => Value::Bool(false),
        "" => Value::Null,
        other => Value::String(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn header() -> Vec<String> {
        "asin,title,imgUrl,productURL,stars,reviews,price,listPrice,category_id,isBestSeller,boughtInLastMonth"
            .split(',')
            .map(String::from)
            .collect()
    }

    fn cells(line: &str) -> Vec<String> {
        line.split('|').map(String::from).collect()
    }

    #[test]
    fn typed_values_from_text_cells() {
        let v = product(
            &header(),
            &cells("B0ABCDEFGH|A, \"30\"\" TV\"|u|p|4.5|12|19.99|0.0|7|True|100"),
            None,
        );
        assert_eq!(v["stars"], json!(4.5));
        assert_eq!(v["reviews"], json!(12));
        assert_eq!(v["price"], json!(19.99));
        assert_eq!(v["listPrice"], json!(0.0));
        assert_eq!(v["category_id"], json!(7));
        assert_eq!(v["isBestSeller"], json!(true));
        assert_eq!(v["title"], json!("A, \"30\"\" TV\""));
    }

    #[test]
    fn empty_cells_are_null_and_odd_ones_stay_text() {
        let v = product(
            &header(),
            &cells("B0ABCDEFGH|t|||five||$12|inf|books|Maybe|-3"),
            None,
        );
        assert_eq!(v["imgUrl"], Value::Null);
        assert_eq!(v["stars"], json!("five"));
        assert_eq!(v["reviews"], Value::Null);
        assert_eq!(v["price"], json!("$12"));
        assert_eq!(v["listPrice"], json!("inf"), "not a finite number");
        assert_eq!(v["category_id"], json!("books"));
        assert_eq!(v["isBestSeller"], json!("Maybe"));
        assert_eq!(v["boughtInLastMonth"], json!(-3));
    }

    #[test]
    fn cells_are_read_by_column_name() {
        let v = category(&["category_name".into(), "id".into()], &cells("Books|7"));
        assert_eq!(v, json!({"id": 7, "category_name": "Books"}));
        let mut reordered = header();
        reordered.swap(0, 6); // price first, asin in price's place
        let v = product(
            &reordered,
            &cells("19.99|t|u|p|4.5|12|B0ABCDEFGH|0.0|7|True|100"),
            None,
        );
        assert_eq!(v["asin"], json!("B0ABCDEFGH"));
        assert_eq!(v["price"], json!(19.99));
    }

    #[test]
    fn a_time_column_stays_text_and_a_stamp_is_added() {
        let mut with_time = header();
        with_time.push("observed_at".into());
        let v = product(
            &with_time,
            &cells("B0ABCDEFGH|t|||4||1|0|7|False|0|2023-09-01"),
            None,
        );
        assert_eq!(v["observed_at"], json!("2023-09-01"));
        let v = product(
            &header(),
            &cells("B0ABCDEFGH|t|||4||1|0|7|False|0"),
            Some("2023-09-02"),
        );
        assert_eq!(v["observed_at"], json!("2023-09-02"));
    }
}
