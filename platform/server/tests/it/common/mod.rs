//! The HTTP app over a fresh database, driven in-process (no sockets), on each backend.
#![allow(dead_code)]

pub mod mail;
pub mod sms_provider;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use switchboard_bus::InProcessBus;
use switchboard_server::app::{AppState, app};
use switchboard_server::config::Config;
use switchboard_testkit::{DbKind, TestDb};
use tower::ServiceExt;

pub const SECRET: &[u8] = b"test-secret-test-secret-test-secret!!";
pub const PASSWORD: &str = "correct horse battery staple";

/// The configuration test apps run with: plugins compiled by the `switchboard` binary's worker
/// into one cache per test process.
pub fn test_config() -> Config {
    static DATA: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    let data = DATA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("switchboard-test-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test data dir");
        dir
    });
    Config {
        data_dir: data.clone(),
        plugin_compiler: Some(env!("CARGO_BIN_EXE_switchboard").into()),
        ..Config::default()
    }
}

pub struct TestApp {
    pub router: Router,
    pub state: AppState,
    pub kind: DbKind,
    pub bus: InProcessBus,
    db: TestDb,
}

/// A signed-up tenant's owner.
#[derive(Debug, Clone)]
pub struct Owner {
    pub email: String,
    pub token: String,
    pub refresh: String,
    pub tenant_id: String,
    pub user_id: String,
}

impl TestApp {
    pub async fn new(kind: DbKind) -> Option<Self> {
        let db = TestDb::new(kind).await?;
        let bus = InProcessBus::new();
        let state = switchboard_server::state(
            db.store().await,
            Arc::new(bus.clone()),
            SECRET,
            &test_config(),
            Arc::new(object_store::memory::InMemory::new()),
            switchboard_server::email::Relay::new(None).expect("no relay"),
        );
        Some(Self { router: app(state.clone()), state, kind, bus, db })
    }

    /// Lets tenant-set URLs reach loopback (test peers run there).
    pub fn allow_private_targets(&mut self) {
        self.state.allow_private_targets = true;
        self.state.plugins.allow_private_targets(true);
        self.router = app(self.state.clone());
    }

    /// One request; status and raw body bytes.
    pub async fn raw(&self, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 64 * 1024 * 1024).await.expect("body");
        (status, bytes.to_vec())
    }

    /// Sends outgoing e-mail through `url` from now on.
    pub fn set_relay(&mut self, url: &str) {
        self.state.relay = switchboard_server::email::Relay::new(Some(url)).expect("relay URL");
        self.router = app(self.state.clone());
    }

    /// Waits until a contact reaches `want` (routing runs behind the bus).
    pub async fn wait_state(&self, token: &str, id: &str, want: &str) -> bool {
        for _ in 0..150 {
            let (_, c) = self.call("GET", &format!("/api/v1/contacts/{id}"), Some(token), None).await;
            if c["state"] == want {
                return true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        false
    }

    pub async fn cleanup(self) {
        self.db.cleanup().await;
    }

    /// The test database (to fault it).
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// One request; the JSON answer (or the text as a JSON string, or null).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), 16 * 1024 * 1024).await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    pub async fn signup(&self, business: &str, email: &str) -> Owner {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/signup",
                None,
                Some(json!({"business_name": business, "email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        Owner {
            email: email.into(),
            token: body["tokens"]["access_token"].as_str().expect("token").into(),
            refresh: body["tokens"]["refresh_token"].as_str().expect("refresh").into(),
            tenant_id: body["tenant"]["id"].as_str().expect("tenant").into(),
            user_id: body["user"]["id"].as_str().expect("user").into(),
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.call("POST", "/api/v1/auth/login", None, Some(json!({"email": email, "password": password}))).await
    }

    /// Invites a user with `role` and accepts the invitation; returns (user id, access token).
    pub async fn user_with_role(&self, owner: &Owner, email: &str, role: &str) -> (String, String) {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/users",
                Some(&owner.token),
                Some(json!({"email": email, "name": "Someone", "role": role})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["user"]["id"].as_str().expect("id").to_owned();
        let invite = body["invite_token"].as_str().expect("invite").to_owned();
        let (status, tokens) = self
            .call(
                "POST",
                "/api/v1/auth/accept-invite",
                None,
                Some(json!({"invite_token": invite, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        (id, tokens["access_token"].as_str().expect("token").to_owned())
    }
}

/// Runs `body` on SQLite, then on PostgreSQL when configured (mandatory in CI).
pub async fn each_backend<F, Fut>(body: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = TestApp>,
{
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let Some(app) = TestApp::new(kind).await else { continue };
        body(app).await.cleanup().await;
    }
}

/// Field names of a 422 answer.
pub fn fields(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["field"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// Whether a test peer program is installed; absent, the test is skipped loudly, except in CI
/// (CI=true), where it must be there (`infra/services.sh tools` installs it).
pub fn have_tool(program: &str, probe: &[&str]) -> bool {
    let ok = std::process::Command::new(program)
        .args(probe)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} is required in CI: run infra/services.sh tools"
        );
        eprintln!("\n!!! SKIPPED: {program} is not installed (infra/services.sh tools installs it) !!!\n");
    }
    ok
}

/// Polls `probe` every 100 ms until it holds; how long that took. Fails after `within`.
pub async fn wait_until<F, Fut>(what: &str, within: std::time::Duration, mut probe: F) -> std::time::Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    loop {
        if probe().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// A REST call to a real server that must succeed; its JSON body (null when none).
pub async fn rest(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: &str,
    body: Option<Value>,
) -> Value {
    let mut req = client.request(method, url).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let body = res.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// Signs a business up on a real server at `base`; the answer (tenant, user, tokens).
pub async fn sign_up(client: &reqwest::Client, base: &str, business: &str, email: &str) -> Value {
    client
        .post(format!("{base}/api/v1/signup"))
        .json(&json!({"business_name": business, "email": email, "password": "correct horse battery"}))
        .send()
        .await
        .expect("signup")
        .json()
        .await
        .expect("json")
}

/// What `probe` finds, within 30 s.
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
