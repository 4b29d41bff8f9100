//! One tenant shard: the engine, its rebuild, its timers, and persisting what it decides.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use switchboard_bus::{Bus, Message, Subscription};
use switchboard_domain::{
    AgentActivity, Channel, Contact, ContactEvent, ContactId, ContactState, CustomerId, Presence, Queue, QueueId,
    RoutingRules, TenantId, UnixMillis, User, UserId, UserStatus,
};
use switchboard_routing::{
    AgentProfile, Engine, Input, NewContact, Output, QueueRouting, RestoredContact, RoutingError,
};
use switchboard_store::{PageRequest, Store};
use tokio::sync::{mpsc, oneshot};

use super::{Command, agent_word, tenant_topic};
use crate::auth::now_ms;

/// An agent as supervisors see them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AgentStatus {
    /// The agent.
    pub agent_id: UserId,
    /// What they are doing.
    pub activity: AgentActivity,
    /// What they said.
    pub presence: Presence,
    /// Capacity units in use.
    pub load: u32,
}

/// How a shard starts.
#[derive(Debug, Clone)]
pub struct Options {
    /// Put agents back in the presence they last had (the shard moved between replicas while
    /// their consoles stayed connected), rather than offline as after a restart.
    pub restore_presence: bool,
    /// Distributed mode: contact transitions are written only while this replica still holds the
    /// shard's lease at the epoch it took it (a replica paused past its hold cannot write after
    /// its successor took over).
    pub fence: Option<switchboard_store::Fence>,
}

struct Shard {
    options: Options,
    /// A transition could not be stored (the database failed, or a fenced write was refused
    /// because another replica drives the shard now): the engine is ahead of the store, so
    /// nothing more is answered and the actor stops; it starts again from the store.
    unsynced: bool,
    /// The presence last stored per agent (stored again only when it changes).
    presence_saved: HashMap<UserId, Presence>,
    tenant: TenantId,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    engine: Engine,
    open: HashMap<ContactId, Contact>,
    customers: HashMap<String, CustomerId>,
    agents: Vec<UserId>,
    topic: String,
    stats_dirty: bool,
}

/// Runs a shard until every sender is gone or `stop` fires (its shard moved elsewhere).
pub async fn run(
    tenant: TenantId,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    rx: mpsc::Receiver<Command>,
    stop: oneshot::Receiver<()>,
    options: Options,
) {
    use tracing::Instrument;
    // Instrumented rather than entered: an entered span would leak onto whatever else this
    // worker thread runs between the awaits.
    let span = tracing::info_span!("routing", %tenant);
    drive(tenant, store, bus, rx, stop, options).instrument(span).await;
}

async fn drive(
    tenant: TenantId,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    mut rx: mpsc::Receiver<Command>,
    mut stop: oneshot::Receiver<()>,
    options: Options,
) {
    let topic = tenant_topic(tenant);
    let mut shard = Shard {
        options,
        unsynced: false,
        presence_saved: HashMap::new(),
        tenant,
        store,
        bus: bus.clone(),
        engine: Engine::new(RoutingRules::default()),
        open: HashMap::new(),
        customers: HashMap::new(),
        agents: Vec::new(),
        topic: topic.clone(),
        stats_dirty: true,
    };
    let mut config = match bus.subscribe(Subscription::transient(&[&format!("{topic}.config.#")])).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e, "no configuration updates for this shard");
            None
        }
    };
    // Intake first, then rebuild: a contact stored meanwhile arrives twice and the second is ignored.
    let intake = bus
        .subscribe(Subscription::durable(
            format!("switchboard.routing.{}", tenant.as_uuid().simple()),
            &[&format!("{topic}.routing.#")],
        ))
        .await;
    let mut intake = match intake {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "routing shard has no intake; it stops and restarts on the next request");
            return;
        }
    };
    if let Err(e) = shard.rebuild().await {
        tracing::error!(error = %e, "routing shard could not rebuild; it stops and restarts on the next request");
        return;
    }
    shard.flush().await;
    let mut stats_every = tokio::time::interval(Duration::from_secs(1));
    // A contact stored while its announcement could not be published (the broker restarting)
    // is found here rather than waiting for the next rebuild.
    let mut reconcile_every = tokio::time::interval(RECONCILE_EVERY);
    reconcile_every.reset();
    loop {
        let deadline = shard.engine.next_deadline();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep(Duration::from_millis((at - now_ms()).max(0) as u64)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = &mut stop => break,
            () = async {}, if shard.unsynced => {
                tracing::warn!("a transition was not stored; the shard stops and starts again from the store");
                break;
            }
            cmd = rx.recv() => match cmd {
                Some(cmd) => shard.command(cmd).await,
                None => break,
            },
            delivery = intake.next() => match delivery {
                Some(d) => {
                    shard.intake(&d.message.payload).await;
                    shard.flush().await;
                    let _ = d.ack().await;
                }
                None => break,
            },
            delivery = async {
                match config.as_mut() {
                    Some(c) => c.next().await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(d) = delivery {
                    let _ = d.ack().await;
                    if let Err(e) = shard.reload().await {
                        tracing::warn!(error = %e, "reloading configuration failed");
                    }
                }
            }
            () = sleep => {
                let _ = shard.engine.handle(Input::Tick, now_ms());
            }
            _ = reconcile_every.tick() => shard.reconcile().await,
            _ = stats_every.tick() => {
                if shard.stats_dirty {
                    shard.publish_stats().await;
                }
            }
        }
        shard.flush().await;
    }
}

/// How often a shard looks in the store for waiting contacts it was never told about.
const RECONCILE_EVERY: Duration = Duration::from_secs(10);

fn profile(u: &User) -> AgentProfile {
    AgentProfile { id: u.id, skills: u.skills.clone(), capacity: u.capacity, costs: u.channel_costs.clone() }
}

impl Shard {
    async fn users(&self) -> Result<Vec<User>, switchboard_store::StoreError> {
        let mut users = Vec::new();
        let mut page = PageRequest { limit: 200, after: None };
        loop {
            let p = self.store.list_users(self.tenant, &page).await?;
            users.extend(p.items);
            match p.next_cursor {
                Some(c) => page.after = Some(c),
                None => return Ok(users),
            }
        }
    }

    /// Loads queues and agents into the engine (adds, updates and removes).
    async fn reload(&mut self) -> Result<(), switchboard_store::StoreError> {
        let now = now_ms();
        let rules = (&*self.store as &dyn Store)
            .get::<RoutingRules>(self.tenant, switchboard_store::ROUTING_RULES_ID)
            .await?
            .unwrap_or_default();
        if &rules != self.engine.rules() {
            let _ = self.engine.handle(Input::SetRules(rules), now);
        }
        let queues: Vec<Queue> = (&*self.store as &dyn Store).all(self.tenant).await?;
        let known: Vec<QueueId> = self.engine.queue_ids().collect();
        for q in &queues {
            if let Err(e) = self.engine.handle(Input::ConfigureQueue(QueueRouting::from(q)), now) {
                tracing::warn!(queue = %q.id, error = %e, "queue not routable");
            }
        }
        for gone in known.into_iter().filter(|k| !queues.iter().any(|q| q.id == *k)) {
            let _ = self.engine.handle(Input::RemoveQueue(gone), now);
        }
        let users = self.users().await?;
        let active: Vec<&User> = users.iter().filter(|u| u.status == UserStatus::Active).collect();
        for u in &active {
            let _ = self.engine.handle(Input::Agent(profile(u)), now);
        }
        for gone in self.agents.clone().into_iter().filter(|a| !active.iter().any(|u| u.id == *a)) {
            let _ = self.engine.handle(Input::RemoveAgent(gone), now);
        }
        self.agents = active.iter().map(|u| u.id).collect();
        self.stats_dirty = true;
        Ok(())
    }

    /// Rebuilds from the store: configuration, then open contacts in their original order.
    async fn rebuild(&mut self) -> Result<(), switchboard_store::StoreError> {
        self.reload().await?;
        let now = now_ms();
        for (agent, presence) in self.store.agent_presences(self.tenant).await? {
            let Ok(presence) = serde_json::from_str::<Presence>(&presence) else { continue };
            self.presence_saved.insert(agent, presence.clone());
            if self.options.restore_presence && presence != Presence::Offline && self.agents.contains(&agent) {
                let _ = self.engine.handle(Input::Presence { agent, presence }, now);
            }
        }
        for mut c in self.store.open_contacts(self.tenant).await? {
            if c.state == ContactState::Offered
                && let Some(agent) = c.agent_id
            {
                // The offer died with the shard's last driver: withdrawn on the record (and on the
                // agent's console) before the contact is offered again.
                c.state = ContactState::Queued;
                c.agent_id = None;
                c.updated_at = now;
                let data = json!({"agent_id": agent, "reason": "shard_moved"});
                let event = ContactEvent { seq: 0, at: now, kind: "offer_withdrawn".into(), data: data.clone() };
                self.save(&c, &event).await?;
                let mut body = data;
                body["type"] = json!("contact");
                body["event"] = json!("offer_withdrawn");
                body["contact_id"] = json!(c.id);
                body["state"] = json!(c.state);
                body["channel"] = json!(c.channel);
                body["at"] = json!(now);
                self.publish(format!("{}.agent.{}.contact", self.topic, agent_word(agent)), body.clone()).await;
                self.publish(format!("{}.contact.offer_withdrawn", self.topic), body).await;
            }
            if c.state == ContactState::WrapUp {
                // Wrap-up does not survive a restart: the contact is done.
                c.state = ContactState::Done;
                c.updated_at = now;
                let event = ContactEvent { seq: 0, at: now, kind: "done".into(), data: json!({"reason": "restart"}) };
                self.save(&c, &event).await?;
                continue;
            }
            let agent = (c.state == ContactState::Connected).then_some(c.agent_id).flatten();
            let restored = RestoredContact { contact: self.new_contact(&c), enqueued_at: c.enqueued_at, agent };
            match self.engine.handle(Input::Restore(restored), now) {
                Ok(()) => {
                    self.open.insert(c.id, c);
                }
                Err(e) => {
                    tracing::warn!(contact = %c.id, error = %e, "open contact could not be restored");
                    c.state = ContactState::Failed;
                    c.updated_at = now;
                    let event =
                        ContactEvent { seq: 0, at: now, kind: "failed".into(), data: json!({"reason": e.to_string()}) };
                    self.save(&c, &event).await?;
                }
            }
        }
        tracing::info!(open = self.open.len(), "routing shard ready");
        Ok(())
    }

    /// Stores a contact transition (fenced by the shard's lease in distributed mode).
    async fn save(&mut self, contact: &Contact, event: &ContactEvent) -> Result<(), switchboard_store::StoreError> {
        let result = match &self.options.fence {
            Some(fence) => self.store.update_contact_fenced(self.tenant, contact, event, fence).await,
            None => self.store.update_contact(self.tenant, contact, event).await,
        };
        match &result {
            Ok(()) => {}
            Err(switchboard_store::StoreError::Fenced(why)) => {
                tracing::warn!(contact = %contact.id, %why, "transition refused: the shard moved");
                self.unsynced = true;
            }
            Err(_) => self.unsynced = true,
        }
        result
    }

    /// Takes in every waiting contact of the store that routing does not know.
    async fn reconcile(&mut self) {
        match self.store.open_contacts(self.tenant).await {
            Ok(contacts) => {
                // Young ones are left alone: a voicemail is stored first and announced once its
                // recording is in place.
                let settled = now_ms() - 15_000;
                for c in contacts {
                    if c.state == ContactState::Queued && c.enqueued_at < settled && !self.open.contains_key(&c.id) {
                        tracing::info!(contact = %c.id, "routing a contact whose announcement never arrived");
                        self.take_in(c.id).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for unannounced contacts"),
        }
    }

    /// A message from the intake queue: `{"op": "enqueue", "contact_id": ..}`. At least once:
    /// a contact already routed (or already over) is ignored.
    async fn intake(&mut self, payload: &[u8]) {
        let Ok(msg) = serde_json::from_slice::<serde_json::Value>(payload) else {
            tracing::warn!("malformed routing intake message dropped");
            return;
        };
        let Some(id) = msg["contact_id"].as_str().and_then(|s| s.parse::<ContactId>().ok()) else { return };
        if msg["op"] == "enqueue" {
            self.take_in(id).await;
        }
    }

    /// Routes a stored contact the engine does not know yet (its intake message may still be on
    /// its way); a no-op for contacts already routed or over.
    async fn take_in(&mut self, id: ContactId) {
        if self.open.contains_key(&id) {
            return;
        }
        let contact = match self.store.contact(self.tenant, id).await {
            Ok(Some(c)) if c.state == ContactState::Queued => c,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(contact = %id, error = %e, "intake could not read the contact");
                return;
            }
        };
        let input = Input::Enqueue(self.new_contact(&contact));
        self.open.insert(id, contact);
        if let Err(e) = self.engine.handle(input, now_ms()) {
            tracing::warn!(contact = %id, error = %e, "contact not routable");
            self.open.remove(&id);
        }
    }

    fn new_contact(&mut self, c: &Contact) -> NewContact {
        let customer =
            c.customer.as_ref().map(|k| *self.customers.entry(k.clone()).or_insert_with(CustomerId::generate));
        NewContact {
            id: c.id,
            channel: c.channel,
            queue: c.queue_id,
            priority: Some(c.priority),
            skills: c.skills.clone(),
            customer,
        }
    }

    /// Answers a command, unless a transition it caused could not be stored: then the caller
    /// hears nothing (the API says 503, try again) rather than a success the store does not hold.
    fn answer<T>(&self, reply: oneshot::Sender<T>, value: T) {
        if !self.unsynced {
            let _ = reply.send(value);
        }
    }

    /// Applies a command. Transitions are persisted before the caller hears back, so what the API
    /// answers is already in the store.
    async fn command(&mut self, cmd: Command) {
        let now = now_ms();
        match cmd {
            Command::Cancel(id, reply) => {
                self.take_in(id).await;
                let result = self.engine.handle(Input::Cancel(id), now);
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Presence(agent, presence, reply) => {
                let mut result = self.engine.handle(Input::Presence { agent, presence: presence.clone() }, now);
                if result == Err(RoutingError::UnknownAgent) {
                    // A user activated moments ago (its notice may still be on the way): look again.
                    if let Err(e) = self.reload().await {
                        tracing::warn!(error = %e, "reload for a new agent failed");
                    }
                    result = self.engine.handle(Input::Presence { agent, presence }, now);
                }
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Accept(contact, agent, reply) => {
                let result = self.engine.handle(Input::Accept { contact, agent }, now);
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Reject(contact, agent, reply) => {
                let result = self.engine.handle(Input::Reject { contact, agent }, now);
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Responded(contact, reply) => {
                let result = self.engine.handle(Input::Responded(contact), now);
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Transfer(contact, agent, to, reply) => {
                match self.open.get(&contact) {
                    None => {
                        self.answer(reply, Err(RoutingError::UnknownContact));
                        return;
                    }
                    Some(c) if c.agent_id != Some(agent) => {
                        self.answer(reply, Err(RoutingError::NotConnected));
                        return;
                    }
                    Some(_) => {}
                }
                let result = self.engine.handle(Input::Transfer { contact, to }, now);
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Complete(done, reply) => {
                match self.open.get(&done.contact) {
                    None => {
                        self.answer(reply, Err(RoutingError::UnknownContact));
                        return;
                    }
                    Some(c) if c.agent_id != Some(done.agent) => {
                        self.answer(reply, Err(RoutingError::NotConnected));
                        return;
                    }
                    Some(_) => {}
                }
                if let Some(c) = self.open.get_mut(&done.contact) {
                    c.disposition = done.disposition;
                    c.notes = done.notes;
                }
                let input = Input::Complete { contact: done.contact, wrap_up_secs: done.wrap_up_secs };
                let result = self.engine.handle(input, now);
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Move(contact, queue, reply) => {
                self.take_in(contact).await;
                let result = self.engine.handle(Input::Move { contact, queue }, now);
                self.flush().await;
                self.answer(reply, result);
            }
            Command::Annotate { contact, attributes, by, reply } => {
                let result = self.annotate(contact, attributes, by, now).await;
                self.answer(reply, result);
            }
            Command::Stats(reply) => {
                let stats =
                    self.engine.queue_ids().filter_map(|q| self.engine.queue_stats(q, now).map(|s| (q, s))).collect();
                self.answer(reply, stats);
            }
            Command::Agents(reply) => {
                let agents = self
                    .agents
                    .iter()
                    .filter_map(|a| {
                        self.engine.agent_state(*a).map(|(activity, presence, load)| AgentStatus {
                            agent_id: *a,
                            activity,
                            presence,
                            load,
                        })
                    })
                    .collect();
                self.answer(reply, agents);
            }
            Command::Position(id, reply) => {
                self.answer(reply, self.engine.position(id));
            }
        }
    }

    /// Sets attributes on a contact: the shard's copy when it is open (the next transition must
    /// not write the old ones back), else the stored one.
    async fn annotate(
        &mut self,
        id: ContactId,
        attributes: std::collections::BTreeMap<String, String>,
        by: String,
        now: UnixMillis,
    ) -> Result<(), RoutingError> {
        let mut contact = match self.open.get(&id) {
            Some(c) => c.clone(),
            None => match self.store.contact(self.tenant, id).await {
                Ok(Some(c)) => c,
                Ok(None) => return Err(RoutingError::UnknownContact),
                Err(e) => {
                    tracing::warn!(contact = %id, error = %e, "annotation: contact unreadable");
                    return Err(RoutingError::UnknownContact);
                }
            },
        };
        for (k, v) in &attributes {
            contact.attributes.insert(k.clone(), v.clone());
        }
        contact.updated_at = now;
        let event = ContactEvent {
            seq: 0,
            at: now,
            kind: "annotated".into(),
            data: json!({"by": by, "attributes": attributes}),
        };
        if let Err(e) = self.save(&contact, &event).await {
            tracing::error!(contact = %id, error = %e, "annotation not stored");
            return Err(RoutingError::Invalid("the contact could not be stored"));
        }
        if let Some(open) = self.open.get_mut(&id) {
            *open = contact.clone();
        }
        let body = json!({
            "type": "contact", "event": "annotated", "contact_id": id, "state": contact.state,
            "channel": contact.channel, "at": now, "by": by, "attributes": contact.attributes,
        });
        if let Some(agent) = contact.agent_id {
            self.publish(format!("{}.agent.{}.contact", self.topic, agent_word(agent)), body.clone()).await;
        }
        self.publish(format!("{}.contact.annotated", self.topic), body).await;
        Ok(())
    }

    /// Persists and announces everything the engine decided.
    async fn flush(&mut self) {
        // Once a transition failed to be stored the rest are not tried: the actor stops and the
        // engine is rebuilt from the store.
        while !self.unsynced
            && let Some((at, out)) = self.engine.poll_event()
        {
            self.stats_dirty = true;
            self.record(at, &out).await;
        }
    }

    async fn publish(&self, topic: String, body: serde_json::Value) {
        if let Err(e) = self.bus.publish(Message::new(topic, body.to_string())).await {
            tracing::warn!(error = %e, "routing event not published");
        }
    }

    async fn publish_stats(&mut self) {
        self.stats_dirty = false;
        let now = now_ms();
        let queues: Vec<serde_json::Value> = self
            .engine
            .queue_ids()
            .filter_map(|q| self.engine.queue_stats(q, now).map(|s| json!({"queue_id": q, "stats": s})))
            .collect();
        self.publish(format!("{}.stats.queues", self.topic), json!({"type": "queue_stats", "queues": queues})).await;
    }

    async fn record(&mut self, at: UnixMillis, out: &Output) {
        if let Output::AgentChanged { agent, activity, presence } = out {
            if self.presence_saved.get(agent) != Some(presence) {
                match serde_json::to_string(presence) {
                    Ok(p) => match self.store.set_agent_presence(self.tenant, *agent, &p, at).await {
                        Ok(()) => {
                            self.presence_saved.insert(*agent, presence.clone());
                        }
                        Err(e) => tracing::warn!(%agent, error = %e, "agent presence not stored"),
                    },
                    Err(e) => tracing::warn!(%agent, error = %e, "agent presence not encodable"),
                }
            }
            let body =
                json!({"type": "agent", "agent_id": agent, "activity": activity, "presence": presence, "at": at});
            self.publish(format!("{}.agent.{}.state", self.topic, agent_word(*agent)), body).await;
            return;
        }
        let Some(id) = out.contact() else { return };
        let Some(mut contact) = self.open.get(&id).cloned() else { return };
        let (kind, data, state, agent): (&str, serde_json::Value, ContactState, Option<Option<UserId>>) = match out {
            Output::Queued { queue, estimated_wait_secs, .. } => {
                contact.queue_id = *queue;
                (
                    "queued",
                    json!({"queue_id": queue, "estimated_wait_secs": estimated_wait_secs}),
                    ContactState::Queued,
                    Some(None),
                )
            }
            Output::Offered { agent, queue, deadline, .. } => (
                "offered",
                json!({"agent_id": agent, "queue_id": queue, "deadline": deadline}),
                ContactState::Offered,
                Some(Some(*agent)),
            ),
            Output::OfferWithdrawn { agent, reason, .. } => {
                ("offer_withdrawn", json!({"agent_id": agent, "reason": reason}), ContactState::Queued, Some(None))
            }
            Output::Connected { agent, waited_ms, .. } => (
                "connected",
                json!({"agent_id": agent, "waited_ms": waited_ms}),
                ContactState::Connected,
                Some(Some(*agent)),
            ),
            Output::Requeued { agent, .. } => {
                ("requeued", json!({"agent_id": agent, "reason": "unanswered"}), ContactState::Queued, Some(None))
            }
            Output::Transferred { from, queue, to_agent, .. } => (
                "transferred",
                json!({"from_agent_id": from, "queue_id": queue, "to_agent_id": to_agent}),
                ContactState::Queued,
                Some(None),
            ),
            Output::WrapUp { agent, until, .. } => {
                ("wrap_up", json!({"agent_id": agent, "until": until}), ContactState::WrapUp, None)
            }
            Output::Done { .. } => (
                "done",
                json!({"agent_id": contact.agent_id, "disposition": contact.disposition, "notes": contact.notes}),
                ContactState::Done,
                None,
            ),
            Output::Abandoned { queue, .. } => ("abandoned", json!({"queue_id": queue}), ContactState::Abandoned, None),
            Output::Overflowed { from, target, .. } => (
                "overflowed",
                json!({"from": from, "target": target}),
                if out.is_terminal() { ContactState::Overflowed } else { contact.state },
                None,
            ),
            Output::Ended { reason, .. } => ("failed", json!({"reason": reason}), ContactState::Failed, None),
            Output::AgentChanged { .. } => return,
        };
        contact.state = state;
        if let Some(a) = agent {
            contact.agent_id = a;
        }
        contact.updated_at = at;
        let event = ContactEvent { seq: 0, at, kind: kind.into(), data: data.clone() };
        // Persisted before announced: what a console shows is in the store. A transition that
        // was not stored is not announced either; the actor stops and rebuilds from the store.
        if let Err(e) = self.save(&contact, &event).await {
            tracing::error!(contact = %id, error = %e, "contact transition not stored");
            return;
        }
        let mut body = data;
        body["type"] = json!("contact");
        body["event"] = json!(kind);
        body["contact_id"] = json!(id);
        body["state"] = json!(state);
        body["channel"] = json!(contact.channel);
        body["at"] = json!(at);
        if let Some(agent) = contact.agent_id.or(match out {
            Output::OfferWithdrawn { agent, .. } | Output::Requeued { agent, .. } => Some(*agent),
            _ => None,
        }) {
            self.publish(format!("{}.agent.{}.contact", self.topic, agent_word(agent)), body.clone()).await;
        }
        if matches!(contact.channel, Channel::Chat | Channel::Sms | Channel::Email) {
            // The conversation's watchers (a visitor's chat socket) see it connect and end.
            let topic = format!("{}.conversation.{}.state", self.topic, id.as_uuid().simple());
            self.publish(topic, body.clone()).await;
        }
        self.publish(format!("{}.contact.{kind}", self.topic), body).await;
        if state.is_terminal() {
            self.open.remove(&id);
        } else {
            self.open.insert(id, contact);
        }
    }
}
