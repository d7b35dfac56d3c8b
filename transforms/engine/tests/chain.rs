//! The shipped modules through the engine, compared with the native rules.

mod common;

use proptest::prelude::*;
use serde_json::{json, Value};
use shelf_engine::{Chain, Engine, EngineConfig, Outcome};
use shelf_rules::{clean_bytes, derive, BucketParams, RejectReason};

use common::{both_chains, load, standard_chain};

/// What the native functions say about one raw record.
fn native(raw: &[u8], params: BucketParams) -> Result<Vec<u8>, RejectReason> {
    clean_bytes(raw)
        .map(|p| serde_json::to_vec(&derive(p, params)).unwrap())
        .map_err(|r| r.reason)
}

fn through(chain: &Chain, engine: &Engine, raws: &[Vec<u8>]) -> Vec<Result<Vec<u8>, RejectReason>> {
    let batch: Vec<(Option<&[u8]>, &[u8])> = raws
        .iter()
        .map(|r| (Some(&b"k"[..]), r.as_slice()))
        .collect();
    let outcomes = chain.run(engine, &batch);
    let mut by_input: Vec<Option<Result<Vec<u8>, RejectReason>>> = vec![None; raws.len()];
    for o in outcomes {
        let i = o.input();
        assert!(by_input[i].is_none(), "input {i} has two outcomes");
        by_input[i] = Some(match o {
            Outcome::Output { value, .. } => Ok(value),
            Outcome::Reject { reject, .. } => Err(reject.reason),
        });
    }
    by_input
        .into_iter()
        .enumerate()
        .map(|(i, o)| o.unwrap_or_else(|| panic!("input {i} lost")))
        .collect()
}

fn row() -> Value {
    json!({"asin": "B014TMV5YE", "title": "Sion Softside Luggage", "imgUrl": "https://i/x.jpg",
           "productURL": "https://p/x", "stars": 4.5, "reviews": 0, "price": 139.99, "listPrice": 159.99,
           "category_id": 104, "isBestSeller": false, "boughtInLastMonth": 2000})
}

fn with(field: &str, v: Value) -> Vec<u8> {
    let mut r = row();
    r[field] = v;
    r.to_string().into_bytes()
}

#[test]
fn every_rule_and_reject_reason_matches_native() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    for (name, chain) in both_chains(&engine, &[]) {
        every_rule_through(name, &chain, &engine);
    }
}

fn every_rule_through(name: &str, chain: &Chain, engine: &Engine) {
    let raws = vec![
        row().to_string().into_bytes(),
        with("asin", json!(" b014tmv5ye ")),
        with("asin", json!("SHORT")),
        with("title", json!("   ")),
        with("price", json!(-1)),
        with("price", json!(0.0)),
        with("price", json!("12.5")),
        with("listPrice", json!(0.0)),
        with("stars", json!(6)),
        with("stars", json!(0)),
        with("reviews", json!(1.5)),
        with("boughtInLastMonth", json!("50")),
        with("isBestSeller", json!("maybe")),
        with("isBestSeller", json!("True")),
        with("category_id", json!(0)),
        with("price", json!(300)),
        b"not json at all".to_vec(),
        b"[1,2]".to_vec(),
    ];
    let got = through(chain, engine, &raws);
    for (raw, got) in raws.iter().zip(&got) {
        assert_eq!(
            got,
            &native(raw, BucketParams::default()),
            "{name}: {}",
            String::from_utf8_lossy(raw)
        );
    }
    let reasons: Vec<RejectReason> = got.iter().filter_map(|g| g.clone().err()).collect();
    for reason in [
        RejectReason::InvalidAsin,
        RejectReason::MissingTitle,
        RejectReason::InvalidPrice,
        RejectReason::InvalidStars,
        RejectReason::InvalidCount,
        RejectReason::InvalidFlag,
        RejectReason::InvalidCategory,
        RejectReason::InvalidRecord,
    ] {
        assert!(reasons.contains(&reason), "{reason:?} not exercised");
    }
    // The first row, fully derived.
    let first: Value = serde_json::from_slice(got[0].as_ref().unwrap()).unwrap();
    assert_eq!(first["price_bucket"], "135-140");
    assert_eq!(first["price_bucket_lo"], 135);
    assert_eq!(first["discount_pct"], 12.5);
}

#[test]
fn bucket_parameters_are_applied_and_checked() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    for (name, chain) in both_chains(&engine, &[("width", "10"), ("cap", "100")]) {
        let got = through(
            &chain,
            &engine,
            &[with("price", json!(139.99)), with("price", json!(99.99))],
        );
        let labels: Vec<Value> = got
            .iter()
            .map(|g| {
                serde_json::from_slice::<Value>(g.as_ref().unwrap()).unwrap()["price_bucket"]
                    .clone()
            })
            .collect();
        assert_eq!(labels, [json!("100+"), json!("90-100")], "{name}");
    }

    for module in ["shelf_price_bucket", "shelf_clean_price_bucket"] {
        let bad = engine.load(
            module,
            &common::wasm(module),
            [("width".to_owned(), "0".to_owned())].into(),
        );
        let err = bad.unwrap_err().to_string();
        assert!(
            err.contains("init failed") && err.contains("width"),
            "{module}: {err}"
        );
    }
}

#[test]
fn non_modules_are_refused_with_a_reason() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let err = engine
        .load("x", b"not wasm", Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid WebAssembly module"), "{err}");
    // The smallest valid module: no exports at all.
    let err = engine
        .load("x", b"\0asm\x01\0\0\0", Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no `memory`"), "{err}");
}

fn arb_field() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-10i64..400).prop_map(Value::from),
        (-10.0f64..400.0).prop_map(|x| json!((x * 100.0).round() / 100.0)),
        "[ a-zA-Z0-9.]{0,12}".prop_map(Value::from),
    ]
}

fn arb_record() -> impl Strategy<Value = Value> {
    (
        prop_oneof![3 => "[A-Za-z0-9]{10}".prop_map(Value::from), 1 => arb_field()],
        prop_oneof![3 => "[ a-z,&é\"]{0,20}".prop_map(Value::from), 1 => arb_field()],
        arb_field(),
        arb_field(),
        prop_oneof![2 => (0.0f64..5.0).prop_map(|x| json!((x * 10.0).round() / 10.0)), 1 => arb_field()],
        arb_field(),
        arb_field(),
        prop_oneof![2 => (1u32..300).prop_map(Value::from), 1 => arb_field()],
    )
        .prop_map(|(asin, title, price, list, stars, reviews, flag, cat)| {
            json!({"asin": asin, "title": title, "price": price, "listPrice": list, "stars": stars,
                   "reviews": reviews, "isBestSeller": flag, "category_id": cat})
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]
    /// Random batches (valid and invalid records) give the same outputs and
    /// reject reasons through WASM as through the native functions.
    #[test]
    fn wasm_chain_agrees_with_native(records in prop::collection::vec(arb_record(), 1..200)) {
        thread_local! {
            static SETUP: (Engine, [(&'static str, Chain); 2]) = {
                let engine = Engine::new(EngineConfig::default()).unwrap();
                let chains = both_chains(&engine, &[]);
                (engine, chains)
            };
        }
        let raws: Vec<Vec<u8>> = records.iter().map(|r| r.to_string().into_bytes()).collect();
        let got = SETUP.with(|(engine, chains)| {
            chains.iter().map(|(_, chain)| through(chain, engine, &raws)).collect::<Vec<_>>()
        });
        for got in got {
            for (raw, got) in raws.iter().zip(&got) {
                prop_assert_eq!(got, &native(raw, BucketParams::default()));
            }
        }
    }
}

/// The discount in tenths of a percent by long division on whole cents,
/// rounded half up (the contract's rule).
fn tenths_by_division(p: u64, lp: u64) -> u64 {
    let n = 1000 * (lp - p);
    n / lp + u64::from(2 * (n % lp) >= lp)
}

#[test]
fn discounts_through_wasm_equal_integer_arithmetic() {
    // Every cent pair with a list price up to $3.00 (exact ties such as
    // 0.39 against 2.40 = 83.75 % among them), plus larger prices.
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let chain = common::fused_chain(&engine, &[]);
    let mut pairs: Vec<(u64, u64)> = (2..=300u64)
        .flat_map(|lp| (1..lp).map(move |p| (p, lp)))
        .collect();
    pairs.extend((1..2000u64).map(|i| (i * 997 % 150_000 + 1, 150_001 + i * 13)));
    for chunk in pairs.chunks(5000) {
        let raws: Vec<Vec<u8>> = chunk
            .iter()
            .map(|&(p, lp)| {
                let mut r = row();
                r["price"] = json!(p as f64 / 100.0);
                r["listPrice"] = json!(lp as f64 / 100.0);
                r.to_string().into_bytes()
            })
            .collect();
        for (&(p, lp), got) in chunk.iter().zip(through(&chain, &engine, &raws)) {
            let out: Value = serde_json::from_slice(&got.unwrap()).unwrap();
            let want = tenths_by_division(p, lp) as f64 / 10.0;
            assert_eq!(out["discount_pct"], json!(want), "{p} against {lp} cents");
        }
    }
}

#[test]
fn outputs_keep_input_order_and_keys() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let chain = standard_chain(&engine, &[]);
    let raws: Vec<Vec<u8>> = (0..500)
        .map(|i| with("price", json!(i as f64 + 0.5)))
        .collect();
    let batch: Vec<(Option<&[u8]>, &[u8])> = raws.iter().map(|r| (None, r.as_slice())).collect();
    let outcomes = chain.run(&engine, &batch);
    assert_eq!(outcomes.len(), 500);
    for (i, o) in outcomes.iter().enumerate() {
        let Outcome::Output { input, key, value } = o else {
            panic!("{o:?}")
        };
        assert_eq!(*input, i);
        assert_eq!(
            key.as_deref(),
            Some(&b"B014TMV5YE"[..]),
            "clean keys outputs by cleaned asin"
        );
        let v: Value = serde_json::from_slice(value).unwrap();
        assert_eq!(v["price"], json!(i as f64 + 0.5));
    }
    // The chain of one module works too.
    let only_clean = Chain::new(vec![load(&engine, "shelf_clean", &[])]);
    assert_eq!(only_clean.run(&engine, &batch[..3]).len(), 3);
}
