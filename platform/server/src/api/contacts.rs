//! Contacts: tenant systems create work items; supervisors read, follow and cancel them.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{Contact, ContactId, ContactState, MAX_SKILL_LEVEL, Queue, SkillId, SkillRequirement};

use super::convert::channel_in;
use super::{ApiJson, ApiQuery, page_request};
use crate::app::AppState;
use crate::auth::{Principal, now_ms};
use crate::error::{ApiError, Problems};
use crate::routing::Command;

/// A contact as shown.
pub fn contact_view(c: &Contact) -> wire::ContactView {
    wire::ContactView {
        id: c.id.to_string(),
        channel: super::convert::channel_out(c.channel),
        queue_id: c.queue_id.to_string(),
        state: c.state.as_str().into(),
        priority: c.priority,
        customer: c.customer.clone(),
        attributes: c.attributes.clone(),
        agent_id: c.agent_id.map(|a| a.to_string()),
        enqueued_at: c.enqueued_at,
        updated_at: c.updated_at,
        disposition: c.disposition.clone(),
        notes: c.notes.clone(),
        events: Vec::new(),
        offer_deadline: None,
    }
}

fn parse_id(id: &str) -> Result<ContactId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// `POST /api/v1/contacts`.
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::ContactInput>,
) -> Result<(StatusCode, Json<wire::ContactView>), ApiError> {
    let mut problems = Problems::default();
    let queue = match problems.id::<switchboard_domain::QueueId>("queue_id", &req.queue_id) {
        Some(q) => (&*state.store as &dyn switchboard_store::Store).get::<Queue>(p.tenant_id, &q.to_string()).await?,
        None => None,
    };
    if queue.is_none() && problems.is_empty() {
        problems.add("queue_id", "unknown_reference", "no such queue");
    }
    if let Some(pr) = req.priority {
        problems.range("priority", pr, 0, 100);
    }
    let known: Vec<SkillId> = (&*state.store as &dyn switchboard_store::Store)
        .all::<switchboard_domain::Skill>(p.tenant_id)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let mut skills = Vec::new();
    for (i, r) in req.required_skills.iter().enumerate() {
        let field = format!("required_skills[{i}].skill_id");
        problems.range(&format!("required_skills[{i}].min_level"), r.min_level, 1, MAX_SKILL_LEVEL);
        if let Some(id) = problems.id::<SkillId>(&field, &r.skill_id) {
            if known.contains(&id) {
                skills.push(SkillRequirement { skill_id: id, min_level: r.min_level });
            } else {
                problems.add(&field, "unknown_reference", "no such skill");
            }
        }
    }
    let customer = req.customer.as_deref().map(|c| problems.text("customer", c, 1, 256));
    if req.attributes.len() > 50 {
        problems.add("attributes", "too_long", "at most 50 attributes");
    }
    let mut attributes = BTreeMap::new();
    for (k, v) in &req.attributes {
        let key = problems.text(&format!("attributes.{k}"), k, 1, 64);
        let value = problems.text(&format!("attributes.{k}"), v, 0, 1000);
        attributes.insert(key, value);
    }
    problems.finish()?;
    let Some(queue) = queue else { return Err(ApiError::NotFound) };
    let now = now_ms();
    let contact = Contact {
        id: ContactId::generate(),
        channel: channel_in(req.channel),
        queue_id: queue.id,
        state: ContactState::Queued,
        priority: req.priority.unwrap_or(queue.priority),
        skills,
        customer,
        attributes,
        agent_id: None,
        enqueued_at: now,
        updated_at: now,
        disposition: None,
        notes: None,
        thread_key: None,
    };
    let mut contact = contact;
    match state.plugins.on_contact(p.tenant_id, &mut contact, &crate::plugins::Arrival::default()).await {
        crate::plugins::Verdict::Reject(why) => {
            return Err(ApiError::Conflict(format!("refused by the tenant's plugin: {why}")));
        }
        crate::plugins::Verdict::Voicemail => {
            contact.attributes.insert("plugin_verdict".into(), "voicemail".into());
        }
        crate::plugins::Verdict::Route => {}
    }
    state.routing.enqueue(p.tenant_id, &contact).await?;
    Ok((StatusCode::CREATED, Json(contact_view(&contact))))
}

/// `GET /api/v1/contacts`.
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<wire::PageQuery>,
) -> Result<Json<wire::Page<wire::ContactView>>, ApiError> {
    let page = state.store.list_contacts(p.tenant_id, &page_request(q)?).await?;
    Ok(Json(wire::Page { items: page.items.iter().map(contact_view).collect(), next_cursor: page.next_cursor }))
}

/// `GET /api/v1/contacts/{id}`: the contact with its lifecycle.
pub async fn read(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<wire::ContactView>, ApiError> {
    let id = parse_id(&id)?;
    let c = state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    let mut view = contact_view(&c);
    view.events = state
        .store
        .contact_events(p.tenant_id, id)
        .await?
        .into_iter()
        .map(|e| wire::ContactEventView { seq: e.seq, at: e.at, kind: e.kind, data: e.data })
        .collect();
    Ok(Json(view))
}

/// `GET /api/v1/contacts/{id}/queue-state`: position and estimated wait.
pub async fn queue_state(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<wire::QueueStateView>, ApiError> {
    let id = parse_id(&id)?;
    let c = state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    let position = if c.state == ContactState::Queued { state.routing.position(p.tenant_id, id).await? } else { None };
    Ok(Json(wire::QueueStateView {
        contact_id: id.to_string(),
        state: c.state.as_str().into(),
        queue_id: c.queue_id.to_string(),
        position: position.map(|p| p.0),
        estimated_wait_secs: position.and_then(|p| p.1),
    }))
}

/// `DELETE /api/v1/contacts/{id}`: cancel a waiting contact (it counts as abandoned).
pub async fn cancel(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let c = state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    if c.state.is_terminal() {
        return Err(ApiError::Conflict(format!("the contact is already {}", c.state.as_str())));
    }
    state.routing.run(p.tenant_id, |r| Command::Cancel(id, r)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/contacts/search`: contact history with filters, newest first.
pub async fn search(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<wire::ContactSearchQuery>,
) -> Result<Json<wire::Page<wire::ContactView>>, ApiError> {
    let page = page_request(wire::PageQuery { limit: q.limit, after: q.after.clone() })?;
    let mut problems = Problems::default();
    if let Some(s) = &q.state
        && !ContactState::ALL.iter().any(|k| k.as_str() == s)
    {
        problems.add("state", "invalid", "not a contact state");
    }
    let queue_id = q.queue_id.as_deref().and_then(|v| problems.id::<switchboard_domain::QueueId>("queue_id", v));
    let agent_id = q.agent_id.as_deref().and_then(|v| problems.id::<switchboard_domain::UserId>("agent_id", v));
    let customer = q.customer.as_deref().map(|c| problems.text("customer", c, 1, 256));
    if let (Some(a), Some(b)) = (q.since, q.until)
        && b <= a
    {
        problems.add("until", "invalid", "must be after since");
    }
    problems.finish()?;
    let filter = switchboard_store::ContactFilter {
        state: q.state,
        channel: q.channel.map(|c| channel_in(c).as_str().to_owned()),
        queue_id: queue_id.map(|q| q.to_string()),
        agent_id: agent_id.map(|a| a.to_string()),
        customer,
        since: q.since,
        until: q.until,
    };
    let page = state.store.search_contacts(p.tenant_id, &filter, &page).await?;
    Ok(Json(wire::Page { items: page.items.iter().map(contact_view).collect(), next_cursor: page.next_cursor }))
}
