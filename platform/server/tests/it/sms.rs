//! Incoming SMS through the Twilio-compatible webhook: signed requests become threaded contacts in
//! the unified queues; forged, replayed and keyword messages are handled as carriers require.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::sms_provider::Provider;
use common::{Owner, TestApp, each_backend, fields};
use serde_json::{Value, json};
use switchboard_channels::sms::sign;

const TOKEN: &str = "auth-token-of-acme";
const URL: &str = "http://localhost:8080/webhooks/sms/twilio";
const OURS: &str = "+14155550100";
const THEIRS: &str = "+14155550199";

async fn setup(app: &TestApp) -> Owner {
    let o = app.signup("Acme", "owner@acme.example").await;
    let (status, p) = app
        .call("PUT", "/api/v1/channels/sms", Some(&o.token), Some(json!({"account_sid": "AC1", "auth_token": TOKEN})))
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    assert_eq!(p["auth_token_hint"], "…acme");
    assert_eq!(p["inbound_webhook_url"], URL);
    let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "texts"}))).await;
    let (status, e) = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some(&o.token),
            Some(json!({"kind": "sms_number", "address": OURS, "name": "texts", "queue_id": q["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{e}");
    o
}

fn form(sid: &str, body: &str) -> Vec<(String, String)> {
    [("MessageSid", sid), ("AccountSid", "AC1"), ("From", THEIRS), ("To", OURS), ("Body", body), ("NumMedia", "0")]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn post(app: &TestApp, params: &[(String, String)], signature: &str) -> (StatusCode, String) {
    let body = serde_urlencoded::to_string(params).expect("form");
    let req = Request::post("/webhooks/sms/twilio")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(Body::from(body))
        .expect("request");
    let (status, v) = app.send(req).await;
    (status, v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
}

async fn signed(app: &TestApp, sid: &str, text: &str) -> (StatusCode, String) {
    let params = form(sid, text);
    post(app, &params, &sign(TOKEN, URL, &params)).await
}

async fn contacts(app: &TestApp, o: &Owner) -> Vec<Value> {
    app.call("GET", "/api/v1/contacts", Some(&o.token), None).await.1["items"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_text_becomes_a_contact_and_its_follow_ups_join_the_thread() {
    each_backend(|app| async move {
        let o = setup(&app).await;
        let (status, twiml) = signed(&app, "SM1", "Hi, my order is late").await;
        assert_eq!(status, StatusCode::OK, "{twiml}");
        assert!(twiml.contains("<Response></Response>"), "{twiml}");
        signed(&app, "SM2", "Order 4711").await;
        let list = contacts(&app, &o).await;
        assert_eq!(list.len(), 1, "one conversation: {list:?}");
        assert_eq!((list[0]["channel"].as_str(), list[0]["customer"].as_str()), (Some("sms"), Some(THEIRS)));
        let id = list[0]["id"].as_str().expect("id");
        let (_, messages) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&o.token), None).await;
        let bodies: Vec<&str> =
            messages["items"].as_array().expect("items").iter().filter_map(|m| m["body"].as_str()).collect();
        assert_eq!(bodies, ["Hi, my order is late", "Order 4711"]);
        assert_eq!(messages["items"][0]["segments"], 1);
        app
    })
    .await;
}

#[tokio::test]
async fn forged_and_replayed_requests_change_nothing() {
    each_backend(|app| async move {
        let o = setup(&app).await;
        let params = form("SM1", "hello");
        let (status, _) = post(&app, &params, &sign("wrong-token", URL, &params)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let mut tampered = params.clone();
        tampered[4].1 = "hello, changed".into();
        let (status, _) = post(&app, &tampered, &sign(TOKEN, URL, &params)).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(contacts(&app, &o).await.is_empty(), "nothing stored");
        // The genuine request, then the same request again (a provider retry or a replay).
        assert_eq!(post(&app, &params, &sign(TOKEN, URL, &params)).await.0, StatusCode::OK);
        assert_eq!(post(&app, &params, &sign(TOKEN, URL, &params)).await.0, StatusCode::OK);
        let list = contacts(&app, &o).await;
        assert_eq!(list.len(), 1);
        let (_, messages) = app
            .call(
                "GET",
                &format!("/api/v1/contacts/{}/messages", list[0]["id"].as_str().expect("id")),
                Some(&o.token),
                None,
            )
            .await;
        assert_eq!(messages["items"].as_array().expect("items").len(), 1, "recorded once");
        app
    })
    .await;
}

#[tokio::test]
async fn stop_start_and_help_are_answered_without_reaching_an_agent() {
    each_backend(|app| async move {
        let o = setup(&app).await;
        let (_, twiml) = signed(&app, "SM1", "STOP").await;
        assert!(twiml.contains("unsubscribed from Acme"), "{twiml}");
        assert!(app.state.store.is_opted_out(o.tenant_id.parse().expect("tenant"), OURS, THEIRS).await.expect("read"));
        let (_, twiml) = signed(&app, "SM2", "help").await;
        assert!(twiml.contains("Reply STOP"), "{twiml}");
        let (_, twiml) = signed(&app, "SM3", "Start").await;
        assert!(twiml.contains("subscribed to Acme again"), "{twiml}");
        assert!(!app.state.store.is_opted_out(o.tenant_id.parse().expect("tenant"), OURS, THEIRS).await.expect("read"));
        assert!(contacts(&app, &o).await.is_empty(), "keywords are not conversations");
        app
    })
    .await;
}

#[tokio::test]
async fn unknown_numbers_and_bad_forms_are_refused() {
    each_backend(|app| async move {
        let _o = setup(&app).await;
        let mut params = form("SM1", "hi");
        params[3].1 = "+19995550000".into();
        assert_eq!(post(&app, &params, &sign(TOKEN, URL, &params)).await.0, StatusCode::NOT_FOUND);
        let req = Request::post("/webhooks/sms/twilio")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from("From=%2B1"))
            .expect("request");
        assert_eq!(app.send(req).await.0, StatusCode::BAD_REQUEST);
        app
    })
    .await;
}

#[tokio::test]
async fn provider_settings_are_validated() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        assert_eq!(app.call("GET", "/api/v1/channels/sms", Some(&o.token), None).await.0, StatusCode::NOT_FOUND);
        let (status, body) = app
            .call(
                "PUT",
                "/api/v1/channels/sms",
                Some(&o.token),
                Some(json!({"account_sid": "", "auth_token": "short", "base_url": "ftp://x"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["account_sid", "auth_token", "base_url"]);
        app
    })
    .await;
}

/// Points the tenant at the local provider, makes the owner available, texts in and accepts the offer.
async fn connected_conversation(app: &TestApp, provider: &Provider, customer: &str) -> (Owner, String) {
    let o = setup(app).await;
    let base = provider.start().await;
    let (status, p) = app
        .call(
            "PUT",
            "/api/v1/channels/sms",
            Some(&o.token),
            Some(json!({"account_sid": "AC1", "auth_token": TOKEN, "base_url": base})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{p}");
    app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    let mut params = form("SM1", "Where is my parcel?");
    params[2].1 = customer.to_owned();
    let (status, _) = post(app, &params, &sign(TOKEN, URL, &params)).await;
    assert_eq!(status, StatusCode::OK);
    let id = contacts(app, &o).await[0]["id"].as_str().expect("id").to_owned();
    for _ in 0..100 {
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(&o.token), None).await;
        if c["state"] == "offered" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, _) = app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&o.token), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    (o, id)
}

async fn post_status(app: &TestApp, sid: &str, status: &str) -> StatusCode {
    let url = "http://localhost:8080/webhooks/sms/twilio/status";
    let params: Vec<(String, String)> =
        [("MessageSid", sid), ("MessageStatus", status), ("From", OURS), ("To", THEIRS), ("AccountSid", "AC1")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
    let req = Request::post("/webhooks/sms/twilio/status")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sign(TOKEN, url, &params))
        .body(Body::from(serde_urlencoded::to_string(&params).expect("form")))
        .expect("request");
    app.send(req).await.0
}

#[tokio::test]
async fn the_connected_agent_replies_through_the_provider_and_delivery_updates_the_message() {
    each_backend(|app| async move {
        let provider = Provider::default();
        let (o, id) = connected_conversation(&app, &provider, THEIRS).await;
        // A provider URL on loopback is refused like a webhook target would be...
        let (status, body) = app
            .call("POST", &format!("/api/v1/contacts/{id}/messages"), Some(&o.token), Some(json!({"body": "hi"})))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains("not allowed"), "{body}");
        assert!(provider.requests().is_empty());
        // ...unless the deployment allows private targets (as this test's local provider needs).
        let mut app = app;
        app.allow_private_targets();
        let (status, m) = app
            .call(
                "POST",
                &format!("/api/v1/contacts/{id}/messages"),
                Some(&o.token),
                Some(json!({"body": "It arrives tomorrow — sorry!"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
        assert_eq!((m["direction"].as_str(), m["status"].as_str()), (Some("outbound"), Some("queued")));
        assert_eq!(m["segments"], 1, "UCS-2 because of the dash, still one segment");
        let sent = provider.requests();
        assert_eq!(sent.len(), 1);
        let (account, auth, form) = &sent[0];
        assert_eq!(account, "AC1");
        use base64::Engine as _;
        let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("AC1:{TOKEN}")));
        assert_eq!(auth, &expected);
        let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("To"), Some(THEIRS));
        assert_eq!(get("From"), Some(OURS));
        assert_eq!(get("Body"), Some("It arrives tomorrow — sorry!"));
        assert_eq!(get("StatusCallback"), Some("http://localhost:8080/webhooks/sms/twilio/status"));
        // Delivery status arrives signed; a forged one changes nothing.
        assert_eq!(post_status(&app, "SMout1", "delivered").await, StatusCode::NO_CONTENT);
        let forged = Request::post("/webhooks/sms/twilio/status")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", "AAAA")
            .body(Body::from("MessageSid=SMout1&MessageStatus=failed&From=%2B14155550100"))
            .expect("request");
        assert_eq!(app.send(forged).await.0, StatusCode::FORBIDDEN);
        assert_eq!(post_status(&app, "SMunknown", "delivered").await, StatusCode::NOT_FOUND);
        let (_, list) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&o.token), None).await;
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        assert_eq!((items[0]["seq"].as_u64(), items[1]["seq"].as_u64()), (Some(1), Some(2)), "numbered in order");
        assert_eq!(
            (items[1]["direction"].as_str(), items[1]["status"].as_str()),
            (Some("outbound"), Some("delivered"))
        );
        assert_eq!(items[1]["author"].as_str(), Some(o.user_id.as_str()), "the replying agent");
        app
    })
    .await;
}

#[tokio::test]
async fn replies_are_refused_to_opted_out_customers_to_other_agents_and_when_the_provider_refuses() {
    each_backend(|mut app| async move {
        app.allow_private_targets();
        let provider = Provider::default();
        let (o, id) = connected_conversation(&app, &provider, THEIRS).await;
        let path = format!("/api/v1/contacts/{id}/messages");
        // Empty text: 422, nothing sent.
        let (status, body) = app.call("POST", &path, Some(&o.token), Some(json!({"body": ""}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["body"]);
        // Another agent of the tenant may not write into this conversation.
        let (_, agent) = app.user_with_role(&o, "agent@acme.example", "agent").await;
        let (status, _) = app.call("POST", &path, Some(&agent), Some(json!({"body": "hi"}))).await;
        assert_eq!(status, StatusCode::CONFLICT);
        // The customer texts STOP: nothing more goes to them.
        signed(&app, "SM9", "STOP").await;
        let (status, body) = app.call("POST", &path, Some(&o.token), Some(json!({"body": "hello?"}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(provider.requests().is_empty(), "nothing reached the provider");
        let (_, list) = app.call("GET", &path, Some(&o.token), None).await;
        assert_eq!(list["items"].as_array().expect("items").len(), 1, "only the customer's message");
        app
    })
    .await;
}

#[tokio::test]
async fn a_provider_refusal_is_a_clear_error_and_stores_nothing() {
    each_backend(|mut app| async move {
        app.allow_private_targets();
        let provider = Provider::default();
        let (o, id) = connected_conversation(&app, &provider, "+19995550123").await;
        let path = format!("/api/v1/contacts/{id}/messages");
        let (status, body) = app.call("POST", &path, Some(&o.token), Some(json!({"body": "hello"}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains("Invalid 'To' number"), "{body}");
        assert_eq!(provider.requests().len(), 1);
        let (_, list) = app.call("GET", &path, Some(&o.token), None).await;
        assert_eq!(list["items"].as_array().expect("items").len(), 1, "the failed reply is not in the transcript");
        app
    })
    .await;
}
