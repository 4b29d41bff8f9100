//! `switchboard edge` as its own process, linked to a `switchboard` platform process over the
//! control link: the edge registers and heartbeats; a carrier's call (sipp) to a tenant number on
//! the edge becomes a contact on the platform; the platform is killed (-9) while the caller waits,
//! and the call survives it (the voice path never waits on the control plane): the caller's
//! hang-up, while the platform is down, is held by the edge and delivered once the platform is
//! back and the edge has linked again, so the contact ends abandoned; an edge that goes
//! silent (frozen, socket still open) is out of the platform's rotation within 20 s. Wrong or missing edge tokens are refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::wait_until;

const TOKEN: &str = "an-edge-token-of-at-least-32-bytes!!";

fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sb-edge-{name}-{}-{}", std::process::id(), free_tcp_port()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn sipp_installed() -> bool {
    let ok = Command::new("sipp").arg("-v").output().is_ok();
    if !ok {
        assert!(!switchboard_testkit::in_ci(), "sipp is required in CI: run infra/services.sh tools");
        eprintln!("\n!!! SKIPPED: sipp is not installed (infra/services.sh tools installs it) !!!\n");
    }
    ok
}

/// The platform: no SIP of its own, links accepted, SQLite in `dir`.
fn platform(http: u16, dir: &Path) -> Process {
    Process(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .env("SWITCHBOARD_HTTP_ADDR", format!("127.0.0.1:{http}"))
            .env("SWITCHBOARD_SMTP_ADDR", "127.0.0.1:0")
            .env("SWITCHBOARD_SIP_ADDR", "off")
            .env("SWITCHBOARD_EDGE_TOKEN", TOKEN)
            .env("SWITCHBOARD_DATA_DIR", dir)
            .env("SWITCHBOARD_LOG", "warn")
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env_remove("SWITCHBOARD_AMQP_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the platform"),
    )
}

/// A stand-alone edge linked to the platform at `http`.
fn edge(http: u16, sip: u16, health: u16, dir: &Path) -> Process {
    let rtp = 14_000 + (std::process::id() % 200) as u16 * 20;
    Process(
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("edge")
            .env("SWITCHBOARD_PLATFORM_URL", format!("http://127.0.0.1:{http}"))
            .env("SWITCHBOARD_EDGE_TOKEN", TOKEN)
            .env("SWITCHBOARD_EDGE_ID", "edge-eu-1")
            .env("SWITCHBOARD_EDGE_REGION", "eu")
            .env("SWITCHBOARD_EDGE_HTTP_ADDR", format!("127.0.0.1:{health}"))
            .env("SWITCHBOARD_SIP_ADDR", format!("127.0.0.1:{sip}"))
            .env("SWITCHBOARD_RTP_PORTS", format!("{rtp}-{}", rtp + 19))
            .env("SWITCHBOARD_DATA_DIR", dir)
            .env("SWITCHBOARD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the edge"),
    )
}

/// A child process killed when the test ends, pass or fail.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        kill_hard(&mut self.0);
    }
}

fn kill_hard(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

async fn edge_links(client: &reqwest::Client, base: &str) -> Option<u64> {
    let text = client.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("switchboard_edge_links ")).and_then(|v| v.trim().parse().ok())
}

/// The edge's own `/healthz`: its status code and body.
async fn edge_healthz(client: &reqwest::Client, base: &str) -> (u16, Value) {
    match client.get(format!("{base}/healthz")).send().await {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or_default()),
        Err(_) => (0, Value::Null),
    }
}

async fn ready(client: &reqwest::Client, base: &str) -> bool {
    client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success())
}

async fn voice_contacts(client: &reqwest::Client, base: &str, token: &str) -> Vec<Value> {
    let Ok(r) = client.get(format!("{base}/api/v1/contacts/search?channel=voice")).bearer_auth(token).send().await
    else {
        return Vec::new();
    };
    r.json::<Value>().await.ok().and_then(|b| b["items"].as_array().cloned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stand_alone_edge_links_and_its_calls_outlive_a_platform_restart() {
    if !sipp_installed() {
        return;
    }
    let (http, sip) = (free_tcp_port(), free_udp_port());
    let (platform_dir, edge_dir) = (temp_dir("platform"), temp_dir("edge"));
    let base = format!("http://127.0.0.1:{http}");
    let client = reqwest::Client::new();
    let mut platform_process = platform(http, &platform_dir);
    wait_until("platform ready", Duration::from_secs(30), || ready(&client, &base)).await;

    // The control link's routes want the edge token.
    let ask = json!({"kind": "number", "number": "+14155550190"});
    for token in [None, Some("not-the-edge-token-not-the-edge-token")] {
        let mut request = client.post(format!("{base}/api/v1/edge/ask")).json(&ask);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let answer = request.send().await.expect("ask");
        assert_eq!(answer.status(), 401, "token {token:?}");
    }
    let answer =
        client.post(format!("{base}/api/v1/edge/ask")).bearer_auth(TOKEN).json(&ask).send().await.expect("ask");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.json::<Value>().await.expect("json"), json!({"answer": "route", "value": null}));
    // Refused before any body is read: announcing a 400 MB upload without the token gets 401 at
    // once, without the server waiting for (or buffering) the body.
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", http)).await.expect("connect");
        let head = "POST /api/v1/edge/recordings?meta=x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: audio/wav\r\nContent-Length: 400000000\r\n\r\n";
        raw.write_all(head.as_bytes()).await.expect("write");
        let mut answer = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut answer))
            .await
            .expect("answered without waiting for the body")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer[..n]);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    }
    let bad = client.post(format!("{base}/api/v1/edge/ask")).bearer_auth(TOKEN).body("{\"kind\":\"launch\"}");
    assert_eq!(bad.send().await.expect("ask").status(), 400, "an unknown ask is refused");

    // A tenant with a number on the edge.
    let signup = crate::common::sign_up(&client, &base, "Edge Co", "owner@edge.example").await;
    let token = signup["tokens"]["access_token"].as_str().expect("token").to_owned();
    let queue: Value = client
        .post(format!("{base}/api/v1/queues"))
        .bearer_auth(&token)
        .json(&json!({"name": "Support"}))
        .send()
        .await
        .expect("queue")
        .json()
        .await
        .expect("json");
    let endpoint = client
        .post(format!("{base}/api/v1/endpoints"))
        .bearer_auth(&token)
        .json(&json!({"kind": "voice_number", "address": "+14155550190", "name": "Hotline", "queue_id": queue["id"]}))
        .send()
        .await
        .expect("endpoint");
    assert_eq!(endpoint.status(), 201);

    // The edge links (hello, welcome, heartbeats).
    let health = free_tcp_port();
    let edge_health = format!("http://127.0.0.1:{health}");
    let edge_process = edge(http, sip, health, &edge_dir);
    wait_until("edge linked", Duration::from_secs(20), || async { edge_links(&client, &base).await == Some(1) }).await;

    // A caller reaches the tenant's queue through the stand-alone edge.
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../media-edge/edge/tests/sipp/call_waits.xml");
    let sipp_dir = temp_dir("sipp");
    let mut call = tokio::process::Command::new("sipp")
        .current_dir(&sipp_dir)
        .args(["-sf", scenario.to_str().expect("path"), "-s", "+14155550190", "-m", "1", "-t", "u1"])
        .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &switchboard_testkit::free_media_port().to_string()])
        .args(["-timeout", "60s", "-timeout_error", "-nostdin"])
        .arg(format!("127.0.0.1:{sip}"))
        // To a file: sipp redraws its screen every second, and an undrained pipe would stall it.
        .stdout(std::fs::File::create(sipp_dir.join("screen.log")).expect("screen log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs");
    let placed = Instant::now();
    wait_until("the call waiting as a contact", Duration::from_secs(15), || async {
        voice_contacts(&client, &base, &token).await.iter().any(|c| c["state"] == "queued")
    })
    .await;

    let (code, body) = edge_healthz(&client, &edge_health).await;
    assert_eq!((code, body["link"].as_str()), (200, Some("up")), "{body}");
    assert_eq!(body["active_calls"], 1, "{body}");

    // The platform dies while the caller waits.
    kill_hard(&mut platform_process.0);
    assert!(placed.elapsed() < Duration::from_secs(20), "the platform must die before the caller hangs up");

    // The call never depended on it: the caller's BYE after 25 s is answered by the edge alone.
    let status = call.wait().await.expect("sipp ends");
    assert!(
        status.success(),
        "the call outlived the platform: {}",
        std::fs::read_to_string(sipp_dir.join("screen.log")).unwrap_or_default()
    );
    assert!(!ready(&client, &base).await, "the platform was down when the caller hung up");
    // The edge says so, and holds the hang-up for later.
    let (code, body) = edge_healthz(&client, &edge_health).await;
    assert_eq!(code, 503, "{body}");
    assert!(body["link"].as_str().is_some_and(|l| l.starts_with("down")), "{body}");
    wait_until("the hang-up held", Duration::from_secs(10), || async {
        edge_healthz(&client, &edge_health).await.1["held_notifications"].as_u64().is_some_and(|n| n >= 1)
    })
    .await;

    // The platform comes back on the same data; the edge links again and delivers what it held:
    // the caller's hang-up, so the contact ends abandoned instead of waiting for ever.
    let platform_process = platform(http, &platform_dir);
    wait_until("platform ready again", Duration::from_secs(30), || ready(&client, &base)).await;
    let relinked = wait_until("edge linked again", Duration::from_secs(20), || async {
        edge_links(&client, &base).await == Some(1)
    })
    .await;
    eprintln!("edge linked again {relinked:?} after the platform was ready");
    wait_until("the held hang-up delivered", Duration::from_secs(20), || async {
        voice_contacts(&client, &base, &token).await.iter().any(|c| c["state"] == "abandoned")
    })
    .await;
    let metrics =
        client.get(format!("{edge_health}/metrics")).send().await.expect("metrics").text().await.expect("text");
    for line in
        ["switchboard_edge_link_up 1", "switchboard_edge_held_notifications 0", "switchboard_edge_active_calls 0"]
    {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }

    // An edge that stops answering (frozen: its socket stays open, so only the missed
    // heartbeats tell) is out of rotation within 20 s.
    let stopped = Command::new("kill").args(["-STOP", &edge_process.0.id().to_string()]).status().expect("kill");
    assert!(stopped.success());
    let gone = wait_until("dead edge unlinked", Duration::from_secs(20), || async {
        edge_links(&client, &base).await == Some(0)
    })
    .await;
    eprintln!("silent edge unlinked after {gone:?}");

    drop((edge_process, platform_process));
    for dir in [platform_dir, edge_dir, sipp_dir] {
        let _ = std::fs::remove_dir_all(dir);
    }
}
