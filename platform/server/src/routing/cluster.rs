//! Distributed mode: which replica drives which routing shard.
//!
//! Tenants fall into [`SHARDS`] shards by a hash of their id. Each replica keeps a lease
//! `node:<id>` alive in the store (so everyone knows how many replicas there are) and takes shard
//! leases `shard:<n>` until it holds its fair share; one with more than its share lets one go per
//! round, so a new replica gets work within seconds. A replica drives a shard only while its lease
//! is fresh: when renewing fails for [`HOLD_FOR`] it stops that shard's actors before the lease can
//! expire ([`LEASE_TTL`]) and anyone else can take it, so two replicas never drive one shard. A
//! replica that dies (kill -9) is replaced when its leases expire: the next driver rebuilds the
//! shard from the store and consumes its durable intake queues where the old one stopped.
//!
//! Commands for a shard driven elsewhere go over the bus to `cluster.shard.<n>.request`, which
//! only the driver subscribes to; answers come back on `cluster.node.<id>.reply`. Questions for
//! every other replica (is this call on one of your edges?) go to `cluster.broadcast.<kind>`,
//! answered by the handler each replica registered for that kind.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchboard_bus::{Bus, Message, Subscription};
use switchboard_domain::TenantId;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::wire::{self, Reply, Request, Responder};
use super::{Command, Routing};

/// How many routing shards tenants fall into. Every replica of a deployment must agree on it.
pub const SHARDS: u32 = 16;
/// How long a lease lasts unless renewed (the database's clock).
const LEASE_TTL: Duration = Duration::from_millis(5000);
/// How long after its last successful renewal a replica keeps driving a shard: well inside the
/// lease's lifetime, so it has stopped before anyone else may take over.
const HOLD_FOR: Duration = Duration::from_millis(3000);
/// How often leases are renewed and the share of shards is checked.
const ROUND: Duration = Duration::from_millis(1000);
/// How long a confirmed wake counts (a moved shard's new driver starts its actors itself).
const WOKEN_FOR: Duration = Duration::from_secs(30);
/// How long a forwarded command waits for its answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(8);

/// The shard a tenant falls into (FNV-1a of its id: stable across replicas and releases).
pub fn shard_of(tenant: TenantId) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in tenant.as_uuid().as_bytes() {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % SHARDS
}

fn lease_name(shard: u32) -> String {
    format!("shard:{shard}")
}

/// A shard this replica drives.
struct Driven {
    /// When the last successful renewal started plus [`HOLD_FOR`].
    valid_until: Instant,
    /// The epoch of the lease (logged; grows when a shard changes hands).
    epoch: u64,
    /// Serves forwarded requests for it.
    server: tokio::task::JoinHandle<()>,
}

/// Answers a broadcast question on this replica.
pub type BroadcastHandler =
    Arc<dyn Fn(serde_json::Value) -> futures::future::BoxFuture<'static, serde_json::Value> + Send + Sync>;

/// This replica's view of the cluster.
pub struct Cluster {
    node: String,
    /// Live replicas, as of the last round (this one included).
    nodes: AtomicUsize,
    handlers: Mutex<HashMap<String, BroadcastHandler>>,
    /// Broadcasts waiting for answers.
    gathering: Mutex<HashMap<String, tokio::sync::mpsc::UnboundedSender<serde_json::Value>>>,
    driven: Mutex<HashMap<u32, Driven>>,
    /// Who drives each shard, as of the last round.
    drivers: Mutex<HashMap<u32, String>>,
    pending: Mutex<HashMap<String, Responder>>,
    /// Tenants whose driver confirmed a wake, and when (no need to ask again for a while).
    woken: Mutex<HashMap<TenantId, Instant>>,
    /// Set when the process stops: no more shards are taken.
    leaving: std::sync::atomic::AtomicBool,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    id: String,
    tenant: TenantId,
    reply_to: String,
    request: Request,
}

#[derive(Serialize, Deserialize)]
struct Broadcast {
    id: String,
    from: String,
    payload: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    id: String,
    reply: Reply,
}

impl Cluster {
    /// A new member with a fresh name (a restarted replica is a new member).
    pub fn new() -> Self {
        let node = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
        Self {
            node,
            nodes: AtomicUsize::new(1),
            handlers: Mutex::default(),
            gathering: Mutex::default(),
            driven: Mutex::default(),
            drivers: Mutex::default(),
            pending: Mutex::default(),
            woken: Mutex::default(),
            leaving: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// This replica's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Whether this replica drives `shard` now.
    pub fn drives(&self, shard: u32) -> bool {
        self.driven
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&shard)
            .is_some_and(|d| d.valid_until > Instant::now())
    }

    /// The fence for writes of `shard` while this replica drives it.
    pub fn fence(&self, shard: u32) -> Option<switchboard_store::Fence> {
        let driven = self.driven.lock().unwrap_or_else(|e| e.into_inner());
        let d = driven.get(&shard).filter(|d| d.valid_until > Instant::now())?;
        Some(switchboard_store::Fence { lease: lease_name(shard), holder: self.node.clone(), epoch: d.epoch })
    }

    /// The shards driven here, in order.
    pub fn driven(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.driven.lock().unwrap_or_else(|e| e.into_inner()).keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// The replica driving `shard`, as of the last round.
    pub fn driver_of(&self, shard: u32) -> Option<String> {
        self.drivers.lock().unwrap_or_else(|e| e.into_inner()).get(&shard).cloned()
    }

    /// Sends `command` to the replica driving its tenant's shard; its answer (or its absence,
    /// after [`FORWARD_TIMEOUT`]) reaches the command's own reply channel.
    pub async fn forward(&self, bus: &dyn Bus, tenant: TenantId, command: Command) {
        let (request, responder) = command.into_wire();
        if let Some(reply) = self.call(bus, tenant, request).await {
            responder.answer(reply);
        }
    }

    /// Makes the driver start the tenant's actor (so it consumes the tenant's intake).
    pub async fn wake(&self, bus: &dyn Bus, tenant: TenantId) {
        let recently = self
            .woken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&tenant)
            .is_some_and(|at| at.elapsed() < WOKEN_FOR);
        if recently {
            return;
        }
        if matches!(self.call(bus, tenant, Request::Wake).await, Some(Reply::Done(Ok(())))) {
            let mut woken = self.woken.lock().unwrap_or_else(|e| e.into_inner());
            woken.retain(|_, at| at.elapsed() < WOKEN_FOR);
            woken.insert(tenant, Instant::now());
        } else {
            // The shard's intake queue keeps the announcement, and the driver's periodic look
            // at the store finds the contact anyway.
            tracing::info!(%tenant, "the replica driving this tenant did not confirm a wake");
        }
    }

    async fn call(&self, bus: &dyn Bus, tenant: TenantId, request: Request) -> Option<Reply> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (relay, relayed) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), Responder::Relay(relay));
        let envelope = Envelope { id: id.clone(), tenant, reply_to: self.node.clone(), request };
        let body = match serde_json::to_vec(&envelope) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "a routing request could not be encoded");
                return None;
            }
        };
        let topic = format!("cluster.shard.{}.request", shard_of(tenant));
        if let Err(e) = bus.publish(Message::new(topic, body)).await {
            tracing::warn!(%tenant, error = %e, "a routing request could not be forwarded");
            self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            return None;
        }
        let reply = tokio::time::timeout(FORWARD_TIMEOUT, relayed).await.ok().and_then(Result::ok);
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        if reply.is_none() {
            tracing::warn!(%tenant, "no answer from the replica driving this tenant");
        }
        reply
    }

    /// Registers this replica's answer to broadcasts of `kind` (a topic word).
    pub fn on_broadcast(&self, kind: &str, handler: BroadcastHandler) {
        self.handlers.lock().unwrap_or_else(|e| e.into_inner()).insert(kind.to_owned(), handler);
    }

    /// Asks every other live replica; gathers answers until one satisfies `enough`, all of them
    /// answered, or `within` passed. The caller asks this replica itself.
    pub async fn broadcast(
        &self,
        bus: &dyn Bus,
        kind: &str,
        payload: serde_json::Value,
        within: Duration,
        enough: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let others = self.nodes.load(Ordering::SeqCst).saturating_sub(1);
        if others == 0 {
            return Vec::new();
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.gathering.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), tx);
        let question = Broadcast { id: id.clone(), from: self.node.clone(), payload };
        let mut answers = Vec::new();
        let sent = match serde_json::to_vec(&question) {
            Ok(body) => bus.publish(Message::new(format!("cluster.broadcast.{kind}"), body)).await.is_ok(),
            Err(_) => false,
        };
        if sent {
            let deadline = Instant::now() + within;
            while answers.len() < others {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(answer)) => {
                        let done = enough(&answer);
                        answers.push(answer);
                        if done {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        self.gathering.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        answers
    }

    fn answered(&self, answer: Answer) {
        if let Reply::Broadcast(value) = answer.reply {
            if let Some(tx) = self.gathering.lock().unwrap_or_else(|e| e.into_inner()).get(&answer.id) {
                let _ = tx.send(value);
            }
            return;
        }
        let slot = self.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&answer.id);
        if let Some(slot) = slot {
            slot.answer(answer.reply);
        }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.node).field("driven", &self.driven()).finish_non_exhaustive()
    }
}

impl Default for Cluster {
    fn default() -> Self {
        Self::new()
    }
}

/// Keeps this replica's leases and shards for as long as the process runs.
pub async fn keep(cluster: Arc<Cluster>, routing: Routing) {
    use tracing::Instrument;
    let span = tracing::info_span!("cluster", node = %cluster.node);
    keep_in_span(cluster, routing).instrument(span).await;
}

async fn keep_in_span(cluster: Arc<Cluster>, routing: Routing) {
    let answers = loop {
        let topic = format!("cluster.node.{}.reply", cluster.node);
        match routing.bus.subscribe(Subscription::transient(&[&topic])).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hear answers yet; retrying");
                tokio::time::sleep(ROUND).await;
            }
        }
    };
    let hearing = cluster.clone();
    tokio::spawn(async move {
        let mut answers = answers;
        while let Some(d) = answers.next().await {
            match serde_json::from_slice::<Answer>(&d.message.payload) {
                Ok(a) => hearing.answered(a),
                Err(e) => tracing::warn!(error = %e, "malformed routing answer dropped"),
            }
            let _ = d.ack().await;
        }
    });
    let questions = loop {
        match routing.bus.subscribe(Subscription::transient(&["cluster.broadcast.*"])).await {
            Ok(s) => break s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot hear broadcasts yet; retrying");
                tokio::time::sleep(ROUND).await;
            }
        }
    };
    tokio::spawn(answer_broadcasts(cluster.clone(), routing.bus.clone(), questions));
    tracing::info!(shards = SHARDS, "joining the routing cluster");
    let mut round = tokio::time::interval(ROUND);
    round.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rounds: u64 = 0;
    loop {
        round.tick().await;
        rounds += 1;
        one_round(&cluster, &routing, rounds).await;
    }
}

/// Hands every shard over at once (the process is stopping): actors stop, leases are released,
/// and this replica's membership ends, so the others take over now rather than when the leases
/// would have expired.
pub async fn leave(cluster: &Arc<Cluster>, routing: &Routing) {
    cluster.leaving.store(true, Ordering::SeqCst);
    for shard in cluster.driven() {
        let_go(cluster, routing, shard, true).await;
    }
    if let Err(e) = routing.store.release_lease(&format!("node:{}", cluster.node), &cluster.node).await {
        tracing::warn!(error = %e, "could not end this replica's membership; it expires by itself");
    }
    tracing::info!("left the routing cluster");
}

async fn one_round(cluster: &Arc<Cluster>, routing: &Routing, rounds: u64) {
    if cluster.leaving.load(Ordering::SeqCst) {
        return;
    }
    let store = &routing.store;
    let ttl = i64::try_from(LEASE_TTL.as_millis()).unwrap_or(5000);
    let started = Instant::now();
    // 1. Renew what we drive; a shard whose renewal fails or was taken stops when its hold ends.
    for shard in cluster.driven() {
        match store.acquire_lease(&lease_name(shard), &cluster.node, ttl).await {
            Ok(Some(epoch)) => {
                if let Some(d) = cluster.driven.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&shard) {
                    d.valid_until = started + HOLD_FOR;
                    d.epoch = epoch;
                }
            }
            Ok(None) => {
                tracing::warn!(shard, "shard lease taken by another replica; stopping it here");
                let_go(cluster, routing, shard, false).await;
            }
            Err(e) => tracing::warn!(shard, error = %e, "could not renew a shard lease"),
        }
    }
    // 2. Anything whose hold ran out (the store unreachable) stops now, before its lease expires.
    let expired: Vec<u32> = cluster
        .driven
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, d)| d.valid_until <= Instant::now())
        .map(|(s, _)| *s)
        .collect();
    for shard in expired {
        tracing::warn!(shard, "shard lease not renewed in time; stopping it here");
        let_go(cluster, routing, shard, false).await;
    }
    // 3. Who is alive and who drives what.
    if let Err(e) = store.acquire_lease(&format!("node:{}", cluster.node), &cluster.node, ttl).await {
        tracing::warn!(error = %e, "could not renew this replica's membership");
        return;
    }
    let leases = match store.live_leases("").await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the leases");
            return;
        }
    };
    let nodes = leases.iter().filter(|l| l.name.starts_with("node:")).count().max(1);
    cluster.nodes.store(nodes, Ordering::SeqCst);
    let drivers: HashMap<u32, String> = leases
        .iter()
        .filter_map(|l| Some((l.name.strip_prefix("shard:")?.parse::<u32>().ok()?, l.holder.clone())))
        .filter(|(s, _)| *s < SHARDS)
        .collect();
    *cluster.drivers.lock().unwrap_or_else(|e| e.into_inner()) = drivers.clone();
    let share = SHARDS.div_ceil(u32::try_from(nodes).unwrap_or(1)) as usize;
    let mine = cluster.driven().len();
    // 4. Take free shards up to our share; give one back per round above it.
    if mine < share {
        for shard in (0..SHARDS).filter(|s| !drivers.contains_key(s)).take(share - mine) {
            match store.acquire_lease(&lease_name(shard), &cluster.node, ttl).await {
                Ok(Some(epoch)) => take(cluster, routing, shard, epoch, started).await,
                Ok(None) => {}
                Err(e) => tracing::warn!(shard, error = %e, "could not take a shard lease"),
            }
        }
    } else if mine > share
        && let Some(shard) = cluster.driven().last().copied()
    {
        tracing::info!(shard, nodes, share, "handing a shard over to rebalance");
        let_go(cluster, routing, shard, true).await;
    }
    // 5. Actors that stopped (a transition not stored) start again from the store; now and
    // then, actors start for tenants that signed up since (their intake needs one).
    routing.revive();
    if rounds % 10 == 1 {
        start_tenants(cluster, routing, None).await;
    }
}

/// Starts driving `shard`: answer forwarded requests, then start its tenants' actors (each
/// rebuilds from the store).
async fn take(cluster: &Arc<Cluster>, routing: &Routing, shard: u32, epoch: u64, started: Instant) {
    let requests =
        match routing.bus.subscribe(Subscription::transient(&[&format!("cluster.shard.{shard}.request")])).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(shard, error = %e, "cannot hear requests for the shard; leaving it");
                let _ = routing.store.release_lease(&lease_name(shard), &cluster.node).await;
                return;
            }
        };
    let server = tokio::spawn(serve_requests(routing.clone(), requests));
    cluster
        .driven
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(shard, Driven { valid_until: started + HOLD_FOR, epoch, server });
    cluster.drivers.lock().unwrap_or_else(|e| e.into_inner()).insert(shard, cluster.node.clone());
    tracing::info!(shard, epoch, "driving routing shard");
    start_tenants(cluster, routing, Some(shard)).await;
}

async fn start_tenants(cluster: &Arc<Cluster>, routing: &Routing, only: Option<u32>) {
    match routing.store.tenant_ids().await {
        Ok(ids) => {
            for t in ids {
                let shard = shard_of(t);
                if only.is_none_or(|s| s == shard) && cluster.drives(shard) {
                    routing.local(t);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not list tenants to start routing"),
    }
}

/// Stops driving `shard`; with `release`, frees its lease at once for another replica.
async fn let_go(cluster: &Arc<Cluster>, routing: &Routing, shard: u32, release: bool) {
    let driven = cluster.driven.lock().unwrap_or_else(|e| e.into_inner()).remove(&shard);
    if let Some(d) = driven {
        d.server.abort();
        tracing::info!(shard, epoch = d.epoch, "no longer driving routing shard");
    }
    routing.stop_shard(shard).await;
    if release {
        if let Err(e) = routing.store.release_lease(&lease_name(shard), &cluster.node).await {
            tracing::warn!(shard, error = %e, "could not release a shard lease; it expires by itself");
        }
        cluster.drivers.lock().unwrap_or_else(|e| e.into_inner()).remove(&shard);
    }
}

async fn answer_broadcasts(
    cluster: Arc<Cluster>,
    bus: Arc<dyn Bus>,
    mut questions: Box<dyn switchboard_bus::Consumer>,
) {
    while let Some(d) = questions.next().await {
        let kind = d.message.topic.rsplit('.').next().unwrap_or_default().to_owned();
        let question = serde_json::from_slice::<Broadcast>(&d.message.payload);
        let _ = d.ack().await;
        let Ok(question) = question else {
            tracing::warn!("malformed broadcast dropped");
            continue;
        };
        if question.from == cluster.node {
            continue;
        }
        let handler = cluster.handlers.lock().unwrap_or_else(|e| e.into_inner()).get(&kind).cloned();
        let bus = bus.clone();
        tokio::spawn(async move {
            let value = match handler {
                Some(h) => h(question.payload).await,
                None => serde_json::Value::Null,
            };
            let answer = Answer { id: question.id, reply: Reply::Broadcast(value) };
            let Ok(body) = serde_json::to_vec(&answer) else { return };
            if let Err(e) = bus.publish(Message::new(format!("cluster.node.{}.reply", question.from), body)).await {
                tracing::warn!(error = %e, "a broadcast answer could not be sent");
            }
        });
    }
}

async fn serve_requests(routing: Routing, mut requests: Box<dyn switchboard_bus::Consumer>) {
    while let Some(d) = requests.next().await {
        let envelope = serde_json::from_slice::<Envelope>(&d.message.payload);
        let _ = d.ack().await;
        let Ok(envelope) = envelope else {
            tracing::warn!("malformed routing request dropped");
            continue;
        };
        let routing = routing.clone();
        // Each in its own task: a slow shard must not hold up another tenant's commands.
        tokio::spawn(async move {
            let reply = wire::serve(&routing, envelope.tenant, envelope.request).await;
            let answer = Answer { id: envelope.id, reply };
            let Ok(body) = serde_json::to_vec(&answer) else { return };
            let topic = format!("cluster.node.{}.reply", envelope.reply_to);
            if let Err(e) = routing.bus.publish(Message::new(topic, body)).await {
                tracing::warn!(error = %e, "a routing answer could not be sent");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_spread_over_every_shard() {
        let mut counts = [0u32; SHARDS as usize];
        for _ in 0..16_000 {
            counts[shard_of(TenantId::generate()) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (700..1300).contains(c)), "{counts:?}");
        let t = TenantId::generate();
        assert_eq!(shard_of(t), shard_of(t));
    }
}
