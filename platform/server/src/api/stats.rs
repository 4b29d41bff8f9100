//! Live queue and agent statistics for supervisors.

use axum::extract::State;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{Presence, QueueId};
use switchboard_routing::QueueStats;

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::routing::AgentStatus;

/// A queue's statistics as shown.
pub fn queue_view(q: QueueId, s: &QueueStats) -> wire::QueueStatsView {
    wire::QueueStatsView {
        queue_id: q.to_string(),
        waiting: s.waiting,
        longest_wait_secs: (s.longest_wait_ms / 1000) as u32,
        offered: s.offered,
        answered: s.answered,
        abandoned: s.abandoned,
        overflowed: s.overflowed,
        average_answer_secs: (s.average_answer_ms / 1000) as u32,
        service_level_percent: s.service_level_percent,
        agents: s.agents.iter().map(|(a, n)| (a.as_str().to_owned(), *n)).collect(),
        estimated_wait_secs: s.estimated_wait_secs,
    }
}

/// An agent's state as shown.
pub fn agent_view(a: &AgentStatus) -> wire::AgentStatusView {
    wire::AgentStatusView {
        agent_id: a.agent_id.to_string(),
        activity: a.activity.as_str().into(),
        reason: match &a.presence {
            Presence::Away(r) => Some(r.clone()),
            _ => None,
        },
        load: a.load,
    }
}

/// `GET /api/v1/stats/queues`.
pub async fn queues(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::QueueStatsList>, ApiError> {
    let stats = state.routing.stats(p.tenant_id).await?;
    Ok(Json(wire::QueueStatsList { items: stats.iter().map(|(q, s)| queue_view(*q, s)).collect() }))
}

/// `GET /api/v1/stats/agents`.
pub async fn agents(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::AgentStatusList>, ApiError> {
    let agents = state.routing.agents(p.tenant_id).await?;
    Ok(Json(wire::AgentStatusList { items: agents.iter().map(agent_view).collect() }))
}
