//! The routing service: one actor per tenant shard drives the sans-IO engine.
//!
//! The actor rebuilds its engine from the store when it starts (queues, agents, open contacts in
//! their original order), feeds it commands from the API, fires its timers (offer deadlines,
//! overflow, wrap-up), persists every contact transition as an event before announcing it, and
//! publishes what happened on the bus (`tenant.<id>.contact.<kind>`,
//! `tenant.<id>.agent.<user>.<kind>`, `tenant.<id>.stats.queues`), where console WebSockets pick
//! it up. Configuration changes reach it through the bus too.
//!
//! Shard ownership: in the embedded default this process drives every tenant. In distributed mode
//! (RabbitMQ configured) tenants fall into [`cluster::SHARDS`] shards, each driven by the one
//! replica holding its lease in the store; the others forward commands to it over the bus
//! (`cluster.rs`).

mod cluster;
mod shard;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_bus::Bus;
use switchboard_bus::Message;
use switchboard_domain::{Contact, ContactId, Presence, QueueId, TenantId, UserId};
use switchboard_routing::{QueueStats, RoutingError};
use switchboard_store::Store;
use tokio::sync::{mpsc, oneshot};

pub use cluster::{BroadcastHandler, Cluster, SHARDS, shard_of};
pub use shard::AgentStatus;

/// A request to a shard.
#[derive(Debug)]
pub enum Command {
    /// Cancel (the customer left).
    Cancel(ContactId, oneshot::Sender<Result<(), RoutingError>>),
    /// An agent's presence.
    Presence(UserId, Presence, oneshot::Sender<Result<(), RoutingError>>),
    /// Accept an offer.
    Accept(ContactId, UserId, oneshot::Sender<Result<(), RoutingError>>),
    /// Decline an offer.
    Reject(ContactId, UserId, oneshot::Sender<Result<(), RoutingError>>),
    /// Finish a contact, with disposition and notes.
    Complete(Completion, oneshot::Sender<Result<(), RoutingError>>),
    /// The agent replied to a text contact.
    Responded(ContactId, oneshot::Sender<Result<(), RoutingError>>),
    /// The connected agent (the `UserId`) hands the contact to a queue or a colleague.
    Transfer(ContactId, UserId, switchboard_routing::TransferTarget, oneshot::Sender<Result<(), RoutingError>>),
    /// A waiting contact moves to another queue.
    Move(ContactId, QueueId, oneshot::Sender<Result<(), RoutingError>>),
    /// Sets attributes on a contact (open or finished), recorded as an `annotated` event with
    /// who set them (`by`).
    Annotate {
        /// The contact.
        contact: ContactId,
        /// Name → value.
        attributes: std::collections::BTreeMap<String, String>,
        /// Who set them (e.g. `plugin:vip`).
        by: String,
        /// The answer.
        reply: oneshot::Sender<Result<(), RoutingError>>,
    },
    /// Queue statistics now.
    Stats(oneshot::Sender<Vec<(QueueId, QueueStats)>>),
    /// Agents now.
    Agents(oneshot::Sender<Vec<AgentStatus>>),
    /// A waiting contact's position and estimated wait.
    Position(ContactId, oneshot::Sender<Option<(u32, Option<u32>)>>),
}

/// An agent finishing a contact.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The contact.
    pub contact: ContactId,
    /// The agent (must be the one connected).
    pub agent: UserId,
    /// Disposition code.
    pub disposition: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Wrap-up seconds (None: the tenant's default).
    pub wrap_up_secs: Option<u32>,
}

/// Why a shard could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// The engine refused the input.
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// The shard stopped (it is restarted on the next request).
    #[error("routing shard unavailable")]
    Gone,
}

/// A shard actor running in this process.
struct Actor {
    tx: mpsc::Sender<Command>,
    /// Dropped to stop the actor (its shard moved to another replica).
    _stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

/// How long a command waits for its shard to have a driver (a shard changing hands).
const OWNER_WAIT: Duration = Duration::from_secs(12);
/// The broadcast asking replicas how many consoles an agent has open on them.
const AGENT_SOCKETS: &str = "agent_sockets";
/// How often stopped actors are started again (embedded mode).
const REVIVE_EVERY: Duration = Duration::from_secs(5);

/// The registry of shards in this process.
#[derive(Clone)]
pub struct Routing {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    shards: Arc<Mutex<HashMap<TenantId, Actor>>>,
    sockets: Arc<Mutex<HashMap<(TenantId, UserId), usize>>>,
    /// Distributed mode: which shards this replica drives; `None` drives them all.
    cluster: Option<Arc<cluster::Cluster>>,
}

impl std::fmt::Debug for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routing").finish_non_exhaustive()
    }
}

impl Routing {
    /// A registry over the store and bus that drives every tenant here; shards start on first use.
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Self {
        Self { store, bus, shards: Arc::default(), sockets: Arc::default(), cluster: None }
    }

    /// A registry for one replica of several: it drives the shards whose leases it holds and
    /// forwards the rest. Must be called within the runtime (it starts the lease keeper).
    pub fn clustered(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Self {
        let cluster = Arc::new(cluster::Cluster::new());
        let routing = Self { cluster: Some(cluster.clone()), ..Self::new(store, bus) };
        // Another replica asks whether an agent still has a console open here.
        let sockets = routing.sockets.clone();
        cluster.on_broadcast(
            AGENT_SOCKETS,
            Arc::new(move |question| {
                let open = serde_json::from_value::<(TenantId, UserId)>(question)
                    .ok()
                    .and_then(|key| sockets.lock().unwrap_or_else(|e| e.into_inner()).get(&key).copied())
                    .unwrap_or(0);
                Box::pin(async move { serde_json::json!({ "open": open }) })
            }),
        );
        tokio::spawn(cluster::keep(cluster, routing.clone()));
        routing
    }

    /// The cluster this replica belongs to (distributed mode).
    pub fn cluster(&self) -> Option<&Arc<cluster::Cluster>> {
        self.cluster.as_ref()
    }

    /// Hands this replica's shards to the others at once (a graceful stop); a no-op outside
    /// distributed mode.
    pub async fn leave(&self) {
        if let Some(c) = &self.cluster {
            cluster::leave(c, self).await;
        }
    }

    /// This replica's name in the cluster, if clustered.
    pub fn node(&self) -> Option<&str> {
        self.cluster.as_deref().map(cluster::Cluster::node)
    }

    /// The shards this replica drives now (distributed mode; all of them otherwise).
    pub fn driven_shards(&self) -> Vec<u32> {
        match &self.cluster {
            Some(c) => c.driven(),
            None => (0..cluster::SHARDS).collect(),
        }
    }

    /// Starts the shards of every tenant driven here, so waiting contacts' timers run after a
    /// restart (in distributed mode the lease keeper does this as it takes shards).
    pub async fn warm(&self) {
        if self.cluster.is_some() {
            return;
        }
        match self.store.tenant_ids().await {
            Ok(ids) => {
                for t in ids {
                    self.local(t);
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not list tenants to start routing"),
        }
        let routing = self.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(REVIVE_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                routing.revive();
            }
        });
    }

    /// Starts again the actors that stopped (a transition could not be stored, or a rebuild
    /// failed while the database was down), so their waiting contacts' timers run without
    /// waiting for the next request. Distributed mode does this as it keeps its leases.
    fn revive(&self) {
        let stopped: Vec<TenantId> = self
            .shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, a)| a.tx.is_closed())
            .map(|(t, _)| *t)
            .collect();
        for tenant in stopped {
            tracing::info!(%tenant, "starting a stopped routing shard again");
            self.local(tenant);
        }
    }

    /// The tenant's shard actor in this process, started if needed; `None` when another replica
    /// drives it.
    fn local(&self, tenant: TenantId) -> Option<mpsc::Sender<Command>> {
        let (clustered, fence) = match &self.cluster {
            Some(c) => match c.fence(cluster::shard_of(tenant)) {
                Some(fence) => (true, Some(fence)),
                None => return None,
            },
            None => (false, None),
        };
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        let restarted = match shards.get(&tenant) {
            Some(actor) if !actor.tx.is_closed() => return Some(actor.tx.clone()),
            Some(_) => true,
            None => false,
        };
        // Agents keep their presence when the shard moved here or its actor stopped and starts
        // again (their consoles stayed connected); after a process start they begin offline.
        let restore_presence = clustered || restarted;
        let (tx, rx) = mpsc::channel(1024);
        let (stop_tx, stop) = oneshot::channel();
        let options = shard::Options { restore_presence, fence };
        let task = tokio::spawn(shard::run(tenant, self.store.clone(), self.bus.clone(), rx, stop, options));
        shards.insert(tenant, Actor { tx: tx.clone(), _stop: stop_tx, task });
        Some(tx)
    }

    /// Whether the tenant's actor runs in this process now.
    fn running(&self, tenant: TenantId) -> bool {
        self.shards.lock().unwrap_or_else(|e| e.into_inner()).get(&tenant).is_some_and(|a| !a.tx.is_closed())
    }

    /// Stops the actors of the tenants in `shard` and waits (a little) for them to finish what
    /// they were doing, before its lease is let go.
    async fn stop_shard(&self, shard: u32) {
        let stopped: Vec<Actor> = {
            let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            let tenants: Vec<TenantId> = shards.keys().copied().filter(|t| cluster::shard_of(*t) == shard).collect();
            tenants.into_iter().filter_map(|t| shards.remove(&t)).collect()
        };
        for actor in stopped {
            drop(actor.tx);
            drop(actor._stop);
            if tokio::time::timeout(Duration::from_secs(3), actor.task).await.is_err() {
                tracing::warn!(shard, "a routing actor did not stop in time");
            }
        }
    }

    /// Asks the tenant's shard, here or on the replica driving it.
    async fn ask<T>(
        &self,
        tenant: TenantId,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ShardError> {
        let (reply, answer) = oneshot::channel();
        let mut command = make(reply);
        let deadline = tokio::time::Instant::now() + OWNER_WAIT;
        loop {
            if let Some(tx) = self.local(tenant) {
                match tx.send(command).await {
                    Ok(()) => return answer.await.map_err(|_| ShardError::Gone),
                    // The actor stopped before taking it: nothing happened yet, try again.
                    Err(mpsc::error::SendError(back)) => command = back,
                }
            } else if let Some(c) = &self.cluster
                && c.driver_of(cluster::shard_of(tenant)).is_some()
            {
                c.forward(&*self.bus, tenant, command).await;
                return answer.await.map_err(|_| ShardError::Gone);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ShardError::Gone);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Asks the tenant's shard only if it runs here (serving a forwarded command).
    async fn ask_here<T>(
        &self,
        tenant: TenantId,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, ShardError> {
        let tx = self.local(tenant).ok_or(ShardError::Gone)?;
        let (reply, answer) = oneshot::channel();
        tx.send(make(reply)).await.map_err(|_| ShardError::Gone)?;
        answer.await.map_err(|_| ShardError::Gone)
    }

    /// Sends a command expecting the engine's verdict.
    pub async fn run(
        &self,
        tenant: TenantId,
        make: impl FnOnce(oneshot::Sender<Result<(), RoutingError>>) -> Command,
    ) -> Result<(), ShardError> {
        Ok(self.ask(tenant, make).await??)
    }

    /// Takes a new contact into routing: stored first (so it is never lost), then announced on
    /// the tenant's routing intake, which the shard consumes.
    pub async fn enqueue(&self, tenant: TenantId, contact: &Contact) -> Result<(), crate::error::ApiError> {
        self.store_new(tenant, contact).await?;
        self.announce(tenant, contact).await;
        Ok(())
    }

    /// Stores a new contact without offering it yet: for contacts whose content must be in place
    /// before an agent sees them (a voicemail's recording). [`Routing::announce`] then routes it;
    /// if that never happens the shard still finds it on its next rebuild.
    pub async fn store_new(&self, tenant: TenantId, contact: &Contact) -> Result<(), crate::error::ApiError> {
        let first = switchboard_domain::ContactEvent {
            seq: 0,
            at: contact.enqueued_at,
            kind: "created".into(),
            data: serde_json::json!({"queue_id": contact.queue_id}),
        };
        self.store.create_contact(tenant, contact, &first).await?;
        Ok(())
    }

    /// Announces a stored contact on the tenant's routing intake.
    pub async fn announce(&self, tenant: TenantId, contact: &Contact) {
        let body = serde_json::json!({"op": "enqueue", "contact_id": contact.id});
        let mut message = Message::new(format!("{}.routing.enqueue", tenant_topic(tenant)), body.to_string());
        // The contact id is the message id: a retried publish is the same message.
        message.id = switchboard_bus::MessageId(contact.id.to_string());
        // The driver's actor must be up to consume the intake; elsewhere, wake it.
        if self.local(tenant).is_none()
            && let Some(c) = self.cluster.clone()
        {
            let bus = self.bus.clone();
            tokio::spawn(async move { c.wake(&*bus, tenant).await });
        }
        if let Err(e) = self.bus.publish(message).await {
            // Stored but not announced: the shard picks it up on its next rebuild.
            tracing::warn!(%tenant, contact = %contact.id, error = %e, "contact stored but not announced");
        }
    }

    /// Queue statistics.
    pub async fn stats(&self, tenant: TenantId) -> Result<Vec<(QueueId, QueueStats)>, ShardError> {
        self.ask(tenant, Command::Stats).await
    }

    /// Agent statuses.
    pub async fn agents(&self, tenant: TenantId) -> Result<Vec<AgentStatus>, ShardError> {
        self.ask(tenant, Command::Agents).await
    }

    /// A contact's position and estimated wait.
    pub async fn position(
        &self,
        tenant: TenantId,
        contact: ContactId,
    ) -> Result<Option<(u32, Option<u32>)>, ShardError> {
        self.ask(tenant, |r| Command::Position(contact, r)).await
    }

    /// A console socket opened for the agent.
    pub fn socket_opened(&self, tenant: TenantId, agent: UserId) {
        *self.sockets.lock().unwrap_or_else(|e| e.into_inner()).entry((tenant, agent)).or_default() += 1;
    }

    /// A console socket closed; true when it was the agent's last one anywhere: in this process,
    /// and (distributed mode) on every other replica that answers within 2 s.
    pub async fn last_socket_closed(&self, tenant: TenantId, agent: UserId) -> bool {
        if !self.socket_closed(tenant, agent) {
            return false;
        }
        let Some(cluster) = &self.cluster else { return true };
        let question = serde_json::json!([tenant, agent]);
        let answers =
            cluster.broadcast(&*self.bus, AGENT_SOCKETS, question, Duration::from_secs(2), |a| a["open"] != 0).await;
        !answers.iter().any(|a| a["open"].as_u64().is_some_and(|n| n > 0))
    }

    /// A console socket closed; true when it was the agent's last one in this process.
    fn socket_closed(&self, tenant: TenantId, agent: UserId) -> bool {
        let mut sockets = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        let n = sockets.entry((tenant, agent)).or_default();
        *n = n.saturating_sub(1);
        if *n == 0 {
            sockets.remove(&(tenant, agent));
            true
        } else {
            false
        }
    }
}

/// The bus topic prefix of a tenant.
pub fn tenant_topic(tenant: TenantId) -> String {
    format!("tenant.{}", tenant.as_uuid().simple())
}

/// The bus topic word of an agent.
pub fn agent_word(agent: UserId) -> String {
    agent.as_uuid().simple().to_string()
}
