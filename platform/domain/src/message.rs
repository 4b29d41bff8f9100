//! Messages of text channels (SMS now; chat and e-mail to follow) and SMS provider settings.

use crate::{ContactId, UnixMillis};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// To the customer.
    Outbound,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelMessage {
    /// Its id.
    pub id: String,
    /// The conversation (contact) it belongs to; None for carrier keywords (STOP, HELP...).
    pub contact_id: Option<ContactId>,
    /// In or out.
    pub direction: Direction,
    /// The provider's id (e.g. a Twilio MessageSid): the same id is the same message.
    pub provider_id: String,
    /// Sender address.
    pub from: String,
    /// Recipient address.
    pub to: String,
    /// Text.
    pub body: String,
    /// Provider status (`received`, `queued`, `sent`, `delivered`, `failed`...).
    pub status: String,
    /// Billable SMS segments.
    pub segments: u32,
    /// When it was received or sent.
    pub at: UnixMillis,
}

/// A tenant's Twilio-compatible SMS provider account.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SmsProvider {
    /// Account id (e.g. a Twilio account SID).
    pub account_sid: String,
    /// Auth token: signs inbound webhooks and authenticates outbound requests.
    pub auth_token: String,
    /// REST base URL (Twilio: `https://api.twilio.com`; configurable for other providers and tests).
    pub base_url: String,
}
