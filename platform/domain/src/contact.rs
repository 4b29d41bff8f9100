//! Contacts: one customer interaction on one channel, and its lifecycle events.

use std::collections::BTreeMap;

use crate::{Channel, ContactId, QueueId, SkillRequirement, UnixMillis, UserId};

/// Where a contact is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactState {
    /// Waiting in a queue.
    Queued,
    /// Offered to an agent.
    Offered,
    /// An agent is handling it.
    Connected,
    /// The agent is wrapping up.
    WrapUp,
    /// Handled (terminal).
    Done,
    /// The customer left before being connected (terminal).
    Abandoned,
    /// Handed to voicemail or a callback (terminal).
    Overflowed,
    /// Routing could not take it (terminal).
    Failed,
}

impl ContactState {
    /// The stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            ContactState::Queued => "queued",
            ContactState::Offered => "offered",
            ContactState::Connected => "connected",
            ContactState::WrapUp => "wrap_up",
            ContactState::Done => "done",
            ContactState::Abandoned => "abandoned",
            ContactState::Overflowed => "overflowed",
            ContactState::Failed => "failed",
        }
    }

    /// Whether the contact's life is over.
    pub const fn is_terminal(self) -> bool {
        matches!(self, ContactState::Done | ContactState::Abandoned | ContactState::Overflowed | ContactState::Failed)
    }

    /// Every state.
    pub const ALL: [ContactState; 8] = [
        ContactState::Queued,
        ContactState::Offered,
        ContactState::Connected,
        ContactState::WrapUp,
        ContactState::Done,
        ContactState::Abandoned,
        ContactState::Overflowed,
        ContactState::Failed,
    ];
}

impl std::str::FromStr for ContactState {
    type Err = crate::RoleParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ContactState::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| crate::RoleParseError(s.chars().take(32).collect()))
    }
}

/// A contact as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    /// Its id.
    pub id: ContactId,
    /// Its channel.
    pub channel: Channel,
    /// The queue it is (or was last) in.
    pub queue_id: QueueId,
    /// Where it is in its life.
    pub state: ContactState,
    /// Priority 0..=100.
    pub priority: u8,
    /// Skills required on top of the queue's.
    pub skills: Vec<SkillRequirement>,
    /// The customer's identity on the channel (phone number, e-mail, chat visitor, CRM id).
    pub customer: Option<String>,
    /// Free-form attributes (subject, CRM ids, IVR choices).
    pub attributes: BTreeMap<String, String>,
    /// The agent handling (or who handled) it.
    pub agent_id: Option<UserId>,
    /// When it first entered a queue (keeps its place across restarts).
    pub enqueued_at: UnixMillis,
    /// Last change.
    pub updated_at: UnixMillis,
    /// The agent's disposition code, after completion.
    pub disposition: Option<String>,
    /// The agent's wrap-up notes.
    pub notes: Option<String>,
    /// Conversation thread of text channels, e.g. `sms:<our number>:<their number>`: new
    /// messages on an open thread join its contact instead of making a new one.
    #[serde(default)]
    pub thread_key: Option<String>,
}

impl Contact {
    /// A new contact waiting in a queue, with the queue's priority, no extra skills.
    pub fn queued(
        channel: Channel,
        queue_id: QueueId,
        priority: u8,
        customer: Option<String>,
        now: UnixMillis,
    ) -> Self {
        Self {
            id: ContactId::generate(),
            channel,
            queue_id,
            state: ContactState::Queued,
            priority,
            skills: Vec::new(),
            customer,
            attributes: BTreeMap::new(),
            agent_id: None,
            enqueued_at: now,
            updated_at: now,
            disposition: None,
            notes: None,
            thread_key: None,
        }
    }
}

/// One step of a contact's life, persisted in order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContactEvent {
    /// 1, 2, 3... per contact.
    pub seq: i64,
    /// When it happened.
    pub at: UnixMillis,
    /// `queued`, `offered`, `offer_withdrawn`, `connected`, `requeued`, `wrap_up`, `done`,
    /// `abandoned`, `overflowed`, `failed`.
    pub kind: String,
    /// Details (agent, queue, reason...).
    pub data: serde_json::Value,
}
