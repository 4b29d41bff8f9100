//! Conversations of the text channels (SMS, web chat, e-mail): the one place a message is
//! appended — stored and numbered before anyone is told, then announced to the connected agent,
//! to the conversation's watchers (the visitor's chat socket) and to supervisors — and where an
//! agent's reply leaves through its channel.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{Value, json};
use switchboard_api_types as wire;
use switchboard_domain::{Channel, ChannelMessage, Contact, ContactId, ContactState, Direction, TenantId};

use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Problems};
use crate::routing::{agent_word, tenant_topic};

/// The bus topic prefix of one conversation's events.
pub fn topic(tenant: TenantId, contact: ContactId) -> String {
    format!("{}.conversation.{}", tenant_topic(tenant), contact.as_uuid().simple())
}

/// Stores a message (numbered next in its conversation) and, when it is new, announces it.
/// Returns the stored message and whether it was new (false: the same provider id was seen).
pub async fn append(
    state: &AppState,
    tenant: TenantId,
    contact: &Contact,
    message: &ChannelMessage,
) -> Result<(ChannelMessage, bool), ApiError> {
    let (stored, new) = state.store.insert_message(tenant, message).await?;
    if new {
        let direction = match stored.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        };
        state.metrics.count_message(contact.channel.as_str(), direction);
        announce(state, tenant, contact, "message", json!({"message": view(&stored)})).await;
    }
    Ok((stored, new))
}

/// Tells the conversation's watchers and its agent about an event (`message`, `typing`, `read`,
/// `ended`...). Best effort: the store already holds what matters.
pub async fn announce(state: &AppState, tenant: TenantId, contact: &Contact, kind: &str, mut body: Value) {
    if let Some(o) = body.as_object_mut() {
        o.insert("type".into(), Value::String(kind.to_owned()));
        o.insert("contact_id".into(), Value::String(contact.id.to_string()));
    }
    let payload = body.to_string();
    let mut topics = vec![format!("{}.{kind}", topic(tenant, contact.id))];
    if let Some(agent) = contact.agent_id {
        topics.push(format!("{}.agent.{}.{kind}", tenant_topic(tenant), agent_word(agent)));
    }
    for t in topics {
        if let Err(e) = state.bus.publish(switchboard_bus::Message::new(t, payload.clone())).await {
            tracing::warn!(%tenant, contact = %contact.id, error = %e, "conversation event not announced");
        }
    }
}

/// The wire form of a message.
pub fn view(m: &ChannelMessage) -> wire::MessageView {
    wire::MessageView {
        id: m.id.clone(),
        direction: match m.direction {
            Direction::Inbound => "inbound".into(),
            Direction::Outbound => "outbound".into(),
        },
        from: m.from.clone(),
        to: m.to.clone(),
        body: m.body.clone(),
        status: m.status.clone(),
        segments: m.segments,
        at: m.at,
        seq: m.seq,
        subject: m.subject.clone(),
        html: m.html.clone(),
        attachments: m
            .attachments
            .iter()
            .map(|a| wire::AttachmentView {
                id: a.id.clone(),
                name: a.name.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
            })
            .collect(),
        author: m.author.clone(),
    }
}

/// The contact an agent may write into: connected to them, of a text channel.
pub async fn writable(state: &AppState, p: &Principal, id: ContactId) -> Result<Contact, ApiError> {
    let contact = state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    if !matches!(contact.channel, Channel::Sms | Channel::Chat | Channel::Email) {
        return Err(ApiError::Conflict("this contact is not a text conversation".into()));
    }
    if contact.state != ContactState::Connected || p.user_id.is_none() || contact.agent_id != p.user_id {
        return Err(ApiError::Conflict("only the agent connected to this conversation can reply".into()));
    }
    Ok(contact)
}

/// Sends an agent's reply through the contact's channel and appends it.
pub async fn send_reply(
    state: &AppState,
    p: &Principal,
    id: ContactId,
    req: &wire::MessageInput,
) -> Result<ChannelMessage, ApiError> {
    let contact = writable(state, p, id).await?;
    let mut problems = Problems::default();
    let max = if contact.channel == Channel::Sms { 1600 } else { 100_000 };
    let body = problems.multiline("body", &req.body, 1, max);
    let html = req.html.as_deref().map(|h| problems.multiline("html", h, 1, 500_000));
    if html.is_some() && contact.channel != Channel::Email {
        problems.add("html", "unsupported", "only e-mail replies have an HTML part");
    }
    problems.finish()?;
    let tenant = p.tenant_id;
    let mut message = match contact.channel {
        Channel::Sms => crate::api::sms::send(state, tenant, &contact, &body).await?,
        Channel::Email => crate::email::send_reply(state, tenant, &contact, &body, html.as_deref()).await?,
        Channel::Chat => ChannelMessage::text(
            uuid::Uuid::now_v7().to_string(),
            Some(id),
            Direction::Outbound,
            uuid::Uuid::now_v7().to_string(),
            String::new(),
            contact.customer.clone().unwrap_or_default(),
            body,
            "sent",
            crate::auth::now_ms(),
        ),
        _ => return Err(ApiError::Conflict("this contact is not a text conversation".into())),
    };
    message.author = p.user_id.map(|u| u.to_string());
    let (stored, _) = append(state, tenant, &contact, &message).await?;
    // The agent answered: the unanswered-contact timer stops.
    let _ = state.routing.run(tenant, |r| crate::routing::Command::Responded(id, r)).await;
    Ok(stored)
}

/// `POST /api/v1/contacts/{id}/messages`: the connected agent replies (SMS, chat or e-mail).
pub async fn reply(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<wire::MessageInput>,
) -> Result<(StatusCode, Json<wire::MessageView>), ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    let stored = send_reply(&state, &p, id, &req).await?;
    Ok((StatusCode::CREATED, Json(view(&stored))))
}

/// `GET /api/v1/contacts/{id}/messages`: the conversation.
pub async fn transcript(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<wire::MessageList>, ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    let messages = state.store.messages(p.tenant_id, id).await?;
    Ok(Json(wire::MessageList { items: messages.iter().map(view).collect() }))
}

/// `GET /api/v1/contacts/{id}/history`: everything the customer of this contact did with the
/// tenant on any channel. Agents see it for contacts offered or connected to them; supervisors
/// for any contact.
pub async fn history(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<wire::CustomerHistory>, ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    let store: &dyn switchboard_store::Store = &*state.store;
    let contact = store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    if p.role < switchboard_domain::Role::Supervisor && (p.user_id.is_none() || contact.agent_id != p.user_id) {
        return Err(ApiError::Forbidden("agents see the history of their own contacts"));
    }
    let contacts = match &contact.customer {
        Some(customer) => store.contacts_of_customer(p.tenant_id, customer, 50).await?,
        None => vec![contact],
    };
    let mut items = Vec::with_capacity(contacts.len());
    for c in contacts {
        let all = store.messages(p.tenant_id, c.id).await?;
        let tail = &all[all.len().saturating_sub(50)..];
        items.push(wire::HistoryEntry {
            contact: crate::api::contacts::contact_view(&c),
            messages: tail.iter().map(view).collect(),
        });
    }
    let customer = items.first().and_then(|e| e.contact.customer.clone());
    Ok(Json(wire::CustomerHistory { customer, items }))
}
