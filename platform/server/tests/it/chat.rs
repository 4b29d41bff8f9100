//! Web chat through real WebSockets: widget origins, visitor tokens, resume after a dropped
//! connection with nothing lost or repeated, typing and read receipts both ways, attachments
//! served only to their conversation, leave-a-message and e-mailed transcripts; broken frames
//! are refused and change nothing.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::ws::{self as agent_ws, Socket};
use common::{Owner, TestApp, each_backend};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SHOP: &str = "https://shop.example";

struct Widget {
    owner: Owner,
    key: String,
}

async fn setup(app: &TestApp) -> Widget {
    let owner = app.signup("Acme", "owner@acme.example").await;
    let (_, q) = app.call("POST", "/api/v1/queues", Some(&owner.token), Some(json!({"name": "chat"}))).await;
    let (status, w) = app
        .call(
            "POST",
            "/api/v1/endpoints",
            Some(&owner.token),
            Some(json!({"kind": "chat_widget", "name": "shop", "queue_id": q["id"], "allowed_origins": [SHOP]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{w}");
    Widget { owner, key: w["address"].as_str().expect("widget key").to_owned() }
}

async fn post_from(app: &TestApp, origin: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(o) = origin {
        req = req.header("origin", o);
    }
    app.send(req.body(Body::from(body.to_string())).expect("request")).await
}

async fn start(app: &TestApp, w: &Widget, extra: Value) -> (String, String) {
    let mut body = json!({"widget_key": w.key, "name": "Vera Visitor"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, s) = post_from(app, Some(SHOP), "/chat/v1/sessions", body).await;
    assert_eq!(status, StatusCode::CREATED, "{s}");
    assert_eq!(s["mode"], "chat");
    (s["token"].as_str().expect("token").to_owned(), s["conversation_id"].as_str().expect("id").to_owned())
}

async fn visitor(addr: &str, token: &str, last_seq: u64) -> Socket {
    let mut req = format!("ws://{addr}/chat/v1/ws?token={token}").into_client_request().expect("request");
    req.headers_mut().insert("origin", SHOP.parse().expect("header"));
    let (mut s, _) = tokio_tungstenite::connect_async(req).await.expect("visitor socket");
    s.send(Message::Text(json!({"type": "resume", "last_seq": last_seq}).to_string().into())).await.expect("send");
    let welcome = agent_ws::next_json(&mut s).await;
    assert_eq!(welcome["type"], "welcome", "{welcome}");
    s
}

async fn say(s: &mut Socket, client_id: &str, body: &str) -> u64 {
    s.send(Message::Text(json!({"type": "message", "client_id": client_id, "body": body}).to_string().into()))
        .await
        .expect("send");
    let ack = agent_ws::until(s, "ack", |v| v["type"] == "ack" || v["type"] == "error").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    ack["seq"].as_u64().expect("seq")
}

async fn available(app: &TestApp, o: &Owner) {
    let (status, _) =
        app.call("PUT", "/api/v1/agent/presence", Some(&o.token), Some(json!({"status": "available"}))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn only_allowed_origins_get_a_chat_and_nobody_online_means_leave_a_message() {
    each_backend(|app| async move {
        let w = setup(&app).await;
        let body = json!({"widget_key": w.key});
        let (status, s) = post_from(&app, Some(SHOP), "/chat/v1/sessions", body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{s}");
        assert_eq!((s["mode"].as_str(), s["reason"].as_str()), (Some("leave_message"), Some("no_agents")));
        assert!(s.get("token").is_none());
        available(&app, &w.owner).await;
        assert_eq!(
            post_from(&app, Some("https://evil.example"), "/chat/v1/sessions", body.clone()).await.0,
            StatusCode::FORBIDDEN
        );
        assert_eq!(post_from(&app, None, "/chat/v1/sessions", body.clone()).await.0, StatusCode::FORBIDDEN);
        let (status, _) = post_from(&app, Some(SHOP), "/chat/v1/sessions", json!({"widget_key": "nope"})).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, bad) =
            post_from(&app, Some(SHOP), "/chat/v1/sessions", json!({"widget_key": w.key, "email": "not-mail"})).await;
        assert_eq!((status, common::fields(&bad)), (StatusCode::UNPROCESSABLE_ENTITY, vec!["email".to_owned()]));
        let list = app.call("GET", "/api/v1/contacts", Some(&w.owner.token), None).await.1;
        assert!(list["items"].as_array().expect("items").is_empty(), "refusals stored nothing");
        let (token, id) = start(&app, &w, json!({"email": "Vera@Example.com", "fields": {"order": "4711"}})).await;
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(&w.owner.token), None).await;
        assert_eq!((c["channel"].as_str(), c["customer"].as_str()), (Some("chat"), Some("vera@example.com")));
        assert_eq!(c["attributes"]["field.order"], "4711");
        // A visitor token is not an API credential.
        assert_eq!(app.call("GET", "/api/v1/contacts", Some(&token), None).await.0, StatusCode::UNAUTHORIZED);
        app
    })
    .await;
}

#[tokio::test]
async fn a_chat_with_an_agent_survives_a_dropped_connection_without_loss_or_repeats() {
    each_backend(|app| async move {
        let w = setup(&app).await;
        let o = w.owner.clone();
        available(&app, &o).await;
        let addr = agent_ws::serve(&app).await;
        let mut agent = agent_ws::connect(&addr, &o.token).await;
        let (token, id) = start(&app, &w, json!({})).await;
        let mut v = visitor(&addr, &token, 0).await;
        assert_eq!(say(&mut v, "c1", "Hello, anyone there?").await, 1);
        let own = agent_ws::until(&mut v, "own message", |f| f["type"] == "message").await;
        assert_eq!(
            (own["message"]["seq"].as_u64(), own["message"]["author"].as_str()),
            (Some(1), Some("Vera Visitor"))
        );
        // The agent is offered the chat, accepts, sees the message and answers.
        agent_ws::until(&mut agent, "offer", agent_ws::is_offer).await;
        agent_ws::command(&mut agent, json!({"type": "accept", "contact_id": id})).await;
        agent_ws::until(&mut v, "connected", |f| f["type"] == "state" && f["state"] == "connected").await;
        agent_ws::command(&mut agent, json!({"type": "typing", "contact_id": id, "active": true})).await;
        let typing = agent_ws::until(&mut v, "typing", |f| f["type"] == "typing").await;
        assert_eq!((typing["from"].as_str(), typing["active"].as_bool()), (Some("agent"), Some(true)));
        agent_ws::command(&mut agent, json!({"type": "send", "contact_id": id, "body": "Hi Vera, how can I help?"}))
            .await;
        let answer = agent_ws::until(&mut v, "answer", |f| f["type"] == "message").await;
        assert_eq!(
            (answer["message"]["seq"].as_u64(), answer["message"]["direction"].as_str()),
            (Some(2), Some("outbound"))
        );
        // Visitor typing and read receipts reach the agent.
        v.send(Message::Text(json!({"type": "typing", "active": true}).to_string().into())).await.expect("send");
        let t =
            agent_ws::until(&mut agent, "visitor typing", |f| f["type"] == "typing" && f["from"] == "visitor").await;
        assert_eq!(t["contact_id"], id.as_str());
        v.send(Message::Text(json!({"type": "read", "seq": 2}).to_string().into())).await.expect("send");
        let r = agent_ws::until(&mut agent, "read receipt", |f| f["type"] == "read" && f["from"] == "visitor").await;
        assert_eq!(r["seq"], 2);

        // The visitor's connection drops; the agent writes twice meanwhile.
        drop(v);
        for text in ["Are you still there?", "I found your order."] {
            let path = format!("/api/v1/contacts/{id}/messages");
            let (status, _) = app.call("POST", &path, Some(&o.token), Some(json!({"body": text}))).await;
            assert_eq!(status, StatusCode::CREATED);
        }
        let mut v = visitor(&addr, &token, 2).await;
        let mut missed: Vec<Value> = Vec::new();
        while missed.len() < 2 {
            missed.push(agent_ws::until(&mut v, "missed message", |f| f["type"] == "message").await);
        }
        let seqs: Vec<u64> = missed.iter().map(|m| m["message"]["seq"].as_u64().expect("seq")).collect();
        assert_eq!(seqs, [3, 4], "exactly what was missed: {missed:?}");
        // A message resent after the drop (its ack was lost) is stored once.
        assert_eq!(say(&mut v, "c1", "Hello, anyone there?").await, 1);
        assert_eq!(say(&mut v, "c2", "Great, thanks").await, 5);
        let (_, list) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&o.token), None).await;
        assert_eq!(list["items"].as_array().expect("items").len(), 5);
        app
    })
    .await;
}

#[tokio::test]
async fn frames_that_break_the_protocol_are_refused_and_change_nothing() {
    each_backend(|app| async move {
        let w = setup(&app).await;
        available(&app, &w.owner).await;
        let addr = agent_ws::serve(&app).await;
        let (token, id) = start(&app, &w, json!({})).await;
        // Wrong origin or a forged token: no socket.
        let mut req = format!("ws://{addr}/chat/v1/ws?token={token}").into_client_request().expect("request");
        req.headers_mut().insert("origin", "https://evil.example".parse().expect("header"));
        assert!(tokio_tungstenite::connect_async(req).await.is_err());
        let mut req = format!("ws://{addr}/chat/v1/ws?token={token}x").into_client_request().expect("request");
        req.headers_mut().insert("origin", SHOP.parse().expect("header"));
        assert!(tokio_tungstenite::connect_async(req).await.is_err());
        let mut v = visitor(&addr, &token, 0).await;
        for (frame, code) in [
            ("not json".to_owned(), "malformed_frame"),
            (json!({"type": "shout"}).to_string(), "malformed_frame"),
            (json!({"type": "message", "client_id": "a b", "body": "x"}).to_string(), "invalid_frame"),
            (json!({"type": "message", "client_id": "a", "body": "  "}).to_string(), "invalid_frame"),
            (json!({"type": "message", "client_id": "a", "body": "x".repeat(20_000)}).to_string(), "frame_too_large"),
            (json!({"type": "resume", "last_seq": 0}).to_string(), "invalid_frame"),
        ] {
            v.send(Message::Text(frame.into())).await.expect("send");
            let e = agent_ws::until(&mut v, "error", |f| f["type"] == "error").await;
            assert_eq!((e["type"].as_str(), e["code"].as_str()), (Some("error"), Some(code)), "{e}");
        }
        assert_eq!(say(&mut v, "ok", "still works").await, 1, "the socket stays usable");
        v.send(Message::Binary(vec![1, 2, 3].into())).await.expect("send");
        let e = agent_ws::until(&mut v, "error", |f| f["type"] == "error").await;
        assert_eq!(e["code"], "malformed_frame");
        let (_, list) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&w.owner.token), None).await;
        assert_eq!(list["items"].as_array().expect("items").len(), 1, "only the valid message");
        app
    })
    .await;
}

async fn upload(app: &TestApp, token: &str, content_type: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::post("/chat/v1/attachments")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", content_type)
        .header("x-filename", "../photo.png")
        .body(Body::from(bytes))
        .expect("request");
    app.send(req).await
}

#[tokio::test]
async fn attachments_are_limited_and_served_only_to_their_conversation() {
    each_backend(|app| async move {
        let w = setup(&app).await;
        available(&app, &w.owner).await;
        let (token, id) = start(&app, &w, json!({})).await;
        let (other_token, _) = start(&app, &w, json!({})).await;
        let png = b"\x89PNG\r\n\x1a\nfake-image".to_vec();
        let (status, m) = upload(&app, &token, "image/png", png.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
        let file = &m["attachments"][0];
        assert_eq!((file["name"].as_str(), file["size"].as_u64()), (Some("photo.png"), Some(png.len() as u64)));
        let file_id = file["id"].as_str().expect("id");
        let get = |t: &str| {
            Request::get(format!("/chat/v1/attachments/{file_id}?token={t}")).body(Body::empty()).expect("request")
        };
        let res = app.raw(get(&token)).await;
        assert_eq!(res.0, StatusCode::OK);
        assert_eq!(res.1, png);
        assert_eq!(app.raw(get(&other_token)).await.0, StatusCode::NOT_FOUND);
        let agent = Request::get(format!("/api/v1/contacts/{id}/attachments/{file_id}"))
            .header("authorization", format!("Bearer {}", w.owner.token))
            .body(Body::empty())
            .expect("request");
        assert_eq!(app.raw(agent).await.1, png);
        // Refused: a type outside the list, an empty file, a file over 10 MiB.
        assert_eq!(
            upload(&app, &token, "application/x-msdownload", b"MZ".to_vec()).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(upload(&app, &token, "image/png", Vec::new()).await.0, StatusCode::UNPROCESSABLE_ENTITY);
        let big = upload(&app, &token, "image/png", vec![0; 10 * 1024 * 1024 + 1]).await.0;
        assert!(big == StatusCode::PAYLOAD_TOO_LARGE || big == StatusCode::UNPROCESSABLE_ENTITY, "{big}");
        let (_, list) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&w.owner.token), None).await;
        assert_eq!(list["items"].as_array().expect("items").len(), 1);
        app
    })
    .await;
}

#[tokio::test]
async fn a_left_message_becomes_an_email_contact() {
    each_backend(|app| async move {
        let w = setup(&app).await;
        let (_, q) = app.call("GET", "/api/v1/queues", Some(&w.owner.token), None).await;
        let queue = q["items"][0]["id"].clone();
        app.call(
            "POST",
            "/api/v1/endpoints",
            Some(&w.owner.token),
            Some(json!({"kind": "email_address", "address": "help@acme.test", "name": "mail", "queue_id": queue})),
        )
        .await;
        let body = json!({"widget_key": w.key, "name": "Otto", "email": "otto@example.com", "body": "Please call me back.\nThanks"});
        let (status, e) = post_from(&app, Some(SHOP), "/chat/v1/offline-messages", body).await;
        assert_eq!(status, StatusCode::CREATED, "{e}");
        let (status, bad) = post_from(
            &app,
            Some(SHOP),
            "/chat/v1/offline-messages",
            json!({"widget_key": w.key, "name": "", "email": "x", "body": ""}),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(common::fields(&bad), ["name", "email", "body"]);
        let list = app.call("GET", "/api/v1/contacts", Some(&w.owner.token), None).await.1;
        let items = list["items"].as_array().expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!((items[0]["channel"].as_str(), items[0]["customer"].as_str()), (Some("email"), Some("otto@example.com")));
        let id = items[0]["id"].as_str().expect("id");
        let (_, m) = app.call("GET", &format!("/api/v1/contacts/{id}/messages"), Some(&w.owner.token), None).await;
        assert_eq!(m["items"][0]["body"], "Please call me back.\nThanks");
        app
    })
    .await;
}

#[tokio::test]
async fn an_agent_transfers_a_chat_to_a_colleague_who_answers_in_the_same_conversation() {
    each_backend(|app| async move {
        let w = setup(&app).await;
        let o = w.owner.clone();
        available(&app, &o).await;
        let (colleague_id, colleague) = app.user_with_role(&o, "bo@acme.example", "agent").await;
        let (token, id) = start(&app, &w, json!({})).await;
        assert!(app.wait_state(&o.token, &id, "offered").await);
        let (status, _) = app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&o.token), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let path = format!("/api/v1/agent/contacts/{id}/transfer");
        // Bad targets: refused, the chat stays with the owner.
        let (status, body) = app.call("POST", &path, Some(&o.token), Some(json!({}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, _) = app.call("POST", &path, Some(&o.token), Some(json!({"agent_id": colleague_id}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "the colleague is not logged in");
        let (status, _) = app.call("POST", &path, Some(&colleague), Some(json!({"agent_id": o.user_id}))).await;
        assert_eq!(status, StatusCode::CONFLICT, "only the connected agent transfers");
        let (status, body) =
            app.call("PUT", "/api/v1/agent/presence", Some(&colleague), Some(json!({"status": "available"}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = app.call("POST", &path, Some(&o.token), Some(json!({"agent_id": colleague_id}))).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        assert!(app.wait_state(&o.token, &id, "offered").await);
        let (status, _) =
            app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&colleague), None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let reply = json!({"body": "Bo here, I'll take it from here."});
        let msg = format!("/api/v1/contacts/{id}/messages");
        assert_eq!(app.call("POST", &msg, Some(&o.token), Some(reply.clone())).await.0, StatusCode::CONFLICT);
        assert_eq!(app.call("POST", &msg, Some(&colleague), Some(reply)).await.0, StatusCode::CREATED);
        let addr = agent_ws::serve(&app).await;
        let mut v = visitor(&addr, &token, 0).await;
        let m = agent_ws::until(&mut v, "the colleague's message", |f| f["type"] == "message").await;
        assert_eq!(m["message"]["author"].as_str(), Some(colleague_id.as_str()));
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{id}"), Some(&o.token), None).await;
        let kinds: Vec<&str> =
            c["events"].as_array().expect("events").iter().filter_map(|e| e["kind"].as_str()).collect();
        assert!(kinds.contains(&"transferred"), "{kinds:?}");
        app
    })
    .await;
}

#[tokio::test]
async fn the_same_customer_is_recognised_across_channels_with_their_history() {
    each_backend(|app| async move {
        let w = setup(&app).await;
        let o = w.owner.clone();
        // First an e-mail contact (a message left while nobody was online)...
        let left =
            json!({"widget_key": w.key, "name": "Cara", "email": "cara@example.com", "body": "Where is my parcel?"});
        assert_eq!(post_from(&app, Some(SHOP), "/chat/v1/offline-messages", left).await.0, StatusCode::CREATED);
        // ...then a chat with the same address (any case), and one from someone else.
        available(&app, &o).await;
        let (_, chat) = start(&app, &w, json!({"email": "CARA@example.com"})).await;
        let (_, stranger) = start(&app, &w, json!({"phone": "+14155550100"})).await;
        let (_, c) = app.call("GET", &format!("/api/v1/contacts/{stranger}"), Some(&o.token), None).await;
        assert_eq!(c["customer"], "+14155550100", "a phone number identifies a visitor too");
        let (status, h) = app.call("GET", &format!("/api/v1/contacts/{chat}/history"), Some(&o.token), None).await;
        assert_eq!(status, StatusCode::OK, "{h}");
        assert_eq!(h["customer"], "cara@example.com");
        let items = h["items"].as_array().expect("items");
        let channels: Vec<&str> = items.iter().filter_map(|e| e["contact"]["channel"].as_str()).collect();
        assert_eq!(channels, ["chat", "email"], "newest first, both channels, not the stranger");
        assert_eq!(items[1]["messages"][0]["body"], "Where is my parcel?");
        // An agent sees the history of contacts connected to them only.
        let (_, agent) = app.user_with_role(&o, "ann@acme.example", "agent").await;
        let (status, _) = app.call("GET", &format!("/api/v1/contacts/{chat}/history"), Some(&agent), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        app
    })
    .await;
}

/// 10,000 visitor messages (and 300 from the agent at the same time) while the visitor's
/// connection is cut at random every 0.2 to 1 s: every message arrives once, in order, with no
/// gap in the sequence; messages whose acknowledgement was lost are resent and stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_through_random_disconnects_arrive_once_and_in_order() {
    use futures::StreamExt;
    use std::collections::BTreeMap;
    each_backend(|app| async move {
        const TOTAL: usize = 10_000;
        const FROM_AGENT: usize = 300;
        const WINDOW: usize = 64;
        let w = setup(&app).await;
        let o = w.owner.clone();
        available(&app, &o).await;
        let addr = agent_ws::serve(&app).await;
        let (token, id) = start(&app, &w, json!({})).await;
        assert!(app.wait_state(&o.token, &id, "offered").await);
        app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&o.token), None).await;
        // The agent writes meanwhile, over HTTP on the same server.
        let base = format!("http://{addr}");
        let agent_token = o.token.clone();
        let path = format!("{base}/api/v1/contacts/{id}/messages");
        let agent = tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..FROM_AGENT {
                let res = client.post(&path).bearer_auth(&agent_token).json(&json!({"body": format!("a{i}")})).send().await;
                assert_eq!(res.expect("agent reply").status(), 201);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        });
        let mut rng: u64 = 0x2545_f491_4f6c_dd1d;
        let mut random = move |lo: u64, hi: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            lo + rng % (hi - lo)
        };
        let mut next = 0usize;
        let mut unacked: BTreeMap<usize, ()> = BTreeMap::new();
        let mut acked = 0usize;
        let mut last_seen = 0u64;
        let (mut visitor_order, mut agent_order) = (Vec::new(), Vec::new());
        let mut drops = 0u32;
        let started = std::time::Instant::now();
        while acked < TOTAL || last_seen < (TOTAL + FROM_AGENT) as u64 {
            assert!(started.elapsed() < std::time::Duration::from_secs(300), "stalled at {last_seen}");
            let mut v = visitor(&addr, &token, last_seen).await;
            // Whatever was sent but not acknowledged goes again, in order.
            for i in unacked.keys() {
                let frame = json!({"type": "message", "client_id": format!("m{i}"), "body": format!("m{i}")});
                v.send(Message::Text(frame.to_string().into())).await.expect("resend");
            }
            let life = std::time::Duration::from_millis(random(200, 1000));
            let cut_at = std::time::Instant::now() + life;
            let cut = tokio::time::sleep(life);
            tokio::pin!(cut);
            loop {
                // Checked by the clock too: a busy socket must not outrun the timer.
                if std::time::Instant::now() >= cut_at {
                    drops += 1;
                    break;
                }
                let can_send = unacked.len() < WINDOW && next < TOTAL;
                tokio::select! {
                    _ = &mut cut => { drops += 1; break }
                    _ = async {}, if can_send => {
                        let frame = json!({"type": "message", "client_id": format!("m{next}"), "body": format!("m{next}")});
                        if v.send(Message::Text(frame.to_string().into())).await.is_err() { break }
                        unacked.insert(next, ());
                        next += 1;
                    }
                    frame = v.next() => {
                        let t = match frame {
                            Some(Ok(Message::Text(t))) => t,
                            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                            Some(Ok(_)) => continue,
                        };
                        let f: Value = serde_json::from_str(&t).expect("json");
                        match f["type"].as_str() {
                            Some("ack") => {
                                let i: usize = f["client_id"].as_str().expect("id")[1..].parse().expect("index");
                                if unacked.remove(&i).is_some() { acked += 1; }
                            }
                            Some("message") => {
                                let seq = f["message"]["seq"].as_u64().expect("seq");
                                assert_eq!(seq, last_seen + 1, "no gap and no repeat (after {drops} drops)");
                                last_seen = seq;
                                let body = f["message"]["body"].as_str().expect("body").to_owned();
                                if f["message"]["direction"] == "inbound" { visitor_order.push(body) } else { agent_order.push(body) }
                            }
                            Some("error") => panic!("refused: {f}"),
                            _ => {}
                        }
                        if acked == TOTAL && last_seen == (TOTAL + FROM_AGENT) as u64 { break }
                    }
                }
            }
            drop(v);
        }
        agent.await.expect("agent task");
        assert!(drops >= 3, "the connection was cut {drops} times");
        let want: Vec<String> = (0..TOTAL).map(|i| format!("m{i}")).collect();
        assert_eq!(visitor_order, want, "the visitor's messages in the order sent, once each");
        let want: Vec<String> = (0..FROM_AGENT).map(|i| format!("a{i}")).collect();
        assert_eq!(agent_order, want);
        eprintln!("{:?}: {} messages through {drops} disconnects in {:?}", app.kind, TOTAL + FROM_AGENT, started.elapsed());
        app
    })
    .await;
}

#[tokio::test]
async fn the_transcript_is_emailed_to_the_visitor() {
    if !common::have_tool("/usr/bin/python3", &["-c", "import aiosmtpd"]) {
        return;
    }
    each_backend(|mut app| async move {
        let w = setup(&app).await;
        let o = w.owner.clone();
        available(&app, &o).await;
        let (token, id) = start(&app, &w, json!({"email": "vera@example.com"})).await;
        let addr = agent_ws::serve(&app).await;
        let mut v = visitor(&addr, &token, 0).await;
        say(&mut v, "q1", "Do you ship to Norway?").await;
        assert!(app.wait_state(&o.token, &id, "offered").await);
        app.call("POST", &format!("/api/v1/agent/contacts/{id}/accept"), Some(&o.token), None).await;
        app.call(
            "POST",
            &format!("/api/v1/contacts/{id}/messages"),
            Some(&o.token),
            Some(json!({"body": "Yes, in 3 days."})),
        )
        .await;
        let send = |app: &TestApp, body: Value| {
            let req = Request::post("/chat/v1/transcript")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .expect("request");
            let app_router = app.router.clone();
            async move {
                use tower::ServiceExt;
                app_router.oneshot(req).await.expect("infallible").status()
            }
        };
        // No address to send from yet: a clear refusal.
        assert_eq!(send(&app, json!({})).await, StatusCode::CONFLICT);
        app.call(
            "POST",
            "/api/v1/endpoints",
            Some(&o.token),
            Some(json!({"kind": "email_address", "address": "help@acme.test", "name": "mail"})),
        )
        .await;
        let (relay, dir, _sink) = common::mail::sink().await;
        app.set_relay(&relay);
        assert_eq!(send(&app, json!({"email": "nope"})).await, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(send(&app, json!({})).await, StatusCode::NO_CONTENT, "to the pre-chat address");
        let mail = common::mail::kept(&dir, 1).await;
        assert!(mail.contains("To: vera@example.com"), "{mail}");
        assert!(mail.contains("Subject: Your chat with Acme"), "{mail}");
        assert!(mail.contains("You: Do you ship to Norway?") && mail.contains("Acme: Yes, in 3 days."), "{mail}");
        app
    })
    .await;
}
