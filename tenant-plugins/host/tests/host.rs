//! The plugin host against real components: the fixtures under `tenant-plugins/fixtures`, built
//! for wasm32-wasip2 by the testkit, and WAT components for what a toolchain would never make.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_plugin_host::hook::{Attribute, Channel, Contact, ContactDecision};
use switchboard_plugin_host::{
    CallContext, Compiler, Failure, Grants, HookKind, HostConfig, HostServices, HttpRequest, HttpResponse, Limits,
    PluginHost, ServiceError, UploadError,
};

#[derive(Default)]
struct Services {
    kv: Mutex<HashMap<(String, String), String>>,
}

#[async_trait::async_trait]
impl HostServices for Services {
    async fn kv_get(&self, tenant: &str, key: &str) -> Result<Option<String>, ServiceError> {
        Ok(self
            .kv
            .lock()
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?
            .get(&(tenant.into(), key.into()))
            .cloned())
    }
    async fn kv_set(&self, tenant: &str, key: &str, value: &str) -> Result<(), ServiceError> {
        self.kv
            .lock()
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?
            .insert((tenant.into(), key.into()), value.into());
        Ok(())
    }
    async fn kv_delete(&self, tenant: &str, key: &str) -> Result<(), ServiceError> {
        self.kv.lock().map_err(|e| ServiceError::Unavailable(e.to_string()))?.remove(&(tenant.into(), key.into()));
        Ok(())
    }
    async fn secret(&self, _tenant: &str, name: &str) -> Result<Option<String>, ServiceError> {
        Ok(Some(format!("secret-{name}")))
    }
    async fn http(&self, _tenant: &str, request: HttpRequest) -> Result<HttpResponse, ServiceError> {
        let client = reqwest::Client::builder()
            .timeout(request.timeout)
            .build()
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let response = client.get(request.url).send().await.map_err(|e| {
            if e.is_timeout() { ServiceError::Timeout } else { ServiceError::Unavailable(e.to_string()) }
        })?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| {
            if e.is_timeout() { ServiceError::Timeout } else { ServiceError::Unavailable(e.to_string()) }
        })?;
        Ok(HttpResponse { status, headers: Vec::new(), body })
    }
}

fn compiler() -> Compiler {
    Compiler { program: PathBuf::from(env!("CARGO_BIN_EXE_switchboard-plugin-compile")), args: Vec::new() }
}

/// One cache for the process's tests (compiling in the worker is the slow part).
fn shared_cache() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(cache_dir).clone()
}

fn cache_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-plugin-cache-{}", uuid_ish()));
    std::fs::create_dir_all(&dir).expect("cache dir");
    dir
}

fn uuid_ish() -> String {
    format!("{}-{:?}", std::process::id(), Instant::now()).chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

fn test_limits() -> Limits {
    Limits {
        cpu_time: Duration::from_millis(40),
        memory_bytes: 32 << 20,
        http_timeout: Duration::from_millis(500),
        ..Limits::default()
    }
}

fn host_with(limits: Limits, cache: PathBuf, compiler: Compiler) -> (PluginHost, Arc<Services>) {
    let services = Arc::new(Services::default());
    let host = PluginHost::new(HostConfig { cache_dir: cache, compiler, limits }, services.clone()).expect("host");
    (host, services)
}

fn context(tenant: &str, grants: Grants) -> CallContext {
    CallContext { tenant: tenant.into(), plugin: "test".into(), version: 1, grants, dry_run: false }
}

fn contact(attrs: &[(&str, &str)]) -> Contact {
    Contact {
        id: "0192f0c0-0000-7000-8000-000000000001".into(),
        channel: Channel::Voice,
        customer: Some("+14155550100".into()),
        address: Some("+14155550199".into()),
        queue: "support".into(),
        priority: 10,
        skills: Vec::new(),
        attributes: attrs.iter().map(|(n, v)| Attribute { name: (*n).into(), value: (*v).into() }).collect(),
        text: None,
        arrived_ms: 1,
    }
}

fn attr(d: &ContactDecision, name: &str) -> Option<String> {
    match d {
        ContactDecision::Route(r) => r.attributes.iter().find(|a| a.name == name).map(|a| a.value.clone()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_is_compiled_once_cached_on_disk_and_answers() {
    let Some(wasm) = switchboard_testkit::plugins::guest("fixture-trivial") else { return };
    let cache = cache_dir();
    let (host, _) = host_with(test_limits(), cache.clone(), compiler());
    let plugin = host.prepare(&wasm).await.expect("prepared");
    assert_eq!(plugin.manifest.hooks, vec![HookKind::OnContact]);
    assert_eq!(plugin.manifest.needs, Grants::default());
    assert_eq!(plugin.sha256, PluginHost::content_hash(&wasm));
    let report = host.on_contact(&plugin, context("t1", Grants::default()), contact(&[])).await;
    match report.outcome.expect("answer") {
        ContactDecision::Route(r) => {
            assert_eq!(r.priority, Some(7));
            assert_eq!(r.attributes[0].name, "seen");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(report.fuel > 0);
    assert_eq!(std::fs::read_dir(&cache).expect("cache").count(), 1, "one artifact in the cache");

    // A new host (a restart) with a compiler that cannot run: it must load from the cache.
    drop(host);
    let broken = Compiler { program: PathBuf::from("/nonexistent/compiler"), args: Vec::new() };
    let (host, _) = host_with(test_limits(), cache.clone(), broken);
    let again = host.load(&plugin.sha256, async || None).await.expect("loaded from the disk cache");
    assert!(host.on_contact(&again, context("t1", Grants::default()), contact(&[])).await.outcome.is_ok());
    // Something not yet compiled, with no compiler: a clear failure, not a hang.
    let missing = host.load(&"0".repeat(64), async || None).await.expect_err("nothing to load");
    assert!(matches!(missing, Failure::Unavailable(_)), "{missing:?}");
    let _ = std::fs::remove_dir_all(cache);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_are_not_plugins_are_refused_with_the_reason() {
    let cache = shared_cache();
    let limits = Limits { max_component_bytes: 300_000, ..test_limits() };
    let (host, _) = host_with(limits, cache.clone(), compiler());
    assert_eq!(host.prepare(b"hello, world").await.expect_err("text"), UploadError::NotWasm);
    let core = wat::parse_str("(module (func (export \"f\")))").expect("wat");
    assert_eq!(host.prepare(&core).await.expect_err("core module"), UploadError::NotComponent);
    let other_world = wat::parse_str("(component (core module $m) (core instance (instantiate $m)))").expect("wat");
    let e = host.prepare(&other_world).await.expect_err("wrong world");
    assert!(matches!(&e, UploadError::WrongWorld(m) if m.contains("describe")), "{e}");
    let needs_more =
        wat::parse_str(r#"(component (import "acme:evil/backdoor" (instance (export "open" (func)))))"#).expect("wat");
    let e = host.prepare(&needs_more).await.expect_err("unknown import");
    assert!(matches!(&e, UploadError::WrongWorld(m) if m.contains("acme:evil/backdoor")), "{e}");
    let mut broken = b"\0asm\x0d\0\x01\0".to_vec();
    broken.extend_from_slice(&[0xff; 64]);
    let e = host.prepare(&broken).await.expect_err("garbage");
    assert!(matches!(&e, UploadError::Invalid(m) if !m.is_empty()), "{e}");
    let big = vec![0u8; 300_001];
    assert!(matches!(host.prepare(&big).await, Err(UploadError::TooLarge { size: 300_001, limit: 300_000 })));
    if let Some(wasm) = switchboard_testkit::plugins::guest("fixture-hostile") {
        // 166 KB of real component through a compiler given one millisecond.
        let slow = Limits { compile_time: Duration::from_millis(1), ..test_limits() };
        let (host, _) = host_with(slow, cache_dir(), compiler());
        let e = host.prepare(&wasm).await.expect_err("no time to compile");
        assert!(matches!(&e, UploadError::Compile(m) if m.contains("longer than")), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_plugins_are_contained_with_the_right_error() {
    let Some(wasm) = switchboard_testkit::plugins::guest("fixture-hostile") else { return };
    let cache = shared_cache();
    let (host, services) = host_with(test_limits(), cache.clone(), compiler());
    let plugin = host.prepare(&wasm).await.expect("prepared");
    assert_eq!(plugin.manifest.needs.http_hosts, vec!["127.0.0.1".to_string(), "allowed.test".to_string()]);
    assert!(plugin.manifest.needs.kv);
    let none = Grants::default();
    let call = |what: &'static str, arg: String, grants: Grants| {
        let (host, plugin) = (&host, plugin.clone());
        async move { host.on_contact(&plugin, context("t1", grants), contact(&[("do", what), ("arg", &arg)])).await }
    };

    let started = Instant::now();
    let r = call("spin", String::new(), none.clone()).await;
    assert!(matches!(&r.outcome, Err(Failure::Timeout(_))), "{:?}", r.outcome);
    assert!(started.elapsed() < Duration::from_secs(2), "an infinite loop is stopped quickly");

    let r = call("bomb", String::new(), none.clone()).await;
    assert!(matches!(&r.outcome, Err(Failure::Memory(m)) if m.contains("limit")), "{:?}", r.outcome);

    let r = call("recurse", String::new(), none.clone()).await;
    assert_eq!(r.outcome.as_ref().err(), Some(&Failure::StackOverflow), "{:?}", r.outcome);
    // Big frames live on the guest's own stack in its linear memory: that overflows into an
    // out-of-bounds access, still only a trap.
    let r = call("recurse-shadow", String::new(), none.clone()).await;
    assert!(matches!(&r.outcome, Err(Failure::Trap(m)) if m.contains("out of bounds")), "{:?}", r.outcome);

    let r = call("giant", String::new(), none.clone()).await;
    assert!(matches!(&r.outcome, Err(Failure::BadOutput(m)) if m.contains("1048576")), "{:?}", r.outcome);

    let r = call("panic", String::new(), none.clone()).await;
    assert!(matches!(&r.outcome, Err(Failure::Trap(_))), "{:?}", r.outcome);
    assert!(
        r.logs.iter().any(|l| l.level == "stderr" && l.message.contains("the plugin gave up")),
        "the panic message is kept: {:?}",
        r.logs
    );

    let r = call("flood", String::new(), none.clone()).await;
    assert!(matches!(&r.outcome, Err(Failure::HostCalls(_))), "{:?}", r.outcome);
    assert_eq!(r.logs.len(), test_limits().log_lines, "only the first lines are kept");
    assert!(r.logs_dropped > 0);

    let r = call("print", String::new(), none.clone()).await;
    assert!(r.outcome.is_ok());
    assert!(r.logs.iter().any(|l| l.level == "stdout" && l.message == "hello from stdout"), "{:?}", r.logs);

    // No file system, environment or sockets, even through WASI.
    let r = call("fs", String::new(), none.clone()).await;
    let d = r.outcome.expect("answers");
    assert!(attr(&d, "fs").is_some_and(|v| v.parse::<usize>().is_err()), "/etc/passwd must not be readable: {d:?}");
    assert_eq!(attr(&d, "env").as_deref(), Some("0"));
    assert!(attr(&d, "net").is_some_and(|v| v != "connected"), "{d:?}");

    // HTTP only to granted hosts; a slow endpoint costs at most the request timeout.
    let r = call("http", "http://127.0.0.1:9/".into(), none.clone()).await;
    assert!(attr(&r.outcome.expect("answers"), "error").is_some_and(|e| e.contains("Denied")));
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://127.0.0.1:{}/slow", silent.local_addr().expect("addr").port());
    let grants = Grants { http_hosts: vec!["127.0.0.1".into()], ..Grants::default() };
    let started = Instant::now();
    let r = call("http", url.clone(), grants.clone()).await;
    let waited = started.elapsed();
    assert!(attr(&r.outcome.expect("answers"), "error").is_some_and(|e| e.contains("Timeout")));
    assert!(waited >= Duration::from_millis(450) && waited < Duration::from_secs(2), "{waited:?}");
    let r = call("http-flood", url, grants).await;
    assert!(matches!(&r.outcome, Err(Failure::HostCalls(m)) if m.contains("HTTP")), "{:?}", r.outcome);

    // The key-value store: denied until granted, and per tenant.
    let r = call("kv", "one".into(), none.clone()).await;
    assert!(attr(&r.outcome.expect("answers"), "set").is_some_and(|v| v.contains("Denied")));
    let kv = Grants { kv: true, ..Grants::default() };
    let r = call("kv", "one".into(), kv.clone()).await;
    assert_eq!(attr(&r.outcome.expect("answers"), "set").as_deref(), Some("ok"));
    let r = call("kv", "two".into(), kv.clone()).await;
    assert_eq!(attr(&r.outcome.expect("answers"), "before").as_deref(), Some("one"));
    let other = host.on_contact(&plugin, context("t2", kv), contact(&[("do", "kv"), ("arg", "x")])).await;
    assert_eq!(attr(&other.outcome.expect("answers"), "before").as_deref(), Some(""), "t2 never sees t1's key");
    assert_eq!(services.kv.lock().expect("kv").len(), 2);

    // After all that, the plugin still works.
    let r = call("nothing", String::new(), none).await;
    assert_eq!(attr(&r.outcome.expect("answers"), "did").as_deref(), Some("nothing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_instances_carry_nothing_from_one_tenant_to_another() {
    let Some(wasm) = switchboard_testkit::plugins::guest("fixture-hostile") else { return };
    let cache = shared_cache();
    // Isolation, not speed: a generous budget so a loaded CI machine cannot turn this into a
    // time-limit test (the budget counts the call's own polls, which a busy machine stretches).
    let limits = Limits { pool_instances: 4, cpu_time: Duration::from_secs(2), ..test_limits() };
    let (host, _) = host_with(limits, cache.clone(), compiler());
    let plugin = host.prepare(&wasm).await.expect("prepared");
    for i in 0..2_000 {
        let tenant = if i % 2 == 0 { "tenant-a" } else { "tenant-b" };
        let r = host
            .on_contact(&plugin, context(tenant, Grants::default()), contact(&[("do", "residue"), ("arg", tenant)]))
            .await;
        let d = r.outcome.expect("answers");
        assert_eq!(attr(&d, "before").as_deref(), Some(""), "call {i}: a static survived");
        assert_eq!(attr(&d, "dirty").as_deref(), Some("false"), "call {i}: grown memory was not zero");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_tenant_spinning_does_not_stall_another() {
    let (Some(hostile), Some(trivial)) = (
        switchboard_testkit::plugins::guest("fixture-hostile"),
        switchboard_testkit::plugins::guest("fixture-trivial"),
    ) else {
        return;
    };
    let cache = shared_cache();
    let limits = Limits {
        tenant_concurrency: 2,
        queue_wait: Duration::from_millis(10),
        cpu_time: Duration::from_millis(100),
        ..test_limits()
    };
    let (host, _) = host_with(limits, cache.clone(), compiler());
    let host = Arc::new(host);
    let (hostile, trivial) =
        (host.prepare(&hostile).await.expect("hostile"), host.prepare(&trivial).await.expect("trivial"));

    // Baseline for the quiet tenant.
    let mut quiet = Vec::new();
    for _ in 0..200 {
        let r = host.on_contact(&trivial, context("quiet", Grants::default()), contact(&[])).await;
        assert!(r.outcome.is_ok());
        quiet.push(r.duration);
    }
    // The noisy tenant keeps all its slots spinning (and more calls queue up and are refused).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let mut noisy = Vec::new();
    for _ in 0..4 {
        let (host, hostile, stop, busy) = (host.clone(), hostile.clone(), stop.clone(), busy.clone());
        noisy.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r =
                    host.on_contact(&hostile, context("noisy", Grants::default()), contact(&[("do", "spin")])).await;
                match r.outcome {
                    Err(Failure::Timeout(_)) => {}
                    Err(Failure::Busy) => {
                        busy.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    other => panic!("spinning call ended with {other:?}"),
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut during = Vec::new();
    for _ in 0..200 {
        let r = host.on_contact(&trivial, context("quiet", Grants::default()), contact(&[])).await;
        assert!(r.outcome.is_ok(), "the quiet tenant's call failed: {:?}", r.outcome);
        during.push(r.duration);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in noisy {
        t.await.expect("noisy task");
    }
    let p99 = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() * 99 / 100]
    };
    let (before, under_load) = (p99(&mut quiet), p99(&mut during));
    eprintln!(
        "quiet tenant p99: {before:?} alone, {under_load:?} while another spins; noisy calls refused busy: {}",
        busy.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(busy.load(std::sync::atomic::Ordering::Relaxed) > 0, "the noisy tenant was held to its slots");
    // Two spinning slots on two cores: the quiet tenant's calls still finish inside one spinning
    // call's budget (a loose bound for a loaded CI machine; the benchmark reports real numbers).
    assert!(under_load < Duration::from_millis(100), "p99 {under_load:?}");
}
