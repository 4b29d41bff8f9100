//! Configuration resources: validation names every bad field, references are checked, lists
//! paginate, and deleting something in use is refused.

use crate::common;

use axum::http::StatusCode;
use common::{each_backend, fields};
use serde_json::{Value, json};

async fn post(app: &common::TestApp, token: &str, path: &str, body: Value) -> Value {
    let (status, answer) = app.call("POST", path, Some(token), Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{path}: {answer}");
    answer
}

#[tokio::test]
async fn a_queue_round_trips_with_defaults_filled_in() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let skill = post(&app, &o.token, "/api/v1/skills", json!({"name": "spanish"})).await;
        let q = post(
            &app,
            &o.token,
            "/api/v1/queues",
            json!({"name": "support", "required_skills": [{"skill_id": skill["id"], "min_level": 3}],
                   "relaxation": [{"after_secs": 30, "lower_by": 1}]}),
        )
        .await;
        assert_eq!(q["priority"], 50);
        assert_eq!(q["service_level_secs"], 20);
        assert_eq!(q["offer_timeout_secs"], 20);
        assert_eq!(q["agent_selection"], "longest_idle");
        let (status, read) =
            app.call("GET", &format!("/api/v1/queues/{}", q["id"].as_str().expect("id")), Some(&o.token), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(read, q);
        app
    })
    .await;
}

#[tokio::test]
async fn invalid_queue_settings_are_all_reported_by_field() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/queues",
                Some(&o.token),
                Some(json!({
                    "name": "",
                    "required_skills": [{"skill_id": "0190f1e0-0000-7000-8000-000000000000", "min_level": 11}],
                    "priority": 101,
                    "offer_timeout_secs": 1,
                    "relaxation": [{"after_secs": 60, "lower_by": 1}, {"after_secs": 30, "lower_by": 1}],
                    "overflow": {"target": "queue"},
                })),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            fields(&body),
            [
                "name",
                "required_skills[0].min_level",
                "required_skills[0].skill_id",
                "priority",
                "offer_timeout_secs",
                "relaxation[1].after_secs",
                "overflow",
                "overflow.queue_id",
            ]
        );
        let (_, list) = app.call("GET", "/api/v1/queues", Some(&o.token), None).await;
        assert_eq!(list["items"], json!([]), "nothing written");
        app
    })
    .await;
}

#[tokio::test]
async fn names_are_unique_per_tenant() {
    each_backend(|app| async move {
        let a = app.signup("Alpha", "owner@a.example").await;
        let b = app.signup("Beta", "owner@b.example").await;
        post(&app, &a.token, "/api/v1/skills", json!({"name": "billing"})).await;
        let (status, body) = app.call("POST", "/api/v1/skills", Some(&a.token), Some(json!({"name": "billing"}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        post(&app, &b.token, "/api/v1/skills", json!({"name": "billing"})).await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_phone_number_can_belong_to_one_tenant_only() {
    each_backend(|app| async move {
        let a = app.signup("Alpha", "owner@a.example").await;
        let b = app.signup("Beta", "owner@b.example").await;
        let number = json!({"kind": "voice_number", "address": "+14155550100", "name": "hotline"});
        post(&app, &a.token, "/api/v1/endpoints", number.clone()).await;
        let (status, body) = app.call("POST", "/api/v1/endpoints", Some(&b.token), Some(number)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/endpoints",
                Some(&b.token),
                Some(json!({"kind": "voice_number", "address": "0415 555", "name": "x"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&body), ["address"]);
        app
    })
    .await;
}

#[tokio::test]
async fn chat_widgets_get_a_generated_key_and_checked_origins() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let w = post(
            &app,
            &o.token,
            "/api/v1/endpoints",
            json!({"kind": "chat_widget", "name": "site", "allowed_origins": ["https://Shop.example/"]}),
        )
        .await;
        assert!(w["address"].as_str().expect("key").starts_with("wk_"));
        assert_eq!(w["allowed_origins"], json!(["https://shop.example"]));
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/endpoints",
                Some(&o.token),
                Some(json!({"kind": "chat_widget", "name": "bad", "allowed_origins": ["shop.example", "https://x.example/path"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&body), ["allowed_origins[0]", "allowed_origins[1]"]);
        // The kind cannot change and the key survives an update.
        let id = w["id"].as_str().expect("id");
        let (status, same) = app
            .call("PUT", &format!("/api/v1/endpoints/{id}"), Some(&o.token), Some(json!({"kind": "chat_widget", "name": "renamed"})))
            .await;
        assert_eq!(status, StatusCode::OK, "{same}");
        assert_eq!(same["address"], w["address"]);
        let (status, _) = app
            .call("PUT", &format!("/api/v1/endpoints/{id}"), Some(&o.token), Some(json!({"kind": "sms_number", "address": "+14155550199", "name": "x"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        app
    })
    .await;
}

#[tokio::test]
async fn business_hours_are_validated() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/business-hours",
                Some(&o.token),
                Some(json!({"name": "office", "timezone": "Mars/Base", "weekly": [{"day": "mon", "open": "17:00", "close": "09:00"}], "closed_dates": ["tomorrow"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&body), ["timezone", "weekly[0].close", "closed_dates[0]"]);
        app
    })
    .await;
}

#[tokio::test]
async fn something_in_use_cannot_be_deleted() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let skill = post(&app, &o.token, "/api/v1/skills", json!({"name": "spanish"})).await;
        let q = post(
            &app,
            &o.token,
            "/api/v1/queues",
            json!({"name": "es", "required_skills": [{"skill_id": skill["id"], "min_level": 1}]}),
        )
        .await;
        let sid = skill["id"].as_str().expect("id");
        let (status, body) = app.call("DELETE", &format!("/api/v1/skills/{sid}"), Some(&o.token), None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(body["error"]["message"].as_str().expect("msg").contains("queue es"));
        let qid = q["id"].as_str().expect("id");
        assert_eq!(
            app.call("DELETE", &format!("/api/v1/queues/{qid}"), Some(&o.token), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.call("DELETE", &format!("/api/v1/skills/{sid}"), Some(&o.token), None).await.0,
            StatusCode::NO_CONTENT
        );
        app
    })
    .await;
}

#[tokio::test]
async fn lists_paginate_with_a_cursor() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        for i in 0..5 {
            post(&app, &o.token, "/api/v1/skills", json!({"name": format!("s{i}")})).await;
        }
        let mut names = Vec::new();
        let mut url = "/api/v1/skills?limit=2".to_owned();
        loop {
            let (status, page) = app.call("GET", &url, Some(&o.token), None).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            names.extend(
                page["items"].as_array().expect("items").iter().map(|s| s["name"].as_str().expect("name").to_owned()),
            );
            match page["next_cursor"].as_str() {
                Some(c) => url = format!("/api/v1/skills?limit=2&after={c}"),
                None => break,
            }
        }
        assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"]);
        let (status, body) = app.call("GET", "/api/v1/skills?limit=0", Some(&o.token), None).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(fields(&body), ["limit"]);
        assert_eq!(app.call("GET", "/api/v1/skills?limit=abc", Some(&o.token), None).await.0, StatusCode::BAD_REQUEST);
        app
    })
    .await;
}

#[tokio::test]
async fn agents_get_skills_capacity_and_channel_costs() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let skill = post(&app, &o.token, "/api/v1/skills", json!({"name": "billing"})).await;
        let u = post(
            &app,
            &o.token,
            "/api/v1/users",
            json!({"email": "ann@acme.example", "name": "Ann", "role": "agent", "capacity": 200,
                   "channel_costs": {"chat": 50}, "skills": [{"skill_id": skill["id"], "level": 7}]}),
        )
        .await;
        let user = &u["user"];
        assert_eq!(user["capacity"], 200);
        assert_eq!(user["channel_costs"]["chat"], 50);
        assert_eq!(user["channel_costs"]["voice"], 100, "defaults listed");
        assert_eq!(user["skills"][0]["level"], 7);
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/users",
                Some(&o.token),
                Some(json!({"email": "bob@acme.example", "name": "Bob", "role": "owner", "capacity": 0,
                            "skills": [{"skill_id": skill["id"], "level": 0}, {"skill_id": "nope", "level": 1}]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(fields(&body), ["role", "capacity", "skills[0].level", "skills[1].skill_id"]);
        app
    })
    .await;
}

#[tokio::test]
async fn configuration_changes_are_announced_on_the_bus() {
    use switchboard_bus::{Bus, Subscription};
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let mut events = app.bus.subscribe(Subscription::transient(&["tenant.*.config.#"])).await.expect("subscribe");
        let q = post(&app, &o.token, "/api/v1/queues", json!({"name": "support"})).await;
        let d = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
            .await
            .expect("in time")
            .expect("event");
        assert!(d.message.topic.ends_with(".config.queue.created"), "{}", d.message.topic);
        let v: Value = serde_json::from_slice(&d.message.payload).expect("json");
        assert_eq!(v["id"], q["id"]);
        assert_eq!(v["tenant_id"], o.tenant_id.as_str());
        app
    })
    .await;
}
