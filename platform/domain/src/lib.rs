//! Switchboard's vocabulary: the words every other crate speaks.
//!
//! Architecture invariant: this crate is pure data and validation. It never depends on tokio,
//! sqlx, axum, lapin, wasmtime or webrtc, never does IO, and never reads the clock (callers pass
//! `now` where time matters).

mod address;
mod billing;
mod contact;
mod hours;
mod id;
mod identity;
mod message;
mod pii;
mod plugin;
mod resources;
mod routing;
mod webhook;

pub use address::{AddressError, EmailAddress, PhoneNumber};
pub use billing::{BillingAccount, SubscriptionStatus, UsageKind, UsageRecord, UsageReport};
pub use contact::{Contact, ContactEvent, ContactState};
pub use hours::{BusinessHours, DayOfWeek, HoursError, OpenSpan};
pub use id::{
    ApiKeyId, BusinessHoursId, ContactId, CustomerId, EndpointId, IdParseError, IvrFlowId, QueueId, SessionId, SkillId,
    TenantId, UserId, WebhookId,
};
pub use identity::{Role, RoleParseError, UserStatus};
pub use message::{Attachment, ChannelMessage, Direction, RECORDING_ID_PREFIX, SmsProvider, recordings_folder};
pub use pii::Pii;
pub use plugin::{ContactArrival, Plugin, PluginCall, PluginCapabilities, PluginSecret, PluginVersion};
pub use resources::{
    AgentSelection, ApiKey, Channel, ChannelCosts, ChannelEndpoint, EndpointKind, IvrFlow, MAX_SKILL_LEVEL, Overflow,
    OverflowTarget, Prompt, Queue, RelaxStep, SipAccount, Skill, SkillLevel, SkillRequirement, Tenant, TenantStatus,
    User,
};
pub use routing::{AgentActivity, Presence, RoutingRules};
pub use webhook::{DeliveryStatus, Webhook, WebhookDelivery};

/// Milliseconds since the Unix epoch, the one timestamp type stored and sent on the wire.
pub type UnixMillis = i64;
