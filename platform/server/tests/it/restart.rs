//! Restart the real binary with contacts waiting: they are still waiting, in the same order, and
//! offers resume when an agent comes online.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::rest;
use common::ws::{command, connect, is_offer, next_json, until};
use serde_json::json;

fn start(dir: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("SWITCHBOARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_SMTP_ADDR", "127.0.0.1:0")
        .env("SWITCHBOARD_SIP_ADDR", "127.0.0.1:0")
        .env("SWITCHBOARD_DATA_DIR", dir)
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_AMQP_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn")
}

async fn ready(client: &reqwest::Client, base: &str) {
    let started = Instant::now();
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(30), "not ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_contacts_survive_a_restart_in_order_and_offers_resume() {
    let dir = std::env::temp_dir().join(format!("sb-restart-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();

    let first = start(&dir, port);
    ready(&client, &base).await;
    let signup = common::sign_up(&client, &base, "Acme", "owner@acme.example").await;
    let token = signup["tokens"]["access_token"].as_str().expect("token").to_owned();
    let queue =
        rest(&client, reqwest::Method::POST, format!("{base}/api/v1/queues"), &token, Some(json!({"name": "support"})))
            .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let c = rest(
            &client,
            reqwest::Method::POST,
            format!("{base}/api/v1/contacts"),
            &token,
            Some(json!({"channel": "voice", "queue_id": queue["id"]})),
        )
        .await;
        ids.push(c["id"].as_str().expect("id").to_owned());
    }
    stop(first);

    let second = start(&dir, port);
    ready(&client, &base).await;
    for id in &ids {
        let c = rest(&client, reqwest::Method::GET, format!("{base}/api/v1/contacts/{id}"), &token, None).await;
        assert_eq!(c["state"], "queued", "{id} after the restart");
    }
    let state =
        rest(&client, reqwest::Method::GET, format!("{base}/api/v1/contacts/{}/queue-state", ids[2]), &token, None)
            .await;
    assert_eq!(state["position"], 3, "same place in line");

    let mut socket = connect(&format!("127.0.0.1:{port}"), &token).await;
    assert_eq!(next_json(&mut socket).await["type"], "hello");
    command(&mut socket, json!({"type": "presence", "status": "available"})).await;
    let mut served = Vec::new();
    for _ in 0..3 {
        let offer = until(&mut socket, "an offer", is_offer).await;
        let id = offer["contact_id"].as_str().expect("id").to_owned();
        command(&mut socket, json!({"type": "accept", "contact_id": id})).await;
        command(&mut socket, json!({"type": "complete", "contact_id": id, "wrap_up_secs": 0})).await;
        served.push(id);
    }
    assert_eq!(served, ids, "served in the original order");
    stop(second);
    let _ = std::fs::remove_dir_all(dir);
}
