//! Agent presence and the tenant-wide routing rules.

use std::collections::BTreeMap;

use crate::Channel;

/// What an agent says about themselves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "status", content = "reason", rename_all = "snake_case")]
pub enum Presence {
    /// Logged out: no offers.
    Offline,
    /// Ready for work.
    Available,
    /// Logged in but not taking work (break, meeting, missed offers...).
    Away(String),
}

/// What an agent is doing, derived from presence and work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentActivity {
    /// Logged out.
    Offline,
    /// Available with nothing to do.
    Available,
    /// Available and handling at least one contact.
    Busy,
    /// Finishing after-contact work; no new offers.
    WrapUp,
    /// Not taking work.
    Away,
}

impl AgentActivity {
    /// Every activity.
    pub const ALL: [AgentActivity; 5] = [
        AgentActivity::Offline,
        AgentActivity::Available,
        AgentActivity::Busy,
        AgentActivity::WrapUp,
        AgentActivity::Away,
    ];

    /// The stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            AgentActivity::Offline => "offline",
            AgentActivity::Available => "available",
            AgentActivity::Busy => "busy",
            AgentActivity::WrapUp => "wrap_up",
            AgentActivity::Away => "away",
        }
    }
}

/// A tenant's routing rules, applied across all its queues.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RoutingRules {
    /// A voice or WebRTC call may be offered to an agent busy with text work (chat, SMS, e-mail,
    /// tasks): only other calls count against the agent's capacity for it.
    pub voice_interrupts_text: bool,
    /// Most contacts of a channel an agent handles at once (e.g. "never more than 3 e-mails").
    pub max_per_channel: BTreeMap<Channel, u32>,
    /// A returning customer is offered first to the agent who last served them, if that was
    /// within this many seconds (0: off).
    pub sticky_secs: u32,
    /// After this many missed offers in a row (rejected or timed out) the agent is set away (0: never).
    pub misses_before_away: u32,
    /// An accepted chat/SMS/e-mail with no agent reply within this many seconds goes back to the
    /// queue (None: never).
    pub requeue_unanswered_secs: Option<u32>,
    /// Ageing: one priority point is worth this many seconds of waiting, so a high-priority
    /// contact goes first but a low-priority one waiting long enough overtakes it.
    pub secs_per_priority_point: u32,
    /// Default wrap-up time after a contact, in seconds.
    pub wrap_up_secs: u32,
}

impl Default for RoutingRules {
    fn default() -> Self {
        Self {
            voice_interrupts_text: true,
            max_per_channel: BTreeMap::new(),
            sticky_secs: 3600,
            misses_before_away: 3,
            requeue_unanswered_secs: None,
            secs_per_priority_point: 6,
            wrap_up_secs: 0,
        }
    }
}
