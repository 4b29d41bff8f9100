//! Plugin invocation cost, measured (`cargo bench -p switchboard-plugin-bench`):
//!
//! - cold compile of an example plugin in the bounded worker, and loading it from the disk cache;
//! - a trivial on-contact hook through the host API (slot, pooled instance, fresh store with
//!   fuel/epoch/limits, call, drop): p50 / p99 of single calls, then calls/s with two callers;
//! - the same component instantiated from a pre-linked `InstancePre` and called directly on a bare
//!   wasmtime engine (pooling allocator, no limits), the floor the host is compared with.
//!
//! Numbers go to stdout as a table; the method and the last results are in the README of
//! tenant-plugins.
#![allow(clippy::print_stdout)] // The report is the benchmark's output.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_plugin_host::hook::{Channel, Contact};
use switchboard_plugin_host::{
    CallContext, Compiler, Grants, HostConfig, HostServices, HttpRequest, HttpResponse, Limits, PluginHost,
    ServiceError,
};
use wasmtime::component::{Component, InstancePre, Linker, Val};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

/// Host services that are never called by the benchmarked hook.
struct Idle;

#[async_trait::async_trait]
impl HostServices for Idle {
    async fn kv_get(&self, _: &str, _: &str) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }
    async fn kv_set(&self, _: &str, _: &str, _: &str) -> Result<(), ServiceError> {
        Ok(())
    }
    async fn kv_delete(&self, _: &str, _: &str) -> Result<(), ServiceError> {
        Ok(())
    }
    async fn secret(&self, _: &str, _: &str) -> Result<Option<String>, ServiceError> {
        Ok(None)
    }
    async fn http(&self, _: &str, _: HttpRequest) -> Result<HttpResponse, ServiceError> {
        Err(ServiceError::Unavailable("not in the benchmark".into()))
    }
}

fn contact() -> Contact {
    Contact {
        id: "0192f0c0-0000-7000-8000-000000000001".into(),
        channel: Channel::Voice,
        customer: Some("+14155550100".into()),
        address: Some("+14155550199".into()),
        queue: "support".into(),
        priority: 10,
        skills: Vec::new(),
        attributes: Vec::new(),
        text: None,
        arrived_ms: 1,
    }
}

fn context() -> CallContext {
    CallContext {
        tenant: "bench".into(),
        plugin: "trivial".into(),
        version: 1,
        grants: Grants::default(),
        dry_run: false,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The benchmark binary is its own compile worker (`invoke compile-worker`), as `switchboard` is.
const WORKER_ARG: &str = "compile-worker";

fn host(cache: PathBuf) -> PluginHost {
    let program = std::env::current_exe().expect("own path");
    let compiler = Compiler { program, args: vec![WORKER_ARG.into()] };
    PluginHost::new(HostConfig { cache_dir: cache, compiler, limits: Limits::default() }, Arc::new(Idle)).expect("host")
}

const CALLS: usize = 20_000;
const ROUNDS: usize = 20;

fn main() {
    if std::env::args().nth(1).as_deref() == Some(WORKER_ARG) {
        let limits = Limits::default();
        std::process::exit(switchboard_plugin_host::worker_main(limits.compile_memory_bytes, limits.compile_time));
    }
    let built = switchboard_plugin_bench::guest("fixture-trivial")
        .and_then(|trivial| Ok((trivial, switchboard_plugin_bench::guest("example-vip-routing")?)));
    let (trivial, example) = match built {
        Ok(both) => both,
        Err(why) => {
            eprintln!("no benchmark: {why}");
            std::process::exit(1);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let cache = std::env::temp_dir().join(format!("sb-plugin-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&cache);

        // Compile (cold) and load from the cache (a restarted host).
        let h = host(cache.clone());
        let started = Instant::now();
        let loaded = h.prepare(&example).await.expect("example compiles");
        let cold = started.elapsed();
        let sha = loaded.sha256.clone();
        drop(h);
        let h = Arc::new(host(cache.clone()));
        let started = Instant::now();
        h.load(&sha, async || None).await.expect("from the cache");
        let warm = started.elapsed();
        println!(
            "example-vip-routing ({} KiB): cold compile {:.0} ms, load from cache {:.1} ms",
            example.len() / 1024,
            cold.as_secs_f64() * 1e3,
            warm.as_secs_f64() * 1e3
        );

        // Single calls through the host API.
        let plugin = h.prepare(&trivial).await.expect("trivial compiles");
        for _ in 0..1_000 {
            h.on_contact(&plugin, context(), contact()).await.outcome.expect("answer");
        }
        // Host and bare calls in alternating rounds, so the machine's noise falls on both alike.
        let mut tuned = Bare::new(&trivial, true);
        let mut default = Bare::new(&trivial, false);
        let (mut times, mut inner, mut tuned_times, mut default_times) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            for _ in 0..CALLS / ROUNDS {
                let started = Instant::now();
                let report = h.on_contact(&plugin, context(), contact()).await;
                times.push(started.elapsed());
                inner.push(report.duration);
                report.outcome.expect("answer");
            }
            tuned_times.extend((0..CALLS / ROUNDS).map(|_| tuned.once()));
            default_times.extend((0..CALLS / ROUNDS).map(|_| default.once()));
        }
        for t in [&mut times, &mut inner, &mut tuned_times, &mut default_times] {
            t.sort();
        }
        let (host_p50, host_p99) = (percentile(&times, 0.5), percentile(&times, 0.99));
        let (bare_p50, bare_p99) = (percentile(&tuned_times, 0.5), percentile(&tuned_times, 0.99));
        let (default_p50, default_p99) = (percentile(&default_times, 0.5), percentile(&default_times, 0.99));

        // Two callers at once for two seconds.
        let until = Instant::now() + Duration::from_secs(2);
        let mut callers = Vec::new();
        for _ in 0..2 {
            let (h, plugin) = (h.clone(), plugin.clone());
            callers.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < until {
                    h.on_contact(&plugin, context(), contact()).await.outcome.expect("answer");
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for c in callers {
            total += c.await.expect("caller");
        }
        let per_second = total as f64 / 2.0;

        // The floor: bare wasmtime, same component, instantiate + call + drop.
        println!();
        println!("| trivial on-contact, {CALLS} calls | p50 µs | p99 µs |");
        println!("|---|---|---|");
        println!("| through the host API | {:.1} | {:.1} |", micros(host_p50), micros(host_p99));
        println!(
            "| of which on the plugin's thread (store, instantiate, call) | {:.1} | {:.1} |",
            micros(percentile(&inner, 0.5)),
            micros(percentile(&inner, 0.99))
        );
        println!(
            "| bare wasmtime instantiate + call, default pool | {:.1} | {:.1} |",
            micros(default_p50),
            micros(default_p99)
        );
        println!(
            "| bare wasmtime instantiate + call, the host's pool reset settings | {:.1} | {:.1} |",
            micros(bare_p50),
            micros(bare_p99)
        );
        println!(
            "| ratio | {:.2}x | {:.2}x |",
            micros(host_p50) / micros(bare_p50),
            micros(host_p99) / micros(bare_p99)
        );
        println!();
        println!("host API, 2 concurrent callers: {per_second:.0} calls/s");
        let _ = std::fs::remove_dir_all(&cache);
    });
}

/// Instantiate-and-call on a bare engine: pooling allocator (wasmtime's defaults, or with the
/// host's in-place reset), imports the hook never calls defined as traps, the arguments built once.
struct Bare {
    engine: Engine,
    pre: InstancePre<()>,
    arg: Val,
}

impl Bare {
    fn new(wasm: &[u8], tuned: bool) -> Bare {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let mut pool = PoolingAllocationConfig::default();
        if tuned {
            pool.pagemap_scan(Enabled::Auto).linear_memory_keep_resident(2 << 20).table_keep_resident(64 << 10);
        }
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).expect("engine");
        let component = Component::new(&engine, wasm).expect("compiles");
        let mut linker: Linker<()> = Linker::new(&engine);
        linker.define_unknown_imports_as_traps(&component).expect("imports");
        let pre = linker.instantiate_pre(&component).expect("pre");
        let arg = Val::Record(vec![
            ("id".into(), Val::String("0192f0c0-0000-7000-8000-000000000001".into())),
            ("channel".into(), Val::Enum("voice".into())),
            ("customer".into(), Val::Option(Some(Box::new(Val::String("+14155550100".into()))))),
            ("address".into(), Val::Option(Some(Box::new(Val::String("+14155550199".into()))))),
            ("queue".into(), Val::String("support".into())),
            ("priority".into(), Val::U8(10)),
            ("skills".into(), Val::List(Vec::new())),
            ("attributes".into(), Val::List(Vec::new())),
            ("text".into(), Val::Option(None)),
            ("arrived-ms".into(), Val::U64(1)),
        ]);
        let mut bare = Bare { engine, pre, arg };
        for _ in 0..1_000 {
            bare.once();
        }
        bare
    }

    fn once(&mut self) -> Duration {
        let started = Instant::now();
        let mut store = Store::new(&self.engine, ());
        let instance = self.pre.instantiate(&mut store).expect("instance");
        let func = instance.get_func(&mut store, "on-contact").expect("on-contact");
        let mut out = [Val::Bool(false)];
        func.call(&mut store, std::slice::from_ref(&self.arg), &mut out).expect("call");
        drop(store);
        started.elapsed()
    }
}
