//! Properties over random input sequences. The checker keeps its own model of the world from the
//! engine's outputs alone and checks every output against the rules.

use std::collections::BTreeMap;

use proptest::prelude::*;
use switchboard_domain::{
    Channel, ContactId, OverflowTarget, Presence, QueueId, RelaxStep, RoutingRules, SkillId, SkillLevel,
    SkillRequirement, UserId,
};
use switchboard_routing::{AgentProfile, Engine, Input, NewContact, Output, QueueRouting};

const QUEUES: usize = 3;
const AGENTS: usize = 5;

#[derive(Debug, Clone)]
enum Op {
    Enqueue { queue: usize, channel: usize, priority: Option<u8> },
    Cancel(usize),
    Presence { agent: usize, presence: u8 },
    Accept(usize),
    Reject(usize),
    Complete { which: usize, wrap: u32 },
    Respond(usize),
    Skill { agent: usize, level: u8 },
    Advance(u32),
    Move { which: usize, queue: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..QUEUES, 0..6usize, proptest::option::of(0u8..=100)).prop_map(|(queue, channel, priority)| Op::Enqueue { queue, channel, priority }),
        1 => (0..64usize).prop_map(Op::Cancel),
        2 => (0..AGENTS, 0u8..3).prop_map(|(agent, presence)| Op::Presence { agent, presence }),
        3 => (0..64usize).prop_map(Op::Accept),
        1 => (0..64usize).prop_map(Op::Reject),
        2 => (0..64usize, 0u32..3).prop_map(|(which, wrap)| Op::Complete { which, wrap }),
        1 => (0..64usize).prop_map(Op::Respond),
        1 => (0..AGENTS, 1u8..=10).prop_map(|(agent, level)| Op::Skill { agent, level }),
        3 => (0u32..40_000).prop_map(Op::Advance),
        1 => (0..64usize, 0..QUEUES).prop_map(|(which, queue)| Op::Move { which, queue }),
    ]
}

struct Checker {
    engine: Engine,
    rules: RoutingRules,
    now: i64,
    skill: SkillId,
    queues: Vec<QueueRouting>,
    agents: Vec<UserId>,
    levels: BTreeMap<UserId, u8>,
    channel_of: BTreeMap<ContactId, Channel>,
    /// contact -> (queue, entered at)
    queued: BTreeMap<ContactId, (QueueId, i64)>,
    offered: BTreeMap<ContactId, UserId>,
    connected: BTreeMap<ContactId, UserId>,
    wrapping: BTreeMap<ContactId, UserId>,
    terminal: BTreeMap<ContactId, u32>,
    contacts: Vec<ContactId>,
}

impl Checker {
    fn new(voice_interrupts_text: bool) -> Self {
        let mut rules =
            RoutingRules { voice_interrupts_text, requeue_unanswered_secs: Some(30), ..RoutingRules::default() };
        rules.max_per_channel.insert(Channel::Email, 2);
        let skill = SkillId::generate();
        let mut engine = Engine::new(rules.clone());
        let mut queues: Vec<QueueRouting> = Vec::new();
        for i in 0..QUEUES {
            let mut q = QueueRouting::open(QueueId::generate());
            q.required_skills = vec![SkillRequirement { skill_id: skill, min_level: 3 + i as u8 * 3 }];
            q.relaxation = vec![RelaxStep { after_secs: 20, lower_by: 2 }, RelaxStep { after_secs: 60, lower_by: 4 }];
            q.offer_timeout_secs = 15;
            if i == 2 {
                q.overflow = Some(switchboard_domain::Overflow {
                    after_secs: Some(90),
                    when_full: false,
                    when_no_agents: false,
                    target: OverflowTarget::Queue { queue_id: queues[0].id },
                });
                q.max_waiting = Some(6);
            }
            engine.handle(Input::ConfigureQueue(q.clone()), 0).expect("queue");
            queues.push(q);
        }
        let mut agents = Vec::new();
        let mut levels = BTreeMap::new();
        for i in 0..AGENTS {
            let id = UserId::generate();
            let mut p = AgentProfile::new(id);
            let level = 2 + (i as u8 * 2);
            p.skills = vec![SkillLevel { skill_id: skill, level }];
            engine.handle(Input::Agent(p), 0).expect("agent");
            agents.push(id);
            levels.insert(id, level);
        }
        let mut c = Self {
            engine,
            rules,
            now: 0,
            skill,
            queues,
            agents,
            levels,
            channel_of: BTreeMap::new(),
            queued: BTreeMap::new(),
            offered: BTreeMap::new(),
            connected: BTreeMap::new(),
            wrapping: BTreeMap::new(),
            terminal: BTreeMap::new(),
            contacts: Vec::new(),
        };
        c.drain();
        c
    }

    fn pick<T: Copy>(map: &BTreeMap<ContactId, T>, i: usize) -> Option<(ContactId, T)> {
        if map.is_empty() { None } else { map.iter().nth(i % map.len()).map(|(k, v)| (*k, *v)) }
    }

    fn apply(&mut self, op: Op) {
        let input = match op {
            Op::Enqueue { queue, channel, priority } => {
                let id = ContactId::generate();
                let ch = Channel::ALL[channel];
                self.channel_of.insert(id, ch);
                self.contacts.push(id);
                let mut c = NewContact::new(id, ch, self.queues[queue].id);
                c.priority = priority;
                Input::Enqueue(c)
            }
            Op::Cancel(i) => match self.contacts.get(i % self.contacts.len().max(1)) {
                Some(c) => Input::Cancel(*c),
                None => return,
            },
            Op::Presence { agent, presence } => Input::Presence {
                agent: self.agents[agent],
                presence: match presence {
                    0 => Presence::Offline,
                    1 => Presence::Available,
                    _ => Presence::Away("break".into()),
                },
            },
            Op::Accept(i) => match Self::pick(&self.offered, i) {
                Some((contact, agent)) => Input::Accept { contact, agent },
                None => return,
            },
            Op::Reject(i) => match Self::pick(&self.offered, i) {
                Some((contact, agent)) => Input::Reject { contact, agent },
                None => return,
            },
            Op::Complete { which, wrap } => match Self::pick(&self.connected, which) {
                Some((contact, _)) => Input::Complete { contact, wrap_up_secs: Some(wrap) },
                None => return,
            },
            Op::Move { which, queue } => match self.contacts.get(which % self.contacts.len().max(1)) {
                Some(c) => Input::Move { contact: *c, queue: self.queues[queue].id },
                None => return,
            },
            Op::Respond(i) => match Self::pick(&self.connected, i) {
                Some((contact, _)) => Input::Responded(contact),
                None => return,
            },
            Op::Skill { agent, level } => {
                // Timers due now fire with the old skills; only then does the change apply.
                let _ = self.engine.handle(Input::Tick, self.now);
                self.drain();
                let id = self.agents[agent];
                self.levels.insert(id, level);
                let mut p = AgentProfile::new(id);
                p.skills = vec![SkillLevel { skill_id: self.skill, level }];
                Input::Agent(p)
            }
            Op::Advance(ms) => {
                self.now += i64::from(ms);
                Input::Tick
            }
        };
        // Refusals (e.g. cancelling a finished contact) are fine; they must change nothing.
        let _ = self.engine.handle(input, self.now);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some((at, o)) = self.engine.poll_event() {
            assert!(at <= self.now, "output from the future");
            self.check(at, &o);
        }
    }

    fn check(&mut self, at: i64, o: &Output) {
        if let Some(c) = o.contact() {
            assert!(!self.terminal.contains_key(&c), "output after the end of {c:?}: {o:?}");
        }
        match *o {
            Output::Queued { contact, queue, .. } => {
                self.queued.insert(contact, (queue, at));
            }
            Output::Offered { contact, agent, queue, .. } => {
                assert!(!self.offered.contains_key(&contact), "{contact:?} offered twice at once");
                assert!(!self.connected.contains_key(&contact));
                let (q, entered) = self.queued[&contact];
                assert_eq!(q, queue);
                let cfg = self.queues.iter().find(|c| c.id == queue).expect("queue");
                let relax = cfg.relax_at(at - entered);
                let need = cfg.required_skills[0].min_level.saturating_sub(relax).max(1);
                assert!(
                    self.levels[&agent] >= need,
                    "agent level {} below relaxed requirement {need}",
                    self.levels[&agent]
                );
                self.offered.insert(contact, agent);
                self.check_capacity(agent);
            }
            Output::OfferWithdrawn { contact, agent, .. } => {
                assert_eq!(self.offered.remove(&contact), Some(agent));
            }
            Output::Connected { contact, agent, .. } => {
                assert_eq!(self.offered.remove(&contact), Some(agent));
                self.connected.insert(contact, agent);
            }
            Output::Requeued { contact, agent } | Output::Transferred { contact, from: agent, .. } => {
                assert_eq!(self.connected.remove(&contact), Some(agent));
            }
            Output::WrapUp { contact, agent, .. } => {
                assert_eq!(self.connected.remove(&contact), Some(agent));
                self.wrapping.insert(contact, agent);
            }
            Output::Done { contact } => {
                assert!(self.connected.remove(&contact).is_some() || self.wrapping.remove(&contact).is_some());
                self.end(contact);
            }
            Output::Abandoned { contact, .. } | Output::Ended { contact, .. } => {
                assert!(!self.connected.contains_key(&contact) && !self.offered.contains_key(&contact));
                self.end(contact);
            }
            Output::Overflowed { contact, .. } => {
                assert!(!self.offered.contains_key(&contact), "overflowed while offered");
                if o.is_terminal() {
                    self.end(contact);
                }
            }
            Output::AgentChanged { .. } => {}
        }
    }

    fn end(&mut self, contact: ContactId) {
        *self.terminal.entry(contact).or_default() += 1;
    }

    fn check_capacity(&self, agent: UserId) {
        let held: Vec<Channel> = self
            .offered
            .iter()
            .chain(self.connected.iter())
            .chain(self.wrapping.iter())
            .filter(|(_, a)| **a == agent)
            .map(|(c, _)| self.channel_of[c])
            .collect();
        let cost = |c: &Channel| c.default_cost();
        let calls: u32 = held.iter().filter(|c| matches!(c, Channel::Voice | Channel::Webrtc)).map(cost).sum();
        let text: u32 = held.iter().filter(|c| !matches!(c, Channel::Voice | Channel::Webrtc)).map(cost).sum();
        assert!(calls <= 100, "calls over capacity: {held:?}");
        assert!(text <= 100, "text work over capacity: {held:?}");
        if !self.rules.voice_interrupts_text {
            assert!(calls + text <= 100, "over capacity: {held:?}");
        }
        let emails = held.iter().filter(|c| **c == Channel::Email).count();
        assert!(emails <= 2, "more than 2 e-mails: {held:?}");
    }

    /// Ends everything still alive; afterwards every contact has exactly one terminal output.
    fn finish(&mut self) {
        for c in self.contacts.clone() {
            let _ = self.engine.handle(Input::Cancel(c), self.now);
            self.drain();
        }
        for c in self.contacts.clone() {
            let _ = self.engine.handle(Input::EndWrapUp(c), self.now);
            self.drain();
        }
        self.now += 1_000_000;
        let _ = self.engine.handle(Input::Tick, self.now);
        self.drain();
        for c in &self.contacts {
            assert_eq!(self.terminal.get(c).copied().unwrap_or(0), 1, "{c:?} ended {:?} times", self.terminal.get(c));
        }
        assert_eq!(self.engine.contact_count(), 0);
    }
}

proptest! {
    #[test]
    fn routing_invariants_hold(ops in proptest::collection::vec(op(), 1..160), interrupts in any::<bool>()) {
        let mut c = Checker::new(interrupts);
        for op in ops {
            c.apply(op);
        }
        c.finish();
    }
}

/// FIFO at equal priority, whatever the arrival gaps.
#[test]
fn equal_priority_contacts_are_served_in_arrival_order() {
    proptest!(|(gaps in proptest::collection::vec(0u32..5_000, 2..30))| {
        let mut e = Engine::new(RoutingRules::default());
        let q = QueueRouting::open(QueueId::generate());
        e.handle(Input::ConfigureQueue(q.clone()), 0).expect("queue");
        let mut now = 0i64;
        let mut ids = Vec::new();
        for g in &gaps {
            now += i64::from(*g);
            let id = ContactId::generate();
            ids.push(id);
            e.handle(Input::Enqueue(NewContact::new(id, Channel::Voice, q.id)), now).expect("enqueue");
        }
        let agent = UserId::generate();
        e.handle(Input::Agent(AgentProfile::new(agent)), now).expect("agent");
        e.handle(Input::Presence { agent, presence: Presence::Available }, now).expect("presence");
        let mut served = Vec::new();
        loop {
            let mut offered = None;
            while let Some(o) = e.poll_output() {
                if let Output::Offered { contact, .. } = o { offered = Some(contact); }
            }
            let Some(c) = offered else { break };
            served.push(c);
            e.handle(Input::Accept { contact: c, agent }, now).expect("accept");
            e.handle(Input::Complete { contact: c, wrap_up_secs: Some(0) }, now).expect("complete");
        }
        prop_assert_eq!(served, ids);
    });
}

/// Under a steady flow of high-priority contacts that outpaces the only agent, a low-priority
/// contact is still served: no contact arriving more than gap x seconds-per-point after it is
/// served before it, so its wait is bounded by the (finite) arrivals in that window.
#[test]
fn ageing_serves_a_low_priority_contact_within_its_bound() {
    proptest!(|(gap in 10u8..=100, secs_per_point in 1u32..10, handle_ms in 1_000i64..20_000, low_at in 0i64..30_000)| {
        let rules = RoutingRules { secs_per_priority_point: secs_per_point, ..RoutingRules::default() };
        let mut e = Engine::new(rules);
        let q = QueueRouting::open(QueueId::generate());
        e.handle(Input::ConfigureQueue(q.clone()), 0).expect("queue");
        let agent = UserId::generate();
        e.handle(Input::Agent(AgentProfile::new(agent)), 0).expect("agent");
        e.handle(Input::Presence { agent, presence: Presence::Available }, 0).expect("presence");
        let mut arrivals = BTreeMap::new();
        let new = |e: &mut Engine, arrivals: &mut BTreeMap<ContactId, i64>, now: i64, p: u8| {
            let id = ContactId::generate();
            let mut c = NewContact::new(id, Channel::Voice, q.id);
            c.priority = Some(p);
            e.handle(Input::Enqueue(c), now).expect("enqueue");
            arrivals.insert(id, now);
            id
        };
        let window = i64::from(gap) * i64::from(secs_per_point) * 1000;
        let mut now = 0i64;
        for _ in 0..3 { new(&mut e, &mut arrivals, now, gap); }
        let mut low = None;
        let mut served_low = false;
        for _ in 0..10_000 {
            if low.is_none() && now >= low_at { low = Some((new(&mut e, &mut arrivals, now, 0), now)); }
            let mut offered = None;
            while let Some(o) = e.poll_output() {
                if let Output::Offered { contact, .. } = o { offered = Some(contact); }
            }
            let Some(c) = offered else { break };
            if let Some((low_id, t_low)) = low {
                if c == low_id { served_low = true; break; }
                prop_assert!(arrivals[&c] <= t_low + window, "a contact arriving {} ms after the low-priority one went first", arrivals[&c] - t_low);
            }
            e.handle(Input::Accept { contact: c, agent }, now).expect("accept");
            now += handle_ms;
            // Two arrivals per contact served: the line only grows.
            new(&mut e, &mut arrivals, now, gap);
            new(&mut e, &mut arrivals, now, gap);
            e.handle(Input::Complete { contact: c, wrap_up_secs: Some(0) }, now).expect("complete");
        }
        prop_assert!(served_low, "low-priority contact never served");
    });
}
