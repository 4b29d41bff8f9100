//! The tenant's configuration: users, skills, queues, channel endpoints, API keys.

use std::collections::BTreeMap;

use crate::{
    ApiKeyId, BusinessHoursId, EndpointId, QueueId, Role, SkillId, TenantId, UnixMillis, UserId, UserStatus,
    address::EmailAddress,
};

/// Whether a tenant may take contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    /// Working normally.
    Active,
    /// Suspended (e.g. unpaid); data kept, customers told politely.
    Suspended,
}

/// A business using Switchboard.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// The business name shown to agents and customers.
    pub name: String,
    /// Whether it is active.
    pub status: TenantStatus,
    /// When it signed up.
    pub created_at: UnixMillis,
}

/// The ways a customer reaches a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// A phone call over SIP.
    Voice,
    /// A call from a browser.
    Webrtc,
    /// Web chat.
    Chat,
    /// Text messages.
    Sms,
    /// E-mail.
    Email,
    /// A work item created through the API (callback request, web form case).
    Task,
}

impl Channel {
    /// Every channel.
    pub const ALL: [Channel; 6] =
        [Channel::Voice, Channel::Webrtc, Channel::Chat, Channel::Sms, Channel::Email, Channel::Task];

    /// The stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Webrtc => "webrtc",
            Channel::Chat => "chat",
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Task => "task",
        }
    }

    /// What one contact on this channel costs of an agent's capacity by default.
    pub const fn default_cost(self) -> u32 {
        match self {
            Channel::Voice | Channel::Webrtc => 100,
            Channel::Chat | Channel::Sms => 25,
            Channel::Email | Channel::Task => 10,
        }
    }
}

/// Capacity units one contact of each channel costs an agent; channels left out cost their default.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ChannelCosts(pub BTreeMap<Channel, u32>);

impl ChannelCosts {
    /// The cost of one contact on `channel`.
    pub fn cost(&self, channel: Channel) -> u32 {
        self.0.get(&channel).copied().unwrap_or(channel.default_cost())
    }
}

/// A skill an agent has, at a level from 1 (novice) to 10 (expert).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SkillLevel {
    /// Which skill.
    pub skill_id: SkillId,
    /// How good, 1..=10.
    pub level: u8,
}

/// A skill a queue requires, at least at `min_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SkillRequirement {
    /// Which skill.
    pub skill_id: SkillId,
    /// The lowest acceptable level, 1..=10.
    pub min_level: u8,
}

/// The highest skill level.
pub const MAX_SKILL_LEVEL: u8 = 10;

/// A person who logs in.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Their tenant.
    pub tenant_id: TenantId,
    /// Login and contact address (unique across Switchboard).
    pub email: EmailAddress,
    /// Display name.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// Whether they can log in.
    pub status: UserStatus,
    /// Capacity units (100 = one voice call).
    pub capacity: u32,
    /// Per-channel costs against the capacity.
    pub channel_costs: ChannelCosts,
    /// Skills with levels.
    pub skills: Vec<SkillLevel>,
    /// When the account was created.
    pub created_at: UnixMillis,
}

/// A named skill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Skill {
    /// Its id.
    pub id: SkillId,
    /// Unique name within the tenant, e.g. "spanish" or "billing".
    pub name: String,
    /// Free text for admins.
    pub description: String,
}

/// Where a contact goes when its queue gives up on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OverflowTarget {
    /// Another queue of the same tenant.
    Queue {
        /// The queue.
        queue_id: QueueId,
    },
    /// Leave a voicemail / message, which becomes a new contact.
    Voicemail,
    /// Offer the customer a callback.
    Callback,
}

/// When a queue hands a contact on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Overflow {
    /// After this many seconds of waiting (None: never by time).
    pub after_secs: Option<u32>,
    /// When the queue already holds `max_waiting` contacts.
    pub when_full: bool,
    /// When no agent who could take it is logged in.
    pub when_no_agents: bool,
    /// Where it goes.
    pub target: OverflowTarget,
}

/// How a queue chooses among eligible agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentSelection {
    /// The agent idle for the longest time.
    #[default]
    LongestIdle,
    /// The agent using the smallest share of their capacity.
    LeastOccupied,
}

/// A step of skill relaxation: after waiting `after_secs`, required levels drop by `lower_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RelaxStep {
    /// Seconds of waiting before this step applies.
    pub after_secs: u32,
    /// How many levels every requirement drops (never below 1).
    pub lower_by: u8,
}

/// A queue's configuration.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Queue {
    /// Its id.
    pub id: QueueId,
    /// Unique name within the tenant.
    pub name: String,
    /// Skills an agent needs to be offered its contacts.
    pub required_skills: Vec<SkillRequirement>,
    /// Base priority of its contacts, 0 (lowest) to 100.
    pub priority: u8,
    /// Seconds within which a contact counts as answered in time.
    pub service_level_secs: u32,
    /// The share of contacts the tenant wants answered in time, in percent.
    pub service_level_percent: u8,
    /// Most contacts that may wait at once (None: unbounded).
    pub max_waiting: Option<u32>,
    /// Seconds an agent has to accept an offer.
    pub offer_timeout_secs: u32,
    /// How agents are chosen.
    #[serde(default)]
    pub agent_selection: AgentSelection,
    /// Skill relaxation as contacts wait.
    #[serde(default)]
    pub relaxation: Vec<RelaxStep>,
    /// Where contacts go when the queue gives up.
    pub overflow: Option<Overflow>,
    /// Opening hours (None: always open).
    pub business_hours_id: Option<BusinessHoursId>,
    /// Whether calls answered from this queue are recorded.
    #[serde(default)]
    pub record_calls: bool,
    /// Wrap-up codes agents choose from when finishing its contacts (empty: free text).
    #[serde(default)]
    pub disposition_codes: Vec<String>,
}

/// The kind of a channel endpoint, which decides what its address is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// A phone number taking calls (E.164).
    VoiceNumber,
    /// A number taking text messages (E.164).
    SmsNumber,
    /// An inbound e-mail address.
    EmailAddress,
    /// A web chat widget; its address is the public widget key.
    ChatWidget,
}

impl EndpointKind {
    /// The stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            EndpointKind::VoiceNumber => "voice_number",
            EndpointKind::SmsNumber => "sms_number",
            EndpointKind::EmailAddress => "email_address",
            EndpointKind::ChatWidget => "chat_widget",
        }
    }
}

/// A way customers reach the tenant.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChannelEndpoint {
    /// Its id.
    pub id: EndpointId,
    /// What it is.
    pub kind: EndpointKind,
    /// The number, e-mail address or widget key; unique across Switchboard for its kind.
    pub address: String,
    /// A label for admins.
    pub name: String,
    /// The queue its contacts go to unless a flow or plugin says otherwise.
    pub queue_id: Option<QueueId>,
    /// Opening hours that apply to it.
    pub business_hours_id: Option<BusinessHoursId>,
    /// Web origins allowed to embed a chat widget (chat widgets only).
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The IVR flow callers hear (voice numbers only; without one, calls go to the queue).
    #[serde(default)]
    pub ivr_flow_id: Option<crate::IvrFlowId>,
}

/// A tenant's IVR flow: the JSON the edge interprets (validated by `switchboard-ivr` on save).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IvrFlow {
    /// Its id.
    pub id: crate::IvrFlowId,
    /// A label, unique within the tenant.
    pub name: String,
    /// The flow: `{"start": ..., "steps": {...}}`.
    pub definition: serde_json::Value,
}

/// A tenant's uploaded IVR prompt (the audio itself is in the object store, converted to 8 kHz
/// mono on upload).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Prompt {
    /// Its name, as flows name it (`a-z 0-9 _ -`).
    pub name: String,
    /// Length.
    pub duration_ms: u64,
    /// Bytes stored.
    pub size: u64,
    /// When it was last uploaded.
    pub updated_at: crate::UnixMillis,
}

impl Prompt {
    /// Where its audio is kept.
    pub fn object_key(tenant: crate::TenantId, name: &str) -> String {
        format!("tenants/{}/prompts/{name}.wav", tenant.as_uuid().simple())
    }
}

/// An agent's SIP account for a desk phone or softphone: the password itself is never stored,
/// only the digest HA1 values (H(username:realm:password)) the edge checks REGISTER against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SipAccount {
    /// The agent.
    pub user_id: crate::UserId,
    /// The SIP user name, unique across tenants (REGISTER names nothing else).
    pub username: String,
    /// The realm the HA1 values were made for.
    pub realm: String,
    /// HA1 with MD5.
    pub ha1_md5: String,
    /// HA1 with SHA-256.
    pub ha1_sha256: String,
    /// When it was last set.
    pub updated_at: crate::UnixMillis,
}

/// A server-to-server credential. The secret itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ApiKey {
    /// Its id (also part of the key text).
    pub id: ApiKeyId,
    /// A label.
    pub name: String,
    /// What the key may do (never owner).
    pub role: Role,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    /// When it was made.
    pub created_at: UnixMillis,
    /// When it was last used, if ever.
    pub last_used_at: Option<UnixMillis>,
}
