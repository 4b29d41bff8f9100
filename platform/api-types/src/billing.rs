//! Billing: plans on offer, the tenant's subscription and standing, usage and invoices.

/// A plan on offer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PlanView {
    /// Stable id (`team`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Price per agent seat and month, in cents (0: free).
    pub seat_cents: u32,
    /// Free days (before a subscription is needed, or Stripe's trial on subscribing).
    pub trial_days: u32,
    /// Most agents, if limited.
    pub max_agents: Option<u32>,
    /// Whether it is bought through Stripe Checkout (false: a free trial).
    pub subscribable: bool,
}

/// A metered price.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MeterView {
    /// `voice_minutes`, `sms_segments` or `recording_storage` (megabyte-days).
    pub kind: String,
    /// Price per unit in hundredths of a cent.
    pub unit_centicents: u32,
}

/// The catalogue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PlanList {
    /// False when this deployment does not bill (everything is included).
    pub enabled: bool,
    /// The plan a signup gets when it names none.
    pub default_plan: Option<String>,
    /// Plans.
    pub plans: Vec<PlanView>,
    /// Metered prices.
    pub meters: Vec<MeterView>,
}

/// Usage of one kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UsageView {
    /// What is metered.
    pub kind: String,
    /// Units.
    pub quantity: u64,
}

/// A batch of usage reported (or to be reported) to Stripe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UsageReportView {
    /// Its id (the meter event's identifier at Stripe).
    pub id: String,
    /// What is metered.
    pub kind: String,
    /// Units.
    pub quantity: u64,
    /// When it was sealed (ms).
    pub sealed_at: i64,
    /// When Stripe accepted it (ms); null while pending.
    pub sent_at: Option<i64>,
}

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct InvoiceView {
    /// Stripe's id.
    pub id: String,
    /// Its number, once finalised.
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `void`, `uncollectible`.
    pub status: String,
    /// Total in the currency's smallest unit.
    pub total: i64,
    /// Currency.
    pub currency: String,
    /// Created (ms).
    pub created_at: i64,
    /// Stripe's page for it.
    pub hosted_url: Option<String>,
}

/// The tenant's billing.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BillingView {
    /// False when this deployment does not bill.
    pub enabled: bool,
    /// The plan.
    pub plan: Option<PlanView>,
    /// The Stripe subscription's status: `none`, `incomplete`, `trialing`, `active`, `past_due`,
    /// `unpaid`, `canceled`.
    pub subscription_status: String,
    /// `off`, `good`, `trial`, `grace` or `suspended`: whether customers get service.
    pub standing: String,
    /// When the trial or grace period ends (ms).
    pub standing_until: Option<i64>,
    /// Why service is suspended.
    pub suspended_reason: Option<String>,
    /// Agent seats billed now.
    pub seats: u32,
    /// Usage since the start of the current calendar month (UTC).
    pub usage: Vec<UsageView>,
    /// Start of that period (ms).
    pub usage_since: i64,
    /// Latest invoices, newest first.
    pub invoices: Vec<InvoiceView>,
    /// Set when Stripe could not be asked for invoices just now.
    pub invoices_error: Option<String>,
    /// Latest usage reports, newest first.
    pub reports: Vec<UsageReportView>,
}

/// Buy a plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutInput {
    /// The plan's id.
    pub plan: String,
}

/// Where to send the person next (Stripe Checkout or the billing portal).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RedirectView {
    /// The URL.
    pub url: String,
}
