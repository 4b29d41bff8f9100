//! Routing scenarios, one rule per test, driven with explicit times.

use switchboard_domain::{
    AgentSelection, Channel, ChannelCosts, ContactId, CustomerId, Overflow, OverflowTarget, Presence, QueueId,
    RelaxStep, RoutingRules, SkillId, SkillLevel, SkillRequirement, UserId,
};
use switchboard_routing::{
    AgentProfile, Engine, Input, NewContact, Output, QueueRouting, RoutingError, TransferTarget, WithdrawReason,
};

const S: i64 = 1000;

struct World {
    engine: Engine,
    now: i64,
    log: Vec<Output>,
}

impl World {
    fn new(rules: RoutingRules) -> Self {
        Self { engine: Engine::new(rules), now: 1_000_000, log: Vec::new() }
    }
    fn at(&mut self, secs: i64) {
        self.now = 1_000_000 + secs * S;
        self.input(Input::Tick);
    }
    fn input(&mut self, i: Input) {
        self.try_input(i).expect("input accepted");
    }
    fn try_input(&mut self, i: Input) -> Result<(), RoutingError> {
        let r = self.engine.handle(i, self.now);
        while let Some(o) = self.engine.poll_output() {
            self.log.push(o);
        }
        r
    }
    fn queue(&mut self, cfg: QueueRouting) -> QueueId {
        let id = cfg.id;
        self.input(Input::ConfigureQueue(cfg));
        id
    }
    fn agent(&mut self, skills: &[(SkillId, u8)], capacity: u32) -> UserId {
        let id = UserId::generate();
        let mut p = AgentProfile::new(id);
        p.skills = skills.iter().map(|(s, l)| SkillLevel { skill_id: *s, level: *l }).collect();
        p.capacity = capacity;
        self.input(Input::Agent(p));
        self.input(Input::Presence { agent: id, presence: Presence::Available });
        id
    }
    fn contact(&mut self, channel: Channel, queue: QueueId) -> ContactId {
        self.contact_with(NewContact::new(ContactId::generate(), channel, queue))
    }
    fn contact_with(&mut self, c: NewContact) -> ContactId {
        let id = c.id;
        self.input(Input::Enqueue(c));
        id
    }
    fn offers(&self) -> Vec<(ContactId, UserId)> {
        self.log
            .iter()
            .filter_map(|o| match o {
                Output::Offered { contact, agent, .. } => Some((*contact, *agent)),
                _ => None,
            })
            .collect()
    }
    fn offered_to(&self, contact: ContactId) -> Option<UserId> {
        self.offers().into_iter().rev().find(|(c, _)| *c == contact).map(|(_, a)| a)
    }
    fn serve(&mut self, contact: ContactId) {
        let agent = self.offered_to(contact).expect("offered");
        self.input(Input::Accept { contact, agent });
        self.input(Input::Complete { contact, wrap_up_secs: Some(0) });
    }
}

fn skill_queue(skill: SkillId, min: u8) -> QueueRouting {
    let mut q = QueueRouting::open(QueueId::generate());
    q.required_skills = vec![SkillRequirement { skill_id: skill, min_level: min }];
    q
}

#[test]
fn a_contact_goes_only_to_an_agent_with_the_required_skill() {
    let mut w = World::new(RoutingRules::default());
    let spanish = SkillId::generate();
    let q = w.queue(skill_queue(spanish, 3));
    let _novice = w.agent(&[(spanish, 2)], 100);
    let expert = w.agent(&[(spanish, 8)], 100);
    let c = w.contact(Channel::Voice, q);
    assert_eq!(w.offers(), vec![(c, expert)]);
}

#[test]
fn equal_priority_is_first_come_first_served() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let contacts: Vec<ContactId> = (0..5)
        .map(|i| {
            w.at(i);
            w.contact(Channel::Voice, q)
        })
        .collect();
    w.at(10);
    let _agent = w.agent(&[], 100);
    let mut served = Vec::new();
    for _ in 0..5 {
        let (c, _) = *w.offers().last().expect("an offer");
        served.push(c);
        w.serve(c);
    }
    assert_eq!(served, contacts);
}

#[test]
fn higher_priority_goes_first_but_ageing_lets_a_long_wait_overtake() {
    let mut w = World::new(RoutingRules { secs_per_priority_point: 1, ..RoutingRules::default() });
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let mut old_low = NewContact::new(ContactId::generate(), Channel::Voice, q);
    old_low.priority = Some(0);
    w.contact_with(old_low);
    w.at(5);
    let mut vip = NewContact::new(ContactId::generate(), Channel::Voice, q);
    vip.priority = Some(100);
    let vip = w.contact_with(vip);
    // 100 points x 1 s: the VIP arriving 5 s later still goes first...
    w.at(6);
    w.agent(&[], 100);
    assert_eq!(w.offers().first().map(|o| o.0), Some(vip));
    // ...but a VIP arriving more than 100 s after the low-priority contact does not.
    let mut w = World::new(RoutingRules { secs_per_priority_point: 1, ..RoutingRules::default() });
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let mut low = NewContact::new(ContactId::generate(), Channel::Voice, q);
    low.priority = Some(0);
    let low = w.contact_with(low);
    w.at(150);
    let mut late_vip = NewContact::new(ContactId::generate(), Channel::Voice, q);
    late_vip.priority = Some(100);
    w.contact_with(late_vip);
    w.agent(&[], 100);
    assert_eq!(w.offers().first().map(|o| o.0), Some(low));
}

#[test]
fn chats_fill_capacity_and_the_next_one_waits() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let agent = w.agent(&[], 100);
    let chats: Vec<ContactId> = (0..5).map(|_| w.contact(Channel::Chat, q)).collect();
    let offered: Vec<ContactId> = w.offers().into_iter().map(|(c, _)| c).collect();
    assert_eq!(offered, chats[..4], "4 chats x 25 = 100");
    w.input(Input::Accept { contact: chats[0], agent });
    w.input(Input::Complete { contact: chats[0], wrap_up_secs: Some(0) });
    assert_eq!(w.offered_to(chats[4]), Some(agent), "a freed slot takes the waiting chat");
}

#[test]
fn a_call_may_interrupt_chat_work_when_the_rule_says_so() {
    for (rule, expect_offer) in [(true, true), (false, false)] {
        let mut w = World::new(RoutingRules { voice_interrupts_text: rule, ..RoutingRules::default() });
        let q = w.queue(QueueRouting::open(QueueId::generate()));
        let agent = w.agent(&[], 100);
        let chat = w.contact(Channel::Chat, q);
        w.input(Input::Accept { contact: chat, agent });
        let call = w.contact(Channel::Voice, q);
        assert_eq!(w.offered_to(call).is_some(), expect_offer, "voice_interrupts_text = {rule}");
        // Never two calls at once either way.
        let second = w.contact(Channel::Voice, q);
        assert_eq!(w.offered_to(second), None);
    }
}

#[test]
fn a_per_channel_limit_caps_e_mails() {
    let mut rules = RoutingRules::default();
    rules.max_per_channel.insert(Channel::Email, 2);
    let mut w = World::new(rules);
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    w.agent(&[], 100);
    for _ in 0..4 {
        w.contact(Channel::Email, q);
    }
    assert_eq!(w.offers().len(), 2);
}

#[test]
fn longest_idle_and_least_occupied_pick_different_agents() {
    let mut w = World::new(RoutingRules::default());
    let mut cfg = QueueRouting::open(QueueId::generate());
    let q = w.queue(cfg.clone());
    let first = w.agent(&[], 100);
    w.at(1);
    let second = w.agent(&[], 100);
    // The first agent has been idle longest.
    let c = w.contact(Channel::Chat, q);
    assert_eq!(w.offered_to(c), Some(first));
    w.input(Input::Accept { contact: c, agent: first });
    // Least occupied: the second (0 %) beats the first (25 %).
    cfg.agent_selection = AgentSelection::LeastOccupied;
    w.queue(cfg);
    let c2 = w.contact(Channel::Chat, q);
    assert_eq!(w.offered_to(c2), Some(second));
}

#[test]
fn a_returning_customer_goes_to_their_last_agent() {
    let mut w = World::new(RoutingRules { sticky_secs: 600, ..RoutingRules::default() });
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let a = w.agent(&[], 100);
    w.at(1);
    let b = w.agent(&[], 100);
    let customer = CustomerId::generate();
    let mut first = NewContact::new(ContactId::generate(), Channel::Chat, q);
    first.customer = Some(customer);
    let first = w.contact_with(first);
    assert_eq!(w.offered_to(first), Some(a));
    // Make b the longest idle, then let the customer come back: still a.
    w.serve(first);
    w.at(100);
    let mut again = NewContact::new(ContactId::generate(), Channel::Chat, q);
    again.customer = Some(customer);
    let again = w.contact_with(again);
    assert_eq!(w.offered_to(again), Some(a), "sticky beats longest idle ({b:?})");
}

#[test]
fn a_rejected_offer_goes_to_the_next_agent_and_repeated_misses_set_away() {
    let mut w = World::new(RoutingRules { misses_before_away: 2, ..RoutingRules::default() });
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let a = w.agent(&[], 100);
    w.at(1);
    let b = w.agent(&[], 100);
    let c = w.contact(Channel::Voice, q);
    assert_eq!(w.offered_to(c), Some(a));
    w.input(Input::Reject { contact: c, agent: a });
    assert_eq!(w.offered_to(c), Some(b));
    // A second miss (time-out) for a sets them away.
    w.input(Input::Accept { contact: c, agent: b });
    let c2 = w.contact(Channel::Voice, q);
    assert_eq!(w.offered_to(c2), Some(a));
    w.at(25);
    assert!(w.log.iter().any(
        |o| matches!(o, Output::OfferWithdrawn { contact, reason: WithdrawReason::TimedOut, .. } if *contact == c2)
    ));
    assert_eq!(w.engine.agent_state(a).map(|s| s.1), Some(Presence::Away("missed offers".into())));
}

#[test]
fn accepting_someone_elses_offer_is_refused() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let a = w.agent(&[], 100);
    let c = w.contact(Channel::Voice, q);
    let stranger = UserId::generate();
    assert_eq!(w.try_input(Input::Accept { contact: c, agent: stranger }), Err(RoutingError::NotOffered));
    assert_eq!(
        w.try_input(Input::Accept { contact: ContactId::generate(), agent: a }),
        Err(RoutingError::UnknownContact)
    );
}

#[test]
fn skill_requirements_relax_as_the_contact_waits() {
    let mut w = World::new(RoutingRules::default());
    let skill = SkillId::generate();
    let mut cfg = skill_queue(skill, 5);
    cfg.relaxation = vec![RelaxStep { after_secs: 30, lower_by: 1 }];
    let q = w.queue(cfg);
    let agent = w.agent(&[(skill, 4)], 100);
    let c = w.contact(Channel::Voice, q);
    w.at(29);
    assert_eq!(w.offered_to(c), None);
    w.at(30);
    assert_eq!(w.offered_to(c), Some(agent));
}

#[test]
fn overflow_moves_a_contact_after_its_wait_limit() {
    let mut w = World::new(RoutingRules::default());
    let backup = w.queue(QueueRouting::open(QueueId::generate()));
    let skill = SkillId::generate();
    let mut cfg = skill_queue(skill, 5);
    cfg.overflow = Some(Overflow {
        after_secs: Some(60),
        when_full: false,
        when_no_agents: false,
        target: OverflowTarget::Queue { queue_id: backup },
    });
    let q = w.queue(cfg);
    let generalist = w.agent(&[], 100);
    let c = w.contact(Channel::Voice, q);
    w.at(59);
    assert_eq!(w.offered_to(c), None);
    w.at(60);
    assert!(w.log.iter().any(|o| matches!(o, Output::Overflowed { contact, .. } if *contact == c)));
    assert_eq!(w.offered_to(c), Some(generalist));
}

#[test]
fn an_unstaffed_queue_overflows_to_voicemail() {
    let mut w = World::new(RoutingRules::default());
    let mut cfg = QueueRouting::open(QueueId::generate());
    cfg.overflow =
        Some(Overflow { after_secs: None, when_full: false, when_no_agents: true, target: OverflowTarget::Voicemail });
    let q = w.queue(cfg);
    let c = w.contact(Channel::Voice, q);
    assert!(
        w.log.iter().any(
            |o| matches!(o, Output::Overflowed { contact, target: OverflowTarget::Voicemail, .. } if *contact == c)
        )
    );
    assert!(w.log.last().is_some_and(Output::is_terminal));
}

#[test]
fn a_full_queue_overflows_or_refuses() {
    for overflow in [true, false] {
        let mut w = World::new(RoutingRules::default());
        let mut cfg = QueueRouting::open(QueueId::generate());
        cfg.max_waiting = Some(1);
        if overflow {
            cfg.overflow = Some(Overflow {
                after_secs: None,
                when_full: true,
                when_no_agents: false,
                target: OverflowTarget::Callback,
            });
        }
        let q = w.queue(cfg);
        let first = w.contact(Channel::Voice, q);
        let second = w.contact(Channel::Voice, q);
        assert!(!w.log.iter().any(|o| o.contact() == Some(first) && o.is_terminal()));
        let ended = w.log.iter().find(|o| o.contact() == Some(second) && o.is_terminal()).expect("second ended");
        if overflow {
            assert!(matches!(ended, Output::Overflowed { target: OverflowTarget::Callback, .. }), "{ended:?}");
        } else {
            assert!(
                matches!(ended, Output::Ended { reason: switchboard_routing::EndReason::QueueFull, .. }),
                "{ended:?}"
            );
        }
    }
}

#[test]
fn an_unanswered_chat_goes_back_to_the_queue() {
    let mut w = World::new(RoutingRules { requeue_unanswered_secs: Some(60), ..RoutingRules::default() });
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let a = w.agent(&[], 100);
    w.at(1);
    let b = w.agent(&[], 100);
    let c = w.contact(Channel::Chat, q);
    w.input(Input::Accept { contact: c, agent: a });
    w.at(61);
    assert!(w.log.iter().any(|o| matches!(o, Output::Requeued { contact, agent } if *contact == c && *agent == a)));
    assert_eq!(w.offered_to(c), Some(b));
    // A reply in time keeps it.
    w.input(Input::Accept { contact: c, agent: b });
    w.input(Input::Responded(c));
    w.at(200);
    assert_eq!(w.log.iter().filter(|o| matches!(o, Output::Requeued { .. })).count(), 1);
}

#[test]
fn a_customer_leaving_during_an_offer_is_abandoned_and_frees_the_agent() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let a = w.agent(&[], 100);
    let c = w.contact(Channel::Voice, q);
    let next = w.contact(Channel::Voice, q);
    w.input(Input::Cancel(c));
    assert!(w.log.iter().any(
        |o| matches!(o, Output::OfferWithdrawn { contact, reason: WithdrawReason::Cancelled, .. } if *contact == c)
    ));
    assert!(w.log.iter().any(|o| matches!(o, Output::Abandoned { contact, .. } if *contact == c)));
    assert_eq!(w.offered_to(next), Some(a));
    let stats = w.engine.queue_stats(q, w.now).expect("stats");
    assert_eq!(stats.abandoned, 1);
}

#[test]
fn wrap_up_holds_new_offers_until_it_ends() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let a = w.agent(&[], 100);
    let c = w.contact(Channel::Voice, q);
    w.input(Input::Accept { contact: c, agent: a });
    w.input(Input::Complete { contact: c, wrap_up_secs: Some(30) });
    let next = w.contact(Channel::Voice, q);
    w.at(29);
    assert_eq!(w.offered_to(next), None);
    w.at(30);
    assert!(w.log.iter().any(|o| matches!(o, Output::Done { contact } if *contact == c)));
    assert_eq!(w.offered_to(next), Some(a));
}

#[test]
fn statistics_follow_the_traffic() {
    let mut w = World::new(RoutingRules::default());
    let mut cfg = QueueRouting::open(QueueId::generate());
    cfg.service_level_secs = 10;
    let q = w.queue(cfg);
    let fast = w.contact(Channel::Voice, q);
    let slow = w.contact(Channel::Voice, q);
    let gone = w.contact(Channel::Voice, q);
    w.at(5);
    let agent = w.agent(&[], 100);
    w.serve(fast);
    w.at(20);
    w.input(Input::Cancel(gone));
    let s = w.engine.queue_stats(q, w.now).expect("stats");
    assert_eq!((s.waiting, s.answered, s.abandoned, s.answered_in_sl), (1, 1, 1, 1));
    assert_eq!(s.longest_wait_ms, 20 * S);
    w.input(Input::Accept { contact: slow, agent });
    let s = w.engine.queue_stats(q, w.now).expect("stats");
    assert_eq!(s.answered, 2);
    assert_eq!(s.service_level_percent, Some(33), "1 in time of 2 answered + 1 abandoned late");
    assert_eq!(s.average_answer_ms, (5 * S + 20 * S) / 2);
}

#[test]
fn positions_and_estimated_waits_are_reported() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let a = w.contact(Channel::Voice, q);
    let b = w.contact(Channel::Voice, q);
    assert_eq!(w.engine.position(a).map(|p| p.0), Some(1));
    assert_eq!(w.engine.position(b).map(|p| p.0), Some(2));
}

#[test]
fn the_same_inputs_give_the_same_outputs() {
    let run = || {
        let mut w = World::new(RoutingRules::default());
        let q = w.queue(QueueRouting::open(QueueId::from_uuid(uuid_of(1))));
        let mut p = AgentProfile::new(UserId::from_uuid(uuid_of(2)));
        p.costs = ChannelCosts::default();
        w.input(Input::Agent(p));
        w.input(Input::Presence { agent: UserId::from_uuid(uuid_of(2)), presence: Presence::Available });
        for i in 0..6 {
            w.at(i);
            w.contact_with(NewContact::new(ContactId::from_uuid(uuid_of(100 + i as u128)), Channel::Chat, q));
        }
        w.at(100);
        w.log
    };
    assert_eq!(run(), run());
}

fn uuid_of(n: u128) -> switchboard_domain_uuid::Uuid {
    switchboard_domain_uuid::Uuid::from_u128(n)
}

mod switchboard_domain_uuid {
    pub use uuid::Uuid;
}

#[test]
fn restored_contacts_keep_their_place_in_line() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let ids: Vec<ContactId> = (0..3).map(|_| ContactId::generate()).collect();
    // Restored in scrambled order, with their original arrival times.
    for (i, at) in [(2, 30), (0, 10), (1, 20)] {
        w.input(Input::Restore(switchboard_routing::RestoredContact {
            contact: NewContact::new(ids[i], Channel::Voice, q),
            enqueued_at: 1_000_000 + at * S,
            agent: None,
        }));
    }
    w.at(40);
    w.agent(&[], 100);
    let mut served = Vec::new();
    for _ in 0..3 {
        let (c, _) = *w.offers().last().expect("offer");
        served.push(c);
        w.serve(c);
    }
    assert_eq!(served, ids);
}

#[test]
fn a_transfer_to_a_queue_frees_the_agent_and_the_contact_is_not_offered_back_to_them() {
    let mut w = World::new(RoutingRules::default());
    let sales = w.queue(QueueRouting::open(QueueId::generate()));
    let billing = w.queue(QueueRouting::open(QueueId::generate()));
    let ann = w.agent(&[], 100);
    let c = w.contact(Channel::Chat, sales);
    assert_eq!(w.offered_to(c), Some(ann));
    w.input(Input::Accept { contact: c, agent: ann });
    // Not connected: refused, nothing changes.
    let other = w.contact(Channel::Chat, sales);
    assert_eq!(
        w.try_input(Input::Transfer { contact: other, to: TransferTarget::Queue(billing) }),
        Err(RoutingError::NotConnected)
    );
    let unknown = TransferTarget::Queue(QueueId::generate());
    assert_eq!(w.try_input(Input::Transfer { contact: c, to: unknown }), Err(RoutingError::UnknownQueue));
    w.log.clear();
    w.input(Input::Transfer { contact: c, to: TransferTarget::Queue(billing) });
    assert!(
        matches!(w.log[0], Output::Transferred { contact, from, queue, to_agent: None } if contact == c && from == ann && queue == billing)
    );
    assert!(
        w.log.iter().any(|o| matches!(o, Output::Queued { contact, queue, .. } if *contact == c && *queue == billing))
    );
    assert_eq!(w.offers().iter().filter(|(x, _)| *x == c).count(), 0, "not offered back to the transferring agent");
    // Another agent gets it.
    let bob = w.agent(&[], 100);
    assert_eq!(w.offered_to(c), Some(bob));
}

#[test]
fn a_transfer_to_an_agent_offers_it_to_them_and_a_declined_offer_leaves_it_waiting() {
    let mut w = World::new(RoutingRules::default());
    let q = w.queue(QueueRouting::open(QueueId::generate()));
    let ann = w.agent(&[], 100);
    let c = w.contact(Channel::Email, q);
    w.input(Input::Accept { contact: c, agent: ann });
    let bob = w.agent(&[], 100);
    assert_eq!(
        w.try_input(Input::Transfer { contact: c, to: TransferTarget::Agent(ann) }),
        Err(RoutingError::Invalid("the contact is already with this agent"))
    );
    w.input(Input::Presence { agent: bob, presence: Presence::Away("lunch".into()) });
    assert!(w.try_input(Input::Transfer { contact: c, to: TransferTarget::Agent(bob) }).is_err(), "bob is away");
    w.input(Input::Presence { agent: bob, presence: Presence::Available });
    w.log.clear();
    w.input(Input::Transfer { contact: c, to: TransferTarget::Agent(bob) });
    assert_eq!(w.offered_to(c), Some(bob));
    w.input(Input::Reject { contact: c, agent: bob });
    // Back in line: Ann is free again and may take it.
    assert_eq!(w.offered_to(c), Some(ann));
}

#[test]
fn a_waiting_contact_moves_to_another_queue_and_its_old_timers_lapse() {
    let mut w = World::new(RoutingRules::default());
    let spanish = SkillId::generate();
    let es = w.queue(skill_queue(spanish, 1));
    let mut cfg = QueueRouting::open(QueueId::generate());
    cfg.overflow = Some(Overflow {
        after_secs: Some(30),
        when_full: false,
        when_no_agents: false,
        target: OverflowTarget::Voicemail,
    });
    let general = w.queue(cfg);
    let c = w.contact(Channel::Chat, general);
    assert_eq!(w.offers(), vec![], "nobody is logged in yet");
    w.at(5);
    w.input(Input::Move { contact: c, queue: es });
    assert!(w.log.iter().any(|o| matches!(o, Output::Queued { contact, queue, .. } if *contact == c && *queue == es)));
    // The general queue's overflow timer no longer applies.
    w.at(40);
    assert!(!w.log.iter().any(|o| matches!(o, Output::Overflowed { .. })), "{:?}", w.log);
    let hablante = w.agent(&[(spanish, 5)], 100);
    assert_eq!(w.offered_to(c), Some(hablante));
    // Offered, not waiting: it stays put; unknown queues and contacts are refused.
    assert!(matches!(w.try_input(Input::Move { contact: c, queue: general }), Err(RoutingError::Invalid(_))));
    let nobody = w.queue(skill_queue(SkillId::generate(), 1));
    let other = w.contact(Channel::Chat, nobody);
    assert_eq!(
        w.try_input(Input::Move { contact: other, queue: QueueId::generate() }),
        Err(RoutingError::UnknownQueue)
    );
    assert_eq!(
        w.try_input(Input::Move { contact: ContactId::generate(), queue: es }),
        Err(RoutingError::UnknownContact)
    );
}
