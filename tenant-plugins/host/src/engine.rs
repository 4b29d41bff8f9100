//! The wasmtime engine: one configuration for compiling and running, so artifacts made by the
//! worker load in the host.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits::Limits;

/// How often the epoch advances: the granularity of the CPU-time limit.
pub(crate) const TICK: Duration = Duration::from_millis(1);

fn base_config() -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.consume_fuel(true);
    config
}

/// How much of a pooled linear memory is reset in place rather than unmapped: the Rust toolchain's
/// 1 MiB shadow stack plus a little data and heap.
pub(crate) const KEEP_RESIDENT: usize = 2 << 20;

/// The engine the compile worker uses (no instance pool: it never instantiates).
pub(crate) fn compile_engine() -> wasmtime::Result<Engine> {
    Engine::new(&base_config())
}

/// The engine that runs plugins: a pooling allocator sized by the limits.
pub(crate) fn run_engine(limits: &Limits) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let n = limits.pool_instances;
    pool.total_component_instances(n)
        // A component made by the Rust toolchain holds a few core instances, memories and tables.
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 4)
        .max_core_instances_per_component(32)
        .max_memories_per_component(4)
        .max_tables_per_component(8)
        .max_memory_size(limits.memory_bytes)
        .table_elements(limits.table_elements)
        .total_stacks(n)
        // Reset only the pages a call touched (Linux 6.7+ PAGEMAP_SCAN), by copying the initial
        // image back, instead of unmapping the slot and faulting every page in again on the next
        // call: a trivial hook's instantiate-and-drop costs about half as much. Older kernels fall
        // back to wasmtime's madvise reset. Either way a slot starts from the module's initial
        // image (the isolation tests check no byte crosses tenants).
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10);
    let mut config = base_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

/// A name for the engine's compilation settings: part of a cached artifact's file name.
pub(crate) fn engine_hash(engine: &Engine) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// Advances the engine's epoch every [`TICK`] until dropped.
#[derive(Debug)]
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Ticker {
    pub(crate) fn start(engine: &Engine) -> Ticker {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, engine) = (stop.clone(), engine.weak());
        std::thread::Builder::new()
            .name("plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    match engine.upgrade() {
                        Some(e) => e.increment_epoch(),
                        None => break,
                    }
                }
            })
            .ok();
        Ticker { stop }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
