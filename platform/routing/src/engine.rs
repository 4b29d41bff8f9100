//! The engine: state, indexes and the rules that move contacts and agents.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use switchboard_domain::{
    AgentActivity, AgentSelection, Channel, ChannelCosts, ContactId, CustomerId, OverflowTarget, Presence, QueueId,
    RoutingRules, SkillId, SkillRequirement, UnixMillis, UserId,
};

use crate::model::{
    AgentProfile, EndReason, Input, NewContact, Output, QueueRouting, QueueStats, RestoredContact, RoutingError,
    TransferTarget, WithdrawReason, level,
};

const CHANNELS: [Channel; 6] = Channel::ALL;
/// How many waiting contacts at the head of a (queue, channel) line a freed agent looks at.
const HEAD_SCAN: usize = 16;
/// How long an agent who transferred a contact to a queue is passed over for it.
const TRANSFER_EXCLUSION_MS: i64 = 10 * 60 * 1000;

/// Overflow hops after which a contact is ended rather than passed on again.
const MAX_HOPS: u32 = 8;
/// Handle time assumed until a queue has measured its own.
const DEFAULT_HANDLE_MS: i64 = 180_000;

fn ch(c: Channel) -> usize {
    match c {
        Channel::Voice => 0,
        Channel::Webrtc => 1,
        Channel::Chat => 2,
        Channel::Sms => 3,
        Channel::Email => 4,
        Channel::Task => 5,
    }
}

fn is_call(c: Channel) -> bool {
    matches!(c, Channel::Voice | Channel::Webrtc)
}

fn activity_index(a: AgentActivity) -> usize {
    match a {
        AgentActivity::Offline => 0,
        AgentActivity::Available => 1,
        AgentActivity::Busy => 2,
        AgentActivity::WrapUp => 3,
        AgentActivity::Away => 4,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    OfferDeadline,
    Overflow,
    Relax,
    WrapUpEnd,
    Unanswered,
    Retry,
}

/// (due, sequence, kind, contact, guard): the guard is the contact's epoch (or hop count for
/// queue timers) when set; a timer whose guard no longer matches is stale and ignored.
type Timer = (UnixMillis, u64, TimerKind, ContactId, u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Offered { agent: UserId, since: UnixMillis },
    Connected { agent: UserId, since: UnixMillis, responded: bool },
    WrapUp { agent: UserId },
}

#[derive(Debug, Clone)]
struct Contact {
    channel: Channel,
    queue: QueueId,
    skills: Vec<SkillRequirement>,
    customer: Option<CustomerId>,
    entered_queue_at: UnixMillis,
    vkey: i64,
    seq: u64,
    phase: Phase,
    epoch: u64,
    hops: u32,
    excluded: BTreeMap<UserId, UnixMillis>,
    overflow_due: bool,
}

impl Contact {
    fn line_key(&self, id: ContactId) -> (i64, u64, ContactId) {
        (self.vkey, self.seq, id)
    }
    fn age_key(&self, id: ContactId) -> (UnixMillis, u64, ContactId) {
        (self.entered_queue_at, self.seq, id)
    }
}

#[derive(Debug, Clone)]
struct Agent {
    presence: Presence,
    skills: BTreeMap<SkillId, u8>,
    capacity: u32,
    costs: ChannelCosts,
    load: u32,
    call_load: u32,
    per_channel: [u32; 6],
    wrapping: u32,
    last_activity: UnixMillis,
    misses: u32,
    queues: BTreeSet<QueueId>,
    activity: AgentActivity,
    /// Contacts offered to, connected to or wrapping up with this agent.
    held: BTreeSet<ContactId>,
}

impl Agent {
    fn compute_activity(&self) -> AgentActivity {
        match &self.presence {
            Presence::Offline => AgentActivity::Offline,
            Presence::Away(_) => AgentActivity::Away,
            Presence::Available if self.wrapping > 0 => AgentActivity::WrapUp,
            Presence::Available if self.load > 0 => AgentActivity::Busy,
            Presence::Available => AgentActivity::Available,
        }
    }
}

#[derive(Debug, Clone)]
struct QueueState {
    cfg: QueueRouting,
    /// Dispatchable contacts per channel, in serving order.
    waiting: [BTreeSet<(i64, u64, ContactId)>; 6],
    /// Waiting and offered contacts by time in this queue (longest wait, position counts).
    by_age: BTreeSet<(UnixMillis, u64, ContactId)>,
    members: BTreeSet<UserId>,
    /// Agents who can take one more contact of the channel now, in selection order.
    ready: [BTreeSet<(i64, UserId)>; 6],
    logged_in: u32,
    agents_by: [u32; 5],
    offered: u64,
    answered: u64,
    answered_in_sl: u64,
    abandoned: u64,
    abandoned_after_sl: u64,
    overflowed: u64,
    answer_ms_total: i64,
    handle_ms: i64,
}

impl QueueState {
    fn new(cfg: QueueRouting) -> Self {
        Self {
            cfg,
            waiting: Default::default(),
            by_age: BTreeSet::new(),
            members: BTreeSet::new(),
            ready: Default::default(),
            logged_in: 0,
            agents_by: [0; 5],
            offered: 0,
            answered: 0,
            answered_in_sl: 0,
            abandoned: 0,
            abandoned_after_sl: 0,
            overflowed: 0,
            answer_ms_total: 0,
            handle_ms: DEFAULT_HANDLE_MS,
        }
    }
}

/// The routing engine of one tenant shard. See the crate docs for the drive rule.
#[derive(Debug, Default)]
pub struct Engine {
    rules: RoutingRules,
    queues: BTreeMap<QueueId, QueueState>,
    agents: BTreeMap<UserId, Agent>,
    contacts: HashMap<ContactId, Contact>,
    timers: BTreeSet<Timer>,
    last_agent: HashMap<CustomerId, (UserId, UnixMillis)>,
    seq: u64,
    /// The time of what is being processed: `now` for inputs, a timer's due time for timers.
    clock: UnixMillis,
    out: VecDeque<(UnixMillis, Output)>,
}

impl Engine {
    /// An engine with the given rules and nothing else.
    pub fn new(rules: RoutingRules) -> Self {
        Self { rules, ..Self::default() }
    }

    /// Applies one input at time `now` (after firing every timer due by then). On error nothing
    /// changed except that due timers fired.
    pub fn handle(&mut self, input: Input, now: UnixMillis) -> Result<(), RoutingError> {
        self.advance(now);
        self.clock = now;
        match input {
            Input::ConfigureQueue(cfg) => self.configure_queue(cfg, now),
            Input::RemoveQueue(id) => self.remove_queue(id, now),
            Input::SetRules(rules) => {
                let ids: Vec<UserId> = self.agents.keys().copied().collect();
                for id in &ids {
                    self.unready(*id);
                }
                self.rules = rules;
                for id in ids {
                    self.ready(id);
                    self.dispatch_agent(id, now);
                }
                Ok(())
            }
            Input::Agent(profile) => self.upsert_agent(profile, now),
            Input::RemoveAgent(id) => self.remove_agent(id, now),
            Input::Presence { agent, presence } => self.set_presence(agent, presence, now),
            Input::Enqueue(c) => self.enqueue(c, now, now, None),
            Input::Restore(r) => self.restore(r, now),
            Input::Cancel(id) => self.cancel(id, now),
            Input::Accept { contact, agent } => self.accept(contact, agent, now),
            Input::Reject { contact, agent } => self.reject(contact, agent, now),
            Input::Responded(id) => self.responded(id),
            Input::Complete { contact, wrap_up_secs } => self.complete(contact, wrap_up_secs, now),
            Input::EndWrapUp(id) => self.end_wrap_up(id, now),
            Input::Transfer { contact, to } => self.transfer(contact, to, now),
            Input::Move { contact, queue } => self.move_waiting(contact, queue, now),
            Input::Tick => Ok(()),
        }
    }

    /// The next decision, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front().map(|(_, o)| o)
    }

    /// The next decision with the time it took effect (earlier than `now` when a timer fired
    /// late), for event logs.
    pub fn poll_event(&mut self) -> Option<(UnixMillis, Output)> {
        self.out.pop_front()
    }

    /// When the engine next needs a [`Input::Tick`].
    pub fn next_deadline(&self) -> Option<UnixMillis> {
        self.timers.first().map(|t| t.0)
    }

    /// The rules in force.
    pub fn rules(&self) -> &RoutingRules {
        &self.rules
    }

    /// Statistics of a queue at `now`.
    pub fn queue_stats(&self, queue: QueueId, now: UnixMillis) -> Option<QueueStats> {
        let q = self.queues.get(&queue)?;
        let mut agents = BTreeMap::new();
        for a in AgentActivity::ALL {
            agents.insert(a, q.agents_by[activity_index(a)]);
        }
        let judged = q.answered + q.abandoned_after_sl;
        Some(QueueStats {
            waiting: q.by_age.len() as u32,
            longest_wait_ms: q.by_age.first().map_or(0, |(at, _, _)| (now - at).max(0)),
            offered: q.offered,
            answered: q.answered,
            answered_in_sl: q.answered_in_sl,
            abandoned: q.abandoned,
            abandoned_after_sl: q.abandoned_after_sl,
            overflowed: q.overflowed,
            average_answer_ms: if q.answered == 0 { 0 } else { q.answer_ms_total / q.answered as i64 },
            service_level_percent: (judged > 0).then(|| (q.answered_in_sl * 100 / judged) as u8),
            agents,
            estimated_wait_secs: self.estimated_wait(q, q.by_age.len()),
        })
    }

    /// A waiting contact's place in its line (1 = next) and estimated wait in seconds.
    pub fn position(&self, contact: ContactId) -> Option<(u32, Option<u32>)> {
        let c = self.contacts.get(&contact)?;
        if c.phase != Phase::Waiting {
            return None;
        }
        let q = self.queues.get(&c.queue)?;
        let ahead = q.waiting[ch(c.channel)].range(..c.line_key(contact)).count();
        Some((ahead as u32 + 1, self.estimated_wait(q, ahead)))
    }

    /// The queues routed by this engine.
    pub fn queue_ids(&self) -> impl Iterator<Item = QueueId> + '_ {
        self.queues.keys().copied()
    }

    /// Current activity and presence of an agent.
    pub fn agent_state(&self, agent: UserId) -> Option<(AgentActivity, Presence, u32)> {
        self.agents.get(&agent).map(|a| (a.activity, a.presence.clone(), a.load))
    }

    /// How many contacts are routed (waiting, offered, connected or wrapping up).
    pub fn contact_count(&self) -> usize {
        self.contacts.len()
    }

    /// None while nobody who could serve the queue is logged in.
    fn estimated_wait(&self, q: &QueueState, ahead: usize) -> Option<u32> {
        let serving = q.agents_by[activity_index(AgentActivity::Available)]
            + q.agents_by[activity_index(AgentActivity::Busy)]
            + q.agents_by[activity_index(AgentActivity::WrapUp)];
        let ms = (ahead as i64 + 1) * q.handle_ms / i64::from(serving.max(1));
        if serving == 0 && q.logged_in == 0 { None } else { Some((ms / 1000) as u32) }
    }

    fn emit(&mut self, o: Output) {
        self.out.push_back((self.clock, o));
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn timer(&mut self, at: UnixMillis, kind: TimerKind, contact: ContactId, guard: u64) {
        let seq = self.next_seq();
        self.timers.insert((at, seq, kind, contact, guard));
    }

    // --- agents: capacity, readiness, activity ---------------------------------------------

    fn can_take(&self, a: &Agent, c: Channel) -> bool {
        if a.presence != Presence::Available || a.wrapping > 0 {
            return false;
        }
        if let Some(max) = self.rules.max_per_channel.get(&c)
            && a.per_channel[ch(c)] >= *max
        {
            return false;
        }
        // With voice interrupting text work, only other calls count against a call.
        let used = if is_call(c) && self.rules.voice_interrupts_text { a.call_load } else { a.load };
        used + a.costs.cost(c) <= a.capacity
    }

    fn selection_key(a: &Agent, mode: AgentSelection) -> i64 {
        match mode {
            AgentSelection::LongestIdle => a.last_activity,
            AgentSelection::LeastOccupied => {
                let permille = i64::from(a.load) * 1000 / i64::from(a.capacity.max(1));
                permille * 10_000_000_000_000 + a.last_activity
            }
        }
    }

    fn unready(&mut self, id: UserId) {
        let Some(a) = self.agents.get(&id) else { return };
        for qid in &a.queues {
            if let Some(q) = self.queues.get_mut(qid) {
                let key = Self::selection_key(a, q.cfg.agent_selection);
                for set in &mut q.ready {
                    set.remove(&(key, id));
                }
            }
        }
    }

    fn ready(&mut self, id: UserId) {
        let Some(a) = self.agents.get(&id) else { return };
        let takes: Vec<bool> = CHANNELS.iter().map(|c| self.can_take(a, *c)).collect();
        for qid in &a.queues {
            if let Some(q) = self.queues.get_mut(qid) {
                let key = Self::selection_key(a, q.cfg.agent_selection);
                for (i, take) in takes.iter().enumerate() {
                    if *take {
                        q.ready[i].insert((key, id));
                    }
                }
            }
        }
    }

    /// Recomputes an agent's activity; on a change updates queue counts and tells the world.
    fn refresh_activity(&mut self, id: UserId) {
        let Some(a) = self.agents.get_mut(&id) else { return };
        let new = a.compute_activity();
        let old = a.activity;
        if new == old {
            return;
        }
        a.activity = new;
        let presence = a.presence.clone();
        let queues: Vec<QueueId> = a.queues.iter().copied().collect();
        for qid in queues {
            if let Some(q) = self.queues.get_mut(&qid) {
                q.agents_by[activity_index(old)] = q.agents_by[activity_index(old)].saturating_sub(1);
                q.agents_by[activity_index(new)] += 1;
            }
        }
        self.emit(Output::AgentChanged { agent: id, activity: new, presence });
    }

    fn meets(skills: &BTreeMap<SkillId, u8>, reqs: &[SkillRequirement], relax: u8) -> bool {
        reqs.iter().all(|r| level(skills, r.skill_id) >= r.min_level.saturating_sub(relax).max(1))
    }

    /// Puts an agent in the queues whose requirements they meet at full relaxation.
    fn recompute_membership(&mut self, id: UserId) {
        let Some(a) = self.agents.get(&id) else { return };
        let wanted: BTreeSet<QueueId> = self
            .queues
            .iter()
            .filter(|(_, q)| Self::meets(&a.skills, &q.cfg.required_skills, q.cfg.max_relax()))
            .map(|(qid, _)| *qid)
            .collect();
        let old = a.queues.clone();
        let (activity, online) = (a.activity, a.presence != Presence::Offline);
        for qid in old.difference(&wanted) {
            if let Some(q) = self.queues.get_mut(qid) {
                q.members.remove(&id);
                q.agents_by[activity_index(activity)] = q.agents_by[activity_index(activity)].saturating_sub(1);
                if online {
                    q.logged_in = q.logged_in.saturating_sub(1);
                }
            }
        }
        for qid in wanted.difference(&old) {
            if let Some(q) = self.queues.get_mut(qid) {
                q.members.insert(id);
                q.agents_by[activity_index(activity)] += 1;
                if online {
                    q.logged_in += 1;
                }
            }
        }
        if let Some(a) = self.agents.get_mut(&id) {
            a.queues = wanted;
        }
    }

    fn upsert_agent(&mut self, p: AgentProfile, now: UnixMillis) -> Result<(), RoutingError> {
        if p.capacity == 0 {
            return Err(RoutingError::Invalid("capacity must be positive"));
        }
        self.unready(p.id);
        let skills: BTreeMap<SkillId, u8> = p.skills.iter().map(|s| (s.skill_id, s.level)).collect();
        match self.agents.get_mut(&p.id) {
            Some(a) => {
                a.skills = skills;
                a.capacity = p.capacity;
                a.costs = p.costs;
            }
            None => {
                self.agents.insert(
                    p.id,
                    Agent {
                        presence: Presence::Offline,
                        skills,
                        capacity: p.capacity,
                        costs: p.costs,
                        load: 0,
                        call_load: 0,
                        per_channel: [0; 6],
                        wrapping: 0,
                        last_activity: now,
                        misses: 0,
                        queues: BTreeSet::new(),
                        activity: AgentActivity::Offline,
                        held: BTreeSet::new(),
                    },
                );
            }
        }
        self.recompute_membership(p.id);
        self.ready(p.id);
        self.dispatch_agent(p.id, now);
        Ok(())
    }

    fn remove_agent(&mut self, id: UserId, now: UnixMillis) -> Result<(), RoutingError> {
        if !self.agents.contains_key(&id) {
            return Err(RoutingError::UnknownAgent);
        }
        self.set_presence(id, Presence::Offline, now)?;
        // Contacts they were handling go back to their queues.
        let mine: Vec<ContactId> = self.agents.get(&id).map(|a| a.held.iter().copied().collect()).unwrap_or_default();
        for cid in mine {
            self.requeue(cid, id, now, false);
        }
        self.unready(id);
        if let Some(a) = self.agents.remove(&id) {
            for qid in a.queues {
                if let Some(q) = self.queues.get_mut(&qid) {
                    q.members.remove(&id);
                    q.agents_by[activity_index(a.activity)] = q.agents_by[activity_index(a.activity)].saturating_sub(1);
                }
            }
        }
        Ok(())
    }

    fn set_presence(&mut self, id: UserId, presence: Presence, now: UnixMillis) -> Result<(), RoutingError> {
        let a = self.agents.get(&id).ok_or(RoutingError::UnknownAgent)?;
        let was_online = a.presence != Presence::Offline;
        let online = presence != Presence::Offline;
        if a.presence == presence {
            return Ok(());
        }
        self.unready(id);
        if let Some(a) = self.agents.get_mut(&id) {
            if presence == Presence::Available {
                a.misses = 0;
                if a.load == 0 {
                    a.last_activity = now;
                }
            }
            a.presence = presence.clone();
        }
        let queues: Vec<QueueId> = self.agents.get(&id).map(|a| a.queues.iter().copied().collect()).unwrap_or_default();
        if was_online != online {
            for qid in &queues {
                if let Some(q) = self.queues.get_mut(qid) {
                    if online {
                        q.logged_in += 1;
                    } else {
                        q.logged_in = q.logged_in.saturating_sub(1);
                    }
                }
            }
        }
        self.ready(id);
        self.refresh_activity(id);
        if presence != Presence::Available {
            // Offers pending with an agent who stepped away go to someone else.
            let offers: Vec<ContactId> = self
                .agents
                .get(&id)
                .map(|a| a.held.iter().copied().collect::<Vec<_>>())
                .unwrap_or_default()
                .into_iter()
                .filter(|cid| matches!(self.contacts.get(cid).map(|c| c.phase), Some(Phase::Offered { .. })))
                .collect();
            for cid in offers {
                self.withdraw(cid, WithdrawReason::AgentLeft, now);
            }
        }
        if !online {
            for qid in queues {
                self.overflow_if_unstaffed(qid, now);
            }
        }
        self.dispatch_agent(id, now);
        Ok(())
    }

    // --- queues -----------------------------------------------------------------------------

    fn configure_queue(&mut self, cfg: QueueRouting, now: UnixMillis) -> Result<(), RoutingError> {
        if cfg.priority > 100 || cfg.offer_timeout_secs == 0 {
            return Err(RoutingError::Invalid("priority 0..=100 and a positive offer timeout"));
        }
        let id = cfg.id;
        let agent_ids: Vec<UserId> = self.agents.keys().copied().collect();
        for a in &agent_ids {
            self.unready(*a);
        }
        match self.queues.get_mut(&id) {
            Some(q) => q.cfg = cfg,
            None => {
                self.queues.insert(id, QueueState::new(cfg));
            }
        }
        for a in &agent_ids {
            self.recompute_membership(*a);
            self.ready(*a);
        }
        let waiting: Vec<ContactId> =
            self.queues.get(&id).map(|q| q.by_age.iter().map(|(_, _, c)| *c).collect()).unwrap_or_default();
        for cid in waiting {
            self.dispatch_contact(cid, now);
        }
        Ok(())
    }

    fn remove_queue(&mut self, id: QueueId, now: UnixMillis) -> Result<(), RoutingError> {
        let q = self.queues.get(&id).ok_or(RoutingError::UnknownQueue)?;
        let inside: Vec<ContactId> = q.by_age.iter().map(|(_, _, c)| *c).collect();
        for cid in inside {
            if matches!(self.contacts.get(&cid).map(|c| c.phase), Some(Phase::Offered { .. })) {
                self.withdraw_quietly(cid, WithdrawReason::Cancelled, now);
            }
            self.take_out_of_line(cid);
            self.contacts.remove(&cid);
            self.emit(Output::Ended { contact: cid, reason: EndReason::QueueRemoved });
        }
        let agent_ids: Vec<UserId> = self.agents.keys().copied().collect();
        for a in &agent_ids {
            self.unready(*a);
        }
        self.queues.remove(&id);
        for a in agent_ids {
            if let Some(agent) = self.agents.get_mut(&a) {
                agent.queues.remove(&id);
            }
            self.ready(a);
        }
        Ok(())
    }

    fn overflow_if_unstaffed(&mut self, qid: QueueId, now: UnixMillis) {
        let Some(q) = self.queues.get(&qid) else { return };
        let applies = q.logged_in == 0 && q.cfg.overflow.is_some_and(|o| o.when_no_agents);
        if !applies {
            return;
        }
        let waiting: Vec<ContactId> = q.waiting.iter().flat_map(|s| s.iter().map(|(_, _, c)| *c)).collect();
        for cid in waiting {
            self.overflow(cid, now);
        }
    }

    // --- contacts ---------------------------------------------------------------------------

    fn enqueue(
        &mut self,
        c: NewContact,
        now: UnixMillis,
        enqueued_at: UnixMillis,
        agent: Option<UserId>,
    ) -> Result<(), RoutingError> {
        if self.contacts.contains_key(&c.id) {
            return Err(RoutingError::DuplicateContact);
        }
        let q = self.queues.get(&c.queue).ok_or(RoutingError::UnknownQueue)?;
        if c.priority.is_some_and(|p| p > 100) || c.skills.iter().any(|s| s.min_level == 0) {
            return Err(RoutingError::Invalid("priority 0..=100, skill levels 1..=10"));
        }
        if let Some(a) = agent
            && !self.agents.contains_key(&a)
        {
            return Err(RoutingError::UnknownAgent);
        }
        let priority = c.priority.unwrap_or(q.cfg.priority);
        let seq = self.next_seq();
        let vkey = enqueued_at - i64::from(priority) * i64::from(self.rules.secs_per_priority_point) * 1000;
        let contact = Contact {
            channel: c.channel,
            queue: c.queue,
            skills: c.skills,
            customer: c.customer,
            entered_queue_at: enqueued_at,
            vkey,
            seq,
            phase: Phase::Waiting,
            epoch: 0,
            hops: 0,
            excluded: BTreeMap::new(),
            overflow_due: false,
        };
        self.contacts.insert(c.id, contact);
        if let Some(agent) = agent {
            // Restored mid-conversation: straight back to the agent's desk.
            self.assign(c.id, agent, now);
            if let Some(ct) = self.contacts.get_mut(&c.id) {
                ct.phase = Phase::Connected { agent, since: now, responded: true };
            }
            return Ok(());
        }
        self.join_queue(c.id, now);
        Ok(())
    }

    fn restore(&mut self, r: RestoredContact, now: UnixMillis) -> Result<(), RoutingError> {
        self.enqueue(r.contact, now, r.enqueued_at, r.agent)
    }

    /// Puts a contact (already in `contacts`, phase Waiting) into its queue's line, applying
    /// full/unstaffed overflow, and tries to serve it.
    fn join_queue(&mut self, cid: ContactId, now: UnixMillis) {
        let Some(c) = self.contacts.get(&cid) else { return };
        let Some(q) = self.queues.get(&c.queue) else { return };
        let overflow = q.cfg.overflow;
        let full = q.cfg.max_waiting.is_some_and(|m| q.by_age.len() as u32 >= m);
        if full {
            if overflow.is_some_and(|o| o.when_full) {
                self.emit_queued(cid);
                self.overflow(cid, now);
            } else {
                self.contacts.remove(&cid);
                self.emit(Output::Ended { contact: cid, reason: EndReason::QueueFull });
            }
            return;
        }
        let (line, age, channel, qid, hops) = (c.line_key(cid), c.age_key(cid), c.channel, c.queue, c.hops);
        if let Some(q) = self.queues.get_mut(&qid) {
            q.waiting[ch(channel)].insert(line);
            q.by_age.insert(age);
        }
        self.emit_queued(cid);
        if overflow.is_some_and(|o| o.when_no_agents) && self.queues.get(&qid).is_some_and(|q| q.logged_in == 0) {
            self.overflow(cid, now);
            return;
        }
        let entered = age.0;
        if let Some(after) = overflow.and_then(|o| o.after_secs) {
            self.timer(entered + i64::from(after) * 1000, TimerKind::Overflow, cid, u64::from(hops));
        }
        let steps: Vec<u32> =
            self.queues.get(&qid).map(|q| q.cfg.relaxation.iter().map(|s| s.after_secs).collect()).unwrap_or_default();
        for after in steps {
            self.timer(entered + i64::from(after) * 1000, TimerKind::Relax, cid, u64::from(hops));
        }
        self.dispatch_contact(cid, now);
    }

    fn emit_queued(&mut self, cid: ContactId) {
        let Some(c) = self.contacts.get(&cid) else { return };
        let Some(q) = self.queues.get(&c.queue) else { return };
        // The whole line as an upper bound: exact positions cost O(position) (see `position`).
        let ahead = q.waiting[ch(c.channel)].len().saturating_sub(1);
        let ewt = self.estimated_wait(q, ahead);
        self.emit(Output::Queued { contact: cid, queue: c.queue, estimated_wait_secs: ewt });
    }

    /// Removes a contact from its queue's line and age index.
    fn take_out_of_line(&mut self, cid: ContactId) {
        let Some(c) = self.contacts.get(&cid) else { return };
        if let Some(q) = self.queues.get_mut(&c.queue) {
            q.waiting[ch(c.channel)].remove(&c.line_key(cid));
            q.by_age.remove(&c.age_key(cid));
        }
    }

    fn eligible(&self, a_id: UserId, a: &Agent, c: &Contact, q: &QueueState, now: UnixMillis) -> bool {
        if c.excluded.get(&a_id).is_some_and(|until| *until > now) {
            return false;
        }
        let relax = q.cfg.relax_at(now - c.entered_queue_at);
        Self::meets(&a.skills, &q.cfg.required_skills, relax) && Self::meets(&a.skills, &c.skills, relax)
    }

    /// A waiting contact looks for an agent.
    fn dispatch_contact(&mut self, cid: ContactId, now: UnixMillis) {
        let Some(c) = self.contacts.get(&cid) else { return };
        if c.phase != Phase::Waiting {
            return;
        }
        let Some(q) = self.queues.get(&c.queue) else { return };
        let mut chosen = None;
        if self.rules.sticky_secs > 0
            && let Some(customer) = c.customer
            && let Some((agent, at)) = self.last_agent.get(&customer)
            && now - at <= i64::from(self.rules.sticky_secs) * 1000
            && let Some(a) = self.agents.get(agent)
            && q.members.contains(agent)
            && self.can_take(a, c.channel)
            && self.eligible(*agent, a, c, q, now)
        {
            chosen = Some(*agent);
        }
        if chosen.is_none() {
            chosen = q.ready[ch(c.channel)]
                .iter()
                .find(|(_, id)| self.agents.get(id).is_some_and(|a| self.eligible(*id, a, c, q, now)))
                .map(|(_, id)| *id);
        }
        if let Some(agent) = chosen {
            self.offer(cid, agent, now);
        }
    }

    /// An agent with room looks for the contacts that waited longest (priority-adjusted).
    fn dispatch_agent(&mut self, id: UserId, now: UnixMillis) {
        loop {
            let Some(a) = self.agents.get(&id) else { return };
            let mut best: Option<(i64, u64, ContactId)> = None;
            for qid in &a.queues {
                let Some(q) = self.queues.get(qid) else { continue };
                for c in CHANNELS {
                    if !self.can_take(a, c) {
                        continue;
                    }
                    let candidate = q.waiting[ch(c)]
                        .iter()
                        .take(HEAD_SCAN)
                        .find(|(_, _, cid)| self.contacts.get(cid).is_some_and(|ct| self.eligible(id, a, ct, q, now)));
                    if let Some(k) = candidate
                        && best.is_none_or(|b| *k < b)
                    {
                        best = Some(*k);
                    }
                }
            }
            match best {
                Some((_, _, cid)) => self.offer(cid, id, now),
                None => return,
            }
        }
    }

    /// Reserves the agent's capacity for the contact.
    fn assign(&mut self, cid: ContactId, agent: UserId, now: UnixMillis) {
        let Some(channel) = self.contacts.get(&cid).map(|c| c.channel) else { return };
        self.unready(agent);
        if let Some(a) = self.agents.get_mut(&agent) {
            let cost = a.costs.cost(channel);
            a.load += cost;
            if is_call(channel) {
                a.call_load += cost;
            }
            a.per_channel[ch(channel)] += 1;
            a.last_activity = now;
            a.held.insert(cid);
        }
        self.ready(agent);
        self.refresh_activity(agent);
    }

    /// Gives the agent's capacity back.
    fn release(&mut self, cid: ContactId, agent: UserId, now: UnixMillis, wrapped: bool) {
        let Some(channel) = self.contacts.get(&cid).map(|c| c.channel) else { return };
        self.unready(agent);
        if let Some(a) = self.agents.get_mut(&agent) {
            let cost = a.costs.cost(channel);
            a.load = a.load.saturating_sub(cost);
            if is_call(channel) {
                a.call_load = a.call_load.saturating_sub(cost);
            }
            a.per_channel[ch(channel)] = a.per_channel[ch(channel)].saturating_sub(1);
            if wrapped {
                a.wrapping = a.wrapping.saturating_sub(1);
            }
            a.last_activity = now;
            a.held.remove(&cid);
        }
        self.ready(agent);
        self.refresh_activity(agent);
    }

    fn offer(&mut self, cid: ContactId, agent: UserId, now: UnixMillis) {
        let Some(c) = self.contacts.get(&cid) else { return };
        let Some(q) = self.queues.get(&c.queue) else { return };
        let deadline = now + i64::from(q.cfg.offer_timeout_secs) * 1000;
        let (qid, line) = (c.queue, c.line_key(cid));
        if let Some(q) = self.queues.get_mut(&qid) {
            q.waiting[ch(c.channel)].remove(&line);
            q.offered += 1;
        }
        let epoch = match self.contacts.get_mut(&cid) {
            Some(c) => {
                c.phase = Phase::Offered { agent, since: now };
                c.epoch += 1;
                c.epoch
            }
            None => return,
        };
        self.assign(cid, agent, now);
        self.timer(deadline, TimerKind::OfferDeadline, cid, epoch);
        self.emit(Output::Offered { contact: cid, agent, queue: qid, deadline });
    }

    /// Takes an offer back without judging the agent (customer left, queue removed).
    fn withdraw_quietly(&mut self, cid: ContactId, reason: WithdrawReason, now: UnixMillis) -> Option<UserId> {
        let c = self.contacts.get_mut(&cid)?;
        let Phase::Offered { agent, .. } = c.phase else { return None };
        c.phase = Phase::Waiting;
        c.epoch += 1;
        self.release(cid, agent, now, false);
        self.emit(Output::OfferWithdrawn { contact: cid, agent, reason });
        Some(agent)
    }

    /// An offer ends without acceptance: the contact goes back in line at its old place and to
    /// the next agent; a refusing agent is skipped for a while and may be set away.
    fn withdraw(&mut self, cid: ContactId, reason: WithdrawReason, now: UnixMillis) {
        let Some(agent) = self.withdraw_quietly(cid, reason, now) else { return };
        if matches!(reason, WithdrawReason::Rejected | WithdrawReason::TimedOut) {
            let timeout = self
                .contacts
                .get(&cid)
                .and_then(|c| self.queues.get(&c.queue))
                .map_or(20, |q| q.cfg.offer_timeout_secs);
            let until = now + i64::from(timeout) * 3000;
            if let Some(c) = self.contacts.get_mut(&cid) {
                c.excluded.insert(agent, until);
            }
            self.timer(until, TimerKind::Retry, cid, 0);
            self.missed(agent, now);
        }
        let Some(c) = self.contacts.get(&cid) else { return };
        let (line, qid, channel, due) = (c.line_key(cid), c.queue, c.channel, c.overflow_due);
        if let Some(q) = self.queues.get_mut(&qid) {
            q.waiting[ch(channel)].insert(line);
        }
        if due {
            self.overflow(cid, now);
        } else {
            self.dispatch_contact(cid, now);
        }
        self.dispatch_agent(agent, now);
    }

    fn missed(&mut self, agent: UserId, now: UnixMillis) {
        let limit = self.rules.misses_before_away;
        let Some(a) = self.agents.get_mut(&agent) else { return };
        a.misses += 1;
        if limit > 0 && a.misses >= limit && a.presence == Presence::Available {
            let _ = self.set_presence(agent, Presence::Away("missed offers".into()), now);
        }
    }

    fn accept(&mut self, cid: ContactId, agent: UserId, now: UnixMillis) -> Result<(), RoutingError> {
        let c = self.contacts.get(&cid).ok_or(RoutingError::UnknownContact)?;
        if !matches!(c.phase, Phase::Offered { agent: a, .. } if a == agent) {
            return Err(RoutingError::NotOffered);
        }
        let (qid, age, channel, customer) = (c.queue, c.age_key(cid), c.channel, c.customer);
        let waited = now - c.entered_queue_at;
        if let Some(q) = self.queues.get_mut(&qid) {
            q.by_age.remove(&age);
            q.answered += 1;
            q.answer_ms_total += waited;
            if waited <= i64::from(q.cfg.service_level_secs) * 1000 {
                q.answered_in_sl += 1;
            }
        }
        let epoch = match self.contacts.get_mut(&cid) {
            Some(c) => {
                c.phase = Phase::Connected { agent, since: now, responded: false };
                c.epoch += 1;
                c.epoch
            }
            None => return Err(RoutingError::UnknownContact),
        };
        if let Some(a) = self.agents.get_mut(&agent) {
            a.misses = 0;
        }
        if let Some(customer) = customer {
            self.last_agent.insert(customer, (agent, now));
        }
        if !is_call(channel)
            && channel != Channel::Task
            && let Some(secs) = self.rules.requeue_unanswered_secs
        {
            self.timer(now + i64::from(secs) * 1000, TimerKind::Unanswered, cid, epoch);
        }
        self.emit(Output::Connected { contact: cid, agent, waited_ms: waited });
        Ok(())
    }

    fn reject(&mut self, cid: ContactId, agent: UserId, now: UnixMillis) -> Result<(), RoutingError> {
        let c = self.contacts.get(&cid).ok_or(RoutingError::UnknownContact)?;
        if !matches!(c.phase, Phase::Offered { agent: a, .. } if a == agent) {
            return Err(RoutingError::NotOffered);
        }
        self.withdraw(cid, WithdrawReason::Rejected, now);
        Ok(())
    }

    fn responded(&mut self, cid: ContactId) -> Result<(), RoutingError> {
        let c = self.contacts.get_mut(&cid).ok_or(RoutingError::UnknownContact)?;
        match c.phase {
            Phase::Connected { agent, since, .. } => {
                c.phase = Phase::Connected { agent, since, responded: true };
                Ok(())
            }
            _ => Err(RoutingError::NotConnected),
        }
    }

    /// Takes a connected contact from its agent and puts it back in line.
    fn requeue(&mut self, cid: ContactId, agent: UserId, now: UnixMillis, judge: bool) {
        let Some(c) = self.contacts.get(&cid) else { return };
        let wrapped = matches!(c.phase, Phase::WrapUp { .. });
        if wrapped {
            // Only wrap-up was left: the contact itself is done.
            self.release(cid, agent, now, true);
            self.contacts.remove(&cid);
            self.emit(Output::Done { contact: cid });
            return;
        }
        self.release(cid, agent, now, false);
        let Some(c) = self.contacts.get_mut(&cid) else { return };
        c.phase = Phase::Waiting;
        c.epoch += 1;
        c.entered_queue_at = now;
        if judge {
            c.excluded.insert(agent, now + 60_000);
        }
        self.emit(Output::Requeued { contact: cid, agent });
        self.join_queue(cid, now);
        if judge {
            self.missed(agent, now);
        }
        self.dispatch_agent(agent, now);
    }

    fn cancel(&mut self, cid: ContactId, now: UnixMillis) -> Result<(), RoutingError> {
        let c = self.contacts.get(&cid).ok_or(RoutingError::UnknownContact)?;
        match c.phase {
            Phase::Waiting | Phase::Offered { .. } => {
                let freed = self.withdraw_quietly(cid, WithdrawReason::Cancelled, now);
                let Some(c) = self.contacts.get(&cid) else { return Ok(()) };
                let (qid, waited) = (c.queue, now - c.entered_queue_at);
                self.take_out_of_line(cid);
                if let Some(q) = self.queues.get_mut(&qid) {
                    q.abandoned += 1;
                    if waited > i64::from(q.cfg.service_level_secs) * 1000 {
                        q.abandoned_after_sl += 1;
                    }
                }
                self.contacts.remove(&cid);
                self.emit(Output::Abandoned { contact: cid, queue: qid });
                if let Some(agent) = freed {
                    self.dispatch_agent(agent, now);
                }
                Ok(())
            }
            // The customer hung up mid-conversation: the conversation is over.
            Phase::Connected { .. } => self.complete(cid, None, now),
            Phase::WrapUp { .. } => Ok(()),
        }
    }

    fn complete(&mut self, cid: ContactId, wrap_up_secs: Option<u32>, now: UnixMillis) -> Result<(), RoutingError> {
        let c = self.contacts.get(&cid).ok_or(RoutingError::UnknownContact)?;
        let Phase::Connected { agent, since, .. } = c.phase else { return Err(RoutingError::NotConnected) };
        if let Some(q) = self.queues.get_mut(&c.queue) {
            q.handle_ms = (q.handle_ms * 7 + (now - since).max(0)) / 8;
        }
        let wrap = wrap_up_secs.unwrap_or(self.rules.wrap_up_secs);
        if wrap == 0 {
            self.release(cid, agent, now, false);
            self.contacts.remove(&cid);
            self.emit(Output::Done { contact: cid });
            self.dispatch_agent(agent, now);
            return Ok(());
        }
        let until = now + i64::from(wrap) * 1000;
        let epoch = match self.contacts.get_mut(&cid) {
            Some(c) => {
                c.phase = Phase::WrapUp { agent };
                c.epoch += 1;
                c.epoch
            }
            None => return Err(RoutingError::UnknownContact),
        };
        self.unready(agent);
        if let Some(a) = self.agents.get_mut(&agent) {
            a.wrapping += 1;
        }
        self.ready(agent);
        self.refresh_activity(agent);
        self.timer(until, TimerKind::WrapUpEnd, cid, epoch);
        self.emit(Output::WrapUp { contact: cid, agent, until });
        Ok(())
    }

    /// The agent hands a connected contact to a queue or a colleague. Its old timers lapse
    /// (`hops` and `epoch` move on); it starts a new wait in the target queue.
    fn transfer(&mut self, cid: ContactId, to: TransferTarget, now: UnixMillis) -> Result<(), RoutingError> {
        let c = self.contacts.get(&cid).ok_or(RoutingError::UnknownContact)?;
        let Phase::Connected { agent: from, .. } = c.phase else { return Err(RoutingError::NotConnected) };
        let channel = c.channel;
        let target_queue = match to {
            TransferTarget::Queue(q) => q,
            TransferTarget::Agent(_) => c.queue,
        };
        let priority = self.queues.get(&target_queue).ok_or(RoutingError::UnknownQueue)?.cfg.priority;
        if let TransferTarget::Agent(a) = to {
            if a == from {
                return Err(RoutingError::Invalid("the contact is already with this agent"));
            }
            let target = self.agents.get(&a).ok_or(RoutingError::UnknownAgent)?;
            if !self.can_take(target, channel) {
                return Err(RoutingError::Invalid("that agent cannot take this contact now"));
            }
        }
        self.release(cid, from, now, false);
        let seq = self.next_seq();
        let vkey = now - i64::from(priority) * i64::from(self.rules.secs_per_priority_point) * 1000;
        if let Some(c) = self.contacts.get_mut(&cid) {
            c.queue = target_queue;
            c.phase = Phase::Waiting;
            c.epoch += 1;
            c.hops += 1;
            c.entered_queue_at = now;
            c.vkey = vkey;
            c.seq = seq;
            if matches!(to, TransferTarget::Queue(_)) {
                // Handed on on purpose: not straight back to the same desk.
                c.excluded.insert(from, now + TRANSFER_EXCLUSION_MS);
            }
        }
        let to_agent = match to {
            TransferTarget::Agent(a) => Some(a),
            TransferTarget::Queue(_) => None,
        };
        self.emit(Output::Transferred { contact: cid, from, queue: target_queue, to_agent });
        match to_agent {
            None => self.join_queue(cid, now),
            Some(a) => {
                // In line (so a declined offer leaves it waiting there), then offered directly.
                if let Some(c) = self.contacts.get(&cid) {
                    let (line, age) = (c.line_key(cid), c.age_key(cid));
                    if let Some(q) = self.queues.get_mut(&target_queue) {
                        q.waiting[ch(channel)].insert(line);
                        q.by_age.insert(age);
                    }
                }
                self.emit_queued(cid);
                self.offer(cid, a, now);
            }
        }
        self.dispatch_agent(from, now);
        Ok(())
    }

    /// Moves a waiting contact to another queue. Its old queue's timers lapse (`hops` moves on).
    fn move_waiting(&mut self, cid: ContactId, queue: QueueId, now: UnixMillis) -> Result<(), RoutingError> {
        let c = self.contacts.get(&cid).ok_or(RoutingError::UnknownContact)?;
        if c.phase != Phase::Waiting {
            return Err(RoutingError::Invalid("only a waiting contact can move to another queue"));
        }
        if !self.queues.contains_key(&queue) {
            return Err(RoutingError::UnknownQueue);
        }
        if c.queue == queue {
            return Ok(());
        }
        self.take_out_of_line(cid);
        let seq = self.next_seq();
        if let Some(c) = self.contacts.get_mut(&cid) {
            c.queue = queue;
            c.hops += 1;
            c.entered_queue_at = now;
            c.overflow_due = false;
            c.seq = seq;
        }
        self.join_queue(cid, now);
        Ok(())
    }

    fn end_wrap_up(&mut self, cid: ContactId, now: UnixMillis) -> Result<(), RoutingError> {
        let c = self.contacts.get(&cid).ok_or(RoutingError::UnknownContact)?;
        let Phase::WrapUp { agent } = c.phase else { return Err(RoutingError::NotInWrapUp) };
        self.release(cid, agent, now, true);
        self.contacts.remove(&cid);
        self.emit(Output::Done { contact: cid });
        self.dispatch_agent(agent, now);
        Ok(())
    }

    /// Hands a waiting contact to its queue's overflow target.
    fn overflow(&mut self, cid: ContactId, now: UnixMillis) {
        let Some(c) = self.contacts.get_mut(&cid) else { return };
        match c.phase {
            Phase::Waiting => {}
            Phase::Offered { .. } => {
                // Let the pending offer play out; overflow if it fails.
                c.overflow_due = true;
                return;
            }
            _ => return,
        }
        let from = c.queue;
        let Some(target) = self.queues.get(&from).and_then(|q| q.cfg.overflow).map(|o| o.target) else { return };
        self.take_out_of_line(cid);
        if let Some(q) = self.queues.get_mut(&from) {
            q.overflowed += 1;
        }
        self.emit(Output::Overflowed { contact: cid, from, target });
        match target {
            OverflowTarget::Queue { queue_id } if self.queues.contains_key(&queue_id) => {
                let Some(c) = self.contacts.get_mut(&cid) else { return };
                c.hops += 1;
                if c.hops > MAX_HOPS {
                    self.contacts.remove(&cid);
                    self.emit(Output::Ended { contact: cid, reason: EndReason::QueueFull });
                    return;
                }
                c.queue = queue_id;
                c.entered_queue_at = now;
                c.overflow_due = false;
                c.excluded.clear();
                let seq = self.next_seq();
                if let Some(c) = self.contacts.get_mut(&cid) {
                    c.seq = seq;
                }
                self.join_queue(cid, now);
            }
            OverflowTarget::Queue { .. } => {
                self.contacts.remove(&cid);
                self.emit(Output::Ended { contact: cid, reason: EndReason::QueueRemoved });
            }
            OverflowTarget::Voicemail | OverflowTarget::Callback => {
                self.contacts.remove(&cid);
            }
        }
    }

    // --- time ------------------------------------------------------------------------------

    fn advance(&mut self, now: UnixMillis) {
        while let Some(&t) = self.timers.first() {
            if t.0 > now {
                break;
            }
            self.timers.pop_first();
            let (at, _, kind, cid, guard) = t;
            self.clock = at;
            let Some(c) = self.contacts.get(&cid) else { continue };
            match kind {
                TimerKind::OfferDeadline if c.epoch == guard && matches!(c.phase, Phase::Offered { .. }) => {
                    self.withdraw(cid, WithdrawReason::TimedOut, at);
                }
                TimerKind::Overflow if u64::from(c.hops) == guard => self.overflow(cid, at),
                TimerKind::Relax | TimerKind::Retry if c.phase == Phase::Waiting => self.dispatch_contact(cid, at),
                TimerKind::WrapUpEnd if c.epoch == guard => {
                    let _ = self.end_wrap_up(cid, at);
                }
                TimerKind::Unanswered if c.epoch == guard => {
                    if let Phase::Connected { agent, responded: false, .. } = c.phase {
                        self.requeue(cid, agent, at, true);
                    }
                }
                _ => {}
            }
        }
    }
}
