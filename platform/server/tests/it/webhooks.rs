//! Outbound webhooks against a real local HTTP receiver: signed, retried with backoff, recorded in
//! a delivery log, sent once per event even when the bus redelivers, never to internal addresses
//! unless explicitly allowed.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use common::{TestApp, each_backend, fields};
use serde_json::{Value, json};
use switchboard_bus::{Bus, Message, MessageId};
use switchboard_server::webhooks::{WebhookSettings, Webhooks, signature};

#[derive(Default)]
struct Receiver {
    requests: Mutex<Vec<(HeaderMap, String)>>,
    /// Status codes to answer `contact.queued` events with, in order; 200 once they run out.
    script: Mutex<Vec<u16>>,
}

async fn receiver(script: Vec<u16>) -> (Arc<Receiver>, String) {
    let r = Arc::new(Receiver { script: Mutex::new(script), ..Receiver::default() });
    let state = r.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let state = state.clone();
            async move {
                let queued = headers.get("switchboard-event").is_some_and(|e| e == "contact.queued");
                state.requests.lock().expect("lock").push((headers, body));
                let mut script = state.script.lock().expect("lock");
                let code = if script.is_empty() || !queued { 200 } else { script.remove(0) };
                StatusCode::from_u16(code).unwrap_or(StatusCode::OK)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().expect("addr").port());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (r, url)
}

async fn start_worker(app: &TestApp, allow_private: bool) {
    let settings = WebhookSettings { retry_base: Duration::from_millis(100), max_attempts: 4, allow_private };
    Webhooks::new(app.state.store.clone(), app.state.bus.clone(), settings).start().await.expect("worker");
}

async fn deliveries(app: &TestApp, token: &str, hook: &str) -> Vec<Value> {
    let (status, page) = app.call("GET", &format!("/api/v1/webhooks/{hook}/deliveries"), Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().cloned().unwrap_or_default()
}

async fn settled(app: &TestApp, token: &str, hook: &str, count: usize) -> Vec<Value> {
    for _ in 0..100 {
        let d = deliveries(app, token, hook).await;
        if d.len() == count && d.iter().all(|d| d["status"] != "pending") {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("deliveries did not settle: {:?}", deliveries(app, token, hook).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_signed_retried_logged_and_sent_once() {
    each_backend(|app| async move {
        start_worker(&app, true).await;
        let (rx, url) = receiver(vec![500]).await;
        let o = app.signup("Acme", "owner@acme.example").await;
        let (status, hook) = app
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(&o.token),
                Some(json!({"name": "crm", "url": url, "events": ["contact.queued", "contact.abandoned"]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{hook}");
        let hook_id = hook["id"].as_str().expect("id").to_owned();
        let secret = hook["secret"].as_str().expect("secret").to_owned();
        let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "callbacks"}))).await;
        let (_, c) = app
            .call("POST", "/api/v1/contacts", Some(&o.token), Some(json!({"channel": "task", "queue_id": q["id"]})))
            .await;
        let contact = c["id"].as_str().expect("id").to_owned();
        assert_eq!(
            app.call("DELETE", &format!("/api/v1/contacts/{contact}"), Some(&o.token), None).await.0,
            StatusCode::NO_CONTENT
        );

        let log = settled(&app, &o.token, &hook_id, 2).await;
        assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
        let queued = log.iter().find(|d| d["event"] == "contact.queued").expect("queued delivery");
        assert_eq!(queued["attempts"], 2, "retried after the 500");
        assert_eq!(queued["last_status"], 200);

        let requests = rx.requests.lock().expect("lock").clone();
        assert_eq!(requests.len(), 3, "500, retry, abandoned");
        for (headers, body) in &requests {
            let sig = headers["switchboard-signature"].to_str().expect("ascii");
            let t: i64 = sig.trim_start_matches("t=").split(',').next().expect("t").parse().expect("int");
            assert_eq!(sig, signature(&secret, t, body), "signature verifies");
            let v: Value = serde_json::from_str(body).expect("json");
            assert_eq!(v["data"]["contact_id"], json!(contact));
            assert_eq!(headers["switchboard-event-id"].to_str().expect("ascii"), v["id"].as_str().expect("id"));
        }
        let queued_ids: Vec<_> = requests
            .iter()
            .filter(|(h, _)| h["switchboard-event"] == "contact.queued")
            .map(|(h, _)| h["switchboard-event-id"].clone())
            .collect();
        assert_eq!(queued_ids.len(), 2);
        assert_eq!(queued_ids[0], queued_ids[1], "a retry keeps its event id");

        // The bus hands the same event over again (a consumer crashed before its ack): nothing new.
        let first_queued = requests.iter().find(|(h, _)| h["switchboard-event"] == "contact.queued").expect("queued");
        let v: Value = serde_json::from_str(&first_queued.1).expect("json");
        let tenant = o.tenant_id.parse::<switchboard_domain::TenantId>().expect("tenant");
        let again = Message {
            id: MessageId(v["id"].as_str().expect("id").to_owned()),
            topic: format!("tenant.{}.contact.queued", tenant.as_uuid().simple()),
            payload: v["data"].to_string().into(),
        };
        app.bus.publish(again).await.expect("publish");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(deliveries(&app, &o.token, &hook_id).await.len(), 2);
        assert_eq!(rx.requests.lock().expect("lock").len(), 3);
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_targets_are_refused_without_retry() {
    each_backend(|app| async move {
        start_worker(&app, false).await;
        let (rx, url) = receiver(vec![]).await;
        let o = app.signup("Acme", "owner@acme.example").await;
        let (_, hook) = app
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(&o.token),
                Some(json!({"name": "x", "url": url, "events": ["contact.*"]})),
            )
            .await;
        let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "q"}))).await;
        app.call("POST", "/api/v1/contacts", Some(&o.token), Some(json!({"channel": "task", "queue_id": q["id"]})))
            .await;
        let log = settled(&app, &o.token, hook["id"].as_str().expect("id"), 1).await;
        assert_eq!(log[0]["status"], "failed");
        assert_eq!(log[0]["attempts"], 1);
        assert!(log[0]["last_error"].as_str().expect("error").contains("non-public"), "{log:?}");
        assert!(rx.requests.lock().expect("lock").is_empty(), "nothing reached the internal address");
        app
    })
    .await;
}

#[tokio::test]
async fn webhook_endpoints_are_validated() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(&o.token),
                Some(json!({"name": "", "url": "ftp://x", "events": ["contact.nope"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["name", "url", "events[0]"]);
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(&o.token),
                Some(json!({"name": "a", "url": "https://user:pw@crm.example/h", "events": []})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["url", "events"]);
        // The secret survives an update.
        let (_, hook) = app
            .call(
                "POST",
                "/api/v1/webhooks",
                Some(&o.token),
                Some(json!({"name": "a", "url": "https://crm.example/h", "events": ["contact.done"]})),
            )
            .await;
        let (_, updated) = app
            .call(
                "PUT",
                &format!("/api/v1/webhooks/{}", hook["id"].as_str().expect("id")),
                Some(&o.token),
                Some(json!({"name": "b", "url": "https://crm.example/h2", "events": ["contact.*"]})),
            )
            .await;
        assert_eq!(updated["secret"], hook["secret"]);
        assert!(hook["secret"].as_str().expect("secret").starts_with("whsec_"));
        app
    })
    .await;
}
