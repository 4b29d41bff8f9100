//! Contacts, agent presence and live statistics.

use std::collections::BTreeMap;

use crate::{Channel, SkillRequirement};

/// `POST /api/v1/contacts`: a work item from a tenant system (callback request, web-form case...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    /// Channel of the contact.
    pub channel: Channel,
    /// Queue to route it to.
    pub queue_id: String,
    /// Priority 0..=100 (default: the queue's).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Skills required on top of the queue's.
    #[serde(default)]
    pub required_skills: Vec<SkillRequirement>,
    /// The customer's identity (phone number, e-mail, CRM id); same value = same customer.
    #[serde(default)]
    pub customer: Option<String>,
    /// Free-form attributes shown to the agent (at most 50, keys up to 64, values up to 1000 chars).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// One step of a contact's life.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ContactEventView {
    /// 1, 2, 3...
    pub seq: i64,
    /// When, ms since the epoch.
    pub at: i64,
    /// `created`, `queued`, `offered`, `offer_withdrawn`, `connected`, `requeued`, `wrap_up`,
    /// `done`, `abandoned`, `overflowed`, `failed`.
    pub kind: String,
    /// Details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ContactView {
    /// Id.
    pub id: String,
    /// Channel.
    pub channel: Channel,
    /// Current (or last) queue.
    pub queue_id: String,
    /// `queued`, `offered`, `connected`, `wrap_up`, `done`, `abandoned`, `overflowed`, `failed`.
    pub state: String,
    /// Priority.
    pub priority: u8,
    /// Customer identity.
    pub customer: Option<String>,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Handling agent.
    pub agent_id: Option<String>,
    /// First queued, ms since the epoch.
    pub enqueued_at: i64,
    /// Last change, ms since the epoch.
    pub updated_at: i64,
    /// Disposition code.
    pub disposition: Option<String>,
    /// Wrap-up notes.
    pub notes: Option<String>,
    /// Lifecycle (on single reads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<ContactEventView>,
    /// While offered: when the offer lapses, ms since the epoch (on the agent's own contacts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_deadline: Option<i64>,
}

/// Where a contact stands in its queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QueueStateView {
    /// Contact.
    pub contact_id: String,
    /// State.
    pub state: String,
    /// Queue.
    pub queue_id: String,
    /// Place in line (1 = next), while waiting.
    pub position: Option<u32>,
    /// Estimated wait in seconds, while waiting.
    pub estimated_wait_secs: Option<u32>,
}

/// What an agent can say about themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PresenceStatus {
    /// Ready for work.
    Available,
    /// Not taking work (give a reason).
    Away,
    /// Logged out.
    Offline,
}

/// `PUT /api/v1/agent/presence`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceInput {
    /// New status.
    pub status: PresenceStatus,
    /// Why away (e.g. "lunch").
    #[serde(default)]
    pub reason: Option<String>,
}

/// An agent's live state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AgentStatusView {
    /// Agent (user id).
    pub agent_id: String,
    /// `offline`, `available`, `busy`, `wrap_up`, `away`.
    pub activity: String,
    /// Away reason.
    pub reason: Option<String>,
    /// Capacity units in use.
    pub load: u32,
}

/// Agents' live states.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AgentStatusList {
    /// Every agent of the tenant.
    pub items: Vec<AgentStatusView>,
}

/// `POST /api/v1/agent/contacts/{id}/transfer`: exactly one of `queue_id` and `agent_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    /// Put it back in line in this queue.
    #[serde(default)]
    pub queue_id: Option<String>,
    /// Offer it to this colleague (if they decline, it waits in its queue).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Calls only: send the caller to this number (E.164, blind transfer); the contact ends.
    #[serde(default)]
    pub number: Option<String>,
}

/// `POST /api/v1/agent/contacts/{id}/complete`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteInput {
    /// Disposition code, up to 64 characters.
    #[serde(default)]
    pub disposition: Option<String>,
    /// Notes, up to 10,000 characters.
    #[serde(default)]
    pub notes: Option<String>,
    /// Wrap-up seconds, 0 to 3600 (default: the tenant's).
    #[serde(default)]
    pub wrap_up_secs: Option<u32>,
}

/// A queue's live statistics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QueueStatsView {
    /// Queue.
    pub queue_id: String,
    /// Waiting now.
    pub waiting: u32,
    /// Longest current wait, seconds.
    pub longest_wait_secs: u32,
    /// Offers made.
    pub offered: u64,
    /// Answered.
    pub answered: u64,
    /// Abandoned.
    pub abandoned: u64,
    /// Overflowed out.
    pub overflowed: u64,
    /// Average speed of answer, seconds.
    pub average_answer_secs: u32,
    /// Service level, percent (absent until something was answered or abandoned late).
    pub service_level_percent: Option<u8>,
    /// Member agents by activity.
    pub agents: BTreeMap<String, u32>,
    /// Estimated wait for a contact arriving now, seconds (absent while nobody is logged in).
    pub estimated_wait_secs: Option<u32>,
}

/// Every queue's statistics.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QueueStatsList {
    /// One entry per queue.
    pub items: Vec<QueueStatsView>,
}

/// A tenant's routing rules (`GET`/`PUT /api/v1/routing-rules`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRulesView {
    /// A call may be offered to an agent busy with chat/SMS/e-mail work; only other calls count.
    pub voice_interrupts_text: bool,
    /// Most contacts of a channel an agent handles at once, e.g. `{"email": 3}`.
    #[serde(default)]
    pub max_per_channel: BTreeMap<Channel, u32>,
    /// Returning customers go first to their last agent within this many seconds (0: off).
    pub sticky_secs: u32,
    /// Missed offers in a row before an agent is set away (0: never).
    pub misses_before_away: u32,
    /// Re-queue an accepted text contact nobody answered within this many seconds (absent: never).
    #[serde(default)]
    pub requeue_unanswered_secs: Option<u32>,
    /// Ageing: seconds of waiting one priority point is worth.
    pub secs_per_priority_point: u32,
    /// Default wrap-up seconds.
    pub wrap_up_secs: u32,
}

/// `POST`/`PUT` a webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// A label, unique in the tenant.
    pub name: String,
    /// `https://` URL events are POSTed to (public addresses only).
    #[schema(example = "https://crm.example/hooks/switchboard")]
    pub url: String,
    /// Event types: `contact.queued`, `contact.offered`, `contact.offer_withdrawn`,
    /// `contact.connected`, `contact.requeued`, `contact.wrap_up`, `contact.done`,
    /// `contact.abandoned`, `contact.overflowed`, `contact.failed`, or `contact.*`.
    pub events: Vec<String>,
    /// Deliver (true) or pause (false).
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// A webhook endpoint. Verify each request: `Switchboard-Signature: t=<unix seconds>,v1=<hex
/// HMAC-SHA256 of "<t>.<body>" with the secret>`; deduplicate by `Switchboard-Event-Id`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WebhookView {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Target URL.
    pub url: String,
    /// Signing secret.
    pub secret: String,
    /// Event types.
    pub events: Vec<String>,
    /// Whether it receives events.
    pub active: bool,
}

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WebhookDeliveryView {
    /// Id.
    pub id: String,
    /// Event id (the `Switchboard-Event-Id` header).
    pub event_id: String,
    /// Event type.
    pub event: String,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made.
    pub attempts: u32,
    /// Next attempt, ms since the epoch (pending only).
    pub next_attempt_at: Option<i64>,
    /// HTTP status of the last attempt.
    pub last_status: Option<u16>,
    /// Error of the last attempt.
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: i64,
    /// When the endpoint accepted it.
    pub delivered_at: Option<i64>,
}

/// `PUT /api/v1/channels/sms`: the tenant's Twilio-compatible SMS provider account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsProviderInput {
    /// Account id (Twilio: `AC...`).
    pub account_sid: String,
    /// Auth token (signs webhooks, authenticates sends).
    pub auth_token: String,
    /// REST base URL (default `https://api.twilio.com`).
    #[serde(default)]
    pub base_url: Option<String>,
}

/// An uploaded IVR prompt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PromptView {
    /// The name flows use (`{"file": "<name>"}`).
    pub name: String,
    /// Length in milliseconds.
    pub duration_ms: u64,
    /// Bytes stored (8 kHz mono 16-bit WAV).
    pub size: u64,
    /// When it was last uploaded.
    pub updated_at: i64,
}

/// `PUT /api/v1/users/{id}/sip-account`: the agent's SIP phone login.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SipAccountInput {
    /// SIP user name, 3 to 64 of `a-z 0-9 . _ -`, unique across the service.
    pub username: String,
    /// Digest password, 12 to 128 characters (stored only as digest hashes).
    pub password: String,
}

/// An agent's SIP phone login (the password is never shown back).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SipAccountView {
    /// The agent.
    pub user_id: String,
    /// SIP user name.
    pub username: String,
    /// Digest realm to configure on the phone.
    pub realm: String,
    /// Whether a phone is registered with it on this server's edge now.
    pub registered: bool,
    /// When it was last set.
    pub updated_at: i64,
}

/// The SMS provider settings (the token is never shown back).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SmsProviderView {
    /// Account id.
    pub account_sid: String,
    /// Last four characters of the auth token.
    pub auth_token_hint: String,
    /// REST base URL.
    pub base_url: String,
    /// Configure this as the numbers' incoming-message webhook (HTTP POST).
    pub inbound_webhook_url: String,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MessageView {
    /// Id.
    pub id: String,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// Sender.
    pub from: String,
    /// Recipient.
    pub to: String,
    /// Text.
    pub body: String,
    /// Provider status.
    pub status: String,
    /// Billable segments.
    pub segments: u32,
    /// When, ms since the epoch.
    pub at: i64,
    /// Position in the conversation (1, 2, ...).
    pub seq: u64,
    /// E-mail subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// E-mail HTML part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Files sent with it.
    #[serde(default)]
    pub attachments: Vec<AttachmentView>,
    /// Who wrote it (agent user id, or the customer's display name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct AttachmentView {
    /// Id.
    pub id: String,
    /// File name.
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// A conversation's messages, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MessageList {
    /// The messages.
    pub items: Vec<MessageView>,
}

/// One earlier (or the current) contact of a customer, with its messages.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The contact.
    pub contact: ContactView,
    /// Its messages (text channels), oldest first, at most the last 50.
    pub messages: Vec<MessageView>,
}

/// A customer's contacts on every channel, newest first.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CustomerHistory {
    /// The customer's identity (phone number or e-mail).
    pub customer: Option<String>,
    /// Their contacts, newest first (at most 50).
    pub items: Vec<HistoryEntry>,
}

/// `POST /api/v1/contacts/{id}/messages`: the agent's reply.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageInput {
    /// The text: 1 to 1,600 characters for SMS, up to 100,000 for e-mail and chat.
    pub body: String,
    /// E-mail only: an HTML part (a plain part is always sent too).
    #[serde(default)]
    pub html: Option<String>,
    /// E-mail and chat: files uploaded with `POST /api/v1/contacts/{id}/attachments` (at most 10).
    #[serde(default)]
    pub attachment_ids: Vec<String>,
}

/// `POST /api/v1/contacts/{id}/whisper`: a supervisor's note to the agent only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhisperInput {
    /// The note, 1 to 4,000 characters.
    pub body: String,
}

/// `GET /api/v1/contacts/search`: every given filter must match; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ContactSearchQuery {
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    #[serde(default)]
    pub after: Option<String>,
    /// State (`queued`, `offered`, `connected`, `wrap_up`, `done`, `abandoned`, `overflowed`, `failed`).
    #[serde(default)]
    pub state: Option<String>,
    /// Channel.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Queue id.
    #[serde(default)]
    pub queue_id: Option<String>,
    /// Agent (user id).
    #[serde(default)]
    pub agent_id: Option<String>,
    /// Part of the customer's identity (phone number or e-mail), case-insensitive.
    #[serde(default)]
    pub customer: Option<String>,
    /// Enqueued at or after, ms since the epoch.
    #[serde(default)]
    pub since: Option<i64>,
    /// Enqueued before, ms since the epoch.
    #[serde(default)]
    pub until: Option<i64>,
}

/// `GET /api/v1/stats/intervals`: which stretch of time, cut how.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct IntervalQuery {
    /// Start, ms since the epoch (e.g. local midnight; default: midnight UTC today).
    #[serde(default)]
    pub since: Option<i64>,
    /// End (default: now); at most 7 days after `since`.
    #[serde(default)]
    pub until: Option<i64>,
    /// Interval length in minutes: 5, 15, 30 or 60 (default 15).
    #[serde(default)]
    pub minutes: Option<u32>,
    /// Only this queue.
    #[serde(default)]
    pub queue_id: Option<String>,
}

/// Counts of one interval.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IntervalView {
    /// Interval start, ms since the epoch.
    pub start: i64,
    /// Contacts that arrived.
    pub offered: u32,
    /// Contacts connected to an agent.
    pub answered: u32,
    /// Of those, answered within their queue's service-level threshold.
    pub answered_in_time: u32,
    /// Contacts the customer gave up on.
    pub abandoned: u32,
    /// answered_in_time / (answered + abandoned), percent; absent when both are zero.
    pub service_level_percent: Option<u8>,
}

/// Interval statistics, oldest first, every interval present (zeros included).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IntervalStats {
    /// Interval length in minutes.
    pub minutes: u32,
    /// The intervals.
    pub items: Vec<IntervalView>,
}

/// A colleague an agent can hand a contact to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ColleagueView {
    /// User id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Live activity (`offline`, `available`, `busy`, `wrap_up`, `away`).
    pub activity: String,
}

/// The tenant's active users, for transfers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ColleagueList {
    /// Everyone but the caller.
    pub items: Vec<ColleagueView>,
}
