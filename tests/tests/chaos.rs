//! The pipeline under random kills (see `shelf_tests::chaos`): a seeded
//! loop kill -9s the client, the gateway, a runtime, a sink, the store or
//! the broker while dirty rows stream in with their categories late; the
//! store must then be exactly the recomputation from the CSV. Prints the
//! kills by kind and the time to drain. The only test in its file: it
//! kills the platform's broker and store.
//!
//! `make chaos` runs a longer one: `SHELF_CHAOS_ROWS`, `SHELF_CHAOS_RATE`
//! and `SHELF_CHAOS_SEED` choose it.

use shelf_tests::chaos::{run, say, ChaosConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_kills_mid_stream_leave_the_store_exact() {
    let report = run(ChaosConfig::from_env()).await.unwrap();
    say(report);
}
