//! Routing through the REST API: tenant rules take effect, contacts are validated, offers time out
//! on the server's clock.

use crate::common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{each_backend, fields};
use serde_json::{Value, json};

async fn state_of(app: &common::TestApp, token: &str, id: &str) -> String {
    let (_, c) = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(token), None).await;
    c["state"].as_str().unwrap_or("?").to_owned()
}

async fn eventually(app: &common::TestApp, token: &str, id: &str, want: &str) -> bool {
    for _ in 0..100 {
        if state_of(app, token, id).await == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn tenant_routing_rules_take_effect() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let rules = json!({"voice_interrupts_text": true, "max_per_channel": {"chat": 1}, "sticky_secs": 0,
                           "misses_before_away": 3, "secs_per_priority_point": 6, "wrap_up_secs": 0});
        let (status, body) = app.call("PUT", "/api/v1/routing-rules", Some(&o.token), Some(rules.clone())).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut expected = rules.clone();
        expected["requeue_unanswered_secs"] = Value::Null;
        assert_eq!(app.call("GET", "/api/v1/routing-rules", Some(&o.token), None).await.1, expected);
        let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "chat"}))).await;
        let (status, _) =
            app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
        assert_eq!(status, StatusCode::OK);
        let mut ids = Vec::new();
        for _ in 0..2 {
            let (status, c) = app
                .call("POST", "/api/v1/contacts", Some(&o.token), Some(json!({"channel": "chat", "queue_id": q["id"]})))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{c}");
            ids.push(c["id"].as_str().expect("id").to_owned());
        }
        assert!(eventually(&app, &o.token, &ids[0], "offered").await);
        assert_eq!(state_of(&app, &o.token, &ids[1]).await, "queued", "one chat at a time by the tenant's rule");
        let (status, body) = app
            .call(
                "PUT",
                "/api/v1/routing-rules",
                Some(&o.token),
                Some(json!({"voice_interrupts_text": true, "max_per_channel": {"chat": 0},
                "sticky_secs": 0, "misses_before_away": 3, "secs_per_priority_point": 99999, "wrap_up_secs": 0})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["max_per_channel.chat", "secs_per_priority_point"]);
        app
    })
    .await;
}

#[tokio::test]
async fn contacts_are_validated_before_anything_is_stored() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&o.token),
                Some(json!({"channel": "task", "queue_id": "nope", "priority": 101,
                "required_skills": [{"skill_id": "0190f1e0-0000-7000-8000-000000000000", "min_level": 1}]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&body), ["queue_id", "priority", "required_skills[0].skill_id"]);
        let (_, list) = app.call("GET", "/api/v1/contacts", Some(&o.token), None).await;
        assert_eq!(list["items"], json!([]));
        app
    })
    .await;
}

#[tokio::test]
async fn an_unanswered_offer_times_out_on_the_server_and_the_agent_is_told() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let (_, q) = app
            .call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "fast", "offer_timeout_secs": 5})))
            .await;
        app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
        let (_, c) = app
            .call("POST", "/api/v1/contacts", Some(&o.token), Some(json!({"channel": "voice", "queue_id": q["id"]})))
            .await;
        let id = c["id"].as_str().expect("id").to_owned();
        assert!(eventually(&app, &o.token, &id, "offered").await);
        tokio::time::sleep(Duration::from_millis(5_300)).await;
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(&o.token), None).await;
        let kinds: Vec<&str> =
            c["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
        assert!(kinds.contains(&"offer_withdrawn"), "{kinds:?}");
        let withdrawn: &Value =
            c["events"].as_array().expect("events").iter().find(|e| e["kind"] == "offer_withdrawn").expect("withdrawn");
        assert_eq!(withdrawn["data"]["reason"], "timed_out");
        // Accepting after the deadline is refused.
        let (status, _) = app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&o.token), None).await;
        assert_eq!(status, StatusCode::CONFLICT);
        app
    })
    .await;
}

#[tokio::test]
async fn a_contact_cancelled_right_after_creation_is_abandoned() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let (_, q) = app.call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "q"}))).await;
        for _ in 0..5 {
            let (_, c) = app
                .call("POST", "/api/v1/contacts", Some(&o.token), Some(json!({"channel": "task", "queue_id": q["id"]})))
                .await;
            let id = c["id"].as_str().expect("id").to_owned();
            // No pause: the cancel may overtake the contact's way into routing.
            let (status, body) = app.call("DELETE", &format!("/api/v1/contacts/{id}"), Some(&o.token), None).await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            assert!(eventually(&app, &o.token, &id, "abandoned").await);
        }
        app
    })
    .await;
}
