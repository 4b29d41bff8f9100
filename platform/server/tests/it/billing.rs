//! Billing end to end. Against a local stand-in that checks the request shapes Stripe documents
//! (Checkout Sessions, the billing portal and billing meter events, which localstripe lacks):
//! signed webhooks (valid, forged, stale, replayed, tampered), Checkout and portal links, and
//! usage from real SMS traffic reported once per unit even when Stripe's answer is lost. Against
//! localstripe (a real Stripe emulator, its signed webhooks delivered to our HTTP port): signup to
//! an active subscription, seats kept in step, a cancelled subscription suspending service
//! (visitors told politely, nothing lost) and a new subscription restoring it.

use crate::common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use common::{Owner, TestApp, each_backend};
use serde_json::{Value, json};
use switchboard_server::billing::{Billing, report_once};
use switchboard_server::config::Config;

const KEY: &str = "sk_test_switchboard";
const WHSEC: &str = "whsec_switchboard_test";

fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn billing_config(base: &str, grace_secs: u64) -> Config {
    Config {
        stripe_secret_key: Some(KEY.into()),
        stripe_api_base: Some(base.into()),
        stripe_webhook_secret: Some(WHSEC.into()),
        billing_grace_secs: grace_secs,
        ..Config::default()
    }
}

fn with_billing(app: &mut TestApp, config: &Config) -> Arc<Billing> {
    let billing = Billing::from_config(config).expect("billing config").expect("billing on");
    app.state.billing = Some(billing.clone());
    app.router = switchboard_server::app::app(app.state.clone());
    billing
}

async fn webhook(app: &TestApp, body: &str, signature: Option<&str>) -> StatusCode {
    let mut req = Request::post("/api/v1/webhooks/stripe").header("content-type", "application/json");
    if let Some(s) = signature {
        req = req.header("stripe-signature", s);
    }
    app.send(req.body(Body::from(body.to_owned())).expect("request")).await.0
}

fn event(id: &str, kind: &str, created: i64, object: Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "created": created, "livemode": false,
           "data": {"object": object}})
    .to_string()
}

async fn billing_view(app: &TestApp, o: &Owner) -> Value {
    let (status, v) = app.call("GET", "/api/v1/billing", Some(&o.token), None).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v
}

// --- the Stripe stand-in: checks what Stripe's API reference documents for each call ---

#[derive(Default)]
struct Fake {
    /// (method path, form) of every accepted request.
    calls: Vec<(String, HashMap<String, String>)>,
    /// Meter events by identifier (Stripe keeps one per identifier).
    meter: HashMap<String, (String, u64)>,
    /// Answer this many accepted meter events with a 500 (the answer is lost, the event is not).
    lose_answers: u32,
    problems: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn need(f: &HashMap<String, String>, keys: &[&str], what: &str, problems: &mut Vec<String>) {
    for k in keys {
        if f.get(*k).is_none_or(|v| v.is_empty()) {
            problems.push(format!("{what}: missing {k} in {f:?}"));
        }
    }
}

fn form(body: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(body).unwrap_or_default().into_iter().collect()
}

fn auth_ok(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

async fn fake_stripe() -> (String, Shared) {
    let shared: Shared = Arc::default();
    async fn customers(State(s): State<Shared>, h: HeaderMap, body: String) -> impl IntoResponse {
        let f = form(&body);
        let mut s = s.lock().expect("lock");
        let mut p = Vec::new();
        need(&f, &["email", "name", "metadata[tenant_id]"], "customer", &mut p);
        if !auth_ok(&h) || h.get("idempotency-key").is_none() {
            p.push("customer: no bearer key or idempotency key".into());
        }
        s.problems.extend(p);
        s.calls.push(("POST /v1/customers".into(), f.clone()));
        Json(json!({"id": format!("cus_{}", f["metadata[tenant_id]"].replace('-', "")), "object": "customer"}))
    }
    async fn checkout(State(s): State<Shared>, h: HeaderMap, body: String) -> impl IntoResponse {
        let f = form(&body);
        let mut s = s.lock().expect("lock");
        let mut p = Vec::new();
        need(
            &f,
            &[
                "mode",
                "customer",
                "client_reference_id",
                "line_items[0][price]",
                "line_items[0][quantity]",
                "success_url",
                "cancel_url",
                "subscription_data[metadata][tenant_id]",
            ],
            "checkout",
            &mut p,
        );
        if f.get("mode").map(String::as_str) != Some("subscription") || !auth_ok(&h) {
            p.push(format!("checkout: mode must be subscription: {f:?}"));
        }
        // Metered prices are listed without a quantity.
        if !f.contains_key("line_items[1][price]") || f.contains_key("line_items[1][quantity]") {
            p.push(format!("checkout: metered line items wrong: {f:?}"));
        }
        s.problems.extend(p);
        s.calls.push(("POST /v1/checkout/sessions".into(), f));
        Json(
            json!({"id": "cs_test_1", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_1"}),
        )
    }
    async fn portal(State(s): State<Shared>, body: String) -> impl IntoResponse {
        let f = form(&body);
        let mut s = s.lock().expect("lock");
        let mut p = Vec::new();
        need(&f, &["customer", "return_url"], "portal", &mut p);
        s.problems.extend(p);
        s.calls.push(("POST /v1/billing_portal/sessions".into(), f));
        Json(
            json!({"id": "bps_1", "object": "billing_portal.session", "url": "https://billing.stripe.com/p/session/test_1"}),
        )
    }
    async fn meter(State(s): State<Shared>, h: HeaderMap, body: String) -> axum::response::Response {
        let f = form(&body);
        let mut s = s.lock().expect("lock");
        let mut p = Vec::new();
        need(
            &f,
            &["event_name", "identifier", "timestamp", "payload[stripe_customer_id]", "payload[value]"],
            "meter event",
            &mut p,
        );
        let value = f.get("payload[value]").and_then(|v| v.parse::<u64>().ok());
        let ts = f.get("timestamp").and_then(|v| v.parse::<i64>().ok());
        if value.is_none() || ts.is_none_or(|t| (now_secs() - t).abs() > 35 * 86_400) || !auth_ok(&h) {
            p.push(format!("meter event: value must be an integer and timestamp recent: {f:?}"));
        }
        s.problems.extend(p);
        let id = f.get("identifier").cloned().unwrap_or_default();
        s.calls.push(("POST /v1/billing/meter_events".into(), f.clone()));
        if s.meter.contains_key(&id) {
            let body = json!({"error": {"type": "invalid_request_error", "code": "resource_already_exists",
                                         "message": format!("An event with identifier {id} already exists.")}});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
        s.meter.insert(id.clone(), (f.get("event_name").cloned().unwrap_or_default(), value.unwrap_or(0)));
        if s.lose_answers > 0 {
            s.lose_answers -= 1;
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": {"type": "api_error", "message": "lost"}})),
            )
                .into_response();
        }
        Json(json!({"object": "billing.meter_event", "identifier": id, "event_name": f["event_name"], "livemode": false})).into_response()
    }
    async fn invoices(Query(q): Query<HashMap<String, String>>) -> impl IntoResponse {
        Json(json!({"object": "list", "has_more": false, "data": [
            {"id": "in_1", "object": "invoice", "customer": q.get("customer"), "number": "SB-0001", "status": "paid",
             "total": 5800, "currency": "usd", "created": 1_795_000_000, "hosted_invoice_url": "https://invoice.stripe.com/i/1"}
        ]}))
    }
    async fn item(State(s): State<Shared>, Path(id): Path<String>, body: String) -> impl IntoResponse {
        let f = form(&body);
        s.lock().expect("lock").calls.push((format!("POST /v1/subscription_items/{id}"), f));
        Json(json!({"id": id, "object": "subscription_item"}))
    }
    use axum::Json;
    let router = axum::Router::new()
        .route("/v1/customers", post(customers))
        .route("/v1/checkout/sessions", post(checkout))
        .route("/v1/billing_portal/sessions", post(portal))
        .route("/v1/billing/meter_events", post(meter))
        .route("/v1/invoices", get(invoices))
        .route("/v1/subscription_items/{id}", post(item))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, shared)
}

// --- SMS traffic, the usage that is metered today ---

const TWILIO_TOKEN: &str = "auth-token-of-acme";
const SMS_URL: &str = "http://localhost:8080/webhooks/sms/twilio";

async fn sms_number(app: &TestApp, o: &Owner) {
    let (s, _) = app
        .call(
            "PUT",
            "/api/v1/channels/sms",
            Some(&o.token),
            Some(json!({"account_sid": "AC1", "auth_token": TWILIO_TOKEN})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "texts"}))).await;
    let (s, e) = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some(&o.token),
            Some(json!({"kind": "sms_number", "address": "+14155550100", "name": "texts", "queue_id": q["id"]})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
}

async fn text(app: &TestApp, sid: &str, from: &str, body: &str) {
    let params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("AccountSid", "AC1"),
        ("From", from),
        ("To", "+14155550100"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let sig = switchboard_channels::sms::sign(TWILIO_TOKEN, SMS_URL, &params);
    let req = Request::post("/webhooks/sms/twilio")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(Body::from(serde_urlencoded::to_string(&params).expect("form")))
        .expect("request");
    let (status, v) = app.send(req).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// Segments of every message stored in the tenant's conversations, read back through the API.
async fn stored_segments(app: &TestApp, o: &Owner) -> u64 {
    let (_, contacts) = app.call("GET", "/api/v1/contacts?limit=200", Some(&o.token), None).await;
    let mut total = 0;
    for c in contacts["items"].as_array().cloned().unwrap_or_default() {
        let id = c["id"].as_str().unwrap_or_default();
        let (_, msgs) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&o.token), None).await;
        for m in msgs["items"].as_array().or(msgs.as_array()).cloned().unwrap_or_default() {
            total += m["segments"].as_u64().unwrap_or(0);
        }
    }
    total
}

#[tokio::test]
async fn webhooks_checkout_portal_and_usage_against_stripes_documented_shapes() {
    each_backend(|mut app| async move {
        let (base, fake) = fake_stripe().await;
        let billing = with_billing(&mut app, &billing_config(&base, 3600));

        // The plans are public, for the signup page.
        let (_, plans) = app.call("GET", "/api/v1/billing/plans", None, None).await;
        assert_eq!(plans["enabled"], true);
        assert!(plans["plans"].as_array().is_some_and(|p| p.iter().any(|p| p["id"] == "team" && p["subscribable"] == true)));
        // An unknown plan at signup is a field error and creates nothing.
        let (s, v) = app
            .call("POST", "/api/v1/signup", None, Some(json!({"business_name": "Nope", "email": "n@n.example", "password": common::PASSWORD, "plan": "gold"})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(common::fields(&v), ["plan"]);

        let o = app.signup("Acme", "owner@acme.example").await;
        let customer = format!("cus_{}", o.tenant_id.replace('-', ""));
        let v = billing_view(&app, &o).await;
        assert_eq!((v["enabled"].as_bool(), v["standing"].as_str(), v["plan"]["id"].as_str()), (Some(true), Some("trial"), Some("trial")));

        // Checkout for the team plan; only the owner may.
        let (s, c) = app.call("POST", "/api/v1/billing/checkout", Some(&o.token), Some(json!({"plan": "team"}))).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        assert_eq!(c["url"], "https://checkout.stripe.com/c/pay/cs_test_1");
        let (s, _) = app.call("POST", "/api/v1/billing/checkout", Some(&o.token), Some(json!({"plan": "trial"}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a free plan needs no checkout");
        let (_, admin) = app.user_with_role(&o, "admin@acme.example", "admin").await;
        let (s, _) = app.call("POST", "/api/v1/billing/checkout", Some(&admin), Some(json!({"plan": "team"}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, p) = app.call("POST", "/api/v1/billing/portal", Some(&o.token), None).await;
        assert_eq!((s, p["url"].as_str()), (StatusCode::OK, Some("https://billing.stripe.com/p/session/test_1")));

        // Stripe tells us the subscription exists: signed, and only a good signature counts.
        let t = now_secs();
        let created = event("evt_sub_1", "customer.subscription.created", t, json!({
            "id": "sub_1", "object": "subscription", "customer": customer, "status": "active",
            "items": {"data": [{"id": "si_seat", "price": {"id": "price_team_seat"}, "quantity": 2},
                                {"id": "si_sms", "price": {"id": "price_sms_segment"}}]}}));
        let good = switchboard_billing::sign(created.as_bytes(), WHSEC, t);
        let forged = switchboard_billing::sign(created.as_bytes(), "whsec_not_ours", t);
        let stale = switchboard_billing::sign(created.as_bytes(), WHSEC, t - 600);
        let tampered = created.replace("\"active\"", "\"trialing\"");
        assert_eq!(webhook(&app, &created, None).await, StatusCode::BAD_REQUEST, "no signature");
        assert_eq!(webhook(&app, &created, Some(&forged)).await, StatusCode::BAD_REQUEST, "forged");
        assert_eq!(webhook(&app, &created, Some(&stale)).await, StatusCode::BAD_REQUEST, "stale");
        assert_eq!(webhook(&app, &tampered, Some(&good)).await, StatusCode::BAD_REQUEST, "tampered body");
        assert_eq!(webhook(&app, &created, Some("t=abc,v1=zz")).await, StatusCode::BAD_REQUEST, "garbage");
        assert_eq!(billing_view(&app, &o).await["subscription_status"], "none", "refused webhooks change nothing");
        assert_eq!(webhook(&app, &created, Some(&good)).await, StatusCode::OK);
        let v = billing_view(&app, &o).await;
        assert_eq!((v["standing"].as_str(), v["plan"]["id"].as_str()), (Some("good"), Some("team")), "{v}");
        assert_eq!(v["invoices"][0]["number"], "SB-0001");

        // A failure, then the same delivery replayed, then the payment: the replay changes nothing.
        let failed = event("evt_fail_1", "invoice.payment_failed", t + 1, json!({"id": "in_2", "object": "invoice", "customer": customer, "subscription": "sub_1"}));
        let failed_sig = switchboard_billing::sign(failed.as_bytes(), WHSEC, t + 1);
        assert_eq!(webhook(&app, &failed, Some(&failed_sig)).await, StatusCode::OK);
        assert_eq!(billing_view(&app, &o).await["standing"], "grace");
        let paid = event("evt_paid_1", "invoice.paid", t + 2, json!({"id": "in_2", "object": "invoice", "customer": customer, "subscription": "sub_1"}));
        assert_eq!(webhook(&app, &paid, Some(&switchboard_billing::sign(paid.as_bytes(), WHSEC, t + 2))).await, StatusCode::OK);
        assert_eq!(webhook(&app, &failed, Some(&failed_sig)).await, StatusCode::OK, "a replay is acknowledged");
        assert_eq!(billing_view(&app, &o).await["standing"], "good", "a replayed old failure does not undo the payment");
        let metrics = app.call("GET", "/metrics", None, None).await.1;
        assert!(metrics.as_str().is_some_and(|m| m.contains("billing_webhooks_total{outcome=\"duplicate\"} 1")), "{metrics}");

        // Usage: real SMS traffic; a provider retry and a keyword message included.
        sms_number(&app, &o).await;
        text(&app, "SM1", "+14155550199", "Hello, is my order on its way?").await; // 1 segment
        text(&app, "SM1", "+14155550199", "Hello, is my order on its way?").await; // provider retry
        text(&app, "SM2", "+14155550199", &"long ".repeat(40)).await; // 200 GSM-7 chars: 2 segments
        text(&app, "SM3", "+14155550198", "Grüße 👋 from a phone that speaks UCS-2 and says a fair bit more than fits").await; // 2
        text(&app, "SM4", "+14155550197", "HELP").await; // keyword, stored and billed: 1
        let stored = stored_segments(&app, &o).await;
        let v = billing_view(&app, &o).await;
        let usage = v["usage"].as_array().and_then(|u| u.iter().find(|u| u["kind"] == "sms_segments")).map(|u| u["quantity"].clone());
        assert_eq!(usage, Some(json!(6)), "{v}");
        assert_eq!(stored + 1, 6, "usage reconciles with the stored conversation messages (+1 for the HELP keyword)");

        // A third person joins: the seat count follows at the next round.
        app.user_with_role(&o, "agent@acme.example", "agent").await;
        // Reporting: the first answer is lost; the resend with the same identifier counts once.
        fake.lock().expect("lock").lose_answers = 1;
        report_once(&app.state, &billing).await.expect("round");
        report_once(&app.state, &billing).await.expect("round again");
        report_once(&app.state, &billing).await.expect("and again");
        {
            let f = fake.lock().expect("lock");
            let total: u64 = f.meter.values().filter(|(name, _)| name == "switchboard_sms_segments").map(|(_, v)| v).sum();
            assert_eq!(total, 6, "Stripe counted each segment once: {:?}", f.meter);
            assert!(f.calls.iter().any(|(c, f)| c == "POST /v1/subscription_items/si_seat" && f["quantity"] == "3"), "{:?}", f.calls);
            assert!(f.problems.is_empty(), "requests Stripe would refuse: {:?}", f.problems);
        }
        let v = billing_view(&app, &o).await;
        assert!(v["reports"].as_array().is_some_and(|r| !r.is_empty() && r.iter().all(|r| r["sent_at"].is_i64())), "{v}");
        // More traffic: only the new units go out.
        text(&app, "SM5", "+14155550199", "Thanks!").await;
        report_once(&app.state, &billing).await.expect("round");
        let total: u64 = fake.lock().expect("lock").meter.values().map(|(_, v)| v).sum();
        assert_eq!(total, 7);
        app
    })
    .await;
}

#[tokio::test]
async fn with_billing_off_everything_works_and_the_webhook_route_is_absent() {
    each_backend(|app| async move {
        let (_, plans) = app.call("GET", "/api/v1/billing/plans", None, None).await;
        assert_eq!(plans["enabled"], false);
        let o = app.signup("Acme", "owner@acme.example").await;
        let v = billing_view(&app, &o).await;
        assert_eq!((v["enabled"].as_bool(), v["standing"].as_str()), (Some(false), Some("off")));
        let (s, _) = app.call("POST", "/api/v1/billing/checkout", Some(&o.token), Some(json!({"plan": "team"}))).await;
        assert_eq!(s, StatusCode::CONFLICT);
        assert_eq!(webhook(&app, "{}", Some("t=1,v1=00")).await, StatusCode::NOT_FOUND);
        let (s, _) =
            app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
        assert_eq!(s, StatusCode::OK);
        app
    })
    .await;
}

// --- against localstripe ---

struct Localstripe {
    _child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

impl Localstripe {
    async fn start() -> Option<Self> {
        let bin = switchboard_testkit::service_url("SWITCHBOARD_TEST_LOCALSTRIPE", "localstripe (Stripe emulator)")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = tokio::process::Command::new(&bin)
            // Each instance keeps its own objects in memory; --from-scratch skips the file it
            // shares with every other instance (/tmp/localstripe.pickle), so tests run side by side.
            .args(["--port", &port.to_string(), "--from-scratch"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
        let ls = Self { _child: child, base: format!("http://127.0.0.1:{port}"), http: reqwest::Client::new() };
        for _ in 0..100 {
            if ls.http.get(format!("{}/v1/customers", ls.base)).basic_auth(KEY, Some("")).send().await.is_ok() {
                return Some(ls);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("localstripe did not start on port {port}");
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(KEY, Some(""))
            .form(form)
            .send()
            .await
            .expect("localstripe answers");
        (res.status().as_u16(), res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> Value {
        let res = self.http.get(format!("{}{path}", self.base)).basic_auth(KEY, Some("")).send().await.expect("get");
        res.json().await.expect("json")
    }

    /// A card payment method, attached to the customer as its default.
    async fn default_card(&self, customer: &str, number: &str) {
        let form = [
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2034"),
            ("card[cvc]", "123"),
        ];
        self.default_payment_method(customer, &form).await;
    }

    /// A payment method made from `form`, attached to the customer as its default.
    async fn default_payment_method(&self, customer: &str, form: &[(&str, &str)]) {
        let (s, pm) = self.post("/v1/payment_methods", form).await;
        assert_eq!(s, 200, "{pm}");
        let pm = pm["id"].as_str().expect("pm id").to_owned();
        let (s, v) = self.post(&format!("/v1/payment_methods/{pm}/attach"), &[("customer", customer)]).await;
        assert_eq!(s, 200, "{v}");
        let (s, v) =
            self.post(&format!("/v1/customers/{customer}"), &[("invoice_settings[default_payment_method]", &pm)]).await;
        assert_eq!(s, 200, "{v}");
    }
}

/// Waits (localstripe delivers its webhooks a second after the event) until `want` holds.
async fn eventually(app: &TestApp, o: &Owner, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let v = billing_view(app, o).await;
        if want(&v) {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    panic!("{what} never happened: {}", billing_view(app, o).await);
}

/// localstripe with the catalogue's seat price as a plan, our app (billing on) with its HTTP port
/// registered for localstripe's signed webhooks, and a business signed up on `team`. Returns
/// the owner and their Stripe customer.
async fn localstripe_tenant(ls: &Localstripe) -> (TestApp, Arc<Billing>, Owner, String) {
    // The catalogue's seat price, as a plan (localstripe predates the Prices API).
    ls.post("/v1/products", &[("id", "prod_seat"), ("name", "Agent seat")]).await;
    let (s, v) = ls
        .post(
            "/v1/plans",
            &[
                ("id", "price_team_seat"),
                ("product", "prod_seat"),
                ("amount", "2900"),
                ("currency", "usd"),
                ("interval", "month"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");

    let mut app = TestApp::new(switchboard_testkit::DbKind::Sqlite).await.expect("sqlite");
    let billing = with_billing(&mut app, &billing_config(&ls.base, 2));
    // Our HTTP port, so localstripe can deliver its signed webhooks.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let ours = listener.local_addr().expect("addr");
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let (s, v) = ls
        .post(
            "/_config/webhooks/switchboard",
            &[("url", &format!("http://{ours}/api/v1/webhooks/stripe")), ("secret", WHSEC)],
        )
        .await;
    assert_eq!(s, 200, "{v}");

    // Signup on the team plan: a Stripe customer is made, and there is no subscription yet.
    let (s, v) = app
        .call("POST", "/api/v1/signup", None, Some(json!({"business_name": "Acme", "email": "owner@acme.example", "password": common::PASSWORD, "plan": "team"})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let o = Owner {
        email: "owner@acme.example".into(),
        token: v["tokens"]["access_token"].as_str().expect("token").into(),
        refresh: v["tokens"]["refresh_token"].as_str().expect("refresh").into(),
        tenant_id: v["tenant"]["id"].as_str().expect("tenant").into(),
        user_id: v["user"]["id"].as_str().expect("user").into(),
    };
    let customers = ls.get("/v1/customers?limit=10").await;
    let customer = customers["data"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["metadata"]["tenant_id"] == o.tenant_id.as_str()))
        .and_then(|c| c["id"].as_str())
        .expect("customer with our tenant id")
        .to_owned();
    (app, billing, o, customer)
}

#[tokio::test]
async fn localstripe_subscription_drives_service_cancellation_suspends_and_subscribing_restores() {
    let Some(ls) = Localstripe::start().await else { return };
    let (app, billing, o, customer) = localstripe_tenant(&ls).await;
    let v = billing_view(&app, &o).await;
    assert_eq!((v["plan"]["id"].as_str(), v["standing"].as_str()), (Some("team"), Some("suspended")), "{v}");

    // What Checkout does at Stripe: a card, and the subscription. Its webhooks make us active.
    ls.default_card(&customer, "4242424242424242").await;
    let (s, sub) = ls
        .post(
            "/v1/subscriptions",
            &[
                ("customer", &customer),
                ("items[0][plan]", "price_team_seat"),
                ("items[0][quantity]", "1"),
                ("metadata[tenant_id]", &o.tenant_id),
            ],
        )
        .await;
    assert_eq!((s, sub["status"].as_str()), (200, Some("active")), "{sub}");
    let sub_id = sub["id"].as_str().expect("sub").to_owned();
    let v = eventually(&app, &o, "the subscription webhook", |v| v["standing"] == "good").await;
    assert_eq!(v["subscription_status"], "active");
    assert!(v["invoices"].as_array().is_some_and(|i| !i.is_empty()), "the first invoice shows: {v}");
    let (s, _) = app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!(s, StatusCode::OK);

    // A second person: the seat count at Stripe follows.
    app.user_with_role(&o, "agent@acme.example", "agent").await;
    report_once(&app.state, &billing).await.expect("round");
    let sub_now = ls.get(&format!("/v1/subscriptions/{sub_id}")).await;
    // localstripe echoes the quantity as it was sent (a form string).
    let q = &sub_now["items"]["data"][0]["quantity"];
    assert!(q == 2 || q == "2", "{sub_now}");

    // The subscription ends at Stripe (declined payments are the next test).
    let res = ls
        .http
        .delete(format!("{}/v1/subscriptions/{sub_id}", ls.base))
        .basic_auth(KEY, Some(""))
        .send()
        .await
        .expect("cancel");
    assert!(res.status().is_success());
    let v = eventually(&app, &o, "the subscription.deleted webhook", |v| v["standing"] == "suspended").await;
    assert_eq!(v["suspended_reason"], "subscription canceled");

    // Suspended: visitors are told politely and can still leave a message; agents cannot take
    // work; the tenant's data is all there.
    let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "chat"}))).await;
    let (s, w) = app
        .call("POST", "/api/v1/endpoints", Some(&o.token), Some(json!({"kind": "chat_widget", "name": "shop", "queue_id": q["id"], "allowed_origins": ["https://shop.example"]})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{w}");
    let chat = |body: Value| {
        Request::post("/chat/v1/sessions")
            .header("content-type", "application/json")
            .header("origin", "https://shop.example")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let (s, session) = app.send(chat(json!({"widget_key": w["address"], "name": "Vera"}))).await;
    assert_eq!(
        (s, session["mode"].as_str(), session["reason"].as_str()),
        (StatusCode::OK, Some("leave_message"), Some("unavailable")),
        "{session}"
    );
    let offline = Request::post("/chat/v1/offline-messages")
        .header("content-type", "application/json")
        .header("origin", "https://shop.example")
        .body(Body::from(json!({"widget_key": w["address"], "name": "Vera", "email": "vera@example.com", "body": "Please call me back"}).to_string()))
        .expect("request");
    assert_eq!(app.send(offline).await.0, StatusCode::CREATED, "a message left while suspended is kept");
    let (s, e) = app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!((s, e["error"]["code"].as_str()), (StatusCode::PAYMENT_REQUIRED, Some("payment_required")), "{e}");
    let (s, contacts) = app.call("GET", "/api/v1/contacts", Some(&o.token), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(contacts["items"].as_array().map(Vec::len), Some(1), "the left message is a contact: {contacts}");

    // Subscribing again (the card still good) restores service.
    let (s, again) = ls
        .post(
            "/v1/subscriptions",
            &[("customer", &customer), ("items[0][plan]", "price_team_seat"), ("items[0][quantity]", "2")],
        )
        .await;
    assert_eq!(s, 200, "{again}");
    eventually(&app, &o, "the new subscription's webhook", |v| v["standing"] == "good").await;
    let (s, _) = app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!(s, StatusCode::OK);
    let (_, session) = app.send(chat(json!({"widget_key": w["address"], "name": "Vera"}))).await;
    assert_eq!(session["mode"], "chat", "{session}");
    app.cleanup().await;
}

/// localstripe's failing test payment methods: a declined card leaves the first invoice unpaid and
/// the tenant without service until a good card pays it; later a declined SEPA debit on a plan
/// change fails the invoice and Stripe cancels the subscription, which suspends service; a new
/// subscription restores it. Every step reaches us only through localstripe's signed webhooks.
#[tokio::test]
async fn localstripe_declined_payments_suspend_and_paying_restores() {
    let Some(ls) = Localstripe::start().await else { return };
    let (app, _billing, o, customer) = localstripe_tenant(&ls).await;

    // Checkout with a card that is declined: the subscription stays incomplete, no service.
    ls.default_card(&customer, "4000000000000341").await;
    let (s, sub) = ls
        .post(
            "/v1/subscriptions",
            &[("customer", &customer), ("items[0][plan]", "price_team_seat"), ("items[0][quantity]", "1")],
        )
        .await;
    assert_eq!((s, sub["status"].as_str()), (200, Some("incomplete")), "{sub}");
    let sub_id = sub["id"].as_str().expect("sub").to_owned();
    let invoice = sub["latest_invoice"].as_str().expect("invoice").to_owned();
    let v = eventually(&app, &o, "the incomplete subscription's webhook", |v| v["subscription_status"] == "incomplete")
        .await;
    assert_eq!(
        (v["standing"].as_str(), v["suspended_reason"].as_str()),
        (Some("suspended"), Some("no paid subscription")),
        "{v}"
    );
    let (s, _) = app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    let open = v["invoices"].as_array().and_then(|i| i.iter().find(|i| i["id"] == invoice.as_str())).cloned();
    assert_eq!(open.as_ref().map(|i| i["status"].clone()), Some(json!("open")), "the unpaid invoice shows: {v}");

    // A good card pays the open invoice: invoice.payment_succeeded makes the subscription ours.
    ls.default_card(&customer, "4242424242424242").await;
    let (s, paid) = ls.post(&format!("/v1/invoices/{invoice}/pay"), &[]).await;
    assert_eq!((s, paid["status"].as_str()), (200, Some("paid")), "{paid}");
    let v = eventually(&app, &o, "the payment's webhook", |v| v["standing"] == "good").await;
    assert_eq!(v["subscription_status"], "active", "{v}");
    let (s, _) = app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!(s, StatusCode::OK);

    // Later the payment method is a SEPA debit that bounces (localstripe's failing IBAN), and a
    // change to yearly billing is invoiced: the debit fails a moment later, Stripe sends
    // invoice.payment_failed and cancels the subscription.
    let (s, v) = ls
        .post(
            "/v1/plans",
            &[
                ("id", "price_team_seat_yearly"),
                ("product", "prod_seat"),
                ("amount", "29000"),
                ("currency", "usd"),
                ("interval", "year"),
            ],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    ls.default_payment_method(&customer, &[("type", "sepa_debit"), ("sepa_debit[iban]", "DE62370400440532013001")])
        .await;
    let (s, v) = ls
        .post(
            &format!("/v1/subscriptions/{sub_id}"),
            &[("items[0][plan]", "price_team_seat_yearly"), ("items[0][quantity]", "1")],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let v = eventually(&app, &o, "the failed debit's webhooks", |v| v["standing"] == "suspended").await;
    assert_eq!(v["suspended_reason"], "subscription canceled", "{v}");
    let (s, _) = app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED);
    let unpaid = v["invoices"].as_array().map(|l| l.iter().filter(|i| i["status"] != "paid").count());
    assert_eq!(unpaid, Some(1), "the bounced invoice shows unpaid: {v}");

    // Paying again (a new subscription on a good card) restores service.
    ls.default_card(&customer, "4242424242424242").await;
    let (s, again) = ls
        .post(
            "/v1/subscriptions",
            &[("customer", &customer), ("items[0][plan]", "price_team_seat"), ("items[0][quantity]", "1")],
        )
        .await;
    assert_eq!((s, again["status"].as_str()), (200, Some("active")), "{again}");
    eventually(&app, &o, "the new subscription's webhook", |v| v["standing"] == "good").await;
    let (s, _) = app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!(s, StatusCode::OK);
    app.cleanup().await;
}
