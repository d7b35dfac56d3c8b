//! The wasmtime engine with an epoch ticker for call deadlines.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::LoadError;

/// Limits applied to every module call.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Linear memory one module instance may grow to.
    pub memory_limit: usize,
    /// Wall time one call (one batch through one module) may take.
    pub call_timeout: Duration,
    /// Threads a batch is split over (records are independent; the
    /// outcomes keep the input order). 1 runs everything on the caller.
    pub threads: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            memory_limit: 256 << 20,
            call_timeout: Duration::from_secs(2),
            threads: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS),
        }
    }
}

/// Default ceiling of [`EngineConfig::threads`].
const MAX_THREADS: usize = 4;

/// Instances alive at once: one per module and thread of a running chain,
/// plus the loads that check a deploy.
const POOL_SLOTS: u32 = 64;
/// Memory a slot keeps mapped after use (beyond it, pages go back to the
/// OS). Small since instances serve many calls: a new one is rare, and
/// every slot one has used keeps this much resident.
const KEEP_RESIDENT: usize = 1 << 20;

/// Set to `1` to write a perf map of the compiled modules (see
/// docs/benchmarks.md, "Profiling").
pub const PERF_MAP_ENV: &str = "SHELF_WASM_PERF_MAP";

/// Granularity of call deadlines.
pub(crate) const TICK: Duration = Duration::from_millis(10);

/// Compiles and runs modules. Cheap to share behind an `Arc`.
pub struct Engine {
    pub(crate) wasm: wasmtime::Engine,
    pub(crate) config: EngineConfig,
    stop_ticker: Arc<AtomicBool>,
}

impl Engine {
    pub fn new(config: EngineConfig) -> Result<Self, LoadError> {
        let mut wasm_config = wasmtime::Config::new();
        // Epoch interruption costs far less than fuel metering and is
        // enough for a wall-clock deadline per call.
        wasm_config.epoch_interruption(true);
        // Every call instantiates afresh; a pool of pre-mapped slots whose
        // pages stay resident between uses spares each instance the mmap,
        // the page faults and the munmap of a new linear memory.
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_core_instances(POOL_SLOTS)
            .total_memories(POOL_SLOTS)
            .total_tables(POOL_SLOTS)
            .max_memory_size(config.memory_limit)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT);
        wasm_config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        // `perf` sees the compiled modules' functions by name only through
        // a perf map (/tmp/perf-PID.map); opt-in, it costs a write per
        // compiled function.
        if std::env::var_os(PERF_MAP_ENV).is_some_and(|v| v == "1") {
            wasm_config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let wasm =
            wasmtime::Engine::new(&wasm_config).map_err(|e| LoadError::Engine(e.to_string()))?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        let (engine, stop) = (wasm.clone(), stop_ticker.clone());
        std::thread::Builder::new()
            .name("wasm-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| LoadError::Engine(e.to_string()))?;
        Ok(Self {
            wasm,
            config,
            stop_ticker,
        })
    }

    /// Deadline of one call, in ticks.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.config.call_timeout.as_millis() / TICK.as_millis()).max(1) as u64
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}
