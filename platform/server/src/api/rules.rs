//! The tenant's routing rules.

use axum::extract::State;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::RoutingRules;
use switchboard_store::{ROUTING_RULES_ID, Store};

use super::ApiJson;
use super::convert::{channel_in, channel_out};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Problems};

fn view(r: &RoutingRules) -> wire::RoutingRulesView {
    wire::RoutingRulesView {
        voice_interrupts_text: r.voice_interrupts_text,
        max_per_channel: r.max_per_channel.iter().map(|(c, n)| (channel_out(*c), *n)).collect(),
        sticky_secs: r.sticky_secs,
        misses_before_away: r.misses_before_away,
        requeue_unanswered_secs: r.requeue_unanswered_secs,
        secs_per_priority_point: r.secs_per_priority_point,
        wrap_up_secs: r.wrap_up_secs,
    }
}

/// The rules in force for a tenant (defaults until set).
pub async fn rules_of(store: &dyn Store, tenant: switchboard_domain::TenantId) -> Result<RoutingRules, ApiError> {
    Ok(store.get::<RoutingRules>(tenant, ROUTING_RULES_ID).await?.unwrap_or_default())
}

/// `GET /api/v1/routing-rules`.
pub async fn read(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::RoutingRulesView>, ApiError> {
    Ok(Json(view(&rules_of(&*state.store, p.tenant_id).await?)))
}

/// `PUT /api/v1/routing-rules`.
pub async fn update(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::RoutingRulesView>,
) -> Result<Json<wire::RoutingRulesView>, ApiError> {
    let mut problems = Problems::default();
    for (c, n) in &req.max_per_channel {
        problems.range(&format!("max_per_channel.{}", channel_in(*c).as_str()), *n, 1, 100);
    }
    problems.range("sticky_secs", req.sticky_secs, 0, 30 * 24 * 3600);
    problems.range("misses_before_away", req.misses_before_away, 0, 100);
    if let Some(s) = req.requeue_unanswered_secs {
        problems.range("requeue_unanswered_secs", s, 10, 7 * 24 * 3600);
    }
    problems.range("secs_per_priority_point", req.secs_per_priority_point, 0, 3600);
    problems.range("wrap_up_secs", req.wrap_up_secs, 0, 3600);
    problems.finish()?;
    let rules = RoutingRules {
        voice_interrupts_text: req.voice_interrupts_text,
        max_per_channel: req.max_per_channel.iter().map(|(c, n)| (channel_in(*c), *n)).collect(),
        sticky_secs: req.sticky_secs,
        misses_before_away: req.misses_before_away,
        requeue_unanswered_secs: req.requeue_unanswered_secs,
        secs_per_priority_point: req.secs_per_priority_point,
        wrap_up_secs: req.wrap_up_secs,
    };
    let store = &*state.store;
    match store.get::<RoutingRules>(p.tenant_id, ROUTING_RULES_ID).await? {
        Some(_) => store.update(p.tenant_id, &rules).await?,
        None => store.insert(p.tenant_id, &rules).await?,
    }
    super::announce(&state, p.tenant_id, "routing_rules", ROUTING_RULES_ID, "updated").await;
    Ok(Json(view(&rules)))
}
