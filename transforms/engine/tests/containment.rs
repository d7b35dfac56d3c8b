//! A module that traps, loops, allocates without end or returns `Err` costs
//! only the record that made it do so.

mod common;

use std::time::{Duration, Instant};

use shelf_engine::{Chain, Engine, EngineConfig, Outcome};
use shelf_rules::RejectReason;

fn run_chaos(engine: &Engine, poison_at: usize, poison: &str) -> Vec<Outcome> {
    let chain = Chain::new(vec![common::load(engine, "shelf_chaos", &[])]);
    let raws: Vec<String> = (0..64)
        .map(|i| {
            if i == poison_at {
                format!("{{\"n\":{i},\"x\":\"{poison}\"}}")
            } else {
                format!("{{\"n\":{i}}}")
            }
        })
        .collect();
    let batch: Vec<(Option<&[u8]>, &[u8])> = raws.iter().map(|r| (None, r.as_bytes())).collect();
    chain.run(engine, &batch)
}

/// Every input but the poisoned one passes; the poisoned one is a
/// transform_error reject whose detail contains `expect`.
fn assert_isolated(outcomes: &[Outcome], poison_at: usize, expect: &str) {
    assert_eq!(outcomes.len(), 64, "{outcomes:?}");
    for o in outcomes {
        match o {
            Outcome::Output { input, value, .. } => {
                assert_ne!(*input, poison_at);
                assert_eq!(value, format!("{{\"n\":{input}}}").as_bytes());
            }
            Outcome::Reject { input, reject } => {
                assert_eq!(*input, poison_at);
                assert_eq!(reject.reason, RejectReason::TransformError);
                assert!(reject.detail.contains(expect), "{}", reject.detail);
                assert!(
                    reject.detail.contains("shelf_chaos"),
                    "names the module: {}",
                    reject.detail
                );
            }
        }
    }
    let rejects = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Reject { .. }))
        .count();
    assert_eq!(rejects, 1);
}

#[test]
fn a_panic_is_isolated() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    assert_isolated(&run_chaos(&engine, 17, "PANIC"), 17, "trapped");
}

#[test]
fn an_err_does_not_drop_the_rest_of_the_batch() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    assert_isolated(&run_chaos(&engine, 3, "ERR"), 3, "chaos: asked to fail");
}

#[test]
fn a_loop_is_stopped_by_the_deadline() {
    let engine = Engine::new(EngineConfig {
        call_timeout: Duration::from_millis(100),
        ..EngineConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    assert_isolated(&run_chaos(&engine, 40, "LOOP"), 40, "time limit");
    // Splitting 64 records finds it in log2(64) + 1 timed-out calls.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn endless_allocation_hits_the_memory_limit() {
    let engine = Engine::new(EngineConfig {
        memory_limit: 32 << 20,
        ..EngineConfig::default()
    })
    .unwrap();
    assert_isolated(&run_chaos(&engine, 63, "HOG"), 63, "trapped");
}

#[test]
fn memory_is_given_back_between_batches() {
    // 400 batches of 1000 records through a chain whose instances would
    // leak every input and output under fluvio-smartengine: instances are
    // replaced before they reach a quarter of the limit, and a call that
    // fails in a used one is tried in a fresh one, so a memory limit of
    // 16 MiB is never what fails a record.
    let engine = Engine::new(EngineConfig {
        memory_limit: 16 << 20,
        ..EngineConfig::default()
    })
    .unwrap();
    let chain = common::standard_chain(&engine, &[]);
    let raw = serde_json::json!({"asin": "B014TMV5YE", "title": "A kettle", "price": 19.99, "category_id": 3}).to_string();
    let batch: Vec<(Option<&[u8]>, &[u8])> = (0..1000).map(|_| (None, raw.as_bytes())).collect();
    for _ in 0..400 {
        let out = chain.run(&engine, &batch);
        assert!(
            out.iter().all(|o| matches!(o, Outcome::Output { .. })),
            "{:?}",
            out.first()
        );
    }
}

/// Calls reuse instances (at most one per thread is kept), and an instance
/// that failed is not among them: every call after a trap still succeeds.
#[test]
fn instances_are_reused_but_never_after_a_failure() {
    let engine = Engine::new(EngineConfig {
        threads: 1,
        ..EngineConfig::default()
    })
    .unwrap();
    let module = common::load(&engine, "shelf_chaos", &[]);
    let chain = Chain::new(vec![module.clone()]);
    assert_eq!(module.idle_instances(), 0);
    let ok: Vec<(Option<&[u8]>, &[u8])> = vec![(None, b"{}")];
    for _ in 0..3 {
        assert!(matches!(
            chain.run(&engine, &ok)[..],
            [Outcome::Output { .. }]
        ));
        assert_eq!(module.idle_instances(), 1);
    }
    let poisoned: Vec<(Option<&[u8]>, &[u8])> = vec![(None, b"PANIC")];
    assert!(matches!(
        chain.run(&engine, &poisoned)[..],
        [Outcome::Reject { .. }]
    ));
    // The instance that trapped was dropped, the idle one kept.
    assert!(module.idle_instances() <= 1);
    assert!(matches!(
        chain.run(&engine, &ok)[..],
        [Outcome::Output { .. }]
    ));
}
