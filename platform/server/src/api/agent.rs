//! What an agent does: presence, accept, reject, complete — over REST or the console socket.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{ContactId, Presence, UserId};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Problems};
use crate::routing::{Command, Completion};

fn agent_of(p: &Principal) -> Result<UserId, ApiError> {
    p.user_id.ok_or(ApiError::Forbidden("API keys are not agents; log in as a user"))
}

fn contact_id(id: &str) -> Result<ContactId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// Validated presence.
pub fn presence_of(req: &wire::PresenceInput) -> Result<Presence, ApiError> {
    let mut p = Problems::default();
    let presence = match req.status {
        wire::PresenceStatus::Available => Presence::Available,
        wire::PresenceStatus::Offline => Presence::Offline,
        wire::PresenceStatus::Away => Presence::Away(p.text("reason", req.reason.as_deref().unwrap_or("away"), 1, 64)),
    };
    p.finish()?;
    Ok(presence)
}

/// Validated completion: a disposition must be one of the queue's codes when it has any.
pub async fn completion_of(
    state: &AppState,
    tenant: switchboard_domain::TenantId,
    contact: ContactId,
    agent: UserId,
    req: wire::CompleteInput,
) -> Result<Completion, ApiError> {
    let mut p = Problems::default();
    let disposition = req.disposition.as_deref().map(|d| p.text("disposition", d, 1, 64));
    if let Some(d) = &disposition {
        let store: &dyn switchboard_store::Store = &*state.store;
        let queue = match store.contact(tenant, contact).await? {
            Some(c) => store.get::<switchboard_domain::Queue>(tenant, &c.queue_id.to_string()).await?,
            None => None,
        };
        if let Some(q) = queue
            && !q.disposition_codes.is_empty()
            && !q.disposition_codes.contains(d)
        {
            p.add(
                "disposition",
                "invalid",
                format!("not one of the queue's codes: {}", q.disposition_codes.join(", ")),
            );
        }
    }
    let notes = req.notes.as_deref().map(|n| p.text("notes", n, 0, 10_000));
    if let Some(w) = req.wrap_up_secs {
        p.range("wrap_up_secs", w, 0, 3600);
    }
    p.finish()?;
    Ok(Completion { contact, agent, disposition, notes, wrap_up_secs: req.wrap_up_secs })
}

/// `PUT /api/v1/agent/presence`.
pub async fn set_presence(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::PresenceInput>,
) -> Result<Json<wire::AgentStatusView>, ApiError> {
    let agent = agent_of(&p)?;
    let presence = presence_of(&req)?;
    // Suspended: agents cannot take work; contacts that arrive wait in their queues.
    if presence == Presence::Available {
        crate::billing::require_service(&state, p.tenant_id).await?;
    }
    state.routing.run(p.tenant_id, |r| Command::Presence(agent, presence, r)).await?;
    let agents = state.routing.agents(p.tenant_id).await?;
    let me = agents.into_iter().find(|a| a.agent_id == agent).ok_or(ApiError::NotFound)?;
    Ok(Json(super::stats::agent_view(&me)))
}

/// `POST /api/v1/agent/contacts/{id}/accept`.
pub async fn accept(state: State<AppState>, p: Extension<Principal>, id: Path<String>) -> Result<StatusCode, ApiError> {
    answer_offer(state, p, id, Command::Accept).await
}

/// `POST /api/v1/agent/contacts/{id}/reject`.
pub async fn reject(state: State<AppState>, p: Extension<Principal>, id: Path<String>) -> Result<StatusCode, ApiError> {
    answer_offer(state, p, id, Command::Reject).await
}

type OfferAnswer =
    fn(ContactId, UserId, tokio::sync::oneshot::Sender<Result<(), switchboard_routing::RoutingError>>) -> Command;

async fn answer_offer(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    answer: OfferAnswer,
) -> Result<StatusCode, ApiError> {
    let agent = agent_of(&p)?;
    let id = contact_id(&id)?;
    state.routing.run(p.tenant_id, |r| answer(id, agent, r)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The routing target of a transfer request, checked against the tenant's queues and users.
pub async fn transfer_target(
    state: &AppState,
    p: &Principal,
    req: &wire::TransferInput,
) -> Result<switchboard_routing::TransferTarget, ApiError> {
    use switchboard_routing::TransferTarget;
    match (&req.queue_id, &req.agent_id) {
        (Some(q), None) => {
            let q = q.parse().map_err(|_| ApiError::field("queue_id", "unknown_reference", "no such queue"))?;
            Ok(TransferTarget::Queue(q))
        }
        (None, Some(a)) => {
            let a: UserId = a.parse().map_err(|_| ApiError::field("agent_id", "unknown_reference", "no such user"))?;
            state.store.user(p.tenant_id, a).await?.ok_or(ApiError::field(
                "agent_id",
                "unknown_reference",
                "no such user",
            ))?;
            Ok(TransferTarget::Agent(a))
        }
        _ => Err(ApiError::field("queue_id", "required", "give exactly one of queue_id and agent_id")),
    }
}

/// `POST /api/v1/agent/contacts/{id}/transfer`.
pub async fn transfer(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<wire::TransferInput>,
) -> Result<StatusCode, ApiError> {
    let agent = agent_of(&p)?;
    if let Some(number) = &req.number {
        if req.queue_id.is_some() || req.agent_id.is_some() {
            return Err(ApiError::field("number", "invalid", "give exactly one of queue_id, agent_id and number"));
        }
        crate::voice::control::transfer_to_number(&state, &p, &id, number).await?;
        return Ok(StatusCode::NO_CONTENT);
    }
    let id = contact_id(&id)?;
    let to = transfer_target(&state, &p, &req).await?;
    match state.routing.run(p.tenant_id, |r| Command::Transfer(id, agent, to, r)).await {
        // The caller is connected (checked first), so an unknown agent is the target.
        Err(crate::routing::ShardError::Routing(switchboard_routing::RoutingError::UnknownAgent)) => {
            Err(ApiError::Conflict("that agent is not logged in".into()))
        }
        Err(crate::routing::ShardError::Routing(switchboard_routing::RoutingError::Invalid(why))) => {
            Err(ApiError::Conflict(why.into()))
        }
        other => other.map_err(ApiError::from),
    }?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/agent/contacts/{id}/complete`.
pub async fn complete(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<wire::CompleteInput>,
) -> Result<StatusCode, ApiError> {
    let agent = agent_of(&p)?;
    let done = completion_of(&state, p.tenant_id, contact_id(&id)?, agent, req).await?;
    let contact = done.contact;
    state.routing.run(p.tenant_id, |r| Command::Complete(done, r)).await?;
    crate::plugins::effects::finished(&state, p.tenant_id, contact);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/agent/contacts`: my open contacts (offered, connected, wrapping up), oldest
/// first: what a console shows after a reload or a reconnect.
pub async fn my_contacts(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::Page<wire::ContactView>>, ApiError> {
    let agent = agent_of(&p)?;
    let open = state.store.open_contacts(p.tenant_id).await?;
    let mut items = Vec::new();
    for c in open.iter().filter(|c| c.agent_id == Some(agent)) {
        let mut view = super::contacts::contact_view(c);
        if c.state == switchboard_domain::ContactState::Offered {
            // A console reloaded while an offer rings still shows its countdown.
            let events = state.store.contact_events(p.tenant_id, c.id).await?;
            view.offer_deadline = events
                .iter()
                .rev()
                .find(|e| e.kind == "offered")
                .and_then(|e| e.data.get("deadline"))
                .and_then(serde_json::Value::as_i64);
        }
        items.push(view);
    }
    Ok(Json(wire::Page { items, next_cursor: None }))
}

/// `GET /api/v1/agent/colleagues`: who else could take a contact, with their live activity.
pub async fn colleagues(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::ColleagueList>, ApiError> {
    let me = p.user_id;
    let live = state.routing.agents(p.tenant_id).await.unwrap_or_default();
    let mut items = Vec::new();
    let mut page = switchboard_store::PageRequest { limit: 200, after: None };
    loop {
        let users = state.store.list_users(p.tenant_id, &page).await?;
        for u in &users.items {
            if Some(u.id) == me || u.status != switchboard_domain::UserStatus::Active {
                continue;
            }
            let activity = live.iter().find(|a| a.agent_id == u.id).map(|a| a.activity.as_str()).unwrap_or("offline");
            items.push(wire::ColleagueView { id: u.id.to_string(), name: u.name.clone(), activity: activity.into() });
        }
        match users.next_cursor {
            Some(c) => page.after = Some(c),
            None => break,
        }
    }
    Ok(Json(wire::ColleagueList { items }))
}
