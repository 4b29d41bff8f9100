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

use crate::cluster::{all_ready, replica, replica_on, signed_up_as};
use crate::common::{eventually, rest, wait_until};

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
    edge_in("edge-eu-1", "eu", 0, platforms, dir)
}

/// Edge `id` in `region` (its RTP ports the `slot`th range of this test process).
fn edge_in(id: &str, region: &str, slot: u16, platforms: &str, dir: &Path) -> Edge {
    let (sip, health) = (free_udp_port(), free_port());
    let rtp = 16_000 + (std::process::id() % 100) as u16 * 40 + slot * 20;
    std::fs::create_dir_all(dir).expect("dir");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("edge")
        .env("SWITCHBOARD_PLATFORM_URL", platforms)
        .env("SWITCHBOARD_EDGE_TOKEN", crate::cluster::EDGE_TOKEN)
        .env("SWITCHBOARD_EDGE_ID", id)
        .env("SWITCHBOARD_EDGE_REGION", region)
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
    dialling(edge, NUMBER, "call_agent_long.xml", dir)
}

/// sipp calling `number` on `edge` with one of the edge suite's scenarios.
fn dialling(edge: std::net::SocketAddr, number: &str, scenario: &str, dir: &Path) -> tokio::process::Child {
    dialling_with(edge, number, scenario, dir, &[])
}

/// [`dialling`] with more of sipp's arguments.
fn dialling_with(
    edge: std::net::SocketAddr,
    number: &str,
    scenario: &str,
    dir: &Path,
    extra: &[&str],
) -> tokio::process::Child {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../media-edge/edge/tests/sipp").join(scenario);
    std::fs::create_dir_all(dir).expect("dir");
    tokio::process::Command::new("sipp")
        .current_dir(dir)
        .args(["-sf", scenario.to_str().expect("path"), "-s", number, "-m", "1", "-l", "1", "-t", "u1"])
        .args(["-i", "127.0.0.1", "-p", &free_udp_port().to_string()])
        .args(["-mi", "127.0.0.1", "-mp", &switchboard_testkit::free_media_port().to_string()])
        .args(["-timeout", "240s", "-timeout_error", "-nostdin"])
        .args(extra)
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

/// Says the agent is available.
async fn available(client: &reqwest::Client, base: &str, token: &str) {
    let body = json!({"status": "available"});
    rest(client, reqwest::Method::PUT, format!("{base}/api/v1/agent/presence"), token, Some(body)).await;
}

/// A business whose owner answers calls to `number` (a recorded queue) on a desk phone that
/// logs in as `phone`.
struct Desk {
    owner: String,
    owner_id: String,
    queue: Value,
}

async fn desk(
    client: &reqwest::Client,
    base: &str,
    (business, email): (&str, &str),
    number: &str,
    phone: &str,
) -> Desk {
    let (owner, owner_id) = signed_up_as(client, base, business, email).await;
    let body = json!({"name": "support", "record_calls": true});
    let queue = rest(client, reqwest::Method::POST, format!("{base}/api/v1/queues"), &owner, Some(body)).await;
    let body = json!({"kind": "voice_number", "address": number, "name": "Hotline", "queue_id": queue["id"]});
    rest(client, reqwest::Method::POST, format!("{base}/api/v1/endpoints"), &owner, Some(body)).await;
    let login = json!({"username": phone, "password": "correct-horse-battery"});
    rest(client, reqwest::Method::PUT, format!("{base}/api/v1/users/{owner_id}/sip-account"), &owner, Some(login))
        .await;
    Desk { owner, owner_id, queue }
}

/// Waits until the desk's phone shows registered, asked of `base`.
async fn phone_registered(client: &reqwest::Client, base: &str, desk: &Desk) {
    wait_until("the desk phone registered", Duration::from_secs(20), || async {
        let url = format!("{base}/api/v1/users/{}/sip-account", desk.owner_id);
        match client.get(url).bearer_auth(&desk.owner).send().await {
            Ok(r) => r.json::<Value>().await.unwrap_or_default()["registered"] == true,
            Err(_) => false,
        }
    })
    .await;
}

/// The first contact offered to the desk's owner, accepted; its id.
async fn accept_offer(client: &reqwest::Client, base: &str, desk: &Desk) -> String {
    let contact = eventually("a call offered to the owner", || async {
        let mine = rest(client, reqwest::Method::GET, format!("{base}/api/v1/agent/contacts"), &desk.owner, None).await;
        let offered = mine["items"].as_array().and_then(|i| i.iter().find(|c| c["state"] == "offered").cloned());
        offered.map(|c| c["id"].as_str().expect("id").to_owned())
    })
    .await;
    let url = format!("{base}/api/v1/agent/contacts/{contact}/accept");
    let accepted = client.post(url).bearer_auth(&desk.owner).send().await.expect("accept");
    assert_eq!(accepted.status(), 204);
    contact
}

/// Whether sipp and baresip are here (they must be in CI).
fn phones_and_carriers() -> bool {
    let here = Command::new("sipp").arg("-v").output().is_ok() && switchboard_testkit::baresip::available();
    if !here {
        assert!(!switchboard_testkit::in_ci(), "sipp and baresip are required in CI: run infra/services.sh tools");
        eprintln!("\n!!! SKIPPED: sipp or baresip is not installed (infra/services.sh tools installs them) !!!\n");
    }
    here
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
    if !phones_and_carriers() {
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
    let desk = desk(&client, &a, ("Acme", "owner@acme.example"), NUMBER, "desk-owner").await;
    let (owner, queue) = (desk.owner.clone(), desk.queue.clone());
    let widget = rest(
        &client,
        reqwest::Method::POST,
        format!("{a}/api/v1/endpoints"),
        &owner,
        Some(json!({"kind": "chat_widget", "name": "shop", "queue_id": queue["id"], "allowed_origins": [SHOP]})),
    )
    .await;

    // The edge knows both replicas and links to the first.
    let edge = edge(&format!("{a},{b}"), &root.join("edge"));
    wait_until("the edge linked to replica a", Duration::from_secs(20), || async {
        edge_links(&client, &a).await == Some(1)
    })
    .await;
    let mut phone =
        switchboard_testkit::baresip::Baresip::start(edge.sip, "desk-owner", "correct-horse-battery").expect("baresip");
    // Asked of the replica the edge is not linked to: registrations are known deployment-wide.
    phone_registered(&client, &b, &desk).await;

    // The call: offered to the owner, accepted in the console (on replica b), bridged to the phone.
    available(&client, &b, &owner).await;
    let mut call = caller(edge.sip, &root.join("sipp"));
    let contact = accept_offer(&client, &b, &desk).await;
    let call_path = format!("/api/v1/agent/contacts/{contact}/call");
    assert!(press(&client, &b, &owner, &format!("{call_path}/hold")).await, "bridged:\n{}", phone.log());
    assert!(press(&client, &b, &owner, &format!("{call_path}/resume")).await);
    let bridged = Instant::now();

    // The chat: a colleague available in the console takes it.
    let colleague = crate::cluster::colleague(&client, &a, &owner, "chat@acme.example").await;
    available(&client, &a, &colleague).await;
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

/// What sipp's `-trace_msg` logged in `dir`.
fn messages_of(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).expect("sipp dir").flatten() {
        if entry.file_name().to_string_lossy().ends_with("_messages.log") {
            all.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    all
}

/// The deployment's edges as a replica lists them (edge token).
async fn registry(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let r = client.get(format!("{base}/api/v1/edge/edges")).bearer_auth(crate::cluster::EDGE_TOKEN).send().await;
    match r {
        Ok(r) => r.json::<Value>().await.unwrap_or_default()["items"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// Whether the registry says edge `id` is live.
fn live(edges: &[Value], id: &str) -> Option<bool> {
    edges.iter().find(|e| e["edge_id"] == id).and_then(|e| e["live"].as_bool())
}

/// Two edges in two regions, each holding calls of its own business, on two replicas. One edge
/// is killed (-9): its waiting caller's contact is abandoned and its agent's call is ended on
/// the record, the other edge's call goes on untouched (still obeying the console, then ended
/// cleanly), the dead edge is out of rotation within 20 s in every replica's registry, and the
/// recordings of the calls it completed before it died are all there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_edge_ends_its_calls_only_and_keeps_the_recordings_it_finished() {
    let Some(amqp) = service_url("SWITCHBOARD_TEST_AMQP_URL", "RabbitMQ") else { return };
    if !phones_and_carriers() {
        return;
    }
    let Some(db) = switchboard_testkit::TestDb::new(switchboard_testkit::DbKind::Postgres).await else { return };
    let root: PathBuf = std::env::temp_dir().join(format!("sb-edges-{}", uuid::Uuid::new_v4().simple()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let replicas = [replica(&db, &amqp, &root.join("a")), replica(&db, &amqp, &root.join("b"))];
    all_ready(&client, &replicas).await;
    let (a, b) = (replicas[0].base.clone(), replicas[1].base.clone());

    let eu_desk = desk(&client, &a, ("Euro Co", "owner@euro.example"), "+4930555000", "desk-eu").await;
    let us_desk = desk(&client, &b, ("Yankee Co", "owner@yankee.example"), "+12125550100", "desk-us").await;
    let mut eu = edge_in("edge-eu-1", "eu", 0, &format!("{a},{b}"), &root.join("edge-eu"));
    let us = edge_in("edge-us-1", "us", 1, &format!("{b},{a}"), &root.join("edge-us"));
    wait_until("both edges live in the registry", Duration::from_secs(20), || async {
        let edges = registry(&client, &b).await;
        live(&edges, "edge-eu-1") == Some(true) && live(&edges, "edge-us-1") == Some(true)
    })
    .await;
    // The registry is the operator's (the edge token), not a tenant's.
    let r = client.get(format!("{a}/api/v1/edge/edges")).bearer_auth(&eu_desk.owner).send().await.expect("get");
    assert_eq!(r.status(), 401);
    let _eu_phone =
        switchboard_testkit::baresip::Baresip::start(eu.sip, "desk-eu", "correct-horse-battery").expect("baresip");
    let _us_phone =
        switchboard_testkit::baresip::Baresip::start(us.sip, "desk-us", "correct-horse-battery").expect("baresip");
    phone_registered(&client, &b, &eu_desk).await;
    phone_registered(&client, &a, &us_desk).await;
    available(&client, &a, &eu_desk.owner).await;
    available(&client, &b, &us_desk.owner).await;

    // Two calls on the eu edge talk to the agent, end, and are finished in the console.
    let mut finished = Vec::new();
    for n in 0..2 {
        let mut call = dialling(eu.sip, "+4930555000", "call_agent.xml", &root.join(format!("sipp-done-{n}")));
        let contact = accept_offer(&client, &a, &eu_desk).await;
        let path = format!("/api/v1/agent/contacts/{contact}");
        assert!(press(&client, &a, &eu_desk.owner, &format!("{path}/call/hold")).await, "call {n} bridged");
        assert!(press(&client, &a, &eu_desk.owner, &format!("{path}/call/resume")).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(press(&client, &a, &eu_desk.owner, &format!("{path}/call/hangup")).await);
        let status =
            tokio::time::timeout(Duration::from_secs(20), call.wait()).await.expect("sipp ends").expect("sipp");
        assert!(status.success(), "call {n} ended cleanly");
        let done = json!({"wrap_up_secs": 0});
        let url = format!("{a}{path}/complete");
        let r = client.post(url).bearer_auth(&eu_desk.owner).json(&done).send().await.expect("complete");
        assert_eq!(r.status(), 204);
        finished.push(contact);
    }

    // Now: a call in progress on each edge, and a caller waiting on the eu edge.
    let mut eu_call = dialling(eu.sip, "+4930555000", "call_agent_long.xml", &root.join("sipp-eu"));
    let eu_contact = accept_offer(&client, &a, &eu_desk).await;
    assert!(press(&client, &a, &eu_desk.owner, &format!("/api/v1/agent/contacts/{eu_contact}/call/hold")).await);
    let mut us_call = dialling(us.sip, "+12125550100", "call_agent_long.xml", &root.join("sipp-us"));
    let us_contact = accept_offer(&client, &b, &us_desk).await;
    let us_path = format!("/api/v1/agent/contacts/{us_contact}/call");
    assert!(press(&client, &b, &us_desk.owner, &format!("{us_path}/hold")).await);
    assert!(press(&client, &b, &us_desk.owner, &format!("{us_path}/resume")).await);
    let mut waiting = dialling(eu.sip, "+4930555000", "call_waits.xml", &root.join("sipp-waiting"));
    let waiting_contact = eventually("the second eu caller waiting", || async {
        let page = rest(&client, reqwest::Method::GET, format!("{a}/api/v1/contacts"), &eu_desk.owner, None).await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        items.iter().find(|c| c["state"] == "queued").map(|c| c["id"].as_str().expect("id").to_owned())
    })
    .await;

    // A German caller who reaches the us edge is sent to the live eu edge (302), as the
    // deployment's caller regions say (eu=+49).
    let dir = root.join("sipp-redirected");
    let german = ["-key", "caller", "+4930111222", "-trace_msg"];
    let redirected = dialling_with(us.sip, "+12125550100", "caller_redirected.xml", &dir, &german);
    assert!(redirected.wait_with_output().await.expect("sipp").status.success(), "redirected with a 302");
    let trace = messages_of(&dir);
    assert!(trace.contains(&format!("Contact: <sip:+12125550100@{}>", eu.sip)), "to the eu edge: {trace}");

    // The eu edge dies.
    let _ = eu.child.kill();
    let _ = eu.child.wait();
    let killed = Instant::now();
    let out = wait_until("the dead edge out of rotation on both replicas", Duration::from_secs(20), || async {
        let (on_a, on_b) = (registry(&client, &a).await, registry(&client, &b).await);
        live(&on_a, "edge-eu-1") == Some(false) && live(&on_b, "edge-eu-1") == Some(false)
    })
    .await;
    assert_eq!(live(&registry(&client, &a).await, "edge-us-1"), Some(true), "the other edge stays in rotation");
    eprintln!("edges: the killed edge was out of rotation {out:?} after the kill");

    // Out of rotation: the next German caller is served where they landed rather than sent to a
    // dead edge.
    let dir = root.join("sipp-served-here");
    let served = dialling_with(us.sip, "+12125550100", "caller_served_here.xml", &dir, &german[..3]);
    assert!(served.wait_with_output().await.expect("sipp").status.success(), "served by the us edge");

    // Its calls end: the waiting caller's contact is abandoned, the agent's call ended on the record.
    let contact = |id: String| {
        let (client, a, token) = (client.clone(), a.clone(), eu_desk.owner.clone());
        async move { rest(&client, reqwest::Method::GET, format!("{a}/api/v1/contacts/{id}"), &token, None).await }
    };
    eventually("the dead edge's waiting caller abandoned", || async {
        (contact(waiting_contact.clone()).await["state"] == "abandoned").then_some(())
    })
    .await;
    eventually("the dead edge's call ended on the record", || async {
        (contact(eu_contact.clone()).await["attributes"]["call_ended"] == "edge_lost").then_some(())
    })
    .await;
    eprintln!("edges: the killed edge's calls were ended {:?} after the kill", killed.elapsed());
    for caller in [&mut eu_call, &mut waiting] {
        let _ = caller.start_kill();
    }

    // The other edge's call never noticed: it is up, obeys the console, and ends cleanly.
    assert!(us_call.try_wait().expect("sipp").is_none(), "the us call was dropped");
    assert!(press(&client, &b, &us_desk.owner, &format!("{us_path}/hold")).await);
    assert!(press(&client, &b, &us_desk.owner, &format!("{us_path}/resume")).await);
    assert!(press(&client, &b, &us_desk.owner, &format!("{us_path}/hangup")).await);
    let status = tokio::time::timeout(Duration::from_secs(20), us_call.wait()).await.expect("sipp ends").expect("sipp");
    assert!(status.success(), "the us caller got our BYE");

    // The registry in /metrics; the dead edge can then be forgotten, a live one cannot.
    let metrics = client.get(format!("{a}/metrics")).send().await.expect("metrics").text().await.expect("text");
    for line in
        ["switchboard_edges{region=\"eu\",state=\"dead\"} 1", "switchboard_edges{region=\"us\",state=\"live\"} 1"]
    {
        assert!(metrics.lines().any(|l| l == line), "{line} in {metrics}");
    }
    let forget = |id: &str| {
        let url = format!("{b}/api/v1/edge/edges/{id}");
        client.delete(url).bearer_auth(crate::cluster::EDGE_TOKEN).send()
    };
    assert_eq!(forget("edge-us-1").await.expect("delete").status(), 409, "a live edge stays");
    assert_eq!(forget("edge-eu-1").await.expect("delete").status(), 204);
    assert_eq!(forget("edge-eu-1").await.expect("delete").status(), 404);
    assert_eq!(live(&registry(&client, &a).await, "edge-eu-1"), None, "forgotten everywhere");

    // The recordings of the calls the dead edge finished are all there.
    for id in &finished {
        let recording = eventually("a finished call's recording", || async {
            let m =
                rest(&client, reqwest::Method::GET, format!("{b}/api/v1/contacts/{id}/messages"), &eu_desk.owner, None)
                    .await;
            m["items"].as_array().and_then(|i| i.iter().find(|x| x["direction"] == "internal").cloned())
        })
        .await;
        let attachment = recording["attachments"][0]["id"].as_str().expect("attachment");
        let wav = client
            .get(format!("{b}/api/v1/contacts/{id}/attachments/{attachment}"))
            .bearer_auth(&eu_desk.owner)
            .send()
            .await
            .expect("download");
        assert_eq!(wav.status(), 200);
        let wav = wav.bytes().await.expect("bytes");
        let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).expect("a WAV file");
        assert_eq!(reader.spec().channels, 2);
        assert!(reader.duration() > 8_000, "{id}: at least a second recorded");
    }
    drop((us, replicas));
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(root);
}
