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
    /// The digest password.
    pub password: String,
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
    /// Puts the call in its queue as a contact; returns the contact id.
    async fn enqueue(&self, call: &CallIntake) -> Result<String, PlatformError>;
    /// Where a waiting call stands (None: no longer waiting).
    async fn position(&self, tenant_id: &str, contact_id: &str) -> Result<Option<QueuePosition>, PlatformError>;
    /// The caller hung up while waiting.
    async fn abandoned(&self, tenant_id: &str, contact_id: &str) -> Result<(), PlatformError>;
    /// A voicemail to keep as a contact; returns the contact id.
    async fn voicemail(&self, voicemail: Voicemail) -> Result<String, PlatformError>;
}
