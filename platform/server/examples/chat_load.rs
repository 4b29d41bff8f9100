//! Chat load against a running `switchboard` (see `platform/server/LOAD.md`):
//!
//!   cargo run --release -p switchboard-server --example chat_load -- http://127.0.0.1:8080 <server pid> [idle] [active] [messages]
//!
//! 1. opens `idle` visitor sockets (default 2,000) that stay silent and reports the server's
//!    resident memory per socket (from /proc/<pid>/status);
//! 2. runs `active` conversations (default 1,000) that each send `messages` (default 20) one after
//!    the other, timing each from send to its arrival back on the visitor's socket (stored,
//!    numbered, announced on the bus, read back): messages per second and latency percentiles.

// A load tool: its report goes to stdout.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ORIGIN: &str = "https://load.example";

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> Value {
    let mut req = client.post(url).header("origin", ORIGIN).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    res.json().await.unwrap_or(Value::Null)
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn visitor(client: &reqwest::Client, base: &str, ws: &str, key: &str) -> Socket {
    let s = post(client, format!("{base}/chat/v1/sessions"), None, json!({"widget_key": key})).await;
    let token = s["token"].as_str().unwrap_or_else(|| panic!("no chat session: {s}"));
    let mut req = format!("{ws}/chat/v1/ws?token={token}").into_client_request().expect("request");
    req.headers_mut().insert("origin", ORIGIN.parse().expect("header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(req).await.expect("socket");
    socket.send(Message::Text(json!({"type": "resume", "last_seq": 0}).to_string().into())).await.expect("send");
    socket
}

async fn next_message(s: &mut Socket) -> Value {
    loop {
        match s.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["type"] == "message" {
                    return v;
                }
            }
            Some(Ok(_)) => {}
            other => panic!("socket ended: {other:?}"),
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let base = args.get(1).cloned().unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let pid: u32 = args.get(2).and_then(|p| p.parse().ok()).expect("server pid as the second argument");
    let idle: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(2000);
    let active: usize = args.get(4).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let per: usize = args.get(5).and_then(|n| n.parse().ok()).unwrap_or(20);
    let ws = base.replacen("http", "ws", 1);
    let client = reqwest::Client::new();
    let email = format!("load-{}@load.example", uuid::Uuid::new_v4().simple());
    let signup = post(
        &client,
        format!("{base}/api/v1/signup"),
        None,
        json!({"business_name": "Load", "email": email, "password": "load test password 1"}),
    )
    .await;
    let token = signup["tokens"]["access_token"].as_str().unwrap_or_else(|| panic!("signup: {signup}")).to_owned();
    let q =
        post(&client, format!("{base}/api/v1/queues"), Some(&token), json!({"name": "load", "max_waiting": 100000}))
            .await;
    let w = post(
        &client,
        format!("{base}/api/v1/endpoints"),
        Some(&token),
        json!({"kind": "chat_widget", "name": "load", "queue_id": q["id"], "allowed_origins": [ORIGIN]}),
    )
    .await;
    let key = w["address"].as_str().expect("widget").to_owned();
    client
        .put(format!("{base}/api/v1/agent/presence"))
        .bearer_auth(&token)
        .json(&json!({"status": "available"}))
        .send()
        .await
        .expect("presence");

    // 1. Idle sockets.
    let before = rss_kib(pid);
    let mut sockets = Vec::with_capacity(idle);
    for _ in 0..idle {
        sockets.push(visitor(&client, &base, &ws, &key).await);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    println!(
        "idle: {idle} visitor sockets held; server RSS {before} KiB -> {after} KiB, {:.1} KiB per socket",
        (after.saturating_sub(before)) as f64 / idle as f64
    );
    drop(sockets);

    // 2. Active conversations.
    let mut conversations = Vec::with_capacity(active);
    for _ in 0..active {
        conversations.push(visitor(&client, &base, &ws, &key).await);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, mut s) in conversations.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::with_capacity(per);
            for i in 0..per {
                let t = Instant::now();
                let frame =
                    json!({"type": "message", "client_id": format!("c{c}m{i}"), "body": format!("message {i}")});
                s.send(Message::Text(frame.to_string().into())).await.expect("send");
                next_message(&mut s).await;
                took.push(t.elapsed().as_micros() as u64);
            }
            took
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let elapsed = started.elapsed();
    all.sort_unstable();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)] as f64 / 1000.0;
    println!(
        "active: {active} conversations x {per} messages = {} in {:.1} s: {:.0} messages/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
}
