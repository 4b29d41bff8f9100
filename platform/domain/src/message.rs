//! Messages of text channels (SMS, web chat, e-mail), their attachments, and SMS provider settings.

use crate::{ContactId, UnixMillis};

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the customer.
    Inbound,
    /// To the customer.
    Outbound,
    /// Between the tenant's people only (a supervisor's whisper to the agent): never shown or
    /// sent to the customer.
    Internal,
}

impl Direction {
    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Internal => "internal",
        }
    }
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
    /// Position in its conversation (1, 2, ...), given by the store when it is written.
    #[serde(default)]
    pub seq: u64,
    /// E-mail subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// E-mail HTML part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Files sent with it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    /// Who wrote it: the agent's user id, or the visitor's or sender's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl ChannelMessage {
    /// A message with no e-mail parts, attachments or author (SMS, chat).
    #[allow(clippy::too_many_arguments)]
    pub fn text(
        id: String,
        contact_id: Option<ContactId>,
        direction: Direction,
        provider_id: String,
        from: String,
        to: String,
        body: String,
        status: &str,
        at: UnixMillis,
    ) -> Self {
        Self {
            id,
            contact_id,
            direction,
            provider_id,
            from,
            to,
            body,
            status: status.to_owned(),
            segments: 0,
            at,
            seq: 0,
            subject: None,
            html: None,
            attachments: Vec::new(),
            author: None,
        }
    }
}

/// A file sent with a message; its bytes live in the object store under [`Attachment::object_key`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Attachment {
    /// Its id.
    pub id: String,
    /// File name as sent (sanitised).
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
}

/// Attachment ids of call recordings and voicemails start with this: their bytes live under the
/// tenant's recordings folder, which is what recording storage is metered from.
pub const RECORDING_ID_PREFIX: &str = "rec-";

impl Attachment {
    /// Where its bytes are stored for a tenant.
    pub fn object_key(&self, tenant: crate::TenantId) -> String {
        if self.id.starts_with(RECORDING_ID_PREFIX) {
            format!("{}/{}", recordings_folder(tenant), self.id)
        } else {
            format!("tenants/{tenant}/attachments/{}", self.id)
        }
    }
}

/// The object-store folder of a tenant's call recordings and voicemails.
pub fn recordings_folder(tenant: crate::TenantId) -> String {
    format!("tenants/{tenant}/recordings")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_live_in_their_own_folder_other_files_with_attachments() {
        let tenant: crate::TenantId = "01890000-0000-7000-8000-000000000001".parse().expect("tenant");
        let file = |id: &str| Attachment { id: id.into(), name: "f".into(), content_type: "audio/wav".into(), size: 1 };
        let recording = file("rec-0190");
        assert_eq!(recording.object_key(tenant), format!("{}/rec-0190", recordings_folder(tenant)));
        assert!(recording.object_key(tenant).starts_with(&format!("tenants/{tenant}/recordings/")));
        assert_eq!(file("0190").object_key(tenant), format!("tenants/{tenant}/attachments/0190"));
    }
}
