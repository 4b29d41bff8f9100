//! Large-tenant benchmark: 10,000 agents and 1k / 10k / 100k waiting contacts across mixed
//! channels and skills. Reports inputs per second on one core and p50/p99 latency per input
//! kind. Run: `cargo bench -p switchboard-routing` (add `-- --quick` for a short run).
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use switchboard_domain::{
    Channel, ContactId, CustomerId, Presence, QueueId, RelaxStep, RoutingRules, SkillId, SkillLevel, SkillRequirement,
    UserId,
};
use switchboard_routing::{AgentProfile, Engine, Input, NewContact, Output, QueueRouting};

const AGENTS: usize = 10_000;
const SKILLS: usize = 20;
const QUEUES: usize = 50;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Bench {
    engine: Engine,
    rng: Rng,
    now: i64,
    queues: Vec<QueueId>,
    agents: Vec<UserId>,
    offered: VecDeque<(ContactId, UserId)>,
    connected: VecDeque<ContactId>,
    waiting: Vec<ContactId>,
    samples: BTreeMap<&'static str, Vec<u32>>,
    outputs: BTreeMap<&'static str, u64>,
    id_counter: u128,
}

const CHANNEL_MIX: [Channel; 10] = [
    Channel::Voice,
    Channel::Voice,
    Channel::Voice,
    Channel::Chat,
    Channel::Chat,
    Channel::Chat,
    Channel::Email,
    Channel::Email,
    Channel::Sms,
    Channel::Task,
];

impl Bench {
    fn new() -> Self {
        let mut b = Self {
            engine: Engine::new(RoutingRules { sticky_secs: 0, misses_before_away: 0, ..RoutingRules::default() }),
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            now: 1_700_000_000_000,
            queues: Vec::new(),
            agents: Vec::new(),
            offered: VecDeque::new(),
            connected: VecDeque::new(),
            waiting: Vec::new(),
            samples: BTreeMap::new(),
            outputs: BTreeMap::new(),
            id_counter: 1,
        };
        let skills: Vec<SkillId> = (0..SKILLS).map(|_| SkillId::generate()).collect();
        for i in 0..QUEUES {
            let mut q = QueueRouting::open(QueueId::generate());
            q.required_skills = vec![SkillRequirement { skill_id: skills[i % SKILLS], min_level: 1 + (i % 5) as u8 }];
            q.relaxation = vec![RelaxStep { after_secs: 60, lower_by: 2 }];
            q.offer_timeout_secs = 30;
            b.queues.push(q.id);
            b.engine.handle(Input::ConfigureQueue(q), b.now).unwrap();
        }
        for i in 0..AGENTS {
            let id = UserId::generate();
            let mut p = AgentProfile::new(id);
            p.skills = (0..3)
                .map(|k| SkillLevel { skill_id: skills[(i * 7 + k * 3) % SKILLS], level: 1 + ((i + k) % 10) as u8 })
                .collect();
            b.engine.handle(Input::Agent(p), b.now).unwrap();
            b.engine.handle(Input::Presence { agent: id, presence: Presence::Available }, b.now).unwrap();
            b.agents.push(id);
        }
        b.drain();
        b
    }

    fn id(&mut self) -> ContactId {
        self.id_counter += 1;
        ContactId::from_uuid(uuid_from(self.id_counter))
    }

    fn drain(&mut self) {
        while let Some(o) = self.engine.poll_output() {
            match o {
                Output::Offered { contact, agent, .. } => self.offered.push_back((contact, agent)),
                Output::Queued { contact, .. } => self.waiting.push(contact),
                _ => {}
            }
        }
    }

    fn enqueue(&mut self) -> Input {
        let id = self.id();
        let mut c = NewContact::new(id, CHANNEL_MIX[self.rng.below(10)], self.queues[self.rng.below(QUEUES)]);
        c.priority = Some(self.rng.below(101) as u8);
        if self.rng.below(4) == 0 {
            c.customer = Some(CustomerId::generate());
        }
        Input::Enqueue(c)
    }

    /// Fills every agent, then leaves `target` contacts waiting.
    fn fill(&mut self, target: usize) {
        let mut guard = 0;
        loop {
            // Accept every offer so agents fill up.
            while let Some((c, a)) = self.offered.pop_front() {
                self.engine.handle(Input::Accept { contact: c, agent: a }, self.now).unwrap();
                self.connected.push_back(c);
            }
            let waiting = self
                .engine
                .queue_ids()
                .map(|q| self.engine.queue_stats(q, self.now).unwrap().waiting as usize)
                .sum::<usize>();
            if waiting >= target || guard > 5_000_000 {
                break;
            }
            let i = self.enqueue();
            self.engine.handle(i, self.now).unwrap();
            self.drain();
            guard += 1;
        }
        self.drain();
    }

    fn step(&mut self) {
        self.now += 1;
        let pick = self.rng.below(100);
        // Mix: 25 % arrivals, 30 % accepts (agents take most offers), 25 % completions,
        // 8 % abandons, 8 % presence changes, 4 % one-second ticks.
        let (kind, input) = if pick < 25 {
            ("enqueue", self.enqueue())
        } else if pick < 55 && !self.offered.is_empty() {
            let (c, a) = self.offered.pop_front().unwrap();
            self.connected.push_back(c);
            ("accept", Input::Accept { contact: c, agent: a })
        } else if pick < 80 && !self.connected.is_empty() {
            let i = self.rng.below(self.connected.len());
            let c = self.connected.swap_remove_back(i).unwrap();
            ("complete", Input::Complete { contact: c, wrap_up_secs: Some(0) })
        } else if pick < 88 && !self.waiting.is_empty() {
            let i = self.rng.below(self.waiting.len());
            let c = self.waiting.swap_remove(i);
            ("cancel", Input::Cancel(c))
        } else if pick < 96 {
            let a = self.agents[self.rng.below(AGENTS)];
            let p = if self.rng.below(2) == 0 { Presence::Away("break".into()) } else { Presence::Available };
            ("presence", Input::Presence { agent: a, presence: p })
        } else {
            self.now += 1000;
            ("tick", Input::Tick)
        };
        let started = Instant::now();
        let _ = self.engine.handle(input, self.now);
        let mut n = 0;
        while let Some(o) = self.engine.poll_output() {
            n += 1;
            match o {
                Output::Offered { contact, agent, .. } => self.offered.push_back((contact, agent)),
                Output::Queued { contact, .. } => self.waiting.push(contact),
                _ => {}
            }
        }
        let took = started.elapsed().as_nanos().min(u128::from(u32::MAX)) as u32;
        self.samples.entry(kind).or_default().push(took);
        *self.outputs.entry(kind).or_default() += n;
    }
}

fn uuid_from(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

fn pct(v: &mut [u32], p: f64) -> f64 {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    f64::from(v[i]) / 1000.0
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let steps = if quick { 50_000 } else { 300_000 };
    println!("| waiting | inputs/s | kind | p50 µs | p99 µs | count | outputs/input |");
    println!("|---:|---:|---|---:|---:|---:|---:|");
    for target in [1_000usize, 10_000, 100_000] {
        let mut b = Bench::new();
        b.fill(target);
        let started = Instant::now();
        for _ in 0..steps {
            b.step();
        }
        let elapsed = started.elapsed();
        let rate = steps as f64 / elapsed.max(Duration::from_nanos(1)).as_secs_f64();
        let mut all: Vec<u32> = b.samples.values().flatten().copied().collect();
        let total_out: u64 = b.outputs.values().sum();
        println!(
            "| {target} | {rate:.0} | all | {:.2} | {:.2} | {} | {:.1} |",
            pct(&mut all, 0.5),
            pct(&mut all, 0.99),
            all.len(),
            total_out as f64 / all.len() as f64
        );
        let single: Vec<u32> =
            b.samples.iter().filter(|(k, _)| **k != "tick").flat_map(|(_, v)| v.iter().copied()).collect();
        let busy_ns: u64 = single.iter().map(|n| u64::from(*n)).sum();
        println!(
            "| {target} | {:.0} | all but tick (engine time only) | | | {} | |",
            single.len() as f64 / (busy_ns.max(1) as f64 / 1e9),
            single.len()
        );
        for (kind, v) in &mut b.samples {
            let out = b.outputs.get(kind).copied().unwrap_or(0) as f64 / v.len() as f64;
            println!("| {target} | | {kind} | {:.2} | {:.2} | {} | {out:.1} |", pct(v, 0.5), pct(v, 0.99), v.len());
        }
    }
}
