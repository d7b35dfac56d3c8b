use proptest::prelude::*;

use super::*;

/// The direct path and the trees give the same bytes, or the same error.
fn same(json: &str, skip: &[&str]) {
    let capture = Some("observed_at");
    let direct = document_capturing(json.as_bytes(), skip, capture);
    let trees = via_trees(json.as_bytes(), skip, capture);
    match (&direct, &trees) {
        (Ok((a, at_a)), Ok((b, at_b))) => {
            assert_eq!(a.as_bytes(), b.as_bytes(), "{json}");
            assert_eq!(at_a, at_b, "{json}");
        }
        (Err(Error::Json(_)), Err(Error::Json(_)))
        | (Err(Error::NotAnObject), Err(Error::NotAnObject)) => {}
        (Err(Error::Key(a)), Err(Error::Key(b))) => assert_eq!(a, b, "{json}"),
        _ => panic!("{json}: direct {direct:?}, trees {trees:?}"),
    }
}

#[test]
fn documents_equal_the_trees() {
    for json in [
        r#"{}"#,
        r#"{"asin":"B01","price":19.99,"reviews":12,"stars":null,"isBestSeller":true}"#,
        r#"{"big":18446744073709551615,"neg":-9223372036854775808,"f":1.0,"e":1e400}"#,
        r#"{"nested":{"a":[1,"x",{"b":null},[true,2.5]],"c":{}},"arr":[]}"#,
        r#"{"esc\"aped\u00e9":"line\nbreak \ud83d\ude00","_id":"dropped","category_name":"too"}"#,
        r#"{"a":1,"a":2,"b":{"c":1,"c":[3]}}"#,
        r#"{"observed_at":"2023-09-01T00:00:00Z","n":{"observed_at":"kept"}}"#,
        r#"{"observed_at":17,"x":1}"#,
    ] {
        same(json, &["_id", "category_name"]);
    }
    // Past the short list of keys: a duplicate is still found.
    let many: Vec<String> = (0..40).map(|i| format!(r#""k{i}":{i}"#)).collect();
    let json = format!(r#"{{{},"k3":"again"}}"#, many.join(","));
    same(&json, &[]);
    let doc = document(json.as_bytes(), &[]).unwrap();
    assert_eq!(doc.get_str("k3").unwrap(), "again");
}

#[test]
fn refused_keys_are_named_by_path() {
    for (json, path) in [
        (r#"{"a":1,"specs":{"size.cm":3}}"#, "specs/size.cm"),
        (r#"{"list":[{"ok":1},{"$where":1}]}"#, "list/$where"),
        (r#"{"x\u0000y":1}"#, "x\0y"),
        // The first in document order, also among skipped keys.
        (r#"{"_id":{"a.b":1},"c.d":2}"#, "_id/a.b"),
    ] {
        let Err(Error::Key(detail)) = document(json.as_bytes(), &["_id"]) else {
            panic!("{json} was not refused");
        };
        assert!(detail.contains(&format!("`{path}`")), "{json}: {detail}");
        same(json, &["_id"]);
    }
}

#[test]
fn invalid_json_wins_over_a_refused_key_and_anything_else() {
    for json in [
        r#"{"a.b":1,"c":NaN}"#,
        r#"{"a":1} trailing"#,
        r#"[1,2] x"#,
        r#"{"a":1,"a":}"#,
        "",
    ] {
        assert!(
            matches!(document(json.as_bytes(), &[]), Err(Error::Json(_))),
            "{json}"
        );
    }
    for json in ["[1,2]", "3", "\"s\"", "null"] {
        assert!(
            matches!(document(json.as_bytes(), &[]), Err(Error::NotAnObject)),
            "{json}"
        );
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("[a-z_.$]{0,4}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn any_object_converts_as_through_the_trees(
        fields in prop::collection::vec(("[a-z_.$]{0,6}", json_value()), 0..8)
    ) {
        let object = serde_json::Value::Object(fields.into_iter().collect());
        same(&object.to_string(), &["_id"]);
    }
}

#[test]
fn the_captured_key_is_kept_apart_at_the_top_only() {
    let json = br#"{"asin":"B01","observed_at":"2023-09-01","n":{"observed_at":"x"}}"#;
    let (doc, at) = document_capturing(json, &[], Some("observed_at")).unwrap();
    assert_eq!(at.as_deref(), Some("2023-09-01"));
    assert!(doc.get("observed_at").unwrap().is_none());
    assert_eq!(
        doc.get_document("n")
            .unwrap()
            .get_str("observed_at")
            .unwrap(),
        "x"
    );
}
