//! Inputs, outputs and the per-queue settings the engine needs.

use std::collections::BTreeMap;

use switchboard_domain::{
    AgentActivity, AgentSelection, Channel, ChannelCosts, ContactId, CustomerId, OverflowTarget, Presence, Queue,
    QueueId, RelaxStep, RoutingRules, SkillId, SkillLevel, SkillRequirement, UnixMillis, UserId,
};

/// What routing needs to know about a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRouting {
    /// The queue.
    pub id: QueueId,
    /// Skills every agent needs.
    pub required_skills: Vec<SkillRequirement>,
    /// Base priority of its contacts (0..=100).
    pub priority: u8,
    /// Service-level threshold, seconds.
    pub service_level_secs: u32,
    /// Most contacts waiting at once.
    pub max_waiting: Option<u32>,
    /// Seconds an agent has to accept.
    pub offer_timeout_secs: u32,
    /// Agent selection rule.
    pub agent_selection: AgentSelection,
    /// Skill relaxation steps.
    pub relaxation: Vec<RelaxStep>,
    /// Overflow rule.
    pub overflow: Option<switchboard_domain::Overflow>,
}

impl QueueRouting {
    /// A queue with no skill requirements and default settings.
    pub fn open(id: QueueId) -> Self {
        Self {
            id,
            required_skills: Vec::new(),
            priority: 50,
            service_level_secs: 20,
            max_waiting: None,
            offer_timeout_secs: 20,
            agent_selection: AgentSelection::LongestIdle,
            relaxation: Vec::new(),
            overflow: None,
        }
    }

    /// Most levels relaxation can ever lower a requirement by.
    pub fn max_relax(&self) -> u8 {
        self.relaxation.iter().map(|s| s.lower_by).max().unwrap_or(0)
    }

    /// Levels requirements are lowered by after waiting `waited_ms`.
    pub fn relax_at(&self, waited_ms: i64) -> u8 {
        self.relaxation
            .iter()
            .filter(|s| i64::from(s.after_secs) * 1000 <= waited_ms)
            .map(|s| s.lower_by)
            .max()
            .unwrap_or(0)
    }
}

impl From<&Queue> for QueueRouting {
    fn from(q: &Queue) -> Self {
        Self {
            id: q.id,
            required_skills: q.required_skills.clone(),
            priority: q.priority,
            service_level_secs: q.service_level_secs,
            max_waiting: q.max_waiting,
            offer_timeout_secs: q.offer_timeout_secs,
            agent_selection: q.agent_selection,
            relaxation: q.relaxation.clone(),
            overflow: q.overflow,
        }
    }
}

/// An agent's routing profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    /// The agent (a user).
    pub id: UserId,
    /// Skills with levels.
    pub skills: Vec<SkillLevel>,
    /// Capacity units.
    pub capacity: u32,
    /// Per-channel costs.
    pub costs: ChannelCosts,
}

impl AgentProfile {
    /// An agent with no skills and capacity 100.
    pub fn new(id: UserId) -> Self {
        Self { id, skills: Vec::new(), capacity: 100, costs: ChannelCosts::default() }
    }
}

/// A contact entering a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewContact {
    /// Its id (made by the caller).
    pub id: ContactId,
    /// Its channel.
    pub channel: Channel,
    /// The queue.
    pub queue: QueueId,
    /// Priority 0..=100 (None: the queue's).
    pub priority: Option<u8>,
    /// Skills required on top of the queue's.
    pub skills: Vec<SkillRequirement>,
    /// The customer, for sticky routing.
    pub customer: Option<CustomerId>,
}

impl NewContact {
    /// A contact with the queue's priority and no extra skills.
    pub fn new(id: ContactId, channel: Channel, queue: QueueId) -> Self {
        Self { id, channel, queue, priority: None, skills: Vec::new(), customer: None }
    }
}

/// A contact brought back when a shard is rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredContact {
    /// The contact as it was enqueued.
    pub contact: NewContact,
    /// When it first entered a queue (keeps its place in line).
    pub enqueued_at: UnixMillis,
    /// The agent handling it, if it was connected.
    pub agent: Option<UserId>,
}

/// Where a connected conversation is handed on to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferTarget {
    /// Back in line, in this queue (the transferring agent is passed over for a while).
    Queue(QueueId),
    /// Offered to this agent first; if they do not take it, it waits in its queue as usual.
    Agent(UserId),
}

/// Everything that can happen to a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Add or replace a queue's settings.
    ConfigureQueue(QueueRouting),
    /// Remove a queue; its waiting contacts are refused.
    RemoveQueue(QueueId),
    /// Replace the tenant's routing rules.
    SetRules(RoutingRules),
    /// Add or update an agent (skills, capacity, costs).
    Agent(AgentProfile),
    /// Remove an agent; their offers are withdrawn, their contacts requeued.
    RemoveAgent(UserId),
    /// An agent changed presence.
    Presence {
        /// Who.
        agent: UserId,
        /// New presence.
        presence: Presence,
    },
    /// A contact joins a queue.
    Enqueue(NewContact),
    /// A contact comes back on rebuild.
    Restore(RestoredContact),
    /// The customer left (hung up, closed the chat) or the contact was cancelled.
    Cancel(ContactId),
    /// The agent accepts the offer.
    Accept {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: UserId,
    },
    /// The agent declines the offer.
    Reject {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: UserId,
    },
    /// The agent replied to a text contact (stops the unanswered re-queue timer).
    Responded(ContactId),
    /// The agent finished the contact; wrap-up follows for `wrap_up_secs` (None: the rules').
    Complete {
        /// Contact.
        contact: ContactId,
        /// Wrap-up seconds.
        wrap_up_secs: Option<u32>,
    },
    /// The agent finished wrap-up early.
    EndWrapUp(ContactId),
    /// The connected agent hands the contact on.
    Transfer {
        /// Contact.
        contact: ContactId,
        /// Where to.
        to: TransferTarget,
    },
    /// A waiting contact moves to another queue (a plugin routed it on what the customer
    /// wrote); it joins the back of that queue's line.
    Move {
        /// Contact.
        contact: ContactId,
        /// Where to.
        queue: QueueId,
    },
    /// Time passed: fire due timers.
    Tick,
}

/// Why an offer went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawReason {
    /// The agent did not answer in time.
    TimedOut,
    /// The agent declined.
    Rejected,
    /// The customer left.
    Cancelled,
    /// The agent went offline or away, or was removed.
    AgentLeft,
    /// The contact moved to another queue.
    Overflowed,
}

/// Why a contact left routing without being handled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The queue was full and has no overflow.
    QueueFull,
    /// The queue was removed.
    QueueRemoved,
}

/// What the engine decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The contact waits in a queue.
    Queued {
        /// Contact.
        contact: ContactId,
        /// Queue.
        queue: QueueId,
        /// Estimated wait, seconds (None while nobody is logged in).
        estimated_wait_secs: Option<u32>,
    },
    /// Offer the contact to the agent until the deadline.
    Offered {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: UserId,
        /// Queue.
        queue: QueueId,
        /// Accept by then.
        deadline: UnixMillis,
    },
    /// An offer is off.
    OfferWithdrawn {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: UserId,
        /// Why.
        reason: WithdrawReason,
    },
    /// The agent accepted: they are connected.
    Connected {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: UserId,
        /// How long the contact waited, ms.
        waited_ms: i64,
    },
    /// A text contact the agent did not answer goes back to the queue.
    Requeued {
        /// Contact.
        contact: ContactId,
        /// The agent who had it.
        agent: UserId,
    },
    /// The agent handed the contact on; it waits again (and may be offered to `to_agent`).
    Transferred {
        /// Contact.
        contact: ContactId,
        /// The agent who had it.
        from: UserId,
        /// The queue it waits in now.
        queue: QueueId,
        /// The agent it was transferred to, if any.
        to_agent: Option<UserId>,
    },
    /// The agent finished; wrap-up runs until `until`.
    WrapUp {
        /// Contact.
        contact: ContactId,
        /// Agent.
        agent: UserId,
        /// Wrap-up ends.
        until: UnixMillis,
    },
    /// Terminal: handled and wrapped up.
    Done {
        /// Contact.
        contact: ContactId,
    },
    /// Terminal: the customer left before being connected.
    Abandoned {
        /// Contact.
        contact: ContactId,
        /// Queue it was in.
        queue: QueueId,
    },
    /// The queue handed the contact on. Terminal unless `target` is another queue (then `Queued`
    /// follows).
    Overflowed {
        /// Contact.
        contact: ContactId,
        /// From queue.
        from: QueueId,
        /// Where to.
        target: OverflowTarget,
    },
    /// Terminal: routing could not take the contact.
    Ended {
        /// Contact.
        contact: ContactId,
        /// Why.
        reason: EndReason,
    },
    /// An agent's activity changed.
    AgentChanged {
        /// Agent.
        agent: UserId,
        /// New activity.
        activity: AgentActivity,
        /// New presence (e.g. set away after missed offers).
        presence: Presence,
    },
}

impl Output {
    /// The contact this output is about, if any.
    pub fn contact(&self) -> Option<ContactId> {
        match self {
            Output::Queued { contact, .. }
            | Output::Offered { contact, .. }
            | Output::OfferWithdrawn { contact, .. }
            | Output::Connected { contact, .. }
            | Output::Requeued { contact, .. }
            | Output::Transferred { contact, .. }
            | Output::WrapUp { contact, .. }
            | Output::Done { contact }
            | Output::Abandoned { contact, .. }
            | Output::Overflowed { contact, .. }
            | Output::Ended { contact, .. } => Some(*contact),
            Output::AgentChanged { .. } => None,
        }
    }

    /// Whether this output ends the contact's life in routing.
    pub fn is_terminal(&self) -> bool {
        match self {
            Output::Done { .. } | Output::Abandoned { .. } | Output::Ended { .. } => true,
            Output::Overflowed { target, .. } => !matches!(target, OverflowTarget::Queue { .. }),
            _ => false,
        }
    }
}

/// An input the engine refused; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// No such queue.
    #[error("unknown queue")]
    UnknownQueue,
    /// No such agent.
    #[error("unknown agent")]
    UnknownAgent,
    /// No such contact (or it already ended).
    #[error("unknown contact")]
    UnknownContact,
    /// The contact id is already routed.
    #[error("contact already routed")]
    DuplicateContact,
    /// The contact is not offered to that agent.
    #[error("no such offer")]
    NotOffered,
    /// The contact is not connected to an agent.
    #[error("contact not connected")]
    NotConnected,
    /// The contact is not in wrap-up.
    #[error("contact not in wrap-up")]
    NotInWrapUp,
    /// A value is out of range.
    #[error("invalid input: {0}")]
    Invalid(&'static str),
}

/// Live statistics of a queue, updated incrementally.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QueueStats {
    /// Contacts waiting now.
    pub waiting: u32,
    /// Longest current wait, ms.
    pub longest_wait_ms: i64,
    /// Offers made.
    pub offered: u64,
    /// Contacts connected to an agent.
    pub answered: u64,
    /// Contacts answered within the service-level threshold.
    pub answered_in_sl: u64,
    /// Contacts abandoned while waiting or offered.
    pub abandoned: u64,
    /// Abandoned after the service-level threshold.
    pub abandoned_after_sl: u64,
    /// Contacts overflowed out of this queue.
    pub overflowed: u64,
    /// Average speed of answer, ms.
    pub average_answer_ms: i64,
    /// Share answered within the threshold of those answered or abandoned after it, percent.
    pub service_level_percent: Option<u8>,
    /// Member agents by activity.
    pub agents: BTreeMap<AgentActivity, u32>,
    /// Estimated wait for a contact arriving now, seconds (None while nobody is logged in).
    pub estimated_wait_secs: Option<u32>,
}

/// Skill level lookup used in matching.
pub(crate) fn level(skills: &BTreeMap<SkillId, u8>, skill: SkillId) -> u8 {
    skills.get(&skill).copied().unwrap_or(0)
}
