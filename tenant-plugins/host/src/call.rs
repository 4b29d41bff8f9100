//! One plugin call: the store's state, the host functions and why a call failed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::switchboard::plugin::{clock, http, kv, log, secrets, types};
use crate::limits::Limits;
use crate::services::{CallContext, HostServices, HttpRequest, ServiceError};

/// Why a call did not give an answer; the platform then does what it would have done anyway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum Failure {
    /// The tenant's plugin slots were all busy for the whole wait.
    #[error("busy: the tenant's plugin calls were all in use")]
    Busy,
    /// It computed longer than its CPU budget, or ran out of fuel.
    #[error("time limit: {0}")]
    Timeout(String),
    /// It tried to grow its memory or tables past the limit.
    #[error("memory limit: {0}")]
    Memory(String),
    /// It recursed too deep.
    #[error("stack overflow")]
    StackOverflow,
    /// It trapped (a panic, `unreachable`, a bad access).
    #[error("trap: {0}")]
    Trap(String),
    /// It called the host too often or wrote too much.
    #[error("host call limit: {0}")]
    HostCalls(String),
    /// Its answer broke the rules (too large, unknown names).
    #[error("bad output: {0}")]
    BadOutput(String),
    /// The plugin could not be loaded.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// debug, info, warn, error, or stdout/stderr for what it printed.
    pub level: String,
    /// The message (cut to the limit).
    pub message: String,
    /// Structured fields.
    pub fields: Vec<(String, String)>,
}

/// A call's computing time: the sum of its future's polls. Waiting for the platform (an HTTP
/// answer, the store) returns `Pending` and is not counted; the epoch callback reads it mid-poll.
#[derive(Debug)]
pub(crate) struct CpuClock {
    origin: Instant,
    spent_ns: AtomicU64,
    /// When the current poll began (ns after `origin`), or `u64::MAX` between polls.
    polling_since_ns: AtomicU64,
}

impl CpuClock {
    fn new() -> CpuClock {
        CpuClock { origin: Instant::now(), spent_ns: AtomicU64::new(0), polling_since_ns: AtomicU64::new(u64::MAX) }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX - 1)
    }

    /// Computing time so far, the running poll included.
    pub(crate) fn used(&self) -> Duration {
        let since = self.polling_since_ns.load(Ordering::Relaxed);
        let running = if since == u64::MAX { 0 } else { self.now_ns().saturating_sub(since) };
        Duration::from_nanos(self.spent_ns.load(Ordering::Relaxed).saturating_add(running))
    }
}

/// A call's future, timed poll by poll into its [`CpuClock`].
pub(crate) struct Metered<F> {
    inner: Pin<Box<F>>,
    clock: Arc<CpuClock>,
}

impl<F: Future> Metered<F> {
    pub(crate) fn new(inner: F, clock: Arc<CpuClock>) -> Metered<F> {
        Metered { inner: Box::pin(inner), clock }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let began = self.clock.now_ns();
        self.clock.polling_since_ns.store(began, Ordering::Relaxed);
        let result = self.inner.as_mut().poll(cx);
        let spent = self.clock.now_ns().saturating_sub(began);
        self.clock.spent_ns.fetch_add(spent, Ordering::Relaxed);
        self.clock.polling_since_ns.store(u64::MAX, Ordering::Relaxed);
        result
    }
}

/// The store's data for one call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) context: CallContext,
    services: Arc<dyn HostServices>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) started: Instant,
    /// The guest's computing time so far.
    pub(crate) cpu: Arc<CpuClock>,
    host_calls: u32,
    http_calls: u32,
    pub(crate) logs: Vec<LogLine>,
    pub(crate) logs_dropped: u32,
    /// Replay's key-value writes (`None` = deleted).
    overlay: BTreeMap<String, Option<String>>,
    pub(crate) stdout: MemoryOutputPipe,
    pub(crate) stderr: MemoryOutputPipe,
    /// Set when a limit stopped the call, so the trap is reported as what it was.
    pub(crate) stopped_by: Option<Failure>,
}

impl std::fmt::Debug for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallState").field("context", &self.context).finish_non_exhaustive()
    }
}

impl CallState {
    pub(crate) fn new(context: CallContext, services: Arc<dyn HostServices>, limits: Arc<Limits>) -> CallState {
        let stdout = MemoryOutputPipe::new(limits.log_bytes);
        let stderr = MemoryOutputPipe::new(limits.log_bytes);
        // WASI with nothing in it: no preopened directories, no environment, no arguments, no
        // network; only clocks, randomness and output captured into the call's log.
        let wasi = wasmtime_wasi::WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }))
            .build();
        CallState {
            wasi,
            table: ResourceTable::new(),
            context,
            services,
            limits,
            started: Instant::now(),
            cpu: Arc::new(CpuClock::new()),
            host_calls: 0,
            http_calls: 0,
            logs: Vec::new(),
            logs_dropped: 0,
            overlay: BTreeMap::new(),
            stdout,
            stderr,
            stopped_by: None,
        }
    }

    /// Counts a host call; past the limit the call traps.
    fn enter(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.limits.host_calls {
            return Err(self.stop(Failure::HostCalls(format!("more than {} host calls", self.limits.host_calls))));
        }
        Ok(())
    }

    /// Records why the call is being stopped and makes the trap that stops it.
    pub(crate) fn stop(&mut self, why: Failure) -> wasmtime::Error {
        let error = wasmtime::Error::msg(why.to_string());
        self.stopped_by.get_or_insert(why);
        error
    }

    fn push_log(&mut self, level: &str, message: &str, fields: Vec<(String, String)>) {
        if self.logs.len() >= self.limits.log_lines {
            self.logs_dropped += 1;
            return;
        }
        let cut = |s: &str, n: usize| -> String {
            let mut end = s.len().min(n);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s[..end].to_string()
        };
        let limit = self.limits.log_bytes;
        let fields = fields.into_iter().take(16).map(|(k, v)| (cut(&k, 64), cut(&v, 256))).collect();
        self.logs.push(LogLine { level: level.into(), message: cut(message, limit), fields });
    }

    /// What it printed to stdout/stderr, as log lines.
    pub(crate) fn take_output(&mut self) {
        for (level, pipe) in [("stdout", self.stdout.clone()), ("stderr", self.stderr.clone())] {
            let bytes = pipe.contents();
            if !bytes.is_empty() {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                self.push_log(level, text.trim_end(), Vec::new());
            }
        }
    }

    fn kv_allowed(&mut self, key: &str, value_len: usize) -> Result<(), kv::KvError> {
        if !self.context.grants.kv {
            return Err(kv::KvError::Denied);
        }
        if key.is_empty() || key.len() > 256 {
            return Err(kv::KvError::TooLarge("keys are 1 to 256 bytes".into()));
        }
        if key.len() + value_len > self.limits.kv_value_bytes {
            return Err(kv::KvError::TooLarge(format!("an entry is at most {} bytes", self.limits.kv_value_bytes)));
        }
        Ok(())
    }
}

fn kv_error(e: ServiceError) -> kv::KvError {
    match e {
        ServiceError::Denied(_) => kv::KvError::Denied,
        ServiceError::Quota(m) => kv::KvError::Quota(m),
        ServiceError::TooLarge => kv::KvError::TooLarge("too large".into()),
        other => kv::KvError::Unavailable(other.to_string()),
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl wasmtime::ResourceLimiter for CallState {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limits.memory_bytes {
            return Err(self.stop(Failure::Memory(format!(
                "asked for {desired} bytes of memory, the limit is {}",
                self.limits.memory_bytes
            ))));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limits.table_elements {
            return Err(self.stop(Failure::Memory(format!(
                "asked for {desired} table elements, the limit is {}",
                self.limits.table_elements
            ))));
        }
        Ok(true)
    }
}

impl types::Host for CallState {}

impl log::Host for CallState {
    async fn write(
        &mut self,
        level: log::Level,
        message: String,
        fields: Vec<types::Attribute>,
    ) -> wasmtime::Result<()> {
        self.enter()?;
        let level = match level {
            log::Level::Debug => "debug",
            log::Level::Info => "info",
            log::Level::Warn => "warn",
            log::Level::Error => "error",
        };
        self.push_log(level, &message, fields.into_iter().map(|a| (a.name, a.value)).collect());
        Ok(())
    }
}

impl clock::Host for CallState {
    async fn now_ms(&mut self) -> wasmtime::Result<u64> {
        self.enter()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        Ok(u64::try_from(now.as_millis()).unwrap_or(u64::MAX))
    }
}

impl kv::Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<String>, kv::KvError>> {
        self.enter()?;
        if let Err(e) = self.kv_allowed(&key, 0) {
            return Ok(Err(e));
        }
        if let Some(v) = self.overlay.get(&key) {
            return Ok(Ok(v.clone()));
        }
        let (services, tenant) = (self.services.clone(), self.context.tenant.clone());
        Ok(services.kv_get(&tenant, &key).await.map_err(kv_error))
    }

    async fn set(&mut self, key: String, value: String) -> wasmtime::Result<Result<(), kv::KvError>> {
        self.enter()?;
        if let Err(e) = self.kv_allowed(&key, value.len()) {
            return Ok(Err(e));
        }
        if self.context.dry_run {
            self.overlay.insert(key, Some(value));
            return Ok(Ok(()));
        }
        let (services, tenant) = (self.services.clone(), self.context.tenant.clone());
        Ok(services.kv_set(&tenant, &key, &value).await.map_err(kv_error))
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<(), kv::KvError>> {
        self.enter()?;
        if let Err(e) = self.kv_allowed(&key, 0) {
            return Ok(Err(e));
        }
        if self.context.dry_run {
            self.overlay.insert(key, None);
            return Ok(Ok(()));
        }
        let (services, tenant) = (self.services.clone(), self.context.tenant.clone());
        Ok(services.kv_delete(&tenant, &key).await.map_err(kv_error))
    }
}

impl secrets::Host for CallState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Option<String>> {
        self.enter()?;
        if !self.context.grants.secrets.contains(&name) {
            return Ok(None);
        }
        let (services, tenant) = (self.services.clone(), self.context.tenant.clone());
        Ok(services.secret(&tenant, &name).await.ok().flatten())
    }
}

impl http::Host for CallState {
    async fn fetch(&mut self, req: http::Request) -> wasmtime::Result<Result<http::Response, http::HttpError>> {
        self.enter()?;
        self.http_calls += 1;
        if self.http_calls > self.limits.http_requests {
            return Err(self.stop(Failure::HostCalls(format!("more than {} HTTP requests", self.limits.http_requests))));
        }
        let url = match url::Url::parse(&req.url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => u,
            Ok(u) => return Ok(Err(http::HttpError::BadRequest(format!("scheme {} is not http(s)", u.scheme())))),
            Err(e) => return Ok(Err(http::HttpError::BadRequest(format!("bad URL: {e}")))),
        };
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if !self.context.grants.http_hosts.contains(&host) {
            return Ok(Err(http::HttpError::Denied(format!("{host} is not among this plugin's granted hosts"))));
        }
        let method = req.method.to_ascii_uppercase();
        if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD") {
            return Ok(Err(http::HttpError::BadRequest(format!("method {method} is not allowed"))));
        }
        if req.body.as_ref().is_some_and(|b| b.len() > self.limits.http_body_bytes) || req.headers.len() > 32 {
            return Ok(Err(http::HttpError::TooLarge));
        }
        // Never past the call's own wall-clock budget.
        let left = self.limits.wall_time.saturating_sub(self.started.elapsed());
        let request = HttpRequest {
            method,
            url,
            headers: req.headers.into_iter().map(|a| (a.name, a.value)).collect(),
            body: req.body,
            timeout: self.limits.http_timeout.min(left),
            max_body_bytes: self.limits.http_body_bytes,
        };
        let (services, tenant) = (self.services.clone(), self.context.tenant.clone());
        let answer = services.http(&tenant, request).await;
        Ok(answer
            .map(|r| http::Response {
                status: r.status,
                headers: r.headers.into_iter().map(|(name, value)| types::Attribute { name, value }).collect(),
                body: r.body,
            })
            .map_err(|e| match e {
                ServiceError::Denied(m) => http::HttpError::Denied(m),
                ServiceError::Timeout => http::HttpError::Timeout,
                ServiceError::TooLarge => http::HttpError::TooLarge,
                other => http::HttpError::Failed(other.to_string()),
            }))
    }
}
