//! Outbound webhooks: where a tenant wants to hear about its contacts, and each delivery.

use crate::{UnixMillis, WebhookId};

/// A tenant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Webhook {
    /// Its id.
    pub id: WebhookId,
    /// A label.
    pub name: String,
    /// Where events are POSTed.
    pub url: String,
    /// HMAC-SHA256 signing secret.
    pub secret: String,
    /// Event types it wants, e.g. `contact.queued` or `contact.*`.
    pub events: Vec<String>,
    /// Paused endpoints get nothing.
    pub active: bool,
}

impl Webhook {
    /// Whether the endpoint wants an event type (`contact.done`...).
    pub fn wants(&self, event: &str) -> bool {
        self.active
            && self.events.iter().any(|p| {
                p == event
                    || p.strip_suffix(".*")
                        .is_some_and(|prefix| event.strip_prefix(prefix).is_some_and(|r| r.starts_with('.')))
            })
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet accepted by the endpoint; retried until attempts run out.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up.
    Failed,
}

impl DeliveryStatus {
    /// The stable lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// One event for one endpoint, with its attempts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WebhookDelivery {
    /// Its id.
    pub id: String,
    /// The endpoint.
    pub webhook_id: WebhookId,
    /// The event id (same event, same id: receivers deduplicate by it).
    pub event_id: String,
    /// The event type, e.g. `contact.offered`.
    pub event: String,
    /// The JSON body sent.
    pub payload: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending only).
    pub next_attempt_at: Option<UnixMillis>,
    /// HTTP status of the last attempt.
    pub last_status: Option<u16>,
    /// Error of the last attempt (connection failure, refused target...).
    pub last_error: Option<String>,
    /// When the event happened.
    pub created_at: UnixMillis,
    /// When the endpoint accepted it.
    pub delivered_at: Option<UnixMillis>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_one_family() {
        let w = Webhook {
            id: WebhookId::generate(),
            name: "crm".into(),
            url: "https://x.example".into(),
            secret: "s".into(),
            events: vec!["contact.*".into()],
            active: true,
        };
        assert!(w.wants("contact.queued"));
        assert!(!w.wants("contactx.queued"));
        assert!(!Webhook { active: false, ..w.clone() }.wants("contact.queued"));
        assert!(Webhook { events: vec!["contact.done".into()], ..w.clone() }.wants("contact.done"));
        assert!(!Webhook { events: vec!["contact.done".into()], ..w }.wants("contact.queued"));
    }
}
