//! Distributed mode carrying real traffic through its faults: two replicas on a test-owned
//! PostgreSQL and the shared RabbitMQ, a stand-alone edge that knows both replicas, an agent's
//! SIP phone (baresip) and a carrier's caller (sipp) bridged by the edge, and a web chat whose
//! visitor keeps writing. PostgreSQL is stopped for longer than a lease's hold, then RabbitMQ is
//! restarted: the bridged call is never dropped (still up and obeying the console afterwards, then
//! recorded in full), every chat message the visitor saw confirmed is stored exactly once, in
//! order; and when the replica the edge is linked to is killed, the edge links to the other one
//! within seconds while the call goes on.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_testkit::service_url;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::cluster::{all_ready, replica_on, signed_up};
use crate::common::{rest, wait_until};

const SHOP: &str = "https://shop.example";
const NUMBER: &str = "+14155550166";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A stand-alone edge process, killed when the test ends.
struct Edge {
    child: Child,
    sip: std::net::SocketAddr,
    health: String,
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An edge linked to the replicas at `platforms` (comma-separated, tried in turn).
fn edge(platforms: &str, dir: &Path) -> Edge {
    let (sip, health) = (free_udp_port(), free_port());
    let rtp = 16_000 + (std::process::id() % 100) as u16 * 20;
    std::fs::create_dir_all(dir).expect("dir");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("edge")
        .env("SWITCHBOARD_PLATFORM_URL", platforms)
        .env("SWITCHBOARD_EDGE_TOKEN", crate::cluster::EDGE_TOKEN)
        .env("SWITCHBOARD_EDGE_ID", "edge-eu-1")
        .env("SWITCHBOARD_EDGE_REGION", "eu")
        .env("SWITCHBOARD_EDGE_HTTP_ADDR", format!("127.0.0.1:{health}"))
        .env("SWITCHBOARD_SIP_ADDR", format!("127.0.0.1:{sip}"))
        .env("SWITCHBOARD_RTP_PORTS", format!("{rtp}-{}", rtp + 19))
        .env("SWITCHBOARD_DATA_DIR", dir)
        .env("SWITCHBOARD_LOG", std::env::var("CLUSTER_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the edge");
    Edge { child, sip: format!("127.0.0.1:{sip}").parse().expect("addr"), health: format!("http://127.0.0.1:{health}") }
}

/// The edge's `/healthz` body (null while it does not answer).
async fn edge_health(client: &reqwest::Client, edge: &Edge) -> Value {
    match client.get(format!("{}/healthz", edge.health)).send().await {
        Ok(r) => r.json().await.unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

/// How many edges a replica has linked (its `/metrics`).
async fn edge_links(client: &reqwest::Client, base: &str) -> Option<u64> {
    let text = client.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("switchboard_edge_links ")).and_then(|v| v.trim().parse().ok())
}

/// sipp as a carrier's caller who stays on until the edge hangs up.
fn caller(edge: std::net::SocketAddr, dir: &Path) -> tokio::process::Child {
    let scenario =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../media-edge/edge/tests/sipp/call_agent_long.xml");
    std::fs::create_dir_all(dir).expect("dir");
    tokio::process::Command::new("sipp")
        .current_dir(dir)
        .args(["-sf", scenario.to_str().expect("path"), "-s", NUMBER, "-m", "1", "-l", "1", "-t", "u1"])
        .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &switchboard_testkit::free_media_port().to_string()])
        .args(["-timeout", "240s", "-timeout_error", "-nostdin"])
        .arg(edge.to_string())
        // To a file: sipp redraws its screen every second, and an undrained pipe would stall it.
        .stdout(std::fs::File::create(dir.join("screen.log")).expect("screen log"))
        .stderr(Stdio::null())
        .spawn()
        .expect("sipp runs")
}

/// A chat visitor who writes a numbered message every 300 ms until `stop`, each sent again with
/// the same client id until the platform confirms it (reconnecting as a widget does). Returns
/// the confirmed messages in order and, per fault phase, (messages, attempts refused or lost).
async fn visitor(
    base: String,
    token: String,
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicUsize>,
) -> (Vec<String>, [(u32, u32); 5]) {
    let url = format!("{}/chat/v1/ws?token={token}", base.replace("http://", "ws://"));
    let mut socket = None;
    let mut confirmed = Vec::new();
    let mut tries = [(0u32, 0u32); 5];
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        let body = format!("message {i}");
        let p = phase.load(Ordering::SeqCst);
        tries[p].0 += 1;
        loop {
            if socket.is_none() {
                let mut req = url.as_str().into_client_request().expect("request");
                req.headers_mut().insert("origin", SHOP.parse().expect("header"));
                if let Ok(Ok((mut s, _))) =
                    tokio::time::timeout(Duration::from_secs(5), tokio_tungstenite::connect_async(req)).await
                {
                    let resume = json!({"type": "resume", "last_seq": 0}).to_string();
                    if s.send(Message::Text(resume.into())).await.is_ok() {
                        socket = Some(s);
                    }
                }
            }
            let Some(s) = socket.as_mut() else {
                tries[p].1 += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            let frame = json!({"type": "message", "client_id": format!("c{i}"), "body": body});
            let answer = async {
                s.send(Message::Text(frame.to_string().into())).await.ok()?;
                loop {
                    match s.next().await? {
                        Ok(Message::Text(t)) => {
                            let v: Value = serde_json::from_str(&t).ok()?;
                            if v["type"] == "ack" || v["type"] == "error" {
                                return Some(v);
                            }
                        }
                        Ok(_) => {}
                        Err(_) => return None,
                    }
                }
            };
            match tokio::time::timeout(Duration::from_secs(15), answer).await {
                Ok(Some(v)) if v["type"] == "ack" => break,
                Ok(Some(_)) => tries[p].1 += 1,
                _ => {
                    // The connection died or the answer never came: connect again and resend.
                    tries[p].1 += 1;
                    socket = None;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        confirmed.push(body);
        i += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    (confirmed, tries)
}

/// What `probe` finds, within 30 s.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Presses a call button until the edge holding the call carries it out (204).
async fn press(client: &reqwest::Client, base: &str, token: &str, path: &str) -> bool {
    for _ in 0..50 {
        let r = client.post(format!("{base}{path}")).bearer_auth(token).send().await;
        if r.is_ok_and(|r| r.status() == reqwest::StatusCode::NO_CONTENT) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bridged_call_and_a_chat_outlive_postgresql_and_rabbitmq_restarts_and_a_replica_kill() {
    let Some(amqp) = service_url("SWITCHBOARD_TEST_AMQP_URL", "RabbitMQ") else { return };
    if Command::new("sipp").arg("-v").output().is_err() || !switchboard_testkit::baresip::available() {
        assert!(!switchboard_testkit::in_ci(), "sipp and baresip are required in CI: run infra/services.sh tools");
        eprintln!("\n!!! SKIPPED: sipp or baresip is not installed (infra/services.sh tools installs them) !!!\n");
        return;
    }
    let Some(pg) = switchboard_testkit::postgres::PgServer::start() else { return };
    pg.migrate().await;
    let root: PathBuf = std::env::temp_dir().join(format!("sb-calls-{}", uuid::Uuid::new_v4().simple()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let mut replicas = vec![
        replica_on(&pg.app_url(), &pg.owner_url(), &amqp, &root.join("a")),
        replica_on(&pg.app_url(), &pg.owner_url(), &amqp, &root.join("b")),
    ];
    all_ready(&client, &replicas).await;
    let (a, b) = (replicas[0].base.clone(), replicas[1].base.clone());

    // A tenant: a recorded queue behind a number, a chat widget on the same queue, the owner
    // answering calls on a desk phone and a colleague taking chats in the console.
    let (owner, owner_id) = signed_up(&client, &a).await;
    let queue = rest(
        &client,
        reqwest::Method::POST,
        format!("{a}/api/v1/queues"),
        &owner,
        Some(json!({"name": "support", "record_calls": true})),
    )
    .await;
    rest(
        &client,
        reqwest::Method::POST,
        format!("{a}/api/v1/endpoints"),
        &owner,
        Some(json!({"kind": "voice_number", "address": NUMBER, "name": "Hotline", "queue_id": queue["id"]})),
    )
    .await;
    let widget = rest(
        &client,
        reqwest::Method::POST,
        format!("{a}/api/v1/endpoints"),
        &owner,
        Some(json!({"kind": "chat_widget", "name": "shop", "queue_id": queue["id"], "allowed_origins": [SHOP]})),
    )
    .await;
    let login = json!({"username": "desk-owner", "password": "correct-horse-battery"});
    rest(&client, reqwest::Method::PUT, format!("{a}/api/v1/users/{owner_id}/sip-account"), &owner, Some(login)).await;

    // The edge knows both replicas and links to the first.
    let edge = edge(&format!("{a},{b}"), &root.join("edge"));
    wait_until("the edge linked to replica a", Duration::from_secs(20), || async {
        edge_links(&client, &a).await == Some(1)
    })
    .await;
    let mut phone =
        switchboard_testkit::baresip::Baresip::start(edge.sip, "desk-owner", "correct-horse-battery").expect("baresip");
    wait_until("the desk phone registered", Duration::from_secs(20), || async {
        // Asked of the replica the edge is linked to: phone registrations are known per replica.
        let r = client.get(format!("{a}/api/v1/users/{owner_id}/sip-account")).bearer_auth(&owner).send().await;
        match r {
            Ok(r) => r.json::<Value>().await.unwrap_or_default()["registered"] == true,
            Err(_) => false,
        }
    })
    .await;

    // The call: offered to the owner, accepted in the console (on replica b), bridged to the phone.
    rest(
        &client,
        reqwest::Method::PUT,
        format!("{b}/api/v1/agent/presence"),
        &owner,
        Some(json!({"status": "available"})),
    )
    .await;
    let mut call = caller(edge.sip, &root.join("sipp"));
    let contact = eventually("the call offered to the owner", || async {
        let mine = rest(&client, reqwest::Method::GET, format!("{b}/api/v1/agent/contacts"), &owner, None).await;
        let offered = mine["items"].as_array().and_then(|i| i.iter().find(|c| c["state"] == "offered").cloned());
        offered.map(|c| c["id"].as_str().expect("id").to_owned())
    })
    .await;
    let accepted = client
        .post(format!("{b}/api/v1/agent/contacts/{contact}/accept"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("accept");
    assert_eq!(accepted.status(), 204);
    let call_path = format!("/api/v1/agent/contacts/{contact}/call");
    assert!(press(&client, &b, &owner, &format!("{call_path}/hold")).await, "bridged:\n{}", phone.log());
    assert!(press(&client, &b, &owner, &format!("{call_path}/resume")).await);
    let bridged = Instant::now();

    // The chat: a colleague available in the console takes it.
    let colleague = crate::cluster::colleague(&client, &a, &owner, "chat@acme.example").await;
    rest(
        &client,
        reqwest::Method::PUT,
        format!("{a}/api/v1/agent/presence"),
        &colleague,
        Some(json!({"status": "available"})),
    )
    .await;
    let session = client
        .post(format!("{a}/chat/v1/sessions"))
        .header("origin", SHOP)
        .json(&json!({"widget_key": widget["address"], "name": "Vera Visitor"}))
        .send()
        .await
        .expect("session");
    assert_eq!(session.status(), 201);
    let session: Value = session.json().await.expect("json");
    let conversation = session["conversation_id"].as_str().expect("conversation").to_owned();
    wait_until("the chat offered to the colleague", Duration::from_secs(20), || async {
        let r = client
            .post(format!("{a}/api/v1/agent/contacts/{conversation}/accept"))
            .bearer_auth(&colleague)
            .send()
            .await;
        r.is_ok_and(|r| r.status() == reqwest::StatusCode::NO_CONTENT)
    })
    .await;
    let (stop, phase) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
    let writing = tokio::spawn(visitor(
        b.clone(),
        session["token"].as_str().expect("token").to_owned(),
        stop.clone(),
        phase.clone(),
    ));

    crate::cluster::postgresql_then_rabbitmq(&pg, &phase).await;
    stop.store(true, Ordering::SeqCst);
    let (confirmed, tries) = writing.await.expect("visitor");

    // The call is still up: the caller never got a BYE, the edge holds it, the console drives it.
    assert!(call.try_wait().expect("sipp").is_none(), "the call was dropped during the faults");
    assert_eq!(edge_health(&client, &edge).await["active_calls"], 1);
    assert!(
        press(&client, &a, &owner, &format!("{call_path}/hold")).await,
        "the call obeys the console after the faults"
    );
    assert!(press(&client, &a, &owner, &format!("{call_path}/resume")).await);

    // The replica the edge is linked to dies: the edge links to the other within seconds, and
    // the call goes on.
    let before = Instant::now();
    drop(replicas.remove(0));
    let relinked = wait_until("the edge linked to replica b", Duration::from_secs(20), || async {
        edge_links(&client, &b).await == Some(1)
    })
    .await;
    assert!(call.try_wait().expect("sipp").is_none(), "the call was dropped with the replica");
    assert!(press(&client, &b, &owner, &format!("{call_path}/hold")).await, "commands reach the call through b");
    assert!(press(&client, &b, &owner, &format!("{call_path}/resume")).await);
    eprintln!(
        "calls: the edge linked to the surviving replica {relinked:?} after the kill ({:?} with checks)",
        before.elapsed()
    );

    // The agent hangs up: the caller gets the edge's BYE, so sipp ends cleanly.
    let talked = bridged.elapsed();
    assert!(press(&client, &b, &owner, &format!("{call_path}/hangup")).await);
    let status = tokio::time::timeout(Duration::from_secs(20), call.wait()).await.expect("sipp ends").expect("sipp");
    assert!(
        status.success(),
        "the caller got our BYE: {}",
        std::fs::read_to_string(root.join("sipp/screen.log")).unwrap_or_default()
    );

    // The recording covers the whole call, faults included, and is downloadable from b although
    // the call's edge was linked to a when it began.
    let recording = eventually("the recording stored", || async {
        let m =
            rest(&client, reqwest::Method::GET, format!("{b}/api/v1/contacts/{contact}/messages"), &owner, None).await;
        m["items"].as_array().and_then(|i| i.iter().find(|x| x["direction"] == "internal").cloned())
    })
    .await;
    let attachment = recording["attachments"][0]["id"].as_str().expect("attachment").to_owned();
    let wav = client
        .get(format!("{b}/api/v1/contacts/{contact}/attachments/{attachment}"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("download");
    assert_eq!(wav.status(), 200);
    let wav = wav.bytes().await.expect("bytes");
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).expect("a WAV file");
    let spec = reader.spec();
    assert_eq!(spec.channels, 2);
    let seconds = reader.duration() as f64 / f64::from(spec.sample_rate);
    eprintln!("calls: the recording lasts {seconds:.1} s of a call bridged for {talked:?}");
    assert!(seconds + 2.0 >= talked.as_secs_f64(), "{seconds} s recorded of a {talked:?} call");

    // Every confirmed chat message is stored once, in order.
    for (name, (n, failed)) in crate::cluster::FAULT_PHASES.iter().zip(tries) {
        eprintln!("calls: chat {name}: {n} messages, {failed} attempts refused or lost (and sent again)");
    }
    assert!(confirmed.len() > 30, "{} messages confirmed", confirmed.len());
    let stored =
        rest(&client, reqwest::Method::GET, format!("{b}/api/v1/contacts/{conversation}/messages"), &owner, None).await;
    let bodies: Vec<String> = stored["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|m| m["direction"] == "inbound")
        .filter_map(|m| m["body"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(bodies, confirmed, "every confirmed message stored once, in order");

    phone.quit();
    drop((edge, replicas));
    let _ = std::fs::remove_dir_all(root);
}
