//! The seam between an edge and the platform. In the embedded default the platform implements
//! it directly over its store and routing; a stand-alone edge reaches the platform through the
//! control link. Everything an edge learns about tenants, and every contact it creates, goes
//! through here.

use std::collections::BTreeMap;

use switchboard_domain::BusinessHours;
use switchboard_ivr::Flow;

/// Where a tenant's number leads.
#[derive(Debug, Clone, PartialEq)]
pub struct NumberRoute {
    /// The tenant.
    pub tenant_id: String,
    /// The voice-number endpoint.
    pub endpoint_id: String,
    /// The number's queue (where calls go without a flow, and voicemail by default).
    pub queue_id: Option<String>,
    /// The IVR flow callers hear first, if any.
    pub flow: Option<Flow>,
    /// The tenant's business-hours schedules by id (for the flow's branches).
    pub hours: BTreeMap<String, BusinessHours>,
    /// Most calls the tenant may have on this edge at once.
    pub max_concurrent_calls: u32,
    /// Why the tenant takes no calls now (e.g. suspended for non-payment); answered 480.
    pub unavailable: Option<String>,
}

/// An agent's SIP account (for a desk phone or softphone that registers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAccount {
    /// The tenant.
    pub tenant_id: String,
    /// The agent.
    pub user_id: String,
    /// The SIP user name (unique across tenants: REGISTER carries nothing else).
    pub username: String,
    /// H(username:realm:password) with MD5, for phones that only speak MD5.
    pub ha1_md5: String,
    /// The same with SHA-256 (RFC 8760).
    pub ha1_sha256: String,
}

/// A call becoming a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallIntake {
    /// The tenant.
    pub tenant_id: String,
    /// The number's endpoint.
    pub endpoint_id: String,
    /// SIP Call-ID (the contact's external id: a retried intake is the same contact).
    pub call_id: String,
    /// Who calls (E.164 when the carrier sent one).
    pub caller: String,
    /// The number dialled.
    pub dialled: String,
    /// The queue.
    pub queue_id: Option<String>,
    /// Priority from the flow.
    pub priority: i32,
    /// Attributes the flow collected.
    pub attributes: BTreeMap<String, String>,
}

/// What the platform did with a call it was asked to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Waiting as this contact.
    Queued(String),
    /// The tenant's plugin sends it to voicemail instead (the number's queue gets it).
    Voicemail,
    /// The tenant's plugin refuses it (the caller hears the closed message).
    Refused(String),
}

/// An IVR `plugin` step asking the tenant's on-ivr plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvrAsk {
    /// The tenant.
    pub tenant_id: String,
    /// The SIP Call-ID.
    pub call_id: String,
    /// Who calls.
    pub caller: String,
    /// The number dialled.
    pub dialled: String,
    /// The step asking.
    pub step: String,
    /// Keys pressed in the gather before.
    pub digits: String,
    /// Attributes the flow has collected.
    pub attributes: BTreeMap<String, String>,
}

/// The plugin's choice for an IVR step.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IvrChoice {
    /// A branch of the step (None: its default).
    pub branch: Option<String>,
    /// Attributes to set.
    pub attributes: Vec<(String, String)>,
}

/// A waiting caller's place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePosition {
    /// 1 = next.
    pub position: u32,
    /// Estimated wait in seconds, when the queue has enough history to say.
    pub estimated_wait_secs: Option<u32>,
}

/// A recorded voicemail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voicemail {
    /// The call it came from.
    pub call: CallIntake,
    /// Mono 8 kHz WAV.
    pub wav: Vec<u8>,
    /// Its length.
    pub duration_ms: u64,
}

/// What happened to a call once an agent took it: for the console, the contact's history and
/// routing (an agent whose phone cannot be reached gets the caller back in the queue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// The agent's phone is ringing.
    Ringing,
    /// Caller and agent are talking.
    Bridged,
    /// The caller is on hold (hears music).
    Held,
    /// Back from hold.
    Resumed,
    /// The agent's phone could not be reached: not registered, busy, declined, no answer.
    AgentUnreachable(String),
    /// The agent's phone hung up; the caller was released.
    AgentHungUp,
    /// The caller hung up while connected to the agent.
    CallerHungUp,
    /// The caller was sent to a number (blind transfer).
    TransferredOut(String),
}

impl CallState {
    /// Stable name for events.
    pub fn as_str(&self) -> &'static str {
        match self {
            CallState::Ringing => "ringing",
            CallState::Bridged => "bridged",
            CallState::Held => "held",
            CallState::Resumed => "resumed",
            CallState::AgentUnreachable(_) => "agent_unreachable",
            CallState::AgentHungUp => "agent_hung_up",
            CallState::CallerHungUp => "caller_hung_up",
            CallState::TransferredOut(_) => "transferred_out",
        }
    }
}

/// A call's state change, reported to the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEvent {
    /// The tenant.
    pub tenant_id: String,
    /// The contact the call is.
    pub contact_id: String,
    /// The SIP Call-ID of the caller's leg.
    pub call_id: String,
    /// The agent the contact is connected to.
    pub agent_id: Option<String>,
    /// What happened.
    pub state: CallState,
}

/// A call the edge answered has ended: how long it lasted, for the tenant's usage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallEnded {
    /// The tenant.
    pub tenant_id: String,
    /// The SIP Call-ID of the caller's leg (a call is counted once).
    pub call_id: String,
    /// From the answer to the end (IVR, queue, talk, voicemail).
    pub duration_ms: u64,
}

/// A finished call recording (stereo 8 kHz WAV, caller left, agent right).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    /// The tenant.
    pub tenant_id: String,
    /// The contact.
    pub contact_id: String,
    /// The caller leg's Call-ID.
    pub call_id: String,
    /// The file.
    pub wav: Vec<u8>,
    /// Its length.
    pub duration_ms: u64,
    /// How long the caller's channel had sound.
    pub caller_sound_ms: u64,
    /// How long the agent's channel had sound.
    pub agent_sound_ms: u64,
}

/// The platform could not answer (unreachable, or its store failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("platform unavailable: {0}")]
pub struct PlatformError(pub String);

/// What the edge asks of the platform.
#[async_trait::async_trait]
pub trait Platform: Send + Sync + 'static {
    /// The route of a dialled number (E.164, `+` included).
    async fn number(&self, number: &str) -> Result<Option<NumberRoute>, PlatformError>;
    /// The SIP account with this user name.
    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>, PlatformError>;
    /// A tenant's uploaded prompt (WAV bytes) by name.
    async fn prompt(&self, tenant_id: &str, name: &str) -> Result<Option<Vec<u8>>, PlatformError>;
    /// Puts the call in its queue as a contact (or, as the tenant's plugin says, to voicemail or
    /// away).
    async fn enqueue(&self, call: &CallIntake) -> Result<Admission, PlatformError>;
    /// An IVR `plugin` step: what the tenant's on-ivr plugin chooses (None: no plugin, or no
    /// usable answer; the step's default applies). Platforms without plugins keep this default.
    async fn ivr_step(&self, _ask: &IvrAsk) -> Result<Option<IvrChoice>, PlatformError> {
        Ok(None)
    }
    /// Where a waiting call stands (None: no longer waiting).
    async fn position(&self, tenant_id: &str, contact_id: &str) -> Result<Option<QueuePosition>, PlatformError>;
    /// The caller hung up while waiting.
    async fn abandoned(&self, tenant_id: &str, contact_id: &str) -> Result<(), PlatformError>;
    /// A voicemail to keep as a contact; returns the contact id.
    async fn voicemail(&self, voicemail: Voicemail) -> Result<String, PlatformError>;
    /// A connected call changed state.
    async fn call_event(&self, event: CallEvent) -> Result<(), PlatformError>;
    /// A call ended: its minutes count towards the tenant's usage.
    async fn call_ended(&self, _ended: CallEnded) -> Result<(), PlatformError> {
        Ok(())
    }
    /// A call's recording, to store with its contact.
    async fn recording(&self, recording: Recording) -> Result<(), PlatformError>;
    /// A call's recording could not be made or kept.
    async fn recording_failed(&self, tenant_id: &str, contact_id: &str, reason: &str) -> Result<(), PlatformError>;
}
