//! Runs tenants' WebAssembly plugins.
//!
//! A plugin is a component of the `switchboard:plugin` world (`tenant-plugins/wit/plugin.wit`).
//! [`PluginHost::prepare`] takes an upload: checks its size and kind, compiles it once in a
//! separate worker process bounded in time and memory (or finds it in the on-disk cache, keyed by
//! content hash and engine settings), checks it is of the right world, and reads its manifest.
//! The hook calls ([`PluginHost::on_contact`], ...) instantiate it from wasmtime's pooling
//! allocator into a fresh store, run one hook with its CPU time (epoch deadline), fuel, memory,
//! tables, host calls and output bounded, and drop the instance: nothing survives a call, so no
//! tenant ever sees another's bytes. Anything that goes wrong is a [`Failure`] the caller turns
//! into the tenant's default behaviour.

mod bindings;
mod call;
mod compile;
mod engine;
mod limits;
mod services;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, Trap, UpdateDeadline};

pub use bindings::switchboard::plugin::types as hook;
pub use call::{Failure, LogLine};
pub use compile::{Compiler, worker_main};
pub use limits::Limits;
pub use services::{CallContext, Grants, HostServices, HttpRequest, HttpResponse, ServiceError};

use bindings::{Plugin, PluginPre};
use call::{CallState, Metered};

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// Larger than the limit.
    #[error("the component is {size} bytes; the limit is {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file")]
    NotWasm,
    /// A core module, not a component.
    #[error(
        "a core WebAssembly module, not a component: build for wasm32-wasip2 (or wrap it with `wasm-tools component new`)"
    )]
    NotComponent,
    /// Not valid (the compiler's reason).
    #[error("not a valid component: {0}")]
    Invalid(String),
    /// A component of another world.
    #[error("not a switchboard:plugin@0.1.0 component: {0}")]
    WrongWorld(String),
    /// Its `describe` failed or said something unusable.
    #[error("its manifest: {0}")]
    Manifest(String),
    /// Compilation did not finish within its limits (or the worker failed).
    #[error("compiling failed: {0}")]
    Compile(String),
}

/// A hook a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookKind {
    /// A new contact, before it is queued.
    OnContact,
    /// An IVR `plugin` step.
    OnIvr,
    /// A customer's chat or SMS message.
    OnMessage,
    /// After an agent finishes a contact.
    OnWrapUp,
}

impl HookKind {
    /// Its name in the WIT world.
    pub fn as_str(self) -> &'static str {
        match self {
            HookKind::OnContact => "on-contact",
            HookKind::OnIvr => "on-ivr",
            HookKind::OnMessage => "on-message",
            HookKind::OnWrapUp => "on-wrap-up",
        }
    }
}

/// What a plugin says it implements and needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Its hooks.
    pub hooks: Vec<HookKind>,
    /// What it asks to use (granted or not by the tenant).
    pub needs: Grants,
}

/// A compiled plugin ready to instantiate.
pub struct LoadedPlugin {
    /// SHA-256 of the component (hex).
    pub sha256: String,
    /// What it says about itself.
    pub manifest: Manifest,
    pre: PluginPre<CallState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("sha256", &self.sha256).field("manifest", &self.manifest).finish()
    }
}

/// What a call gave: the answer or why not, and what the plugin logged.
#[derive(Debug, Clone)]
pub struct Report<T> {
    /// The hook's answer, or why there is none (then the default applies).
    pub outcome: Result<T, Failure>,
    /// Its log lines (and what it printed).
    pub logs: Vec<LogLine>,
    /// Log lines over the limit, counted.
    pub logs_dropped: u32,
    /// Wall time of the call, waiting for a slot excluded.
    pub duration: Duration,
    /// Fuel it burned.
    pub fuel: u64,
}

/// Where the host keeps things and how it compiles.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The compiled-artifact cache (shared across restarts).
    pub cache_dir: PathBuf,
    /// The compile worker.
    pub compiler: Compiler,
    /// The bounds.
    pub limits: Limits,
}

/// The plugin host: one engine, one linker, the pool, the cache, the per-tenant slots.
pub struct PluginHost {
    engine: Engine,
    engine_hash: String,
    linker: Linker<CallState>,
    limits: Arc<Limits>,
    config: HostConfig,
    services: Arc<dyn HostServices>,
    loaded: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    tenants: Mutex<HashMap<String, Arc<Semaphore>>>,
    pool: Arc<Semaphore>,
    _ticker: engine::Ticker,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Starting the host failed.
#[derive(Debug, thiserror::Error)]
#[error("plugin host: {0}")]
pub struct HostError(String);

impl PluginHost {
    /// Makes the engine (reserving the instance pool), the linker and the epoch ticker.
    pub fn new(config: HostConfig, services: Arc<dyn HostServices>) -> Result<PluginHost, HostError> {
        let engine = engine::run_engine(&config.limits).map_err(|e| HostError(e.to_string()))?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| HostError(e.to_string()))?;
        Plugin::add_to_linker::<CallState, HasSelf<CallState>>(&mut linker, |s| s)
            .map_err(|e| HostError(e.to_string()))?;
        std::fs::create_dir_all(&config.cache_dir).map_err(|e| HostError(format!("cache directory: {e}")))?;
        let ticker = engine::Ticker::start(&engine);
        Ok(PluginHost {
            engine_hash: engine::engine_hash(&engine),
            engine,
            linker,
            limits: Arc::new(config.limits.clone()),
            pool: Arc::new(Semaphore::new(config.limits.pool_instances as usize)),
            config,
            services,
            loaded: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
            _ticker: ticker,
        })
    }

    /// The bounds in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// SHA-256 (hex) of a component's bytes: its name in the cache.
    pub fn content_hash(wasm: &[u8]) -> String {
        hex::encode(Sha256::digest(wasm))
    }

    /// Takes a component: size and kind checked, compiled (once, in the worker) or found in the
    /// cache, its world checked and its manifest read (in a bounded call).
    pub async fn prepare(&self, wasm: &[u8]) -> Result<Arc<LoadedPlugin>, UploadError> {
        if wasm.len() > self.limits.max_component_bytes {
            return Err(UploadError::TooLarge { size: wasm.len(), limit: self.limits.max_component_bytes });
        }
        if wasm.len() < 8 || &wasm[..4] != b"\0asm" {
            return Err(UploadError::NotWasm);
        }
        // Core modules are version 1; components carry layer 1 in the upper half.
        if wasm[4..8] == [1, 0, 0, 0] {
            return Err(UploadError::NotComponent);
        }
        let sha = Self::content_hash(wasm);
        if let Some(p) = self.cached(&sha) {
            return Ok(p);
        }
        let path = compile::artifact_path(&self.config.cache_dir, &sha, &self.engine_hash);
        if !path.exists() {
            let artifact = compile::run_worker(&self.config.compiler, wasm, self.limits.compile_time).await?;
            compile::store_artifact(&path, &artifact).map_err(|e| UploadError::Compile(format!("cache: {e}")))?;
        }
        self.load_artifact(sha, path).await
    }

    /// Loads a plugin whose component was prepared before (from the in-memory set, the disk
    /// cache, or by compiling `wasm` again if the cache lost it). Never compiles on its own:
    /// the caller passes the component only when the cache has no artifact.
    pub async fn load(
        &self,
        sha256: &str,
        wasm: impl AsyncFnOnce() -> Option<Vec<u8>>,
    ) -> Result<Arc<LoadedPlugin>, Failure> {
        if let Some(p) = self.cached(sha256) {
            return Ok(p);
        }
        let path = compile::artifact_path(&self.config.cache_dir, sha256, &self.engine_hash);
        if path.exists() {
            return self.load_artifact(sha256.to_string(), path).await.map_err(|e| Failure::Unavailable(e.to_string()));
        }
        let bytes = wasm().await.ok_or_else(|| Failure::Unavailable("the component is gone".into()))?;
        if Self::content_hash(&bytes) != sha256 {
            return Err(Failure::Unavailable("the stored component does not match its hash".into()));
        }
        self.prepare(&bytes).await.map_err(|e| Failure::Unavailable(e.to_string()))
    }

    fn cached(&self, sha: &str) -> Option<Arc<LoadedPlugin>> {
        self.loaded.lock().ok()?.get(sha).cloned()
    }

    async fn load_artifact(&self, sha: String, path: PathBuf) -> Result<Arc<LoadedPlugin>, UploadError> {
        let component = load_component(&self.engine, &path).map_err(|e| {
            // A damaged or foreign file: drop it so the next attempt compiles afresh.
            let _ = std::fs::remove_file(&path);
            UploadError::Compile(format!("cached artifact: {e}"))
        })?;
        let pre = self.linker.instantiate_pre(&component).map_err(|e| UploadError::WrongWorld(chain(&e)))?;
        let pre = PluginPre::new(pre).map_err(|e| UploadError::WrongWorld(chain(&e)))?;
        let mut plugin = LoadedPlugin {
            sha256: sha.clone(),
            manifest: Manifest { hooks: Vec::new(), needs: Grants::default() },
            pre,
        };
        let context = CallContext {
            tenant: String::new(),
            plugin: String::new(),
            version: 0,
            grants: Grants::default(),
            dry_run: true,
        };
        let described = self
            .run(&plugin.pre, context, Describe)
            .await
            .outcome
            .map_err(|e| UploadError::Manifest(format!("describe failed: {e}")))?;
        plugin.manifest = manifest_of(described)?;
        let plugin = Arc::new(plugin);
        if let Ok(mut map) = self.loaded.lock() {
            map.insert(sha, plugin.clone());
        }
        Ok(plugin)
    }

    /// Runs `on-contact`.
    pub async fn on_contact(
        &self,
        plugin: &LoadedPlugin,
        context: CallContext,
        contact: hook::Contact,
    ) -> Report<hook::ContactDecision> {
        let limit = self.limits.output_bytes;
        let mut report = self.run(&plugin.pre, context, contact).await;
        report.check(
            |d| match d {
                hook::ContactDecision::Route(r) => route_size(r),
                hook::ContactDecision::Voicemail => 0,
                hook::ContactDecision::Reject(why) => why.len(),
            },
            limit,
        );
        report
    }

    /// Runs `on-ivr`.
    pub async fn on_ivr(
        &self,
        plugin: &LoadedPlugin,
        context: CallContext,
        state: hook::IvrState,
    ) -> Report<hook::IvrDecision> {
        let limit = self.limits.output_bytes;
        let mut report = self.run(&plugin.pre, context, state).await;
        report.check(|d| d.branch.as_ref().map_or(0, String::len) + attrs_size(&d.attributes), limit);
        report
    }

    /// Runs `on-message`.
    pub async fn on_message(
        &self,
        plugin: &LoadedPlugin,
        context: CallContext,
        message: hook::InboundMessage,
    ) -> Report<hook::MessageDecision> {
        let limit = self.limits.output_bytes;
        let mut report = self.run(&plugin.pre, context, message).await;
        report.check(
            |d| {
                d.reply.as_ref().map_or(0, String::len)
                    + d.queue.as_ref().map_or(0, String::len)
                    + attrs_size(&d.attributes)
            },
            limit,
        );
        report
    }

    /// Runs `on-wrap-up`.
    pub async fn on_wrap_up(
        &self,
        plugin: &LoadedPlugin,
        context: CallContext,
        finished: hook::FinishedContact,
    ) -> Report<Vec<hook::WrapUpAction>> {
        let limit = self.limits.output_bytes;
        let mut report = self.run(&plugin.pre, context, finished).await;
        report.check(
            |actions| {
                actions
                    .iter()
                    .map(|a| match a {
                        hook::WrapUpAction::SendSms(m) => m.to.len() + m.text.len(),
                        hook::WrapUpAction::SendEmail(m) => m.to.len() + m.subject.len() + m.body.len(),
                        hook::WrapUpAction::SetAttributes(a) => attrs_size(a),
                    })
                    .sum()
            },
            limit,
        );
        report
    }

    /// One bounded call: a slot of the tenant's and of the pool, a fresh store, the hook as a
    /// future on this task (yielding at every epoch tick), the instance dropped.
    async fn run<H: HookCall>(&self, pre: &PluginPre<CallState>, context: CallContext, call: H) -> Report<H::Answer> {
        let empty =
            |f| Report { outcome: Err(f), logs: Vec::new(), logs_dropped: 0, duration: Duration::ZERO, fuel: 0 };
        let wait = self.limits.queue_wait;
        // A free slot is taken at once; only a full one arms the waiting timer.
        let slot = async |slots: Arc<Semaphore>| match slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => tokio::time::timeout(wait, slots.acquire_owned()).await.ok()?.ok(),
        };
        let Some(_tenant_permit) = slot(self.tenant_slots(&context.tenant)).await else {
            return empty(Failure::Busy);
        };
        let Some(_pool_permit) = slot(self.pool.clone()).await else {
            return empty(Failure::Busy);
        };
        let started = Instant::now();
        let limits = self.limits.clone();
        let fuel = limits.fuel;
        let mut store = Store::new(&self.engine, CallState::new(context, self.services.clone(), limits.clone()));
        store.limiter(|s| s);
        let _ = store.set_fuel(fuel);
        // Checked every tick: the budgets, then a yield so other work gets the worker.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let s = ctx.data_mut();
            if s.started.elapsed() >= s.limits.wall_time {
                let why = Failure::Timeout(format!("ran longer than {} ms in all", s.limits.wall_time.as_millis()));
                return Err(s.stop(why));
            }
            if s.cpu.used() >= s.limits.cpu_time {
                let why = Failure::Timeout(format!("computed longer than {} ms", s.limits.cpu_time.as_millis()));
                return Err(s.stop(why));
            }
            Ok(UpdateDeadline::Yield(1))
        });
        let clock = store.data().cpu.clone();
        let work = Metered::new(
            async {
                let plugin = pre.instantiate_async(&mut store).await?;
                call.call(&plugin, &mut store).await
            },
            clock,
        );
        // The ticks stop a guest that computes; this stops one stuck in a host call.
        let result = match tokio::time::timeout(limits.wall_time + engine::TICK * 10, work).await {
            Ok(result) => result,
            Err(_) => Err(wasmtime::Error::msg("wall time")),
        };
        if result.is_err() && store.data().stopped_by.is_none() && started.elapsed() >= limits.wall_time {
            let why = Failure::Timeout(format!("ran longer than {} ms in all", limits.wall_time.as_millis()));
            store.data_mut().stopped_by = Some(why);
        }
        let burned = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let state = store.data_mut();
        state.take_output();
        let outcome = result.map_err(|e| classify(&e, state.stopped_by.take()));
        Report {
            outcome,
            logs: std::mem::take(&mut state.logs),
            logs_dropped: state.logs_dropped,
            duration: started.elapsed(),
            fuel: burned,
        }
    }

    fn tenant_slots(&self, tenant: &str) -> Arc<Semaphore> {
        let Ok(mut map) = self.tenants.lock() else {
            return Arc::new(Semaphore::new(self.limits.tenant_concurrency));
        };
        map.entry(tenant.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.limits.tenant_concurrency)))
            .clone()
    }
}

/// A hook's input, and how to call the hook with it.
trait HookCall: Send {
    /// The hook's answer.
    type Answer: Send;
    /// Calls the hook on an instance.
    fn call<'a>(self, plugin: &'a Plugin, store: &'a mut Store<CallState>) -> HookFuture<'a, Self::Answer>;
}

type HookFuture<'a, T> = Pin<Box<dyn Future<Output = wasmtime::Result<T>> + Send + 'a>>;

/// `describe`, which takes nothing.
struct Describe;

macro_rules! hook_call {
    ($input:ty => $answer:ty, $method:ident) => {
        impl HookCall for $input {
            type Answer = $answer;
            fn call<'a>(self, plugin: &'a Plugin, store: &'a mut Store<CallState>) -> HookFuture<'a, $answer> {
                Box::pin(async move { plugin.$method(store, &self).await })
            }
        }
    };
}

hook_call!(hook::Contact => hook::ContactDecision, call_on_contact);
hook_call!(hook::IvrState => hook::IvrDecision, call_on_ivr);
hook_call!(hook::InboundMessage => hook::MessageDecision, call_on_message);
hook_call!(hook::FinishedContact => Vec<hook::WrapUpAction>, call_on_wrap_up);

impl HookCall for Describe {
    type Answer = hook::Manifest;
    fn call<'a>(self, plugin: &'a Plugin, store: &'a mut Store<CallState>) -> HookFuture<'a, hook::Manifest> {
        Box::pin(async move { plugin.call_describe(store).await })
    }
}

/// What a failed call's error was.
fn classify(e: &wasmtime::Error, stopped_by: Option<Failure>) -> Failure {
    if let Some(why) = stopped_by {
        return why;
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Failure::Timeout("ran out of fuel".into()),
        Some(Trap::Interrupt) => Failure::Timeout("interrupted".into()),
        Some(Trap::StackOverflow) => Failure::StackOverflow,
        Some(trap) => Failure::Trap(trap.to_string()),
        None => Failure::Trap(chain(e)),
    }
}

fn chain(e: &wasmtime::Error) -> String {
    e.chain().map(|c| c.to_string()).collect::<Vec<_>>().join(": ")
}

impl<T> Report<T> {
    /// Answers larger than the limit are bad output.
    fn check(&mut self, size: impl Fn(&T) -> usize, limit: usize) {
        if let Ok(v) = &self.outcome {
            let n = size(v);
            if n > limit {
                self.outcome = Err(Failure::BadOutput(format!("answered with {n} bytes; the limit is {limit}")));
            }
        }
    }
}

fn attrs_size(a: &[hook::Attribute]) -> usize {
    a.iter().map(|a| a.name.len() + a.value.len()).sum::<usize>() + a.len() * 16
}

fn route_size(r: &hook::Route) -> usize {
    r.queue.as_ref().map_or(0, String::len)
        + r.skills.iter().map(String::len).sum::<usize>()
        + attrs_size(&r.attributes)
}

fn manifest_of(m: hook::Manifest) -> Result<Manifest, UploadError> {
    let bad = |s: String| Err(UploadError::Manifest(s));
    if m.hooks.is_empty() {
        return bad("it names no hooks".into());
    }
    if m.http_hosts.len() > 20 || m.secrets.len() > 20 {
        return bad("at most 20 HTTP hosts and 20 secrets".into());
    }
    for h in &m.http_hosts {
        let valid = !h.is_empty()
            && h.len() <= 253
            && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
            && !h.starts_with('.')
            && !h.ends_with('.');
        if !valid {
            return bad(format!("HTTP host {h:?} is not a host name"));
        }
    }
    for s in &m.secrets {
        if s.is_empty() || s.len() > 64 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return bad(format!("secret name {s:?} must be 1-64 of A-Z a-z 0-9 _ -"));
        }
    }
    let mut hooks: Vec<HookKind> = m
        .hooks
        .iter()
        .map(|h| match h {
            hook::Hook::OnContact => HookKind::OnContact,
            hook::Hook::OnIvr => HookKind::OnIvr,
            hook::Hook::OnMessage => HookKind::OnMessage,
            hook::Hook::OnWrapUp => HookKind::OnWrapUp,
        })
        .collect();
    hooks.sort();
    hooks.dedup();
    let mut http_hosts: Vec<String> = m.http_hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
    http_hosts.sort();
    http_hosts.dedup();
    Ok(Manifest { hooks, needs: Grants { kv: m.kv, http_hosts, secrets: m.secrets } })
}

/// Loads a compiled artifact from our cache.
#[allow(unsafe_code)]
fn load_component(engine: &Engine, path: &std::path::Path) -> wasmtime::Result<Component> {
    // SAFETY: `deserialize_file` trusts the file to be wasmtime's own output. The cache directory
    // is the host's own, files are written only by `store_artifact` (whole, then renamed) from the
    // output of our compile worker, and named by the hash of the component and of the engine's
    // settings, which wasmtime checks again on load; tenants never supply artifacts.
    unsafe { Component::deserialize_file(engine, path) }
}
