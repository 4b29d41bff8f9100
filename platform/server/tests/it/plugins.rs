//! Tenant plugins through the platform: upload, refusals, activation, the on-contact hook
//! changing real contacts, a hostile version contained with the default applied and the failure
//! visible, replay, roll-back, grants, secrets, and tenant isolation.

use crate::common;

use axum::http::StatusCode;
use common::{TestApp, each_backend};
use serde_json::{Value, json};

async fn upload(app: &TestApp, token: &str, name: &str, wasm: Vec<u8>) -> (StatusCode, Value) {
    let (_, existing) = app.call("GET", &format!("/api/v1/plugins/{name}"), Some(token), None).await;
    let path = if existing["name"] == name {
        format!("/api/v1/plugins/{name}/versions?note=test")
    } else {
        format!("/api/v1/plugins?name={name}&note=test")
    };
    let req = axum::http::Request::post(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/wasm")
        .body(axum::body::Body::from(wasm))
        .expect("request");
    app.send(req).await
}

async fn new_contact(app: &TestApp, token: &str, queue: &Value, attributes: Value) -> Value {
    let (status, c) = app
        .call(
            "POST",
            "/api/v1/contacts",
            Some(token),
            Some(json!({"channel": "task", "queue_id": queue["id"], "attributes": attributes})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_change_contacts_and_failures_fall_back_to_the_default() {
    let (Some(trivial), Some(hostile)) = (
        switchboard_testkit::plugins::guest("fixture-trivial"),
        switchboard_testkit::plugins::guest("fixture-hostile"),
    ) else {
        return;
    };
    each_backend(|app| {
        let (trivial, hostile) = (trivial.clone(), hostile.clone());
        async move {
            let o = app.signup("Plugged", &format!("owner-{}@plugged.example", uuid::Uuid::new_v4())).await;
            let (_, queue) = app
                .call("POST", "/api/v1/queues", Some(&o.token), Some(json!({"name": "support", "priority": 20})))
                .await;

            // Refusals: nothing stored.
            let (status, e) = upload(&app, &o.token, "router", b"not wasm at all".to_vec()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
            assert!(
                e["error"]["fields"][0]["message"].as_str().is_some_and(|m| m.contains("not a WebAssembly")),
                "{e}"
            );
            let core = wat::parse_str("(module)").expect("wat");
            let (status, e) = upload(&app, &o.token, "router", core).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
            assert!(e.to_string().contains("not a component"), "{e}");
            let (status, e) = upload(&app, &o.token, "Bad_Name", trivial.clone()).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
            let (_, list) = app.call("GET", "/api/v1/plugins", Some(&o.token), None).await;
            assert_eq!(list["items"], json!([]));

            // Version 1: uploaded, not yet running.
            let (status, p) = upload(&app, &o.token, "router", trivial.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{p}");
            assert_eq!(p["active"], Value::Null);
            assert_eq!(p["versions"][0]["number"], 1);
            assert_eq!(p["versions"][0]["hooks"], json!(["on-contact"]));
            assert_eq!(p["versions"][0]["note"], "test");
            let c = new_contact(&app, &o.token, &queue, json!({})).await;
            assert_eq!(c["priority"], 20, "an inactive plugin changes nothing");

            // Active: it sets the priority and an attribute of every new contact.
            let (status, p) =
                app.call("POST", "/api/v1/plugins/router/activate", Some(&o.token), Some(json!({"version": 1}))).await;
            assert_eq!(status, StatusCode::OK, "{p}");
            assert_eq!(p["active"], 1);
            let c = new_contact(&app, &o.token, &queue, json!({"source": "api"})).await;
            assert_eq!(c["priority"], 7, "{c}");
            assert_eq!(c["attributes"]["seen"], "yes", "{c}");
            assert_eq!(c["attributes"]["source"], "api");
            let (_, calls) = app.call("GET", "/api/v1/plugins/router/calls", Some(&o.token), None).await;
            let call = &calls["items"][0];
            assert_eq!(call["outcome"], "ok", "{calls}");
            assert_eq!(call["hook"], "on-contact");
            assert_eq!(call["contact_id"], c["id"]);
            assert!(
                call["detail"].as_str().is_some_and(|d| d.contains("priority 7") && d.contains("seen=yes")),
                "{call}"
            );

            // Version 2 misbehaves: the contact is still taken, routed as without a plugin, and
            // the failure is there for the tenant to see.
            let (status, p) = upload(&app, &o.token, "router", hostile.clone()).await;
            assert_eq!(status, StatusCode::CREATED, "{p}");
            assert_eq!(p["versions"][1]["needs"]["http_hosts"], json!(["127.0.0.1", "allowed.test"]));
            assert_eq!(p["versions"][1]["needs"]["kv"], true);
            let (_, p) =
                app.call("POST", "/api/v1/plugins/router/activate", Some(&o.token), Some(json!({"version": 2}))).await;
            assert_eq!(p["missing_grants"]["kv"], true, "nothing is granted by default: {p}");
            // (A memory bomb may use up its CPU time before its memory on a slow machine: both stop it.)
            for (what, outcome) in
                [("spin", "timeout"), ("bomb", "memory|timeout"), ("panic", "trap"), ("giant", "bad_output")]
            {
                let c = new_contact(&app, &o.token, &queue, json!({"do": what})).await;
                assert_eq!(c["priority"], 20, "{what}: the default applies");
                let (_, calls) = app.call("GET", "/api/v1/plugins/router/calls?limit=1", Some(&o.token), None).await;
                let got = calls["items"][0]["outcome"].as_str().unwrap_or_default().to_string();
                assert!(outcome.split('|').any(|o| o == got), "{what}: {calls}");
                assert_eq!(calls["items"][0]["version"], 2);
                assert!(
                    calls["items"][0]["detail"].as_str().is_some_and(|d| d.contains("routed as without the plugin"))
                );
            }
            let (_, calls) = app.call("GET", "/api/v1/plugins/router/calls?limit=100", Some(&o.token), None).await;
            let panicked =
                calls["items"].as_array().expect("items").iter().find(|c| c["outcome"] == "trap").expect("trap");
            assert!(
                panicked["logs"].to_string().contains("the plugin gave up"),
                "the panic message is in the logs: {panicked}"
            );

            // Grants: bad names refused, the key-value store only once granted.
            let (status, e) = app
                .call("PUT", "/api/v1/plugins/router/grants", Some(&o.token), Some(json!({"secrets": ["no spaces"]})))
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
            assert_eq!(common::fields(&e), vec!["secrets.0"]);
            let c = new_contact(&app, &o.token, &queue, json!({"do": "kv", "arg": "first"})).await;
            assert!(c["attributes"]["set"].as_str().is_some_and(|s| s.contains("Denied")), "{c}");
            let (status, p) = app
                .call(
                    "PUT",
                    "/api/v1/plugins/router/grants",
                    Some(&o.token),
                    Some(json!({"kv": true, "http_hosts": ["allowed.test"]})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{p}");
            assert_eq!(p["missing_grants"]["kv"], false);
            assert_eq!(p["missing_grants"]["http_hosts"], json!(["127.0.0.1"]));
            let c = new_contact(&app, &o.token, &queue, json!({"do": "kv", "arg": "first"})).await;
            assert_eq!(c["attributes"]["set"], "ok", "{c}");
            let c = new_contact(&app, &o.token, &queue, json!({"do": "kv", "arg": "second"})).await;
            assert_eq!(c["attributes"]["before"], "first", "{c}");
            let c = new_contact(&app, &o.token, &queue, json!({"do": "http", "arg": "http://127.0.0.1:9/"})).await;
            assert!(c["attributes"]["error"].as_str().is_some_and(|e| e.contains("Denied")), "not granted: {c}");

            // Replay version 1 against the newest contacts: what would change, nothing changed.
            let (status, r) = app
                .call("POST", "/api/v1/plugins/router/versions/1/replay", Some(&o.token), Some(json!({"contacts": 5})))
                .await;
            assert_eq!(status, StatusCode::OK, "{r}");
            assert_eq!(r["replayed"], 5);
            assert!(r["changed"].as_u64().is_some_and(|n| n >= 1), "{r}");
            let entry = &r["entries"][0];
            assert!(entry["candidate"].as_str().is_some_and(|d| d.contains("priority 7")), "{r}");
            let (_, unchanged) = app
                .call(
                    "GET",
                    &format!("/api/v1/contacts/{}", entry["contact_id"].as_str().expect("id")),
                    Some(&o.token),
                    None,
                )
                .await;
            assert_ne!(unchanged["attributes"]["seen"], "yes", "replay changed a real contact");

            // Roll back to version 1.
            let (status, _) =
                app.call("POST", "/api/v1/plugins/router/activate", Some(&o.token), Some(json!({"version": 1}))).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(new_contact(&app, &o.token, &queue, json!({"do": "spin"})).await["priority"], 7);
            // Replay asks about that contact as it arrived, not as version 1 left it: version 1
            // still changes it, version 2 spins on it.
            let (status, r) = app
                .call("POST", "/api/v1/plugins/router/versions/2/replay", Some(&o.token), Some(json!({"contacts": 1})))
                .await;
            assert_eq!(status, StatusCode::OK, "{r}");
            assert_eq!(r["entries"][0]["current"], "route: priority 7, seen=yes", "{r}");
            assert!(r["entries"][0]["candidate"].as_str().is_some_and(|c| c.starts_with("timeout")), "{r}");

            // One plugin per hook.
            let (status, _) = upload(&app, &o.token, "second", trivial.clone()).await;
            assert_eq!(status, StatusCode::CREATED);
            let (status, e) =
                app.call("POST", "/api/v1/plugins/second/activate", Some(&o.token), Some(json!({"version": 1}))).await;
            assert_eq!(status, StatusCode::CONFLICT, "{e}");
            assert!(e["error"]["message"].as_str().is_some_and(|m| m.contains("router")), "{e}");
            let (status, e) =
                app.call("POST", "/api/v1/plugins/second/activate", Some(&o.token), Some(json!({"version": 9}))).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{e}");

            // Secrets are write-only.
            let (status, s) = app
                .call(
                    "POST",
                    "/api/v1/plugin-secrets",
                    Some(&o.token),
                    Some(json!({"name": "CRM_TOKEN", "value": "s3cret-value"})),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{s}");
            let (_, list) = app.call("GET", "/api/v1/plugin-secrets", Some(&o.token), None).await;
            assert_eq!(list["items"][0]["name"], "CRM_TOKEN");
            assert!(!list.to_string().contains("s3cret-value"));

            // Another tenant sees none of it, and its contacts are not touched by our plugin.
            let b = app.signup("Other", &format!("owner-{}@other.example", uuid::Uuid::new_v4())).await;
            let (status, _) = app.call("GET", "/api/v1/plugins/router", Some(&b.token), None).await;
            assert_eq!(status, StatusCode::NOT_FOUND);
            let (_, list) = app.call("GET", "/api/v1/plugins", Some(&b.token), None).await;
            assert_eq!(list["items"], json!([]));
            let (_, bq) =
                app.call("POST", "/api/v1/queues", Some(&b.token), Some(json!({"name": "b", "priority": 30}))).await;
            assert_eq!(new_contact(&app, &b.token, &bq, json!({})).await["priority"], 30);

            // Deactivated: contacts are routed as configured again.
            let (status, _) = app.call("POST", "/api/v1/plugins/router/deactivate", Some(&o.token), None).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(new_contact(&app, &o.token, &queue, json!({})).await["priority"], 20);
            app
        }
    })
    .await;
}
