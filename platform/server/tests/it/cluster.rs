//! Distributed mode with real processes: two `switchboard` replicas on one PostgreSQL database and
//! one RabbitMQ. They split the routing shards between them; an agent on either replica works a
//! tenant whose shard the other drives (commands forwarded over the bus). The replica driving the
//! tenant's shard is killed (-9) while contacts wait, one is offered and one is connected: the
//! survivor takes the shard over within seconds, the agents keep their presence, and every
//! contact, including those created during the failover, ends exactly once, never offered to two
//! agents at a time.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchboard_testkit::{DbKind, TestDb, service_url};
use tokio_tungstenite::tungstenite::Message;

use crate::common::wait_until;
use crate::common::ws::{Socket, command, connect, is_offer, next_json, until};
use crate::common::{rest, sign_up};

const SECRET: &str = "a-cluster-wide-jwt-secret-of-enough-bytes!";
/// The deployment's edge token: replicas accept edges presenting it.
pub(crate) const EDGE_TOKEN: &str = "an-edge-token-of-at-least-32-bytes!!";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A replica, killed when the test ends, pass or fail.
pub(crate) struct Replica {
    child: Child,
    pub(crate) base: String,
    addr: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn replica(db: &TestDb, amqp: &str, dir: &Path) -> Replica {
    replica_on(&db.app_url, &db.owner_url, amqp, dir)
}

/// A replica on the database at `app_url`; replicas whose folders share a parent share their
/// objects folder (attachments, recordings), as a deployment's replicas share a volume.
pub(crate) fn replica_on(app_url: &str, owner_url: &str, amqp: &str, dir: &Path) -> Replica {
    let port = free_port();
    std::fs::create_dir_all(dir).expect("dir");
    let child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("SWITCHBOARD_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD_SMTP_ADDR", "127.0.0.1:0")
        .env("SWITCHBOARD_SIP_ADDR", "off")
        .env("SWITCHBOARD_DATA_DIR", dir)
        .env("SWITCHBOARD_OBJECTS_DIR", dir.parent().unwrap_or(dir).join("objects"))
        .env("SWITCHBOARD_EDGE_TOKEN", EDGE_TOKEN)
        // German callers belong to the eu edges (the test numbers' callers, +1, to no region).
        .env("SWITCHBOARD_CALLER_REGIONS", "eu=+49")
        .env("SWITCHBOARD_DATABASE_URL", app_url)
        .env("SWITCHBOARD_DATABASE_OWNER_URL", owner_url)
        .env("SWITCHBOARD_AMQP_URL", amqp)
        .env("SWITCHBOARD_JWT_SECRET", SECRET)
        .env("SWITCHBOARD_LOG", std::env::var("CLUSTER_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn a replica");
    Replica { child, base: format!("http://127.0.0.1:{port}"), addr: format!("127.0.0.1:{port}") }
}

/// The shards a replica says it drives (its `/metrics`); `None` while it does not answer.
async fn driven(client: &reqwest::Client, base: &str) -> Option<BTreeSet<u32>> {
    let text = client.get(format!("{base}/metrics")).send().await.ok()?.text().await.ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.strip_prefix("switchboard_routing_shard_driven{shard=\""))
            .filter_map(|rest| {
                let (shard, value) = rest.split_once("\"} ")?;
                (value.trim() == "1").then(|| shard.parse().ok()).flatten()
            })
            .collect(),
    )
}

/// Sends a console command and returns its answer (`ack` or `error`).
async fn ask(socket: &mut Socket, mut cmd: Value) -> Value {
    let reference = uuid::Uuid::new_v4().to_string();
    cmd["ref"] = json!(reference);
    socket.send(Message::Text(cmd.to_string().into())).await.expect("send");
    // Longer than a console's usual patience: while the database is down a command waits for it
    // (up to 10 s for a connection) and for its shard to have a driver again.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).expect("json");
                if v["ref"] == json!(reference) {
                    return v;
                }
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("no answer to {cmd} within 40 s: {other:?}"),
        }
    }
}

/// The agent's contacts now, as a console loads them when it (re)connects: those offered and
/// those connected to the agent (an accept whose answer was lost in a fault is one of these).
async fn my_contacts(client: &reqwest::Client, base: &str, token: &str) -> Vec<(Value, bool)> {
    let Ok(r) = client.get(format!("{base}/api/v1/agent/contacts")).bearer_auth(token).send().await else {
        return Vec::new();
    };
    let body: Value = r.json().await.unwrap_or_default();
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|c| c["state"] == "offered" || c["state"] == "connected")
                .map(|c| (c["id"].clone(), c["state"] == "connected"))
                .collect()
        })
        .unwrap_or_default()
}

/// An agent working their console until `stop`: every offer accepted and completed, those made
/// before the console (re)connected included, and every contact the console shows connected
/// completed.
async fn work(
    mut socket: Socket,
    stop: Arc<AtomicBool>,
    client: reqwest::Client,
    base: String,
    token: String,
) -> usize {
    let mut served = 0;
    let mut look = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let mut mine = Vec::new();
        if look <= Instant::now() {
            mine = my_contacts(&client, &base, &token).await;
            look = Instant::now() + Duration::from_secs(2);
        }
        if mine.is_empty() {
            match tokio::time::timeout(Duration::from_millis(300), socket.next()).await {
                Err(_) => {}
                Ok(Some(Ok(Message::Text(t)))) => {
                    let frame = serde_json::from_str::<Value>(&t).expect("json");
                    if is_offer(&frame) {
                        mine.push((frame["contact_id"].clone(), false));
                    }
                }
                Ok(Some(Ok(_))) => {}
                Ok(other) => panic!("console socket ended: {other:?}"),
            }
        }
        for (id, connected) in mine {
            served += serve(&mut socket, id, connected).await;
        }
    }
    served
}

/// Accepts an offer (unless it is already `connected`) and completes it; 1 if it was ours.
async fn serve(socket: &mut Socket, id: Value, connected: bool) -> usize {
    // A stale offer (withdrawn when the shard moved) is refused; the next one comes. An accept
    // that happened but whose answer was lost shows as connected on the next look.
    if !connected && ask(socket, json!({"type": "accept", "contact_id": id})).await["type"] != "ack" {
        return 0;
    }
    // A command lost in a fault window is answered 503 ("unavailable"): the agent presses the
    // button again, as a person at the console would.
    for _ in 0..20 {
        let done = ask(socket, json!({"type": "complete", "contact_id": id, "wrap_up_secs": 0})).await;
        if done["type"] == "ack" {
            return 1;
        }
        if done["error"]["code"] != "unavailable" {
            // The lost answer was to a completion that happened: the contact is over (the
            // store's history is checked at the end either way).
            return 0;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{id} could not be completed in 10 s of retries");
}

/// Whether every one of `ids` is done.
async fn all_done(client: reqwest::Client, base: String, token: String, ids: Vec<String>) -> bool {
    for id in &ids {
        let Ok(r) = client.get(format!("{base}/api/v1/contacts/{id}")).bearer_auth(&token).send().await else {
            return false;
        };
        let Ok(c) = r.json::<Value>().await else { return false };
        if c["state"] != "done" {
            return false;
        }
    }
    true
}

/// No contact is ever offered while an earlier offer of it is outstanding, and it ends once.
fn assert_clean_history(id: &str, contact: &Value) {
    let events = contact["events"].as_array().expect("events");
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap_or("")).collect();
    let mut outstanding = false;
    for kind in &kinds {
        match *kind {
            "offered" => {
                assert!(!outstanding, "{id} offered twice at once: {kinds:?}");
                outstanding = true;
            }
            "offer_withdrawn" | "connected" | "requeued" | "abandoned" | "failed" => outstanding = false,
            _ => {}
        }
    }
    let terminal = kinds.iter().filter(|k| ["done", "abandoned", "overflowed", "failed"].contains(k)).count();
    assert_eq!(terminal, 1, "{id} must end exactly once: {kinds:?}");
    assert_eq!(contact["state"], "done", "{id}: {kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_replica_driving_a_shard_loses_no_contact_and_offers_none_twice() {
    let Some(amqp) = service_url("SWITCHBOARD_TEST_AMQP_URL", "RabbitMQ") else { return };
    let Some(db) = TestDb::new(DbKind::Postgres).await else { return };
    let root: PathBuf = std::env::temp_dir().join(format!("sb-cluster-{}", uuid::Uuid::new_v4().simple()));
    let client = reqwest::Client::new();
    let mut replicas = vec![replica(&db, &amqp, &root.join("a")), replica(&db, &amqp, &root.join("b"))];
    all_ready(&client, &replicas).await;
    // The shards are split: every one driven by exactly one replica, each replica some.
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let balanced = wait_until("shards split between the replicas", Duration::from_secs(40), || {
        let (client, bases) = (client.clone(), bases.clone());
        async move {
            let (Some(a), Some(b)) = (driven(&client, &bases[0]).await, driven(&client, &bases[1]).await) else {
                return false;
            };
            a.is_disjoint(&b) && a.len() + b.len() == 16 && a.len().abs_diff(b.len()) <= 1
        }
    })
    .await;
    eprintln!("cluster: 16 shards split 8/8 between two replicas {balanced:?} after both were ready");

    let signup = sign_up(&client, &replicas[0].base, "Acme", "owner@acme.example").await;
    let owner = signup["tokens"]["access_token"].as_str().expect("token").to_owned();
    let tenant: switchboard_domain::TenantId = signup["tenant"]["id"].as_str().expect("tenant").parse().expect("id");
    let shard = switchboard_server::routing::shard_of(tenant);
    let a_drives = driven(&client, &replicas[0].base).await.expect("metrics").contains(&shard);
    // From here on: `driver` drives the tenant's shard, `other` does not.
    let (driver, other) = if a_drives { (0, 1) } else { (1, 0) };
    let other_base = replicas[other].base.clone();
    let other_addr = replicas[other].addr.clone();

    let queue = rest(
        &client,
        reqwest::Method::POST,
        format!("{other_base}/api/v1/queues"),
        &owner,
        Some(json!({"name": "support"})),
    )
    .await;
    let created = rest(
        &client,
        reqwest::Method::POST,
        format!("{other_base}/api/v1/users"),
        &owner,
        Some(json!({"email": "agent@acme.example", "name": "Agent", "role": "agent"})),
    )
    .await;
    let invite = created["invite_token"].as_str().expect("invite");
    let tokens: Value = client
        .post(format!("{other_base}/api/v1/auth/accept-invite"))
        .json(&json!({"invite_token": invite, "password": "correct horse battery"}))
        .send()
        .await
        .expect("accept invite")
        .json()
        .await
        .expect("json");
    let agent = tokens["access_token"].as_str().expect("token").to_owned();

    // The owner works on the driving replica, the agent on the other (their commands forwarded).
    let mut first = connect(&replicas[driver].addr, &owner).await;
    let mut second = connect(&other_addr, &agent).await;
    assert_eq!(next_json(&mut first).await["type"], "hello");
    assert_eq!(next_json(&mut second).await["type"], "hello");
    command(&mut first, json!({"type": "presence", "status": "available"})).await;
    command(&mut second, json!({"type": "presence", "status": "available"})).await;

    let mut ids = Vec::new();
    let new_contact = |base: String| {
        let (client, owner, queue_id) = (client.clone(), owner.clone(), queue["id"].clone());
        async move {
            let c = rest(
                &client,
                reqwest::Method::POST,
                format!("{base}/api/v1/contacts"),
                &owner,
                Some(json!({"channel": "voice", "queue_id": queue_id})),
            )
            .await;
            c["id"].as_str().expect("id").to_owned()
        }
    };
    for _ in 0..6 {
        ids.push(new_contact(other_base.clone()).await);
    }
    // One served by each; the agent keeps the next one connected, the owner leaves one offered.
    for socket in [&mut first, &mut second] {
        let offer = until(socket, "an offer", is_offer).await;
        command(socket, json!({"type": "accept", "contact_id": offer["contact_id"]})).await;
        command(socket, json!({"type": "complete", "contact_id": offer["contact_id"], "wrap_up_secs": 0})).await;
    }
    let kept = until(&mut second, "an offer", is_offer).await["contact_id"].clone();
    command(&mut second, json!({"type": "accept", "contact_id": kept})).await;
    let pending = until(&mut first, "an offer", is_offer).await["contact_id"].clone();
    let before: Value = rest(
        &client,
        reqwest::Method::GET,
        format!("{other_base}/api/v1/contacts/{}", pending.as_str().expect("id")),
        &owner,
        None,
    )
    .await;
    assert_eq!(before["state"], "offered");

    // Kill -9 the driver with contacts waiting, one offered and one connected.
    let killed_at = Instant::now();
    let mut dead = replicas.remove(driver);
    let _ = dead.child.kill();
    let _ = dead.child.wait();
    drop(first);
    // New work during the failover window is accepted and kept.
    for _ in 0..4 {
        ids.push(new_contact(other_base.clone()).await);
    }
    let failover = wait_until("the survivor drives the shard", Duration::from_secs(20), || {
        let (client, base) = (client.clone(), other_base.clone());
        async move { driven(&client, &base).await.is_some_and(|d| d.contains(&shard)) }
    })
    .await;
    let failover = killed_at.elapsed().max(failover);
    let all_shards = driven(&client, &other_base).await.expect("metrics").len();
    eprintln!("cluster: shard {shard} failed over in {failover:?}; the survivor drives {all_shards} shards");
    assert!(failover < Duration::from_secs(15), "failover took {failover:?}");
    wait_until("the survivor takes every shard", Duration::from_secs(20), || {
        let (client, base) = (client.clone(), other_base.clone());
        async move { driven(&client, &base).await.is_some_and(|d| d.len() == 16) }
    })
    .await;

    // The connected contact is still the agent's, and finishes through the new driver.
    command(&mut second, json!({"type": "complete", "contact_id": kept, "wrap_up_secs": 0})).await;
    // The owner's console reconnects to the survivor; their presence (available) came along.
    let mut first = connect(&other_addr, &owner).await;
    assert_eq!(next_json(&mut first).await["type"], "hello");
    let stop = Arc::new(AtomicBool::new(false));
    let workers = [
        tokio::spawn(work(first, stop.clone(), client.clone(), other_base.clone(), owner.clone())),
        tokio::spawn(work(second, stop.clone(), client.clone(), other_base.clone(), agent.clone())),
    ];
    let all_done = wait_until("every contact finished", Duration::from_secs(60), || {
        all_done(client.clone(), other_base.clone(), owner.clone(), ids.clone())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let mut served = 0;
    for w in workers {
        served += w.await.expect("worker");
    }
    eprintln!("cluster: the last {served} contacts served {all_done:?} after the failover");
    assert!(served >= 6, "the offered one, the waiting three and the four new ones: {served}");
    for id in &ids {
        let c = rest(&client, reqwest::Method::GET, format!("{other_base}/api/v1/contacts/{id}"), &owner, None).await;
        assert_clean_history(id, &c);
    }
    let pending_history = rest(
        &client,
        reqwest::Method::GET,
        format!("{other_base}/api/v1/contacts/{}", pending.as_str().expect("id")),
        &owner,
        None,
    )
    .await;
    assert!(
        pending_history["events"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["kind"] == "offer_withdrawn" && e["data"]["reason"] == "shard_moved"),
        "the dead driver's offer is withdrawn on the record: {pending_history}"
    );
    drop(replicas);
    db.cleanup().await;
    let _ = std::fs::remove_dir_all(root);
}

/// Two clustered registries in one process, on the in-process bus and one SQLite store: they
/// split the shards, a question for a tenant driven by the other is forwarded and answered, and a
/// broadcast reaches the other replica's handler (how a call button finds the replica whose
/// edge holds the call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_split_the_shards_forward_commands_and_hear_broadcasts() {
    use switchboard_domain::{ChannelCosts, Role, Tenant, TenantId, TenantStatus, User, UserId, UserStatus};
    use switchboard_server::routing::{Routing, shard_of};
    use switchboard_store::NewTenant;

    let db = TestDb::new(DbKind::Sqlite).await.expect("sqlite");
    let store = db.store().await;
    let bus: Arc<dyn switchboard_bus::Bus> = Arc::new(switchboard_bus::InProcessBus::new());
    let a = Routing::clustered(store.clone(), bus.clone());
    let b = Routing::clustered(store.clone(), bus.clone());
    wait_until("the shards split", Duration::from_secs(30), || {
        let (a, b) = (a.driven_shards(), b.driven_shards());
        async move { a.len() + b.len() == 16 && a.iter().all(|s| !b.contains(s)) && a.len().abs_diff(b.len()) <= 1 }
    })
    .await;

    // A tenant driven by b, asked through a.
    let tenant = loop {
        let t = TenantId::generate();
        if b.driven_shards().contains(&shard_of(t)) {
            break t;
        }
    };
    let owner = User {
        id: UserId::generate(),
        tenant_id: tenant,
        email: "owner@acme.example".parse().expect("email"),
        name: "Owner".into(),
        role: Role::Owner,
        status: UserStatus::Active,
        capacity: 100,
        channel_costs: ChannelCosts::default(),
        skills: vec![],
        created_at: 1,
    };
    store
        .create_tenant(NewTenant {
            tenant: Tenant { id: tenant, name: "Acme".into(), status: TenantStatus::Active, created_at: 1 },
            owner: owner.clone(),
            password_hash: "$argon2id$fake".into(),
        })
        .await
        .expect("tenant");
    let agents = a.agents(tenant).await.expect("forwarded to b and answered");
    assert_eq!(agents.iter().map(|s| s.agent_id).collect::<Vec<_>>(), [owner.id]);
    // An engine refusal comes back as the same error.
    let refused = a
        .run(tenant, |r| {
            switchboard_server::routing::Command::Accept(switchboard_domain::ContactId::generate(), owner.id, r)
        })
        .await;
    assert!(
        matches!(
            refused,
            Err(switchboard_server::routing::ShardError::Routing(
                switchboard_routing::RoutingError::NotOffered | switchboard_routing::RoutingError::UnknownContact
            ))
        ),
        "{refused:?}"
    );
    // A tenant of no deployment gets no actor anywhere.
    let stranger = loop {
        let t = TenantId::generate();
        if b.driven_shards().contains(&shard_of(t)) {
            break t;
        }
    };
    assert!(a.agents(stranger).await.is_err(), "unknown tenants are not routed");

    // Broadcasts: b answers, a gathers.
    let node_b = b.node().expect("clustered").to_owned();
    b.cluster().expect("clustered").on_broadcast(
        "echo",
        Arc::new(move |q| {
            let node = node_b.clone();
            Box::pin(async move { json!({"node": node, "asked": q}) })
        }),
    );
    let answers = a
        .cluster()
        .expect("clustered")
        .broadcast(&*bus, "echo", json!({"call_id": "c1"}), Duration::from_secs(5), |_| true)
        .await;
    assert_eq!(answers, [json!({"node": b.node(), "asked": {"call_id": "c1"}})]);

    // An agent's consoles are counted across replicas: closing the one on b is not their last
    // while a holds another; closing that one is.
    a.socket_opened(tenant, owner.id);
    b.socket_opened(tenant, owner.id);
    assert!(!b.last_socket_closed(tenant, owner.id).await, "a still holds a console of theirs");
    assert!(a.last_socket_closed(tenant, owner.id).await, "that was their last console");

    // A graceful stop hands b's shards over at once, well before its leases would expire (5 s).
    b.leave().await;
    assert!(b.driven_shards().is_empty());
    let handed_over = wait_until("a takes every shard", Duration::from_secs(4), || {
        let a = a.driven_shards();
        async move { a.len() == 16 }
    })
    .await;
    eprintln!("cluster: a graceful stop's shards were taken over in {handed_over:?}");
    assert!(a.agents(tenant).await.is_ok(), "the tenant is driven by a now");
    db.cleanup().await;
}

/// Waits until every replica answers `/readyz`.
pub(crate) async fn all_ready(client: &reqwest::Client, replicas: &[Replica]) {
    for r in replicas {
        let base = r.base.clone();
        wait_until("replica ready", Duration::from_secs(30), || {
            let (client, base) = (client.clone(), base.clone());
            async move { client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) }
        })
        .await;
    }
}

/// The phases of [`postgresql_then_rabbitmq`], by the number it stores in `phase`.
pub(crate) const FAULT_PHASES: [&str; 5] =
    ["steady", "PostgreSQL down", "after PostgreSQL", "RabbitMQ restarting", "after RabbitMQ"];

/// The faults, one at a time, `phase` telling which is on: 2 s steady; PostgreSQL stopped for
/// 5 s (longer than a lease's hold, 3 s: every shard stops, then is taken again); 5 s after;
/// RabbitMQ restarted; 4 s after.
pub(crate) async fn postgresql_then_rabbitmq(pg: &switchboard_testkit::postgres::PgServer, phase: &AtomicUsize) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    phase.store(1, Ordering::SeqCst);
    pg.stop();
    tokio::time::sleep(Duration::from_secs(5)).await;
    pg.resume();
    phase.store(2, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    phase.store(3, Ordering::SeqCst);
    let root_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let restarted = tokio::task::spawn_blocking(move || {
        Command::new(root_dir.join("infra/services.sh")).arg("restart-rabbitmq").status().expect("services.sh")
    })
    .await
    .expect("join");
    assert!(restarted.success(), "RabbitMQ restart failed");
    phase.store(4, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(4)).await;
}

/// Signs a business up on `base`: the owner's token and user id.
pub(crate) async fn signed_up(client: &reqwest::Client, base: &str) -> (String, String) {
    signed_up_as(client, base, "Acme", "owner@acme.example").await
}

/// Signs `business` up on `base` with its owner's e-mail: the owner's token and user id.
pub(crate) async fn signed_up_as(
    client: &reqwest::Client,
    base: &str,
    business: &str,
    email: &str,
) -> (String, String) {
    let signup = sign_up(client, base, business, email).await;
    let token = signup["tokens"]["access_token"].as_str().expect("token").to_owned();
    (token, signup["user"]["id"].as_str().expect("user id").to_owned())
}

/// An agent invited by the owner, signed in: their token.
pub(crate) async fn colleague(client: &reqwest::Client, base: &str, owner: &str, email: &str) -> String {
    let body = json!({"email": email, "name": "Colleague", "role": "agent"});
    let invited = rest(client, reqwest::Method::POST, format!("{base}/api/v1/users"), owner, Some(body)).await;
    let accept = json!({"invite_token": invited["invite_token"], "password": "correct horse battery"});
    let tokens = client
        .post(format!("{base}/api/v1/auth/accept-invite"))
        .json(&accept)
        .send()
        .await
        .expect("accept invite")
        .json::<Value>()
        .await
        .expect("json");
    tokens["access_token"].as_str().expect("token").to_owned()
}

/// Signs a business up on `base`: the owner's token and a queue's id.
async fn business(client: &reqwest::Client, base: &str) -> (String, Value) {
    let (owner, _) = signed_up(client, base).await;
    let queue =
        rest(client, reqwest::Method::POST, format!("{base}/api/v1/queues"), &owner, Some(json!({"name": "support"})))
            .await;
    (owner, queue["id"].clone())
}

/// PostgreSQL stopped for longer than a lease's hold, then RabbitMQ restarted, each while
/// contacts arrive on both replicas and an agent works: every contact the API accepted ends done
/// exactly once, never offered twice; what was refused during a fault window was refused with a
/// clear status (nothing half-done).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_postgresql_then_rabbitmq_under_load_loses_no_accepted_contact() {
    let Some(amqp) = service_url("SWITCHBOARD_TEST_AMQP_URL", "RabbitMQ") else { return };
    let Some(pg) = switchboard_testkit::postgres::PgServer::start() else { return };
    pg.migrate().await;
    let root: PathBuf = std::env::temp_dir().join(format!("sb-faults-{}", uuid::Uuid::new_v4().simple()));
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    let replicas = [
        replica_on(&pg.app_url(), &pg.owner_url(), &amqp, &root.join("a")),
        replica_on(&pg.app_url(), &pg.owner_url(), &amqp, &root.join("b")),
    ];
    all_ready(&client, &replicas).await;
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let (owner, queue) = business(&client, &bases[0]).await;
    let mut socket = connect(&replicas[1].addr, &owner).await;
    assert_eq!(next_json(&mut socket).await["type"], "hello");
    command(&mut socket, json!({"type": "presence", "status": "available"})).await;
    let stop = Arc::new(AtomicBool::new(false));
    let worker = tokio::spawn(work(socket, stop.clone(), client.clone(), bases[1].clone(), owner.clone()));

    // Contacts arrive every 150 ms, alternating replicas; each attempt is tagged with its phase.
    let phase = Arc::new(AtomicUsize::new(0));
    let loading = Arc::new(AtomicBool::new(true));
    let load = tokio::spawn({
        let (client, owner, bases, phase, loading) =
            (client.clone(), owner.clone(), bases.clone(), phase.clone(), loading.clone());
        async move {
            let mut accepted = Vec::new();
            let mut tries = [(0u32, 0u32); 5];
            let mut i = 0;
            while loading.load(Ordering::SeqCst) {
                let started = phase.load(Ordering::SeqCst);
                let res = client
                    .post(format!("{}/api/v1/contacts", bases[i % 2]))
                    .bearer_auth(&owner)
                    .json(&json!({"channel": "voice", "queue_id": queue}))
                    .send()
                    .await;
                // A request that overlapped a fault window (sent just before it began, or still
                // waiting when it ended) counts in that window: the odd phases are the faults.
                let ended = phase.load(Ordering::SeqCst);
                let p = (started..=ended).find(|p| p % 2 == 1).unwrap_or(started);
                tries[p].0 += 1;
                match res {
                    Ok(r) if r.status() == reqwest::StatusCode::CREATED => {
                        let body: Value = r.json().await.expect("json");
                        accepted.push(body["id"].as_str().expect("id").to_owned());
                    }
                    Ok(r) => {
                        let status = r.status();
                        let body = r.text().await.unwrap_or_default();
                        eprintln!("faults: refused in {}: {status} {body}", FAULT_PHASES[p]);
                        assert!(status.is_server_error(), "a fault is a 5xx, not {status}");
                        tries[p].1 += 1;
                    }
                    Err(e) => {
                        eprintln!("faults: refused in {}: {e}", FAULT_PHASES[p]);
                        tries[p].1 += 1;
                    }
                }
                i += 1;
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            (accepted, tries)
        }
    });
    postgresql_then_rabbitmq(&pg, &phase).await;
    loading.store(false, Ordering::SeqCst);
    let (accepted, tries) = load.await.expect("load");
    for (name, (n, failed)) in FAULT_PHASES.iter().zip(tries) {
        eprintln!("faults: {name}: {failed} of {n} new contacts refused");
    }
    assert_eq!(tries[0].1 + tries[2].1 + tries[4].1, 0, "refusals outside the fault windows: {tries:?}");
    assert!(accepted.len() > 40, "{} contacts accepted", accepted.len());

    let took = wait_until("every accepted contact served", Duration::from_secs(120), || {
        all_done(client.clone(), bases[0].clone(), owner.clone(), accepted.clone())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    let served = worker.await.expect("worker");
    eprintln!(
        "faults: {} accepted contacts all served ({served} by the agent), the last {took:?} after the load",
        accepted.len()
    );
    // Every acknowledged completion was stored: none had to be completed a second time.
    assert!(served <= accepted.len(), "{served} completions acknowledged for {} contacts", accepted.len());
    for id in &accepted {
        let c = rest(&client, reqwest::Method::GET, format!("{}/api/v1/contacts/{id}", bases[0]), &owner, None).await;
        assert_clean_history(id, &c);
    }
    drop(replicas);
    let _ = std::fs::remove_dir_all(root);
}
