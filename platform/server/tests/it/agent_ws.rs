//! Agents over real WebSockets: each receives exactly the offers the routing rules say, accepts
//! and completes through the socket, and the next work arrives as capacity frees up.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::ws::{Socket, command, connect, is_offer, next_json, offers, serve, until};
use common::{Owner, TestApp, each_backend};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

async fn post(app: &TestApp, o: &Owner, path: &str, body: Value) -> Value {
    let (status, v) = app.call("POST", path, Some(&o.token), Some(body)).await;
    assert!(status.is_success(), "{path}: {status} {v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_get_exactly_the_offers_their_skills_and_capacity_allow() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let spanish = post(&app, &o, "/api/v1/skills", json!({"name": "spanish"})).await["id"].clone();
        let billing = post(&app, &o, "/api/v1/skills", json!({"name": "billing"})).await["id"].clone();
        let es = post(&app, &o, "/api/v1/queues", json!({"name": "es", "required_skills": [{"skill_id": spanish, "min_level": 5}]})).await["id"].clone();
        let bill = post(&app, &o, "/api/v1/queues", json!({"name": "billing", "required_skills": [{"skill_id": billing, "min_level": 3}]})).await["id"].clone();
        // Ann speaks Spanish (capacity 100); Bob does billing with room for two chats.
        let (ann_id, ann_token) = app.user_with_role(&o, "ann@acme.example", "agent").await;
        let (bob_id, bob_token) = app.user_with_role(&o, "bob@acme.example", "agent").await;
        for (id, body) in [
            (&ann_id, json!({"email": "ann@acme.example", "name": "Ann", "role": "agent", "disabled": false, "capacity": 100, "skills": [{"skill_id": spanish, "level": 8}]})),
            (&bob_id, json!({"email": "bob@acme.example", "name": "Bob", "role": "agent", "disabled": false, "capacity": 50, "skills": [{"skill_id": billing, "level": 5}]})),
        ] {
            let (status, v) = app.call("PUT", &format!("/api/v1/users/{id}"), Some(&o.token), Some(body)).await;
            assert!(status.is_success(), "{v}");
        }
        let addr = serve(&app).await;
        let mut ann: Socket = connect(&addr, &ann_token).await;
        let mut bob = connect(&addr, &bob_token).await;
        assert_eq!(next_json(&mut ann).await["type"], "hello");
        assert_eq!(next_json(&mut bob).await["type"], "hello");
        command(&mut ann, json!({"type": "presence", "status": "available"})).await;
        command(&mut bob, json!({"type": "presence", "status": "available"})).await;

        let contact = |channel: &str, queue: &Value| json!({"channel": channel, "queue_id": queue});
        let call_es = post(&app, &o, "/api/v1/contacts", contact("voice", &es)).await["id"].as_str().expect("id").to_owned();
        let chat_b1 = post(&app, &o, "/api/v1/contacts", contact("chat", &bill)).await["id"].as_str().expect("id").to_owned();
        let chat_b2 = post(&app, &o, "/api/v1/contacts", contact("chat", &bill)).await["id"].as_str().expect("id").to_owned();
        let chat_b3 = post(&app, &o, "/api/v1/contacts", contact("chat", &bill)).await["id"].as_str().expect("id").to_owned();
        let chat_es = post(&app, &o, "/api/v1/contacts", contact("chat", &es)).await["id"].as_str().expect("id").to_owned();

        // Ann: the Spanish call only (a chat would exceed her capacity next to a call).
        assert_eq!(offers(&mut ann, Duration::from_millis(700)).await, BTreeSet::from([call_es.clone()]));
        // Bob: two billing chats fill his 50 units; the third waits.
        assert_eq!(offers(&mut bob, Duration::from_millis(700)).await, BTreeSet::from([chat_b1.clone(), chat_b2.clone()]));
        command(&mut ann, json!({"type": "accept", "contact_id": call_es})).await;
        command(&mut bob, json!({"type": "accept", "contact_id": chat_b1})).await;
        command(&mut bob, json!({"type": "accept", "contact_id": chat_b2})).await;
        // Completing frees capacity: the waiting contacts follow, to the right agent.
        command(&mut bob, json!({"type": "complete", "contact_id": chat_b1, "disposition": "paid", "wrap_up_secs": 0})).await;
        let next = until(&mut bob, "the third billing chat", is_offer).await;
        assert_eq!(next["contact_id"], json!(chat_b3));
        command(&mut ann, json!({"type": "complete", "contact_id": call_es, "disposition": "solved", "notes": "ok", "wrap_up_secs": 0})).await;
        let next = until(&mut ann, "the Spanish chat", is_offer).await;
        assert_eq!(next["contact_id"], json!(chat_es));

        // The lifecycle is in the store, disposition and all.
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{call_es}"), Some(&o.token), None).await;
        assert_eq!(c["state"], "done");
        assert_eq!(c["disposition"], "solved");
        let kinds: Vec<&str> = c["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
        assert_eq!(kinds, ["created", "queued", "offered", "connected", "done"]);
        // Supervisors see the same picture.
        let (_, stats) = app.call("GET", "/api/v1/stats/queues", Some(&o.token), None).await;
        let billing_stats = stats["items"].as_array().expect("items").iter().find(|q| q["queue_id"] == bill).expect("billing");
        assert_eq!(billing_stats["answered"], 2);
        assert_eq!(billing_stats["offered"], 3);
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_console_logs_the_agent_out_and_bad_commands_get_an_error() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let addr = serve(&app).await;
        let mut s = connect(&addr, &o.token).await;
        assert_eq!(next_json(&mut s).await["type"], "hello");
        command(&mut s, json!({"type": "presence", "status": "available"})).await;
        s.send(Message::Text(json!({"type": "accept", "contact_id": "nope", "ref": 7}).to_string().into()))
            .await
            .expect("send");
        let answer = until(&mut s, "an error", |v| v["ref"] == json!(7)).await;
        assert_eq!((answer["type"].as_str(), answer["error"]["code"].as_str()), (Some("error"), Some("not_found")));
        s.send(Message::Text("{not json".into())).await.expect("send");
        let answer = until(&mut s, "an error", |v| v["type"] == "error").await;
        assert_eq!(answer["error"]["code"], "bad_request");
        drop(s);
        let mut offline = false;
        for _ in 0..50 {
            let (_, agents) = app.call("GET", "/api/v1/stats/agents", Some(&o.token), None).await;
            if agents["items"].as_array().expect("items").iter().any(|a| a["activity"] == "offline") {
                offline = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(offline, "the agent is still online after closing the console");
        // No token, no socket.
        assert!(tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/agent/ws")).await.is_err());
        app
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supervisors_follow_every_event_and_agents_only_their_own() {
    each_backend(|app| async move {
        let o = app.signup("Acme", "owner@acme.example").await;
        let (_, agent_token) = app.user_with_role(&o, "ann@acme.example", "agent").await;
        let q = post(&app, &o, "/api/v1/queues", json!({"name": "support"})).await["id"].clone();
        let addr = serve(&app).await;
        let (mut sup, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/supervisor/ws?access_token={}", o.token))
                .await
                .expect("supervisor socket");
        assert_eq!(next_json(&mut sup).await["type"], "hello");
        let mut ann = connect(&addr, &agent_token).await;
        assert_eq!(next_json(&mut ann).await["type"], "hello");
        // An agent may not open the supervisor stream.
        assert!(
            tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/supervisor/ws?access_token={agent_token}"))
                .await
                .is_err()
        );
        let c = post(&app, &o, "/api/v1/contacts", json!({"channel": "task", "queue_id": q})).await["id"].clone();
        let seen = until(&mut sup, "the queued contact", |v| v["type"] == "contact" && v["event"] == "queued").await;
        assert_eq!(seen["contact_id"], c);
        let stats = until(&mut sup, "queue statistics", |v| v["type"] == "queue_stats").await;
        assert!(
            stats["queues"]
                .as_array()
                .expect("queues")
                .iter()
                .any(|s| s["queue_id"] == q && s["stats"]["waiting"] == 1),
            "{stats}"
        );
        // Ann is offline: the contact is none of her business, so her socket stays quiet about it.
        assert!(offers(&mut ann, Duration::from_millis(400)).await.is_empty());
        app
    })
    .await;
}

/// A completion the database could not store is not acknowledged (503, "unavailable"; the
/// console says try again) and is not announced; the shard starts again from the store, the
/// agent keeps their presence, and pressing complete again ends the contact, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_the_store_refused_is_not_acknowledged_and_succeeds_when_pressed_again() {
    let Some(app) = TestApp::new(switchboard_testkit::DbKind::Sqlite).await else { return };
    let o = app.signup("Acme", "owner@acme.example").await;
    let q = post(&app, &o, "/api/v1/queues", json!({"name": "support"})).await["id"].clone();
    let addr = serve(&app).await;
    let mut s = connect(&addr, &o.token).await;
    assert_eq!(next_json(&mut s).await["type"], "hello");
    command(&mut s, json!({"type": "presence", "status": "available"})).await;
    let first = post(&app, &o, "/api/v1/contacts", json!({"channel": "task", "queue_id": q})).await["id"].clone();
    assert_eq!(until(&mut s, "the offer", is_offer).await["contact_id"], first);
    command(&mut s, json!({"type": "accept", "contact_id": first})).await;

    // The database refuses writes (its write lock is held past the store's busy timeout).
    let lock = app.db().hold_write_lock().await;
    let reference = "complete-while-locked";
    let cmd = json!({"type": "complete", "contact_id": first, "wrap_up_secs": 0, "ref": reference});
    s.send(Message::Text(cmd.to_string().into())).await.expect("send");
    let mut announced_done = false;
    let answer = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match s.next().await {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(&t).expect("json");
                    announced_done |= v["type"] == "contact" && v["event"] == "done";
                    if v["ref"] == reference {
                        return v;
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("an answer within 30 s");
    assert_eq!((answer["type"].as_str(), answer["error"]["code"].as_str()), (Some("error"), Some("unavailable")));
    assert!(!announced_done, "a completion that was not stored was announced");
    lock.release().await;
    let (_, c) =
        app.call("GET", &format!("/api/v1/contacts/{}", first.as_str().expect("id")), Some(&o.token), None).await;
    assert_eq!(c["state"], "connected", "the store still has the contact with the agent");

    // Pressed again: the shard starts from the store and completes it.
    command(&mut s, json!({"type": "complete", "contact_id": first, "wrap_up_secs": 0})).await;
    let (_, c) =
        app.call("GET", &format!("/api/v1/contacts/{}", first.as_str().expect("id")), Some(&o.token), None).await;
    let kinds: Vec<&str> = c["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, ["created", "queued", "offered", "connected", "done"]);
    // The agent is still available after the restart: the next contact is offered to them.
    let second = post(&app, &o, "/api/v1/contacts", json!({"channel": "task", "queue_id": q})).await["id"].clone();
    assert_eq!(until(&mut s, "the next offer", is_offer).await["contact_id"], second);
    app.cleanup().await;
}
