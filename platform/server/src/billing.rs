//! Billing through Stripe: accounts opened at signup, Checkout and the billing portal for the
//! owner, Stripe's signed webhooks driving the subscription state, seat counts kept in step,
//! usage sealed and reported as meter events, and the standing that decides whether customers
//! get service. With no Stripe key (the embedded default) all of this is off and everything
//! works.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_billing::{Catalogue, Plan, Standing, StripeEvent};
use switchboard_billing_stripe::{CheckoutRequest, MeterEvent, StripeApi, StripeApiError};
use switchboard_domain::{BillingAccount, Role, TenantId, UnixMillis, UsageKind, UserStatus};
use switchboard_store::{DocKind, Document, PageRequest, Store, StoreError};
use tokio::sync::Mutex;

use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::{Principal, now_ms};
use crate::config::Config;
use crate::error::ApiError;

/// The consumer name under which handled Stripe event ids are recorded.
const EVENTS_CONSUMER: &str = "stripe-webhook";

/// Billing of a deployment that has a Stripe key.
pub struct Billing {
    api: StripeApi,
    catalogue: Catalogue,
    webhook_secret: String,
    tolerance_secs: i64,
    grace_ms: i64,
    report_every: Duration,
    /// Webhook deliveries change one account at a time (read, apply, write).
    applying: Mutex<()>,
}

impl std::fmt::Debug for Billing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Billing").field("plans", &self.catalogue.plans.len()).finish()
    }
}

impl Billing {
    /// Billing for a configuration; None when it has no Stripe key.
    pub fn from_config(config: &Config) -> anyhow::Result<Option<Arc<Self>>> {
        let Some(key) = &config.stripe_secret_key else { return Ok(None) };
        let webhook_secret = config
            .stripe_webhook_secret
            .clone()
            .ok_or_else(|| anyhow::anyhow!("stripe_webhook_secret is required with a Stripe key"))?;
        Ok(Some(Arc::new(Self {
            api: StripeApi::new(key, config.stripe_api_base.as_deref())?,
            catalogue: config.catalogue()?,
            webhook_secret,
            tolerance_secs: i64::try_from(config.stripe_webhook_tolerance_secs).unwrap_or(300),
            grace_ms: i64::try_from(config.billing_grace_secs).unwrap_or(i64::MAX / 2).saturating_mul(1000),
            report_every: Duration::from_secs(config.billing_report_interval_secs.max(1)),
            applying: Mutex::new(()),
        })))
    }

    /// The plan catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }
}

impl From<StripeApiError> for ApiError {
    fn from(e: StripeApiError) -> Self {
        match e {
            StripeApiError::Refused { status, message, .. } if status < 500 => {
                ApiError::Conflict(format!("Stripe refused: {message}"))
            }
            other => ApiError::Unavailable(other.to_string()),
        }
    }
}

/// The tenant's billing account; a tenant from before billing was turned on gets one on the
/// default plan counting from its signup.
async fn account(state: &AppState, billing: &Billing, tenant: TenantId) -> Result<BillingAccount, ApiError> {
    let store: &dyn Store = &*state.store;
    if let Some(a) = store.get::<BillingAccount>(tenant, switchboard_store::BILLING_ACCOUNT_ID).await? {
        return Ok(a);
    }
    let created_at = store.tenant(tenant).await?.map_or(0, |t| t.created_at);
    Ok(new_account(billing.catalogue.default_plan.clone(), None, created_at))
}

fn new_account(plan: String, customer_id: Option<String>, created_at: UnixMillis) -> BillingAccount {
    BillingAccount {
        plan,
        customer_id,
        subscription_id: None,
        seat_item_id: None,
        seats_reported: None,
        status: Default::default(),
        payment_failed_at: None,
        last_event_at: 0,
        created_at,
    }
}

async fn save(state: &AppState, tenant: TenantId, account: &BillingAccount) -> Result<(), StoreError> {
    let store: &dyn Store = &*state.store;
    match store.update(tenant, account).await {
        Err(StoreError::NotFound) => store.insert(tenant, account).await,
        other => other,
    }
}

/// Whether the tenant gets service now.
pub async fn standing(state: &AppState, tenant: TenantId) -> Result<Standing, ApiError> {
    let Some(billing) = &state.billing else { return Ok(Standing::Off) };
    let a = account(state, billing, tenant).await?;
    Ok(switchboard_billing::standing(&a, &billing.catalogue, now_ms(), billing.grace_ms))
}

/// Refuses work for a suspended tenant (402, naming what to do).
pub async fn require_service(state: &AppState, tenant: TenantId) -> Result<(), ApiError> {
    match standing(state, tenant).await? {
        Standing::Suspended { reason } => Err(ApiError::PaymentRequired(format!(
            "service is suspended ({reason}); the account owner can restore it under Billing"
        ))),
        _ => Ok(()),
    }
}

/// Checks the plan a signup asks for; the default plan when it names none.
pub fn signup_plan(state: &AppState, asked: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(billing) = &state.billing else { return Ok(None) };
    match asked.map(str::trim).filter(|p| !p.is_empty()) {
        None => Ok(Some(billing.catalogue.default_plan.clone())),
        Some(p) if billing.catalogue.plan(p).is_some() => Ok(Some(p.to_owned())),
        Some(p) => Err(ApiError::field("plan", "unknown", format!("there is no plan `{p}`"))),
    }
}

/// Opens the billing account of a new tenant, with its Stripe customer. Signup never fails
/// because Stripe is down: the customer is then made when the owner first buys a plan.
pub async fn open_account(state: &AppState, tenant: TenantId, name: &str, email: &str, plan: String, now: UnixMillis) {
    let Some(billing) = &state.billing else { return };
    let customer = match billing.api.create_customer(&tenant.to_string(), name, email).await {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(%tenant, error = %e, "Stripe customer not created at signup; will retry at checkout");
            None
        }
    };
    if let Err(e) = save(state, tenant, &new_account(plan, customer, now)).await {
        tracing::error!(%tenant, error = %e, "billing account not stored");
    }
}

fn plan_view(p: &Plan) -> wire::PlanView {
    wire::PlanView {
        id: p.id.clone(),
        name: p.name.clone(),
        seat_cents: p.seat_cents,
        trial_days: p.trial_days,
        max_agents: p.max_agents,
        subscribable: p.seat_price.is_some(),
    }
}

/// `GET /api/v1/billing/plans`.
pub async fn plans(State(state): State<AppState>) -> Json<wire::PlanList> {
    Json(match &state.billing {
        None => wire::PlanList { enabled: false, default_plan: None, plans: vec![], meters: vec![] },
        Some(b) => wire::PlanList {
            enabled: true,
            default_plan: Some(b.catalogue.default_plan.clone()),
            plans: b.catalogue.plans.iter().map(plan_view).collect(),
            meters: b
                .catalogue
                .meters
                .iter()
                .map(|m| wire::MeterView { kind: m.kind.as_str().into(), unit_centicents: m.unit_centicents })
                .collect(),
        },
    })
}

/// Start of the current calendar month (UTC), for "usage this month".
fn month_start(now: UnixMillis) -> UnixMillis {
    let Ok(ts) = jiff::Timestamp::from_millisecond(now) else { return 0 };
    let d = ts.to_zoned(jiff::tz::TimeZone::UTC).date();
    jiff::civil::date(d.year(), d.month(), 1)
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(0)
}

/// Users who take a seat: everyone not disabled.
async fn seats(store: &dyn Store, tenant: TenantId) -> Result<u32, StoreError> {
    let mut count = 0u32;
    let mut page = PageRequest { limit: 200, after: None };
    loop {
        let p = store.list_users(tenant, &page).await?;
        count += p.items.iter().filter(|u| u.status != UserStatus::Disabled).count() as u32;
        match p.next_cursor {
            Some(c) => page.after = Some(c),
            None => return Ok(count),
        }
    }
}

/// `GET /api/v1/billing`.
pub async fn overview(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::BillingView>, ApiError> {
    let store: &dyn Store = &*state.store;
    let now = now_ms();
    let since = month_start(now);
    let usage = store
        .usage_totals(p.tenant_id, since, i64::MAX)
        .await?
        .into_iter()
        .map(|(k, q)| wire::UsageView { kind: k.as_str().into(), quantity: q })
        .collect();
    let seats = seats(store, p.tenant_id).await?;
    let reports = store
        .usage_reports(p.tenant_id, 20)
        .await?
        .into_iter()
        .map(|r| wire::UsageReportView {
            id: r.id,
            kind: r.kind.as_str().into(),
            quantity: r.quantity,
            sealed_at: r.sealed_at,
            sent_at: r.sent_at,
        })
        .collect();
    let Some(billing) = &state.billing else {
        return Ok(Json(wire::BillingView {
            enabled: false,
            plan: None,
            subscription_status: "none".into(),
            standing: "off".into(),
            standing_until: None,
            suspended_reason: None,
            seats,
            usage,
            usage_since: since,
            invoices: vec![],
            invoices_error: None,
            reports,
        }));
    };
    let a = account(&state, billing, p.tenant_id).await?;
    let s = switchboard_billing::standing(&a, &billing.catalogue, now, billing.grace_ms);
    let (standing, until, reason) = match s {
        Standing::Off => ("off", None, None),
        Standing::Good => ("good", None, None),
        Standing::Trial { until } => ("trial", Some(until), None),
        Standing::Grace { until } => ("grace", Some(until), None),
        Standing::Suspended { reason } => ("suspended", None, Some(reason.to_owned())),
    };
    let (invoices, invoices_error) = match &a.customer_id {
        None => (vec![], None),
        Some(c) => match billing.api.invoices(c, 12).await {
            Ok(list) => (
                list.into_iter()
                    .map(|i| wire::InvoiceView {
                        id: i.id,
                        number: i.number,
                        status: i.status,
                        total: i.total,
                        currency: i.currency,
                        created_at: i.created.saturating_mul(1000),
                        hosted_url: i.hosted_url,
                    })
                    .collect(),
                None,
            ),
            Err(e) => (vec![], Some(e.to_string())),
        },
    };
    Ok(Json(wire::BillingView {
        enabled: true,
        plan: billing.catalogue.plan(&a.plan).map(plan_view),
        subscription_status: a.status.as_str().into(),
        standing: standing.into(),
        standing_until: until,
        suspended_reason: reason,
        seats,
        usage,
        usage_since: since,
        invoices,
        invoices_error,
        reports,
    }))
}

fn enabled(state: &AppState) -> Result<&Arc<Billing>, ApiError> {
    state.billing.as_ref().ok_or_else(|| ApiError::Conflict("billing is off for this deployment".into()))
}

fn owner_only(p: &Principal) -> Result<(), ApiError> {
    if p.role != Role::Owner || p.user_id.is_none() {
        return Err(ApiError::Forbidden("only the account owner manages billing"));
    }
    Ok(())
}

/// The account with its Stripe customer (made now if signup could not).
async fn with_customer(state: &AppState, billing: &Billing, tenant: TenantId) -> Result<BillingAccount, ApiError> {
    let mut a = account(state, billing, tenant).await?;
    if a.customer_id.is_none() {
        let store: &dyn Store = &*state.store;
        let t = store.tenant(tenant).await?.ok_or(ApiError::NotFound)?;
        let owner = store
            .list_users(tenant, &PageRequest { limit: 200, after: None })
            .await?
            .items
            .into_iter()
            .find(|u| u.role == Role::Owner)
            .map(|u| u.email.as_str().to_owned())
            .unwrap_or_default();
        a.customer_id = Some(billing.api.create_customer(&tenant.to_string(), &t.name, &owner).await?);
        save(state, tenant, &a).await?;
    }
    Ok(a)
}

/// `POST /api/v1/billing/checkout`: a Stripe Checkout page for a plan.
pub async fn checkout(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::CheckoutInput>,
) -> Result<Json<wire::RedirectView>, ApiError> {
    owner_only(&p)?;
    let billing = enabled(&state)?;
    let plan = billing
        .catalogue
        .plan(&req.plan)
        .ok_or_else(|| ApiError::field("plan", "unknown", format!("there is no plan `{}`", req.plan)))?;
    let Some(seat_price) = plan.seat_price.clone() else {
        return Err(ApiError::field("plan", "not_for_sale", "this plan is free and needs no checkout"));
    };
    let a = with_customer(&state, billing, p.tenant_id).await?;
    if a.subscription_id.is_some() && !matches!(a.status, switchboard_domain::SubscriptionStatus::Canceled) {
        return Err(ApiError::Conflict("there is a subscription already; change it in the billing portal".into()));
    }
    let seats = seats(&*state.store, p.tenant_id).await?;
    let base = state.public_url.trim_end_matches('/');
    let session = billing
        .api
        .checkout_session(&CheckoutRequest {
            customer: a.customer_id.clone().unwrap_or_default(),
            tenant: p.tenant_id.to_string(),
            seat_price: Some(seat_price),
            seats,
            metered_prices: billing.catalogue.meters.iter().map(|m| m.price.clone()).collect(),
            trial_days: plan.trial_days,
            success_url: format!("{base}/admin/billing?checkout=done"),
            cancel_url: format!("{base}/admin/billing?checkout=canceled"),
        })
        .await?;
    tracing::info!(tenant = %p.tenant_id, plan = %plan.id, session = %session.id, "checkout started");
    Ok(Json(wire::RedirectView { url: session.url }))
}

/// `POST /api/v1/billing/portal`: Stripe's billing portal for the customer.
pub async fn portal(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::RedirectView>, ApiError> {
    owner_only(&p)?;
    let billing = enabled(&state)?;
    let a = with_customer(&state, billing, p.tenant_id).await?;
    let return_url = format!("{}/admin/billing", state.public_url.trim_end_matches('/'));
    let session = billing.api.portal_session(a.customer_id.as_deref().unwrap_or_default(), &return_url).await?;
    Ok(Json(wire::RedirectView { url: session.url }))
}

/// `POST /api/v1/webhooks/stripe`: Stripe's events, signature checked, each applied once.
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let billing = state.billing.as_ref().ok_or(ApiError::NotFound)?;
    let header = headers
        .get("stripe-signature")
        .and_then(|h| h.to_str().ok())
        .ok_or_else(|| ApiError::BadRequest("missing Stripe-Signature header".into()))?;
    let now_secs = now_ms() / 1000;
    if let Err(e) =
        switchboard_billing::verify(&body, header, &billing.webhook_secret, now_secs, billing.tolerance_secs)
    {
        state.metrics.count_billing_webhook("refused");
        tracing::warn!(error = %e, "Stripe webhook refused");
        return Err(ApiError::BadRequest(e.to_string()));
    }
    let event = StripeEvent::parse(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let Some(customer) = event.customer().map(str::to_owned) else {
        state.metrics.count_billing_webhook("ignored");
        return Ok(StatusCode::OK);
    };
    let meaning = event.meaning();
    let _one_at_a_time = billing.applying.lock().await;
    let store: &dyn Store = &*state.store;
    let Some((tenant, doc)) =
        store.find_by_global_key(DocKind::Settings, &format!("stripe_customer:{customer}")).await?
    else {
        // Another application's customer on the same Stripe account: not ours to act on.
        tracing::info!(event = %event.id, %customer, "Stripe event for an unknown customer ignored");
        state.metrics.count_billing_webhook("ignored");
        return Ok(StatusCode::OK);
    };
    let mut a = BillingAccount::from_stored(&doc)?;
    let before = switchboard_billing::standing(&a, &billing.catalogue, now_ms(), billing.grace_ms);
    // Applied first, then recorded: a failure in between means Stripe delivers again, and
    // applying an event twice changes nothing.
    if switchboard_billing::apply(&mut a, &meaning, event.created, &billing.catalogue) {
        store.update(tenant, &a).await?;
    }
    let first = store.record_processed(EVENTS_CONSUMER, &event.id, now_ms()).await?;
    let after = switchboard_billing::standing(&a, &billing.catalogue, now_ms(), billing.grace_ms);
    if before != after {
        tracing::info!(%tenant, event = %event.id, kind = %event.kind, from = ?before, to = ?after, "billing standing changed");
    }
    state.metrics.count_billing_webhook(if first { "applied" } else { "duplicate" });
    Ok(StatusCode::OK)
}

/// Starts the loop that keeps seat counts in step and reports usage.
pub fn start_reporter(state: AppState) {
    let Some(billing) = state.billing.clone() else { return };
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(billing.report_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = report_once(&state, &billing).await {
                tracing::warn!(error = %e, "billing report round failed; retrying next round");
            }
        }
    });
}

/// Recording storage is metered in megabyte-days: once per UTC day a tenant's stored recordings
/// and voicemails (their object-store folder) are summed, and that many started megabytes
/// (10^6 bytes) are recorded as the day's usage under `storage:<date>`: once per day, whichever
/// process samples first. Returns the megabytes counted.
pub async fn accrue_recording_storage(state: &AppState, tenant: TenantId, now: UnixMillis) -> anyhow::Result<u64> {
    use futures::StreamExt;
    let day = jiff::Timestamp::from_millisecond(now)?.to_zoned(jiff::tz::TimeZone::UTC).date();
    let folder = object_store::path::Path::from(switchboard_domain::recordings_folder(tenant));
    let mut bytes = 0u64;
    let mut objects = state.objects.list(Some(&folder));
    while let Some(meta) = objects.next().await {
        bytes += meta?.size;
    }
    let megabytes = bytes.div_ceil(1_000_000);
    if megabytes > 0 {
        let record = switchboard_domain::UsageRecord {
            kind: UsageKind::RecordingStorage,
            source: format!("storage:{day}"),
            quantity: megabytes,
            at: now,
        };
        state.store.record_usage(tenant, &record).await?;
    }
    Ok(megabytes)
}

/// Samples every tenant's recording storage once a day (checked hourly; at start too).
pub fn start_storage_meter(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sampled = std::collections::HashSet::<(TenantId, i64)>::new();
        loop {
            tick.tick().await;
            let now = now_ms();
            let day = now.div_euclid(86_400_000);
            sampled.retain(|(_, d)| *d == day);
            let tenants = match state.store.tenant_ids().await {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "recording storage not sampled; retrying in an hour");
                    continue;
                }
            };
            for tenant in tenants {
                if sampled.contains(&(tenant, day)) {
                    continue;
                }
                match accrue_recording_storage(&state, tenant, now).await {
                    Ok(_) => {
                        sampled.insert((tenant, day));
                    }
                    Err(e) => tracing::warn!(%tenant, error = %e, "recording storage not sampled"),
                }
            }
        }
    });
}

/// One round for every tenant: seats, then usage. Public for tests, which call it directly.
pub async fn report_once(state: &AppState, billing: &Billing) -> Result<(), StoreError> {
    let store: &dyn Store = &*state.store;
    for tenant in store.tenant_ids().await? {
        let Some(mut a) = store.get::<BillingAccount>(tenant, switchboard_store::BILLING_ACCOUNT_ID).await? else {
            continue;
        };
        let span = tracing::info_span!("billing", %tenant);
        let _enter = span.enter();
        if let Err(e) = sync_seats(state, billing, tenant, &mut a).await {
            tracing::warn!(error = %e, "seat count not updated at Stripe");
        }
        if let Err(e) = report_usage(state, billing, tenant, &a).await {
            tracing::warn!(error = %e, "usage not reported to Stripe yet");
        }
    }
    Ok(())
}

async fn sync_seats(
    state: &AppState,
    billing: &Billing,
    tenant: TenantId,
    a: &mut BillingAccount,
) -> anyhow::Result<()> {
    let Some(item) = a.seat_item_id.clone() else { return Ok(()) };
    let n = seats(&*state.store, tenant).await?.max(1);
    if a.seats_reported == Some(n) {
        return Ok(());
    }
    billing.api.set_quantity(&item, n).await?;
    // Re-read so a webhook applied meanwhile is not overwritten.
    let _one_at_a_time = billing.applying.lock().await;
    let store: &dyn Store = &*state.store;
    if let Some(mut fresh) = store.get::<BillingAccount>(tenant, switchboard_store::BILLING_ACCOUNT_ID).await?
        && fresh.seat_item_id.as_deref() == Some(item.as_str())
    {
        fresh.seats_reported = Some(n);
        store.update(tenant, &fresh).await?;
        *a = fresh;
    }
    tracing::info!(seats = n, "seat count updated at Stripe");
    Ok(())
}

/// Seals what is unreported, then sends every unsent report. Before a subscription exists
/// (the free trial) usage is sealed into reports marked `free-` that are never billed.
async fn report_usage(state: &AppState, billing: &Billing, tenant: TenantId, a: &BillingAccount) -> anyhow::Result<()> {
    let store: &dyn Store = &*state.store;
    let now = now_ms();
    let billed = a.customer_id.is_some() && a.subscription_id.is_some();
    for kind in UsageKind::ALL {
        let prefix = if billed { "use" } else { "free" };
        let id = format!("{prefix}-{}", uuid::Uuid::now_v7().simple());
        if let Some(r) = store.seal_usage_report(tenant, kind, &id, now).await?
            && !billed
        {
            store.mark_usage_report_sent(tenant, &r.id, now).await?;
        }
    }
    let Some(customer) = a.customer_id.as_deref() else { return Ok(()) };
    for r in store.unsent_usage_reports(tenant).await? {
        let Some(meter) = billing.catalogue.meter(r.kind) else {
            // No meter for the kind: nothing is billed for it.
            store.mark_usage_report_sent(tenant, &r.id, now).await?;
            continue;
        };
        billing
            .api
            .meter_event(&MeterEvent {
                event_name: &meter.event_name,
                customer,
                value: r.quantity,
                identifier: &r.id,
                timestamp: r.sealed_at / 1000,
            })
            .await?;
        store.mark_usage_report_sent(tenant, &r.id, now_ms()).await?;
        state.metrics.count_usage_reported(r.kind.as_str(), r.quantity);
        tracing::info!(report = %r.id, kind = r.kind.as_str(), quantity = r.quantity, "usage reported to Stripe");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_usage_period_starts_on_the_first_of_the_month_utc() {
        // 2026-11-23T10:00:00Z
        let now = 1_795_428_000_000;
        assert_eq!(month_start(now), 1_793_491_200_000); // 2026-11-01T00:00:00Z
    }
}
