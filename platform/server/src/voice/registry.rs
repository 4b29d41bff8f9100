//! The deployment's edges as every replica sees them: each replica records the hellos and
//! heartbeats of the edges linked to it in the store ([`switchboard_store::EdgeRecord`]), so any
//! replica knows every edge, its region and headroom, the phones registered with it, and whether
//! it is alive. An edge not heard from for three beats is out of rotation; one gone for longer
//! has its calls ended: waiting callers are abandoned, and agents on a call from it are told
//! the call ended (and the contact records why), by one replica at a time.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use switchboard_domain::{Channel, ContactId, ContactState, TenantId, UserId};
use switchboard_store::EdgeRecord;

use crate::app::AppState;
use crate::error::ApiError;
use crate::routing::Command;

/// The contact attribute naming the edge a call came in on.
pub const EDGE_ATTRIBUTE: &str = "edge";
/// The contact attribute saying why a connected call ended without a hang-up (`edge_lost`).
pub const CALL_ENDED_ATTRIBUTE: &str = "call_ended";
/// How often the sweeper looks for dead edges.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// An edge in the registry, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EdgeView {
    /// What it said last.
    #[serde(flatten)]
    pub edge: EdgeRecord,
    /// Milliseconds since it was last heard from (database clock).
    pub heard_ms_ago: i64,
    /// Heard from within three beats: in rotation.
    pub live: bool,
}

/// How long an edge may stay silent and still count as alive: three beats.
pub fn live_within(state: &AppState) -> i64 {
    i64::try_from(state.voice.heartbeat.as_millis() * 3).unwrap_or(15_000)
}

/// Every edge the deployment has seen, with whether it is alive.
pub async fn edges(state: &AppState) -> Result<Vec<EdgeView>, switchboard_store::StoreError> {
    let live = live_within(state);
    Ok(state
        .store
        .edges()
        .await?
        .into_iter()
        .map(|(edge, ago)| EdgeView { edge, heard_ms_ago: ago, live: ago <= live })
        .collect())
}

/// Records what a linked edge said (hello or heartbeat), without holding up its link.
pub fn heard(state: &AppState, edge: EdgeRecord) {
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.record_edge(&edge).await {
            tracing::warn!(edge = %edge.edge_id, error = %e, "edge heartbeat not recorded");
        }
    });
}

/// The name this replica gives itself in the registry.
pub fn replica_name(state: &AppState) -> String {
    state.routing.node().map_or_else(|| "embedded".to_owned(), str::to_owned)
}

/// `GET /api/v1/edge/edges` (edge token): the deployment's edges, alive or not.
pub async fn list(
    State(state): State<AppState>,
    _edge: super::link::Edge,
) -> Result<Json<serde_json::Value>, ApiError> {
    let items = edges(&state).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}

/// `DELETE /api/v1/edge/edges/{id}` (edge token): forgets a decommissioned edge. Only an edge out
/// of rotation may be forgotten (409 while it is live; a live edge would reappear at its next
/// heartbeat anyway), and its calls have been ended by then.
pub async fn forget(
    State(state): State<AppState>,
    _edge: super::link::Edge,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let known = edges(&state).await?.into_iter().find(|e| e.edge.edge_id == id).ok_or(ApiError::NotFound)?;
    if known.live || !state.store.forget_edge(&id, live_within(&state)).await? {
        return Err(ApiError::Conflict(format!("edge {id} is live; stop it first")));
    }
    tracing::info!(edge = %id, "edge forgotten");
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Ends the calls of edges that died, for as long as the process runs (one replica at a time,
/// by a lease; the others stand by).
pub async fn sweep(state: AppState) {
    let swept: Arc<Mutex<HashSet<String>>> = Arc::default();
    let holder = format!("{}-{}", replica_name(&state), uuid::Uuid::new_v4().simple());
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let ttl = i64::try_from(SWEEP_EVERY.as_millis() * 3).unwrap_or(15_000);
        if !matches!(state.store.acquire_lease("edge-sweeper", &holder, ttl).await, Ok(Some(_))) {
            continue;
        }
        let Ok(all) = edges(&state).await else { continue };
        for edge in all {
            if edge.live {
                swept.lock().unwrap_or_else(|e| e.into_inner()).remove(&edge.edge.edge_id);
                continue;
            }
            if !swept.lock().unwrap_or_else(|e| e.into_inner()).insert(edge.edge.edge_id.clone()) {
                continue;
            }
            tracing::warn!(edge = %edge.edge.edge_id, silent_ms = edge.heard_ms_ago, "edge gone: ending its calls");
            if let Err(e) = end_calls_of(&state, &edge.edge.edge_id).await {
                tracing::warn!(edge = %edge.edge.edge_id, error = %e, "calls of a dead edge not all ended; trying again");
                swept.lock().unwrap_or_else(|e| e.into_inner()).remove(&edge.edge.edge_id);
            }
        }
    }
}

/// Ends every open call contact that came in on `edge`.
async fn end_calls_of(state: &AppState, edge: &str) -> anyhow::Result<()> {
    for tenant in state.store.tenant_ids().await? {
        for contact in state.store.open_contacts(tenant).await? {
            // Ended already (by this sweeper or a replica that held the lease before): not again.
            if contact.channel == Channel::Voice
                && contact.attributes.get(EDGE_ATTRIBUTE).is_some_and(|e| e == edge)
                && !contact.attributes.contains_key(CALL_ENDED_ATTRIBUTE)
            {
                end_call(state, tenant, contact.id, contact.state, contact.agent_id).await;
            }
        }
    }
    Ok(())
}

async fn end_call(state: &AppState, tenant: TenantId, id: ContactId, at: ContactState, agent: Option<UserId>) {
    match at {
        // The caller is gone with the edge: the contact is abandoned.
        ContactState::Queued | ContactState::Offered => {
            if let Err(e) = state.routing.run(tenant, |r| Command::Cancel(id, r)).await {
                tracing::info!(%tenant, contact = %id, error = %e, "a dead edge's waiting call not cancelled");
            }
        }
        // The agent is told the call ended; the contact stays open for them to finish, as after
        // any hang-up, and records why.
        _ => {
            let attributes = [(CALL_ENDED_ATTRIBUTE.to_owned(), "edge_lost".to_owned())].into_iter().collect();
            let by = "edge-sweeper".to_owned();
            let noted =
                state.routing.run(tenant, |reply| Command::Annotate { contact: id, attributes, by, reply }).await;
            if let Err(e) = noted {
                tracing::info!(%tenant, contact = %id, error = %e, "a dead edge's call not noted on its contact");
            }
            let body = serde_json::json!({
                "type": "call", "state": "ended", "contact_id": id, "agent_id": agent,
                "reason": "edge_lost", "at": crate::auth::now_ms(),
            });
            super::control::publish_call_state(state, tenant, agent, "ended", body).await;
        }
    }
}

/// Where a call that reached edge `at` should go instead: the SIP URI of a live edge in the
/// caller's region with room for it (the most room first), when `at` is not in that region.
/// `None` keeps the call where it is: a caller with no region, an edge already in it, or no live
/// edge there (a call is better taken far away than not at all).
pub async fn redirect(state: &AppState, at: &str, number: &str, caller: &str) -> Option<String> {
    let region = state.voice.caller_region(caller)?;
    let all = match edges(state).await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "edge registry unreadable: the call stays where it landed");
            return None;
        }
    };
    let to = choose(&all, at, region)?;
    Some(format!("sip:{number}@{}", to.sip))
}

/// The edge a call at `at` should move to for a caller in `region`: none when `at` is in that
/// region already; otherwise the live edge there with the most room.
fn choose<'a>(all: &'a [EdgeView], at: &str, region: &str) -> Option<&'a EdgeRecord> {
    if all.iter().any(|v| v.edge.edge_id == at && v.edge.region == region) {
        return None;
    }
    all.iter()
        .filter(|v| v.live)
        .map(|v| &v.edge)
        .filter(|e| e.region == region && e.edge_id != at && e.active_calls < e.capacity)
        .max_by_key(|e| e.capacity - e.active_calls)
}

/// Whether a phone is registered as `username` with any live edge of the deployment.
pub async fn registered_anywhere(state: &AppState, username: &str) -> bool {
    edges(state).await.is_ok_and(|all| all.iter().any(|e| e.live && e.edge.registered.iter().any(|u| u == username)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, region: &str, capacity: u32, calls: u32, live: bool) -> EdgeView {
        let edge = EdgeRecord {
            edge_id: id.into(),
            region: region.into(),
            capacity,
            sip: format!("{id}.example:5060"),
            active_calls: calls,
            registered: Vec::new(),
            replica: "r".into(),
        };
        EdgeView { edge, heard_ms_ago: if live { 1_000 } else { 60_000 }, live }
    }

    #[test]
    fn calls_move_to_the_live_edge_of_the_callers_region_with_the_most_room() {
        let all = [
            view("us-1", "us", 100, 0, true),
            view("eu-1", "eu", 100, 90, true),
            view("eu-2", "eu", 100, 40, true),
            view("eu-3", "eu", 1_000, 0, false),
            view("eu-4", "eu", 10, 10, true),
        ];
        let to = |at: &str, region: &str| choose(&all, at, region).map(|e| e.edge_id.as_str());
        assert_eq!(to("us-1", "eu"), Some("eu-2"), "the most room among the live ones with any");
        assert_eq!(to("eu-1", "eu"), None, "already in the caller's region");
        assert_eq!(to("eu-1", "ap"), None, "no edge in that region: stay");
        let dead = [view("us-1", "us", 100, 0, true), view("eu-3", "eu", 1_000, 0, false)];
        assert_eq!(choose(&dead, "us-1", "eu"), None, "a dead edge is out of rotation");
        let full = [view("us-1", "us", 100, 0, true), view("eu-4", "eu", 10, 10, true)];
        assert_eq!(choose(&full, "us-1", "eu"), None, "a full edge takes no more");
    }
}
