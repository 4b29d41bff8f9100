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

/// The event kinds interval statistics count.
const INTERVAL_KINDS: [&str; 3] = ["created", "connected", "abandoned"];

/// Counts events into intervals of `minutes` from `since` to `until`: arrivals (`created`),
/// answers (`connected`, in time when `waited_ms` is within the queue's threshold) and
/// abandons. Every interval is present, zeros included.
pub fn intervals(
    events: &[switchboard_store::TenantEvent],
    threshold_secs: impl Fn(&str) -> u32,
    since: i64,
    until: i64,
    minutes: u32,
) -> Vec<wire::IntervalView> {
    let width = i64::from(minutes) * 60_000;
    let count = usize::try_from((until - since + width - 1) / width).unwrap_or(0);
    let mut out: Vec<wire::IntervalView> = (0..count)
        .map(|i| wire::IntervalView {
            start: since + i as i64 * width,
            offered: 0,
            answered: 0,
            answered_in_time: 0,
            abandoned: 0,
            service_level_percent: None,
        })
        .collect();
    for e in events {
        let at = e.event.at;
        if at < since || at >= until {
            continue;
        }
        let Some(slot) = usize::try_from((at - since) / width).ok().and_then(|i| out.get_mut(i)) else { continue };
        match e.event.kind.as_str() {
            "created" => slot.offered += 1,
            "connected" => {
                slot.answered += 1;
                let waited = e.event.data.get("waited_ms").and_then(serde_json::Value::as_i64).unwrap_or(i64::MAX);
                if waited <= i64::from(threshold_secs(&e.queue_id)) * 1000 {
                    slot.answered_in_time += 1;
                }
            }
            "abandoned" => slot.abandoned += 1,
            _ => {}
        }
    }
    for slot in &mut out {
        let base = slot.answered + slot.abandoned;
        if base > 0 {
            slot.service_level_percent = Some(((u64::from(slot.answered_in_time) * 100) / u64::from(base)) as u8);
        }
    }
    out
}

/// `GET /api/v1/stats/intervals`: offered, answered, abandoned and service level per interval.
pub async fn interval_stats(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    crate::api::ApiQuery(q): crate::api::ApiQuery<wire::IntervalQuery>,
) -> Result<Json<wire::IntervalStats>, ApiError> {
    let mut problems = crate::error::Problems::default();
    let minutes = q.minutes.unwrap_or(15);
    if ![5, 15, 30, 60].contains(&minutes) {
        problems.add("minutes", "invalid", "one of 5, 15, 30, 60");
    }
    let now = crate::auth::now_ms();
    let since = q.since.unwrap_or(now - now.rem_euclid(24 * 3_600_000));
    let until = q.until.unwrap_or(now);
    if since < 0 {
        problems.add("since", "invalid", "ms since the epoch");
    }
    if until <= since {
        problems.add("until", "invalid", "must be after since");
    } else if until - since > 7 * 24 * 3_600_000 {
        problems.add("until", "too_long", "at most 7 days after since");
    }
    let queue = q.queue_id.as_deref().and_then(|v| problems.id::<QueueId>("queue_id", v));
    problems.finish()?;
    let store: &dyn switchboard_store::Store = &*state.store;
    let queues = store.all::<switchboard_domain::Queue>(p.tenant_id).await?;
    let mut events = store.events_between(p.tenant_id, since, until, &INTERVAL_KINDS).await?;
    if let Some(queue) = queue {
        let queue = queue.to_string();
        events.retain(|e| e.queue_id == queue);
    }
    let threshold =
        |queue: &str| queues.iter().find(|q| q.id.to_string() == queue).map(|q| q.service_level_secs).unwrap_or(20);
    Ok(Json(wire::IntervalStats { minutes, items: intervals(&events, threshold, since, until, minutes) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_domain::{ContactEvent, ContactId};

    fn event(at: i64, kind: &str, waited_ms: Option<i64>) -> switchboard_store::TenantEvent {
        switchboard_store::TenantEvent {
            contact_id: ContactId::generate(),
            queue_id: "q".into(),
            channel: "chat".into(),
            event: ContactEvent {
                seq: 1,
                at,
                kind: kind.into(),
                data: waited_ms.map(|w| serde_json::json!({"waited_ms": w})).unwrap_or(serde_json::json!({})),
            },
        }
    }

    #[test]
    fn events_fall_into_their_interval_and_service_level_counts_abandons_against() {
        let m = 60_000;
        let events = [
            event(0, "created", None),
            event(14 * m, "connected", Some(5_000)),
            event(15 * m, "created", None),
            event(16 * m, "connected", Some(25_000)),
            event(17 * m, "abandoned", None),
            event(29 * m + 59_999, "abandoned", None),
            event(30 * m, "created", None), // the end is exclusive
            event(-1, "created", None),
        ];
        let out = intervals(&events, |_| 20, 0, 30 * m, 15);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].start, out[0].offered, out[0].answered, out[0].answered_in_time), (0, 1, 1, 1));
        assert_eq!(out[0].service_level_percent, Some(100));
        assert_eq!((out[1].offered, out[1].answered, out[1].answered_in_time, out[1].abandoned), (1, 1, 0, 2));
        assert_eq!(out[1].service_level_percent, Some(0));
        let quiet = intervals(&[], |_| 20, 0, 31 * m, 15);
        assert_eq!(quiet.len(), 3, "a partial last interval is shown");
        assert!(quiet.iter().all(|s| s.service_level_percent.is_none() && s.offered == 0));
    }
}
