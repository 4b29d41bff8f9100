//! Tenant configuration resources: skills, queues, channel endpoints, business hours.

/// The ways a customer reaches a tenant.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Phone call (SIP).
    Voice,
    /// Call from a browser.
    Webrtc,
    /// Web chat.
    Chat,
    /// Text message.
    Sms,
    /// E-mail.
    Email,
    /// API work item.
    Task,
}

/// `POST`/`PUT` a skill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillInput {
    /// Unique name, 1 to 64 characters.
    #[schema(example = "spanish")]
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
}

/// A skill.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SkillView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
}

/// A skill a queue requires.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillRequirement {
    /// Skill id.
    pub skill_id: String,
    /// Lowest acceptable level, 1 to 10.
    pub min_level: u8,
}

/// Where a queue sends contacts it gives up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OverflowKind {
    /// Another queue (`queue_id`).
    Queue,
    /// Voicemail / leave a message.
    Voicemail,
    /// Offer a callback.
    Callback,
}

/// Overflow rule.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Overflow {
    /// After this many seconds of waiting.
    #[serde(default)]
    pub after_secs: Option<u32>,
    /// When the queue is full.
    #[serde(default)]
    pub when_full: bool,
    /// When no eligible agent is logged in.
    #[serde(default)]
    pub when_no_agents: bool,
    /// Where to.
    pub target: OverflowKind,
    /// The queue, when `target` is `queue`.
    #[serde(default)]
    pub queue_id: Option<String>,
}

/// How agents are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentSelection {
    /// Idle longest first.
    #[default]
    LongestIdle,
    /// Least used capacity first.
    LeastOccupied,
}

/// Skill relaxation step.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelaxStep {
    /// After this many seconds of waiting...
    pub after_secs: u32,
    /// ...required levels drop by this much (never below 1).
    pub lower_by: u8,
}

/// `POST`/`PUT` a queue. Omitted settings take their defaults.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueInput {
    /// Unique name, 1 to 64 characters.
    #[schema(example = "support")]
    pub name: String,
    /// Skills agents need.
    #[serde(default)]
    pub required_skills: Vec<SkillRequirement>,
    /// Base priority 0..=100 (default 50).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Service-level threshold in seconds (default 20).
    #[serde(default)]
    pub service_level_secs: Option<u32>,
    /// Service-level goal in percent (default 80).
    #[serde(default)]
    pub service_level_percent: Option<u8>,
    /// Most contacts waiting at once.
    #[serde(default)]
    pub max_waiting: Option<u32>,
    /// Seconds to accept an offer, 5 to 300 (default 20).
    #[serde(default)]
    pub offer_timeout_secs: Option<u32>,
    /// Agent selection rule.
    #[serde(default)]
    pub agent_selection: AgentSelection,
    /// Skill relaxation steps, in increasing `after_secs`.
    #[serde(default)]
    pub relaxation: Vec<RelaxStep>,
    /// Overflow rule.
    #[serde(default)]
    pub overflow: Option<Overflow>,
    /// Opening hours.
    #[serde(default)]
    pub business_hours_id: Option<String>,
    /// Record calls answered from this queue.
    #[serde(default)]
    pub record_calls: bool,
    /// Wrap-up codes agents choose from (up to 50, each 1 to 64 characters); empty: free text.
    #[serde(default)]
    pub disposition_codes: Vec<String>,
}

/// A queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QueueView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Required skills.
    pub required_skills: Vec<SkillRequirement>,
    /// Base priority.
    pub priority: u8,
    /// Service-level threshold, seconds.
    pub service_level_secs: u32,
    /// Service-level goal, percent.
    pub service_level_percent: u8,
    /// Most contacts waiting.
    pub max_waiting: Option<u32>,
    /// Offer timeout, seconds.
    pub offer_timeout_secs: u32,
    /// Agent selection.
    pub agent_selection: AgentSelection,
    /// Relaxation steps.
    pub relaxation: Vec<RelaxStep>,
    /// Overflow rule.
    pub overflow: Option<Overflow>,
    /// Opening hours.
    pub business_hours_id: Option<String>,
    /// Call recording.
    pub record_calls: bool,
    /// Wrap-up codes.
    pub disposition_codes: Vec<String>,
}

/// What a channel endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndpointKind {
    /// Phone number for calls (E.164 address).
    VoiceNumber,
    /// Number for text messages (E.164 address).
    SmsNumber,
    /// Inbound e-mail address.
    EmailAddress,
    /// Web chat widget (address generated: the widget key).
    ChatWidget,
}

/// `POST`/`PUT` a channel endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointInput {
    /// What it is (cannot change on `PUT`).
    pub kind: EndpointKind,
    /// E.164 number or e-mail address; omit for chat widgets.
    #[serde(default)]
    #[schema(example = "+14155550100")]
    pub address: Option<String>,
    /// Label, 1 to 64 characters.
    pub name: String,
    /// Default queue for its contacts.
    #[serde(default)]
    pub queue_id: Option<String>,
    /// Opening hours.
    #[serde(default)]
    pub business_hours_id: Option<String>,
    /// Origins allowed to embed the chat widget, e.g. `https://shop.example`.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// The IVR flow callers hear (voice numbers only).
    #[serde(default)]
    pub ivr_flow_id: Option<String>,
}

/// A channel endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct EndpointView {
    /// Id.
    pub id: String,
    /// Kind.
    pub kind: EndpointKind,
    /// Number, address or widget key.
    pub address: String,
    /// Label.
    pub name: String,
    /// Default queue.
    pub queue_id: Option<String>,
    /// Opening hours.
    pub business_hours_id: Option<String>,
    /// Allowed widget origins.
    pub allowed_origins: Vec<String>,
    /// The IVR flow callers hear.
    pub ivr_flow_id: Option<String>,
}

/// An IVR flow to save. Steps: `play`, `gather`, `business_hours`, `set`, `enqueue`, `transfer`,
/// `voicemail`, `hangup` (see the API guide); every problem is reported with its path.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IvrFlowInput {
    /// Label, 1 to 64 characters.
    pub name: String,
    /// `{"start": "<step>", "steps": {"<step>": {"type": ..., ...}}}`.
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

/// An IVR flow.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IvrFlowView {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// The flow.
    #[schema(value_type = Object)]
    pub definition: serde_json::Value,
}

/// A weekday.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DayOfWeek {
    /// Monday.
    Mon,
    /// Tuesday.
    Tue,
    /// Wednesday.
    Wed,
    /// Thursday.
    Thu,
    /// Friday.
    Fri,
    /// Saturday.
    Sat,
    /// Sunday.
    Sun,
}

/// An opening span.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenSpan {
    /// Weekday.
    pub day: DayOfWeek,
    /// Opens, "HH:MM" local time.
    #[schema(example = "09:00")]
    pub open: String,
    /// Closes, "HH:MM" (exclusive).
    #[schema(example = "17:00")]
    pub close: String,
}

/// `POST`/`PUT` business hours.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BusinessHoursInput {
    /// Unique name.
    pub name: String,
    /// IANA time zone.
    #[schema(example = "Europe/Berlin")]
    pub timezone: String,
    /// Opening spans.
    pub weekly: Vec<OpenSpan>,
    /// Closed dates, "YYYY-MM-DD".
    #[serde(default)]
    pub closed_dates: Vec<String>,
}

/// Business hours.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BusinessHoursView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Time zone.
    pub timezone: String,
    /// Opening spans.
    pub weekly: Vec<OpenSpan>,
    /// Closed dates.
    pub closed_dates: Vec<String>,
}
