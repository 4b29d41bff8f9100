//! What a tenant pays for: its billing account (plan and Stripe subscription), and the usage
//! it accrues (voice minutes, SMS segments, recording storage).

use crate::UnixMillis;

/// The state of a tenant's Stripe subscription, as Stripe last told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// No subscription yet (signed up, checkout not finished).
    #[default]
    None,
    /// First payment not made yet.
    Incomplete,
    /// In its free trial.
    Trialing,
    /// Paid up.
    Active,
    /// A payment failed; Stripe is retrying.
    PastDue,
    /// Stripe gave up retrying; the subscription stays but nothing is paid.
    Unpaid,
    /// Ended.
    Canceled,
}

impl SubscriptionStatus {
    /// Reads Stripe's word for a subscription status; unknown words are None.
    pub fn from_stripe(s: &str) -> Option<Self> {
        Some(match s {
            "incomplete" => Self::Incomplete,
            "incomplete_expired" | "canceled" => Self::Canceled,
            "trialing" => Self::Trialing,
            "active" => Self::Active,
            "past_due" => Self::PastDue,
            "unpaid" | "paused" => Self::Unpaid,
            _ => return None,
        })
    }

    /// The wire word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Incomplete => "incomplete",
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Unpaid => "unpaid",
            Self::Canceled => "canceled",
        }
    }
}

/// A tenant's billing account: one per tenant, kept as a settings document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BillingAccount {
    /// The plan's id in the catalogue.
    pub plan: String,
    /// The Stripe customer.
    pub customer_id: Option<String>,
    /// The Stripe subscription.
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// The subscription item billed per agent seat.
    #[serde(default)]
    pub seat_item_id: Option<String>,
    /// The seat count Stripe last accepted for that item.
    #[serde(default)]
    pub seats_reported: Option<u32>,
    /// The subscription's state.
    #[serde(default)]
    pub status: SubscriptionStatus,
    /// When the unpaid period began (the first failed payment since the last good one).
    #[serde(default)]
    pub payment_failed_at: Option<UnixMillis>,
    /// The Stripe `created` time (seconds) of the newest event applied: older ones that arrive
    /// late never undo newer news.
    #[serde(default)]
    pub last_event_at: i64,
    /// When the account was opened (the free period before a subscription counts from here).
    pub created_at: UnixMillis,
}

/// What is metered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageKind {
    /// Minutes of calls, each call rounded up to the started minute.
    VoiceMinutes,
    /// SMS segments sent and received.
    SmsSegments,
    /// Recording storage, in megabyte-days.
    RecordingStorage,
}

impl UsageKind {
    /// Every kind.
    pub const ALL: [UsageKind; 3] = [UsageKind::VoiceMinutes, UsageKind::SmsSegments, UsageKind::RecordingStorage];

    /// The stable word stored and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VoiceMinutes => "voice_minutes",
            Self::SmsSegments => "sms_segments",
            Self::RecordingStorage => "recording_storage",
        }
    }

    /// Reads the stable word.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One billable thing that happened, once: its `source` (e.g. `sms:<message id>`) is unique per
/// tenant and kind, so recording the same thing twice counts it once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageRecord {
    /// What produced it.
    pub source: String,
    /// What is metered.
    pub kind: UsageKind,
    /// How many units.
    pub quantity: u64,
    /// When it happened.
    pub at: UnixMillis,
}

/// A batch of usage sealed for reporting to Stripe: its id is the meter event's identifier, so
/// resending it after a crash or a failed attempt can never count it twice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageReport {
    /// Its id (also Stripe's identifier for the meter event).
    pub id: String,
    /// What is metered.
    pub kind: UsageKind,
    /// The sum of its records.
    pub quantity: u64,
    /// When it was sealed.
    pub sealed_at: UnixMillis,
    /// When Stripe accepted it.
    pub sent_at: Option<UnixMillis>,
}
