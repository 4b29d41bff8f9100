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
        state.metrics.count_message(contact.channel.as_str(), stored.direction.as_str());
        if !stored.body.trim().is_empty() {
            crate::plugins::effects::customer_message(state, tenant, contact, &stored);
        }
        let body = json!({"message": view(&stored)});
        if stored.direction == Direction::Internal {
            announce_internal(state, tenant, contact, "message", body).await;
        } else {
            announce(state, tenant, contact, "message", body).await;
        }
    }
    Ok((stored, new))
}

/// The tenant's first endpoint of a kind (by creation): what outgoing texts and mail that
/// answer no particular conversation are sent from.
pub async fn first_endpoint(
    state: &AppState,
    tenant: TenantId,
    kind: switchboard_domain::EndpointKind,
) -> Result<Option<String>, ApiError> {
    let store: &dyn switchboard_store::Store = &*state.store;
    let mut page = switchboard_store::PageRequest { limit: 200, after: None };
    loop {
        let found = store.list::<switchboard_domain::ChannelEndpoint>(tenant, &page).await?;
        if let Some(e) = found.items.iter().find(|e| e.kind == kind) {
            return Ok(Some(e.address.clone()));
        }
        match found.next_cursor {
            Some(c) => page.after = Some(c),
            None => return Ok(None),
        }
    }
}

/// Tells the conversation's watchers and its agent about an event (`message`, `typing`, `read`,
/// `ended`...). Best effort: the store already holds what matters.
pub async fn announce(state: &AppState, tenant: TenantId, contact: &Contact, kind: &str, body: Value) {
    publish(state, tenant, contact, kind, body, format!("{}.{kind}", topic(tenant, contact.id))).await;
}

/// Tells the agent and supervisors, never the conversation's watchers (the visitor's socket):
/// for whispers.
async fn announce_internal(state: &AppState, tenant: TenantId, contact: &Contact, kind: &str, body: Value) {
    let first = format!("{}.supervision.{}.{kind}", tenant_topic(tenant), contact.id.as_uuid().simple());
    publish(state, tenant, contact, kind, body, first).await;
}

/// Publishes an event on `first` and on the connected agent's topic.
async fn publish(state: &AppState, tenant: TenantId, contact: &Contact, kind: &str, mut body: Value, first: String) {
    if let Some(o) = body.as_object_mut() {
        o.insert("type".into(), Value::String(kind.to_owned()));
        o.insert("contact_id".into(), Value::String(contact.id.to_string()));
    }
    let payload = body.to_string();
    let mut topics = vec![first];
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
        direction: m.direction.as_str().into(),
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
    let contact = live_conversation(state, p, id).await?;
    if contact.agent_id != p.user_id {
        return Err(ApiError::Conflict("only the agent connected to this conversation can reply".into()));
    }
    Ok(contact)
}

/// A text conversation connected to an agent, that a supervisor may join.
async fn live_conversation(state: &AppState, p: &Principal, id: ContactId) -> Result<Contact, ApiError> {
    let contact = state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    if !matches!(contact.channel, Channel::Sms | Channel::Chat | Channel::Email) {
        return Err(ApiError::Conflict("this contact is not a text conversation".into()));
    }
    if p.user_id.is_none() {
        return Err(ApiError::Forbidden("log in as a user to write in a conversation"));
    }
    if contact.state != ContactState::Connected {
        return Err(ApiError::Conflict(format!("the conversation is {}, not connected", contact.state.as_str())));
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
    deliver(state, p, contact, req).await
}

async fn deliver(
    state: &AppState,
    p: &Principal,
    contact: Contact,
    req: &wire::MessageInput,
) -> Result<ChannelMessage, ApiError> {
    let id = contact.id;
    let mut problems = Problems::default();
    let max = if contact.channel == Channel::Sms { 1600 } else { 100_000 };
    let body = problems.multiline("body", &req.body, 1, max);
    let html = req.html.as_deref().map(|h| problems.multiline("html", h, 1, 500_000));
    if html.is_some() && contact.channel != Channel::Email {
        problems.add("html", "unsupported", "only e-mail replies have an HTML part");
    }
    let files = staged_files(state, p.tenant_id, id, &req.attachment_ids, &mut problems).await;
    if !files.is_empty() && contact.channel == Channel::Sms {
        problems.add("attachment_ids", "unsupported", "SMS replies carry text only");
    }
    problems.finish()?;
    let tenant = p.tenant_id;
    let mut message = match contact.channel {
        Channel::Sms => crate::api::sms::send(state, tenant, &contact, &body).await?,
        Channel::Email => {
            let mut with_bytes = Vec::with_capacity(files.len());
            for a in &files {
                with_bytes.push((a.clone(), crate::chat::object_bytes(state, &a.object_key(tenant)).await?.to_vec()));
            }
            crate::email::send_reply(state, tenant, &contact, &body, html.as_deref(), &with_bytes).await?
        }
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
    message.attachments = files.clone();
    let (stored, _) = append(state, tenant, &contact, &message).await?;
    for a in &files {
        // Sent: the file is the message's now (its bytes stay where they are).
        let _ = state.objects.delete(&staged_key(tenant, id, &a.id)).await;
    }
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

/// Where a file an agent uploaded waits, described, until a reply takes it.
fn staged_key(tenant: TenantId, contact: ContactId, id: &str) -> object_store::path::Path {
    object_store::path::Path::from(format!("tenants/{tenant}/staged/{}/{id}.json", contact.as_uuid().simple()))
}

/// The staged files a reply names; an unknown id is a field error.
async fn staged_files(
    state: &AppState,
    tenant: TenantId,
    contact: ContactId,
    ids: &[String],
    problems: &mut Problems,
) -> Vec<switchboard_domain::Attachment> {
    if ids.len() > MAX_REPLY_FILES {
        problems.add("attachment_ids", "too_long", format!("at most {MAX_REPLY_FILES} files"));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let field = format!("attachment_ids[{i}]");
        let known = if uuid::Uuid::parse_str(id).is_ok() {
            match state.objects.get(&staged_key(tenant, contact, id)).await {
                Ok(r) => r.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()),
                Err(_) => None,
            }
        } else {
            None
        };
        match known {
            Some(a) => out.push(a),
            None => problems.add(field, "unknown_reference", "no such uploaded file for this conversation"),
        }
    }
    out
}

/// Most files on one reply.
const MAX_REPLY_FILES: usize = 10;

/// `POST /api/v1/contacts/{id}/attachments`: the connected agent uploads a file (raw body,
/// `Content-Type`, `X-Filename`, percent-encoded if not ASCII) to send with a reply.
pub async fn upload(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<wire::AttachmentView>), ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    let contact = writable(&state, &p, id).await?;
    if contact.channel == Channel::Sms {
        return Err(ApiError::Conflict("SMS replies carry text only".into()));
    }
    if body.is_empty() || body.len() > crate::chat::MAX_ATTACHMENT_BYTES {
        return Err(ApiError::field(
            "file",
            "size",
            format!("1 byte to {} MiB", crate::chat::MAX_ATTACHMENT_BYTES >> 20),
        ));
    }
    // Agents send any kind of file by e-mail; an unusable type is sent as opaque bytes.
    let content_type = Some(crate::chat::media_type(&headers))
        .filter(|v| v.contains('/') && v.len() <= 100 && !v.chars().any(char::is_control))
        .unwrap_or_else(|| "application/octet-stream".into());
    let name = crate::chat::file_name(&headers);
    let name = switchboard_channels::email::mime::safe_name(&name);
    let file = switchboard_channels::email::mime::MailAttachment { name, content_type, bytes: body.to_vec() };
    let stored = crate::email::inbound::store_attachments(&state, p.tenant_id, &[file]).await?;
    let a = stored.into_iter().next().ok_or_else(|| ApiError::Internal("nothing stored".into()))?;
    let meta = serde_json::to_vec(&a).map_err(|e| ApiError::Internal(e.to_string()))?;
    state
        .objects
        .put(&staged_key(p.tenant_id, id, &a.id), meta.into())
        .await
        .map_err(|e| ApiError::Unavailable(format!("object store: {e}")))?;
    let view = wire::AttachmentView { id: a.id, name: a.name, content_type: a.content_type, size: a.size };
    Ok((StatusCode::CREATED, Json(view)))
}

/// `POST /api/v1/contacts/{id}/barge`: a supervisor writes to the customer in an agent's live
/// conversation (the agent sees it too).
pub async fn barge(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<wire::MessageInput>,
) -> Result<(StatusCode, Json<wire::MessageView>), ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    let contact = live_conversation(&state, &p, id).await?;
    let stored = deliver(&state, &p, contact, &req).await?;
    Ok((StatusCode::CREATED, Json(view(&stored))))
}

/// `POST /api/v1/contacts/{id}/whisper`: a supervisor's note to the agent of a live
/// conversation. Stored in the conversation as `internal`; the customer never receives it.
pub async fn whisper(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<wire::WhisperInput>,
) -> Result<(StatusCode, Json<wire::MessageView>), ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    let contact = live_conversation(&state, &p, id).await?;
    let mut problems = Problems::default();
    let body = problems.multiline("body", &req.body, 1, 4000);
    problems.finish()?;
    let now = crate::auth::now_ms();
    let mut message = ChannelMessage::text(
        uuid::Uuid::now_v7().to_string(),
        Some(id),
        Direction::Internal,
        uuid::Uuid::now_v7().to_string(),
        p.user_id.map(|u| u.to_string()).unwrap_or_default(),
        contact.agent_id.map(|u| u.to_string()).unwrap_or_default(),
        body,
        "internal",
        now,
    );
    message.author = p.user_id.map(|u| u.to_string());
    let (stored, _) = append(&state, p.tenant_id, &contact, &message).await?;
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
