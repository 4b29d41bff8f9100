//! The seam between an edge and the platform. In the embedded default the platform implements
//! it directly over its store and routing; a stand-alone edge reaches the platform through the
//! control link. Everything an edge learns about tenants, and every contact it creates, goes
//! through here.

use std::collections::BTreeMap;

use switchboard_domain::BusinessHours;
use switchboard_ivr::Flow;

pub use switchboard_control_link::{
    Admission, CallEnded, CallEvent, CallIntake, CallState, IvrAsk, IvrChoice, QueuePosition, SipAccount,
};

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
    /// Another edge should take the call (in the caller's region): where to redirect it (302).
    pub redirect: Option<String>,
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
    async fn number(&self, number: &str, caller: &str) -> Result<Option<NumberRoute>, PlatformError>;
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
