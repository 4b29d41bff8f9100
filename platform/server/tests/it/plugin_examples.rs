//! The example plugins under tenant-plugins/examples, built for wasm32-wasip2 and run through
//! the platform end to end: VIP routing against a CRM over HTTP, language routing of a text
//! conversation (tag, skill, bot reply through the SMS provider, queue move), the after-contact
//! SMS survey, and business hours for texts. (The IVR step and after-hours voicemail of calls
//! are in voice.rs, with sipp.)

use crate::common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::sms_provider::Provider;
use common::{Owner, TestApp, each_backend};
use serde_json::{Value, json};

/// Uploads `wasm` as plugin `name`, activates it, grants `grants` and sets `secrets`.
async fn install(app: &TestApp, o: &Owner, name: &str, wasm: Vec<u8>, grants: Value, secrets: &[(&str, &str)]) {
    let req = Request::post(format!("/api/v1/plugins?name={name}"))
        .header("authorization", format!("Bearer {}", o.token))
        .header("content-type", "application/wasm")
        .body(Body::from(wasm))
        .expect("request");
    let (status, p) = app.send(req).await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let t = Some(o.token.as_str());
    let (status, p) =
        app.call("POST", &format!("/api/v1/plugins/{name}/activate"), t, Some(json!({"version": 1}))).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let (status, p) = app.call("PUT", &format!("/api/v1/plugins/{name}/grants"), t, Some(grants)).await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["missing_grants"], json!({"kv": false, "http_hosts": [], "secrets": []}), "{p}");
    for (secret, value) in secrets {
        let (status, s) =
            app.call("POST", "/api/v1/plugin-secrets", t, Some(json!({"name": secret, "value": value}))).await;
        assert!(status.is_success(), "{s}");
    }
}

async fn calls(app: &TestApp, o: &Owner, name: &str) -> Vec<Value> {
    let (_, c) = app.call("GET", &format!("/api/v1/plugins/{name}/calls?limit=100"), Some(&o.token), None).await;
    c["items"].as_array().cloned().unwrap_or_default()
}

async fn contact(app: &TestApp, o: &Owner, body: Value) -> Value {
    let (status, c) = app.call("POST", "/api/v1/contacts", Some(&o.token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c
}

/// A stand-in CRM: `GET /api/customers/{customer}` with the right bearer token.
#[derive(Clone, Default)]
struct Crm {
    asked: Arc<Mutex<Vec<String>>>,
}

impl Crm {
    async fn start(&self) -> String {
        use axum::extract::{Path, State};
        async fn customer(
            State(crm): State<Crm>,
            Path(id): Path<String>,
            headers: axum::http::HeaderMap,
        ) -> (StatusCode, String) {
            crm.asked.lock().expect("lock").push(id.clone());
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer crm-secret") {
                return (StatusCode::UNAUTHORIZED, String::new());
            }
            match id.as_str() {
                "+4930111222" => (StatusCode::OK, json!({"tier": "Gold", "name": "Ada Lovelace"}).to_string()),
                "vip@example.com" => (StatusCode::OK, json!({"tier": "platinum"}).to_string()),
                _ => (StatusCode::NOT_FOUND, String::new()),
            }
        }
        let router =
            axum::Router::new().route("/api/customers/{id}", axum::routing::get(customer)).with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}/api")
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().expect("lock").clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vip_routing_looks_customers_up_in_the_crm_and_caches_the_answer() {
    let Some(wasm) = switchboard_testkit::plugins::guest("example-vip-routing") else { return };
    each_backend(|mut app| {
        let wasm = wasm.clone();
        async move {
            app.allow_private_targets();
            let crm = Crm::default();
            let base = crm.start().await;
            let o = app.signup("VIP Co", &format!("owner-{}@vip.example", uuid::Uuid::new_v4())).await;
            let (_, queue) = app
                .call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "support", "priority": 10})))
                .await;
            let grants = json!({"kv": true, "http_hosts": ["127.0.0.1"], "secrets": ["crm_url", "crm_token"]});
            install(&app, &o, "vip", wasm, grants, &[("crm_url", &base), ("crm_token", "crm-secret")]).await;

            let new = |customer: &str| json!({"channel": "voice", "queue_id": queue["id"], "customer": customer});
            let gold = contact(&app, &o, new("+4930111222")).await;
            assert_eq!(gold["priority"], 90, "{gold}");
            assert_eq!(gold["attributes"]["tier"], "gold");
            assert_eq!(gold["attributes"]["customer_name"], "Ada Lovelace");
            assert_eq!(gold["attributes"]["vip"], "yes");
            let platinum = contact(&app, &o, new("vip@example.com")).await;
            assert_eq!(platinum["priority"], 100, "{platinum}");
            let stranger = contact(&app, &o, new("+4930999999")).await;
            assert_eq!(stranger["priority"], 10, "the queue's own priority: {stranger}");
            assert_eq!(stranger["attributes"]["tier"], "unknown");
            assert_eq!(crm.asked(), ["+4930111222", "vip@example.com", "+4930999999"]);
            // The same customer again: answered from the key-value cache, the CRM is not asked.
            let again = contact(&app, &o, new("+4930111222")).await;
            assert_eq!(again["priority"], 90);
            assert_eq!(crm.asked().len(), 3, "cached: {:?}", crm.asked());

            // A CRM refusing the token: routed as usual, the reason in the call's log.
            // (Setting a secret again replaces it.)
            app.call(
                "POST",
                "/api/v1/plugin-secrets",
                Some(&o.token),
                Some(json!({"name": "crm_token", "value": "wrong"})),
            )
            .await;
            let refused = contact(&app, &o, new("+4930555000")).await;
            assert_eq!(refused["priority"], 10);
            let last = &calls(&app, &o, "vip").await[0];
            assert_eq!(last["outcome"], "ok", "the plugin chose the default itself: {last}");
            assert!(last["logs"].to_string().contains("the CRM answered 401"), "{last}");
            app
        }
    })
    .await;
}

const SMS_TOKEN: &str = "auth-token-of-polyglot";
const SMS_URL: &str = "http://localhost:8080/webhooks/sms/twilio";
const OURS: &str = "+14155550100";

/// A tenant with an SMS number (queue `texts`) whose provider is `provider`.
async fn sms_tenant(app: &TestApp, provider: &Provider, name: &str) -> (Owner, Value) {
    let o = app.signup(name, &format!("owner-{}@texts.example", uuid::Uuid::new_v4())).await;
    let base = provider.start().await;
    let t = Some(o.token.as_str());
    let (status, p) = app
        .call(
            "PUT",
            "/api/v1/channels/sms",
            t,
            Some(json!({"account_sid": "AC1", "auth_token": SMS_TOKEN, "base_url": base})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    let (_, texts) = app.call("POST", "/api/v1/queues", t, Some(json!({"name": "texts"}))).await;
    let (status, e) = app
        .call(
            "POST",
            "/api/v1/endpoints",
            t,
            Some(json!({"kind": "sms_number", "address": OURS, "name": "texts", "queue_id": texts["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    (o, texts)
}

/// A signed inbound SMS from `from`.
async fn text_in(app: &TestApp, sid: &str, from: &str, body: &str) {
    let params: Vec<(String, String)> =
        [("MessageSid", sid), ("AccountSid", "AC1"), ("From", from), ("To", OURS), ("Body", body), ("NumMedia", "0")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    let signature = switchboard_channels::sms::sign(SMS_TOKEN, SMS_URL, &params);
    let req = Request::post("/webhooks/sms/twilio")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(Body::from(serde_urlencoded::to_string(&params).expect("form")))
        .expect("request");
    assert_eq!(app.send(req).await.0, StatusCode::OK);
}

async fn texts_from(app: &TestApp, o: &Owner, customer: &str) -> Vec<Value> {
    let (_, list) = app.call("GET", "/api/v1/contacts?limit=100", Some(&o.token), None).await;
    list["items"].as_array().expect("items").iter().filter(|c| c["customer"] == customer).cloned().collect()
}

/// Polls until `check` holds for the contact `id` (plugin effects run in the background).
async fn eventually(app: &TestApp, o: &Owner, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut c = Value::Null;
    for _ in 0..150 {
        c = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(&o.token), None).await.1;
        if check(&c) {
            return c;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("{what}: {c}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn language_routing_tags_answers_and_moves_a_text_conversation() {
    let Some(wasm) = switchboard_testkit::plugins::guest("example-language-routing") else { return };
    each_backend(|mut app| {
        let wasm = wasm.clone();
        async move {
            app.allow_private_targets();
            let provider = Provider::default();
            let (o, texts) = sms_tenant(&app, &provider, "Polyglot").await;
            let t = Some(o.token.as_str());
            let (status, skill) = app.call("POST", "/api/v1/skills", t, Some(json!({"name": "spanish"}))).await;
            assert_eq!(status, StatusCode::CREATED, "{skill}");
            let (_, es) = app.call("POST", "/api/v1/queues", t, Some(json!({"name": "support-es"}))).await;
            install(&app, &o, "language", wasm, json!({}), &[]).await;

            text_in(&app, "SM1", "+34600111222", "Hola, necesito ayuda con mi pedido").await;
            let id = texts_from(&app, &o, "+34600111222").await[0]["id"].as_str().expect("id").to_owned();
            let c = eventually(&app, &o, &id, "moved to support-es", |c| c["queue_id"] == es["id"]).await;
            assert_eq!(c["attributes"]["language"], "es", "{c}");
            let on_contact =
                calls(&app, &o, "language").await.into_iter().find(|c| c["hook"] == "on-contact").expect("call");
            assert!(
                on_contact["detail"].as_str().is_some_and(|d| d.contains("1 skills") && d.contains("language=es")),
                "{on_contact}"
            );
            // The bot's answer went out through the provider and is in the conversation.
            let (_, messages) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), t, None).await;
            let items = messages["items"].as_array().expect("items");
            assert_eq!(items.len(), 2, "{messages}");
            assert_eq!(items[1]["direction"], "outbound");
            assert_eq!(items[1]["author"], "Bot");
            assert!(items[1]["body"].as_str().is_some_and(|b| b.contains("español")), "{messages}");
            let sent = provider.requests();
            assert_eq!(sent.len(), 1);
            assert!(sent[0].2.iter().any(|(k, v)| k == "To" && v == "+34600111222"));
            // A later message is not answered again.
            text_in(&app, "SM2", "+34600111222", "Gracias").await;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert_eq!(provider.requests().len(), 1);

            // English: routed as usual, nothing said.
            text_in(&app, "SM3", "+14155550123", "Where is my parcel?").await;
            let english = texts_from(&app, &o, "+14155550123").await[0].clone();
            assert_eq!(english["queue_id"], texts["id"]);
            let hooks: Vec<String> = calls(&app, &o, "language")
                .await
                .iter()
                .map(|c| format!("{} {}", c["hook"].as_str().unwrap_or(""), c["outcome"].as_str().unwrap_or("")))
                .collect();
            assert!(
                hooks.contains(&"on-message ok".to_owned()) && hooks.contains(&"on-contact ok".to_owned()),
                "{hooks:?}"
            );
            app
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_survey_goes_out_after_a_contact_at_most_once_a_month() {
    let Some(wasm) = switchboard_testkit::plugins::guest("example-survey-sms") else { return };
    each_backend(|mut app| {
        let wasm = wasm.clone();
        async move {
            app.allow_private_targets();
            let provider = Provider::default();
            let (o, _) = sms_tenant(&app, &provider, "Surveyor").await;
            let t = Some(o.token.as_str());
            install(&app, &o, "survey", wasm, json!({"kv": true}), &[]).await;
            app.call("PUT", "/api/v1/agent/presence", t, Some(json!({"status": "available"}))).await;

            for (sid, expected) in [("SM1", "sent"), ("SM2", "skipped: surveyed recently")] {
                text_in(&app, sid, "+14155550177", "My router is broken").await;
                let open = texts_from(&app, &o, "+14155550177").await;
                let id = open
                    .iter()
                    .find(|c| !["done", "wrap_up"].contains(&c["state"].as_str().unwrap_or("")))
                    .and_then(|c| c["id"].as_str())
                    .expect("open contact")
                    .to_owned();
                assert!(app.wait_state(&o.token, &id, "offered").await);
                let (status, _) = app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), t, None).await;
                assert_eq!(status, StatusCode::NO_CONTENT);
                let (status, body) = app
                    .call(
                        "POST",
                        &format!("/api/v1/agent/contacts/{id}/complete"),
                        t,
                        Some(json!({"disposition": "resolved", "wrap_up_secs": 0})),
                    )
                    .await;
                assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
                let c = eventually(&app, &o, &id, "the survey mark", |c| c["attributes"]["survey"].is_string()).await;
                assert_eq!(c["attributes"]["survey"], expected, "{c}");
            }
            let surveys: Vec<_> = provider
                .requests()
                .into_iter()
                .filter(|(_, _, form)| form.iter().any(|(k, v)| k == "Body" && v.contains("How did we do?")))
                .collect();
            assert_eq!(surveys.len(), 1, "one survey a month: {surveys:?}");
            assert!(surveys[0].2.iter().any(|(k, v)| k == "To" && v == "+14155550177"));
            assert!(surveys[0].2.iter().any(|(k, v)| k == "From" && v == OURS));
            app
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn business_hours_tag_texts_after_hours_and_leave_open_hours_alone() {
    let Some(wasm) = switchboard_testkit::plugins::guest("example-business-hours") else { return };
    each_backend(|app| {
        let wasm = wasm.clone();
        async move {
            let o = app.signup("Nine to Five", &format!("owner-{}@hours.example", uuid::Uuid::new_v4())).await;
            let (_, queue) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "q"}))).await;
            // Closed every day of the week.
            let closed = r#"{"utc_offset_minutes": 0, "week": {}, "holidays": []}"#;
            install(&app, &o, "hours", wasm, json!({"secrets": ["schedule"]}), &[("schedule", closed)]).await;
            let task = json!({"channel": "task", "queue_id": queue["id"]});
            let c = contact(&app, &o, task.clone()).await;
            assert_eq!(c["attributes"]["after_hours"], "yes", "{c}");
            assert!(c["attributes"]["closed_because"].as_str().is_some_and(|w| w.starts_with("closed on")), "{c}");
            let call = contact(&app, &o, json!({"channel": "voice", "queue_id": queue["id"]})).await;
            assert_eq!(call["attributes"]["plugin_verdict"], "voicemail", "{call}");

            // Open around the clock, but today is a holiday: still closed.
            let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
            let week: serde_json::Map<String, Value> =
                days.iter().map(|d| (d.to_string(), json!("00:00-24:00"))).collect();
            let today = time_today();
            let holiday = json!({"week": week, "holidays": [today]}).to_string();
            app.call(
                "POST",
                "/api/v1/plugin-secrets",
                Some(&o.token),
                Some(json!({"name": "schedule", "value": holiday})),
            )
            .await;
            let c = contact(&app, &o, task.clone()).await;
            assert!(c["attributes"]["closed_because"].as_str().is_some_and(|w| w.starts_with("holiday")), "{c}");

            // No holiday: open, nothing changes.
            let open = json!({"week": week, "holidays": []}).to_string();
            app.call(
                "POST",
                "/api/v1/plugin-secrets",
                Some(&o.token),
                Some(json!({"name": "schedule", "value": open})),
            )
            .await;
            let c = contact(&app, &o, task).await;
            assert_eq!(c["attributes"].get("after_hours"), None, "{c}");
            app
        }
    })
    .await;
}

/// Today's UTC date, `YYYY-MM-DD`.
fn time_today() -> String {
    jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
}

/// The JavaScript example built with its pinned toolchain (componentize-js from npm), or None
/// (loudly) where node is missing outside CI.
fn javascript_plugin() -> Option<Vec<u8>> {
    if !common::have_tool("node", &["--version"]) || !common::have_tool("npm", &["--version"]) {
        return None;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tenant-plugins/examples/language-routing-js/build.sh");
    let out = std::env::temp_dir().join(format!("sb-js-plugin-{}.wasm", std::process::id()));
    let built = std::process::Command::new("bash").arg(&script).arg(&out).output().expect("build.sh runs");
    assert!(built.status.success(), "build.sh: {}", String::from_utf8_lossy(&built.stderr));
    let wasm = std::fs::read(&out).expect("the component");
    let _ = std::fs::remove_file(&out);
    Some(wasm)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_written_in_javascript_is_accepted_and_routes_like_any_other() {
    let Some(wasm) = javascript_plugin() else { return };
    each_backend(|app| {
        let wasm = wasm.clone();
        async move {
            let o = app.signup("Polyglot JS", &format!("owner-{}@js.example", uuid::Uuid::new_v4())).await;
            let t = Some(o.token.as_str());
            let (_, queue) = app.call("POST", "/api/v1/queues", t, Some(json!({"name": "q"}))).await;
            let (status, skill) = app.call("POST", "/api/v1/skills", t, Some(json!({"name": "german"}))).await;
            assert_eq!(status, StatusCode::CREATED, "{skill}");
            install(&app, &o, "language-js", wasm, json!({}), &[]).await;
            let c = contact(
                &app,
                &o,
                json!({"channel": "task", "queue_id": queue["id"],
                "attributes": {"ivr_language": "de"}}),
            )
            .await;
            assert_eq!(c["attributes"]["language"], "de", "{c}");
            let call = &calls(&app, &o, "language-js").await[0];
            assert_eq!(call["outcome"], "ok", "{call}");
            assert!(call["detail"].as_str().is_some_and(|d| d.contains("1 skills")), "{call}");
            assert!(call["logs"].to_string().contains("language: de"), "the JS plugin's log line: {call}");
            app
        }
    })
    .await;
}
