//! What the console and wallboard stand on: supervisors follow a live chat, whisper to the agent
//! (the visitor never sees it, live or on resume) and barge in; contact history search with
//! filters; interval statistics for today's charts; queue disposition codes enforced on
//! completion; the built browser apps served by the binary with the API's 404s kept.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::ws::{self as agent_ws};
use common::{TestApp, each_backend};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SHOP: &str = "https://shop.example";

async fn search(app: &TestApp, token: &str, q: &str) -> Vec<String> {
    let (status, page) = app.call("GET", &format!("/api/v1/contacts/search?{q}"), Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{q}: {page}");
    page["items"].as_array().expect("items").iter().map(|c| c["id"].as_str().expect("id").to_owned()).collect()
}

async fn get(app: &TestApp, path: &str) -> axum::response::Response {
    let req = Request::get(path).body(Body::empty()).expect("request");
    tower::ServiceExt::oneshot(app.router.clone(), req).await.expect("response")
}

async fn post_from(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::post(path).header("content-type", "application/json").header("origin", SHOP);
    app.send(req.body(Body::from(body.to_string())).expect("request")).await
}

#[tokio::test]
async fn a_supervisor_follows_whispers_and_barges_into_a_live_chat() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let (_, q) = app
            .call(
                "POST",
                "/api/v1/queues",
                Some(&owner.token),
                Some(json!({"name": "chat", "disposition_codes": ["solved", "escalated"]})),
            )
            .await;
        assert_eq!(q["disposition_codes"], json!(["solved", "escalated"]));
        let (_, w) = app
            .call(
                "POST",
                "/api/v1/endpoints",
                Some(&owner.token),
                Some(json!({"kind": "chat_widget", "name": "shop", "queue_id": q["id"], "allowed_origins": [SHOP]})),
            )
            .await;
        let (sup_id, sup_token) = app.user_with_role(&owner, "sup@acme.example", "supervisor").await;
        let (status, _) =
            app.call("PUT", "/api/v1/agent/presence", Some(&owner.token), Some(json!({"status": "available"}))).await;
        assert_eq!(status, StatusCode::OK);
        let addr = agent_ws::serve(&app).await;
        let mut agent = agent_ws::connect(&addr, &owner.token).await;
        let (status, s) =
            post_from(&app, "/chat/v1/sessions", json!({"widget_key": w["address"], "name": "Vera"})).await;
        assert_eq!(status, StatusCode::CREATED, "{s}");
        let (token, id) =
            (s["token"].as_str().expect("token").to_owned(), s["conversation_id"].as_str().expect("id").to_owned());
        let mut req = format!("ws://{addr}/chat/v1/ws?token={token}").into_client_request().expect("request");
        req.headers_mut().insert("origin", SHOP.parse().expect("header"));
        let (mut v, _) = tokio_tungstenite::connect_async(req).await.expect("visitor socket");
        v.send(Message::Text(json!({"type": "resume", "last_seq": 0}).to_string().into())).await.expect("send");
        agent_ws::until(&mut v, "welcome", |f| f["type"] == "welcome").await;
        v.send(Message::Text(json!({"type": "message", "client_id": "c1", "body": "Hello"}).to_string().into()))
            .await
            .expect("send");
        agent_ws::until(&mut agent, "offer", agent_ws::is_offer).await;
        agent_ws::command(&mut agent, json!({"type": "accept", "contact_id": id})).await;
        agent_ws::until(&mut v, "connected", |f| f["type"] == "state" && f["state"] == "connected").await;

        // The supervisor follows every event of the tenant.
        let (mut sup, _) =
            tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/supervisor/ws?access_token={sup_token}"))
                .await
                .expect("supervisor socket");
        agent_ws::until(&mut sup, "hello", |f| f["type"] == "hello").await;

        // An agent may not whisper or barge; a supervisor may.
        let whisper = format!("/api/v1/contacts/{id}/whisper");
        let barge = format!("/api/v1/contacts/{id}/barge");
        assert_eq!(
            app.call("POST", &whisper, Some(&owner.token), Some(json!({"body": "x"}))).await.0,
            StatusCode::CREATED,
            "owner outranks supervisor"
        );
        let (agent_id, agent_token) = app.user_with_role(&owner, "agent@acme.example", "agent").await;
        let _ = agent_id;
        assert_eq!(
            app.call("POST", &whisper, Some(&agent_token), Some(json!({"body": "x"}))).await.0,
            StatusCode::FORBIDDEN
        );
        let (status, bad) = app.call("POST", &whisper, Some(&sup_token), Some(json!({"body": ""}))).await;
        assert_eq!((status, common::fields(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["body".to_owned()]));

        let (status, m) =
            app.call("POST", &whisper, Some(&sup_token), Some(json!({"body": "Offer the 10% voucher"}))).await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
        assert_eq!((m["direction"].as_str(), m["author"].as_str()), (Some("internal"), Some(sup_id.as_str())));
        let seen = agent_ws::until(&mut agent, "whisper", |f| {
            f["type"] == "message" && f["message"]["body"] == "Offer the 10% voucher"
        })
        .await;
        assert_eq!(seen["message"]["direction"], "internal");
        agent_ws::until(&mut sup, "whisper on the supervisor stream", |f| {
            f["type"] == "message" && f["message"]["direction"] == "internal"
        })
        .await;

        let (status, m) =
            app.call("POST", &barge, Some(&sup_token), Some(json!({"body": "Hi, I'm the team lead."}))).await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
        // The visitor gets the barge-in, never the whispers, live...
        let got =
            agent_ws::until(&mut v, "barge", |f| f["type"] == "message" && f["message"]["direction"] == "outbound")
                .await;
        assert_eq!(got["message"]["body"], "Hi, I'm the team lead.");
        assert_eq!(got["message"]["author"], sup_id.as_str());
        agent_ws::until(&mut sup, "barge on the supervisor stream", |f| {
            f["type"] == "message" && f["message"]["body"] == "Hi, I'm the team lead."
        })
        .await;
        drop(v);
        // ...and on resume from the start.
        let mut req = format!("ws://{addr}/chat/v1/ws?token={token}").into_client_request().expect("request");
        req.headers_mut().insert("origin", SHOP.parse().expect("header"));
        let (mut v, _) = tokio_tungstenite::connect_async(req).await.expect("visitor socket");
        v.send(Message::Text(json!({"type": "resume", "last_seq": 0}).to_string().into())).await.expect("send");
        let mut bodies = Vec::new();
        loop {
            let f = agent_ws::next_json(&mut v).await;
            if f["type"] == "message" {
                bodies.push(f["message"]["body"].as_str().unwrap_or_default().to_owned());
                if bodies.len() == 2 {
                    break;
                }
            }
        }
        assert_eq!(bodies, ["Hello", "Hi, I'm the team lead."]);
        v.send(Message::Text(json!({"type": "ping"}).to_string().into())).await.expect("send");
        let next = agent_ws::until(&mut v, "pong", |f| f["type"] == "pong" || f["type"] == "message").await;
        assert_eq!(next["type"], "pong", "no whisper after the last message: {next}");
        // The tenant's transcript has all four, the whispers marked internal.
        let (_, list) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&sup_token), None).await;
        let dirs: Vec<&str> =
            list["items"].as_array().expect("items").iter().filter_map(|m| m["direction"].as_str()).collect();
        assert_eq!(dirs, ["inbound", "internal", "internal", "outbound"]);

        // Wrap-up codes: only the queue's.
        let complete = format!("/api/v1/agent/contacts/{id}/complete");
        let (status, bad) =
            app.call("POST", &complete, Some(&owner.token), Some(json!({"disposition": "whatever"}))).await;
        assert_eq!((status, common::fields(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["disposition".to_owned()]));
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(&sup_token), None).await;
        assert_eq!(c["state"], "connected", "a refused completion changes nothing");
        let (status, _) = app
            .call(
                "POST",
                &complete,
                Some(&owner.token),
                Some(json!({"disposition": "solved", "notes": "voucher sent", "wrap_up_secs": 0})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        // A finished conversation takes no more whispers or barge-ins.
        assert!(app.wait_state(&sup_token, &id, "done").await);
        assert_eq!(
            app.call("POST", &barge, Some(&sup_token), Some(json!({"body": "late"}))).await.0,
            StatusCode::CONFLICT
        );
        app
    })
    .await;
}

#[tokio::test]
async fn contact_search_filters_and_interval_statistics_count_what_happened() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let t = Some(owner.token.as_str());
        let (_, sales) =
            app.call("POST", "/api/v1/queues", t, Some(json!({"name": "sales", "service_level_secs": 30}))).await;
        let (_, help) = app.call("POST", "/api/v1/queues", t, Some(json!({"name": "help"}))).await;
        let started = switchboard_server::auth::now_ms();
        let mut ids = Vec::new();
        for (queue, channel, customer) in [
            (&sales, "email", "alice@example.com"),
            (&sales, "sms", "+15550001111"),
            (&help, "email", "bob@example.com"),
            (&help, "chat", "ALICE.B@example.com"),
        ] {
            let (status, c) = app
                .call(
                    "POST",
                    "/api/v1/contacts",
                    t,
                    Some(json!({"channel": channel, "queue_id": queue["id"], "customer": customer})),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{c}");
            ids.push(c["id"].as_str().expect("id").to_owned());
        }
        // One is answered, one abandoned.
        app.call("PUT", "/api/v1/agent/presence", t, Some(json!({"status": "available"}))).await;
        let mut answered = None;
        for _ in 0..100 {
            let (_, c) = app.call("GET", &format!("/api/v1/contacts/{}", ids[0]), t, None).await;
            if c["state"] == "offered" {
                answered = Some(ids[0].clone());
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let answered = answered.expect("the first contact is offered to the only agent");
        // A reloaded console finds its ringing offer with the countdown, and whom it could hand work to.
        let (status, mine) = app.call("GET", "/api/v1/agent/contacts", t, None).await;
        assert_eq!(status, StatusCode::OK, "{mine}");
        let items = mine["items"].as_array().expect("items");
        assert!(items.iter().any(|c| c["id"] == answered.as_str()), "{mine}");
        for c in items {
            assert_eq!(c["state"], "offered", "{mine}");
            assert!(c["offer_deadline"].as_i64().expect("deadline") > switchboard_server::auth::now_ms());
        }
        let (colleague, _) = app.user_with_role(&owner, "kim@acme.example", "agent").await;
        let (_, people) = app.call("GET", "/api/v1/agent/colleagues", t, None).await;
        let people = people["items"].as_array().expect("items");
        assert_eq!(people.len(), 1, "everyone active but me: {people:?}");
        assert_eq!(
            (people[0]["id"].as_str(), people[0]["activity"].as_str()),
            (Some(colleague.as_str()), Some("offline"))
        );
        assert_eq!(
            app.call("POST", &format!("/api/v1/agent/contacts/{answered}/accept"), t, None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(
            app.call("DELETE", &format!("/api/v1/contacts/{}", ids[2]), t, None).await.0,
            StatusCode::NO_CONTENT
        );
        assert!(app.wait_state(&owner.token, &ids[2], "abandoned").await);

        let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(search(&app, &owner.token, "").await, newest_first);
        assert_eq!(search(&app, &owner.token, "channel=email").await, [ids[2].clone(), ids[0].clone()]);
        assert_eq!(
            search(&app, &owner.token, &format!("queue_id={}", sales["id"].as_str().expect("id"))).await,
            [ids[1].clone(), ids[0].clone()]
        );
        assert_eq!(
            search(&app, &owner.token, "customer=alice").await,
            [ids[3].clone(), ids[0].clone()],
            "substring, any case"
        );
        assert_eq!(search(&app, &owner.token, "customer=%25").await, Vec::<String>::new(), "wildcards are literal");
        assert_eq!(search(&app, &owner.token, "state=abandoned").await, [ids[2].clone()]);
        assert_eq!(
            search(&app, &owner.token, &format!("state=connected&agent_id={}", owner.user_id)).await,
            std::slice::from_ref(&answered)
        );
        assert_eq!(
            search(&app, &owner.token, &format!("since={}", switchboard_server::auth::now_ms() + 1000)).await,
            Vec::<String>::new()
        );
        let (first, second) = (search(&app, &owner.token, "limit=3").await, {
            let (_, page) = app.call("GET", "/api/v1/contacts/search?limit=3", t, None).await;
            let cursor = page["next_cursor"].as_str().expect("a second page").to_owned();
            search(&app, &owner.token, &format!("limit=3&after={cursor}")).await
        });
        assert_eq!([first, second].concat(), newest_first, "pages join without gaps or repeats");
        for (q, field) in [
            ("state=sleeping", "state"),
            ("queue_id=nope", "queue_id"),
            ("since=10&until=5", "until"),
            ("limit=0", "limit"),
        ] {
            let (status, bad) = app.call("GET", &format!("/api/v1/contacts/search?{q}"), t, None).await;
            assert_eq!(
                (status, common::fields(&bad)),
                (StatusCode::UNPROCESSABLE_ENTITY, vec![field.to_owned()]),
                "{q}"
            );
        }
        let (status, _) = app.call("GET", "/api/v1/contacts/search?colour=red", t, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "unknown filters are refused");

        // Today's intervals: four arrivals, one answer in time, one abandon.
        let since = started - started.rem_euclid(15 * 60_000);
        let (status, s) = app.call("GET", &format!("/api/v1/stats/intervals?since={since}&minutes=15"), t, None).await;
        assert_eq!(status, StatusCode::OK, "{s}");
        let items = s["items"].as_array().expect("items");
        let sum = |k: &str| items.iter().map(|i| i[k].as_u64().unwrap_or(0)).sum::<u64>();
        assert_eq!((sum("offered"), sum("answered"), sum("answered_in_time"), sum("abandoned")), (4, 1, 1, 1));
        assert!(items.iter().any(|i| i["service_level_percent"].is_number()), "{s}");
        let path = format!("/api/v1/stats/intervals?since={since}&queue_id={}", help["id"].as_str().expect("id"));
        let (_, s) = app.call("GET", &path, t, None).await;
        let items = s["items"].as_array().expect("items");
        let sum = |k: &str| items.iter().map(|i| i[k].as_u64().unwrap_or(0)).sum::<u64>();
        assert_eq!((sum("offered"), sum("answered"), sum("abandoned")), (2, 0, 1));
        for q in ["since=-1", &format!("since={since}&minutes=7"), &format!("since={since}&until={since}")] {
            let (status, _) = app.call("GET", &format!("/api/v1/stats/intervals?{q}"), t, None).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{q}");
        }
        app
    })
    .await;
}

#[tokio::test]
async fn the_built_apps_are_served_and_api_paths_stay_json() {
    let dir = std::env::temp_dir().join(format!("sb-web-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("assets")).expect("dir");
    std::fs::write(dir.join("index.html"), "<!doctype html><div id=app></div>").expect("index");
    std::fs::write(dir.join("assets/app-1234.js"), "console.log(1)").expect("asset");
    std::fs::write(dir.join("widget.js"), "/* widget */").expect("widget");
    let mut app = TestApp::new(switchboard_testkit::DbKind::Sqlite).await.expect("sqlite always runs");
    app.state.web_dir = dir.clone();
    app.router = switchboard_server::app::app(app.state.clone());
    let r = get(&app, "/").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let r = get(&app, "/console").await;
    assert_eq!(r.status(), StatusCode::OK, "the app's own routes load index.html");
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    let r = get(&app, "/assets/app-1234.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["cache-control"].to_str().expect("cache").contains("immutable"));
    let r = get(&app, "/widget.js").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("x-frame-options").is_none());
    assert!(r.headers()["content-type"].to_str().expect("type").contains("javascript"));
    let r = get(&app, "/api/v1/nothing-here").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers()["content-type"].to_str().expect("type").contains("json"), "API 404s stay JSON");
    let r = get(&app, "/../../etc/passwd").await;
    assert_ne!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.expect("body");
    assert!(!String::from_utf8_lossy(&body).contains("root:"), "no path traversal");
    // Not built: a page that says how to build it.
    app.state.web_dir = dir.join("missing");
    app.router = switchboard_server::app::app(app.state.clone());
    let r = get(&app, "/").await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    app.cleanup().await;
    let _ = std::fs::remove_dir_all(dir);
}
