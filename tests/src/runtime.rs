//! The transform runtime in the test's own process (`run_blocking` on a
//! thread), and the native rules to compare its outputs with.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use clap::Parser;
use serde_json::Value;
use shelf_config::Platform;
use shelf_rules::{clean, derive, BucketParams};
use shelf_transform::{run_blocking, Metrics, RunArgs, RuntimeError};

#[derive(Parser)]
struct Flags {
    #[command(flatten)]
    args: RunArgs,
}

/// A running runtime; [`Runtime::stop`] ends it and checks it ended well.
pub struct Runtime {
    pub shutdown: Arc<AtomicBool>,
    pub handle: JoinHandle<Result<(), RuntimeError>>,
}

impl Runtime {
    /// With a group and instance of its own (tests run in parallel: they
    /// would share partitions and fence each other) and a 20 ms batch wait
    /// unless `flags` give one.
    pub fn start(p: &Platform, flags: &[&str]) -> Self {
        let group = crate::unique("group");
        let instance = crate::unique("instance");
        let mut argv = vec!["run", "--metrics-listen", "127.0.0.1:0"];
        if !flags.contains(&"--batch-wait-ms") {
            argv.extend_from_slice(&["--batch-wait-ms", "20"]);
        }
        argv.extend_from_slice(&["--group", &group, "--instance", &instance]);
        argv.extend_from_slice(flags);
        Self::spawn(p, Flags::parse_from(argv).args)
    }

    /// With the default group and instance (`0`): what a user who sets
    /// neither runs.
    pub fn start_default(p: &Platform) -> Self {
        Self::spawn(
            p,
            Flags::parse_from(["run", "--metrics-listen", "127.0.0.1:0"]).args,
        )
    }

    fn spawn(p: &Platform, args: RunArgs) -> Self {
        let shutdown = Arc::new(AtomicBool::new(false));
        let (p, stop) = (p.clone(), shutdown.clone());
        let handle = std::thread::spawn(move || {
            run_blocking(
                &p,
                &args,
                Arc::new(Metrics::default()),
                &AtomicBool::new(false),
                &stop,
            )
        });
        Self { shutdown, handle }
    }

    /// Stops it; panics if it failed.
    pub fn stop(self) {
        self.shutdown.store(true, Ordering::Relaxed);
        self.handle
            .join()
            .expect("the runtime thread")
            .expect("the runtime ends well");
    }
}

/// The native verdict on a raw record: output bytes or reject reason.
pub fn native(raw: &[u8], params: BucketParams) -> Result<Vec<u8>, String> {
    let v: Value = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
    clean(&v)
        .map(|p| serde_json::to_vec(&derive(p, params)).unwrap_or_default())
        .map_err(|r| r.reason.as_str().to_owned())
}

/// The width of an output's price bucket (`None` for "unpriced" or the
/// top bucket).
pub fn width_of(value: &[u8]) -> Option<u64> {
    let v: Value = serde_json::from_slice(value).ok()?;
    let (lo, hi) = v["price_bucket"].as_str()?.split_once('-')?;
    Some(hi.parse::<u64>().ok()? - lo.parse::<u64>().ok()?)
}

/// Deploys the next version of the standard chain's module
/// (`clean-price-bucket`) with `params`, as `shelf transform deploy` does.
pub async fn deploy_next_version(
    p: &Platform,
    params: &[(&str, &str)],
) -> Result<shelf_transform::registry::ModuleSpec, shelf_transform::deploy::DeployError> {
    let registry = shelf_transform::registry::Registry::new(&crate::kafka(p), &p.topics.transforms);
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        shelf_transform::deploy::deploy(
            &registry,
            "clean-price-bucket",
            &crate::wasm_path("shelf_clean_price_bucket"),
            params,
        )
    })
    .await
    .expect("the deploy thread")
}

/// Deploys module `name` from the built `wasm` with `params` and makes
/// chain `default` run `modules`, in order, between the platform's topics.
pub async fn deploy_into_default_chain(
    p: &Platform,
    name: &str,
    wasm: &str,
    params: &[(&str, &str)],
    modules: &[&str],
) {
    use shelf_transform::{deploy, registry::Registry};
    let registry = Registry::new(&crate::kafka(p), &p.topics.transforms);
    registry.ensure_topic().await.expect("the registry topic");
    let (topics, name, wasm) = (p.topics.clone(), name.to_owned(), crate::wasm_path(wasm));
    let modules: Vec<String> = modules.iter().map(|m| m.to_string()).collect();
    let params = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        deploy::deploy(&registry, &name, &wasm, params).expect("the module deploys");
        deploy::chain(
            &registry,
            "default",
            modules,
            &topics.ingest_product,
            &topics.product_clean,
            &topics.product_dlq,
        )
        .expect("the chain deploys");
    })
    .await
    .expect("the deploy thread");
}
