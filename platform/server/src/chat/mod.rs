//! Web chat for visitors: a widget (endpoint with a public key and allowed origins) opens a
//! conversation and gets a signed visitor token, then talks over a WebSocket (see `socket`).
//! When nobody can answer (closed, or no agent logged in) the visitor leaves a message, which
//! becomes an e-mail contact; at the end the transcript can be e-mailed to the visitor.

pub mod socket;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use switchboard_channels::chat;
use switchboard_channels::email::mime::{InboundMail, MailAttachment};
use switchboard_domain::{
    BusinessHours, Channel, ChannelEndpoint, ChannelMessage, Contact, ContactId, Direction, EndpointKind, Queue,
    TenantId,
};
use switchboard_store::{DocKind, Document, Store};

use crate::app::AppState;
use crate::auth::{VisitorClaims, now_ms};
use crate::error::{ApiError, Problems};

/// Largest chat attachment.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;
/// File types a visitor may send.
pub const ATTACHMENT_TYPES: &[&str] =
    &["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"];

/// `POST /chat/v1/sessions`: the widget opens a conversation (after the optional pre-chat form).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// The widget's public key.
    pub widget_key: String,
    /// Visitor's name (pre-chat form).
    #[serde(default)]
    pub name: Option<String>,
    /// Visitor's e-mail (pre-chat form): recognises a returning customer, receives transcripts.
    #[serde(default)]
    pub email: Option<String>,
    /// Visitor's phone number in E.164 (pre-chat form): recognises a customer who also calls or texts.
    #[serde(default)]
    pub phone: Option<String>,
    /// Other pre-chat fields (at most 20, short texts).
    #[serde(default)]
    pub fields: std::collections::BTreeMap<String, String>,
}

/// The answer: chat now, or leave a message.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SessionView {
    /// `chat` (connect the socket with `token`) or `leave_message` (nobody can answer now).
    pub mode: String,
    /// Why `leave_message`: `closed` or `no_agents`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Visitor token for the socket and the other visitor calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The conversation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
}

/// `POST /chat/v1/offline-messages`: a message left while nobody could chat.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfflineMessageInput {
    /// The widget's public key.
    pub widget_key: String,
    /// Visitor's name.
    pub name: String,
    /// Where the answer goes.
    pub email: String,
    /// The message.
    pub body: String,
}

/// `POST /chat/v1/transcript`: e-mail me this conversation.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TranscriptInput {
    /// Where to send it (default: the pre-chat e-mail).
    #[serde(default)]
    pub email: Option<String>,
}

/// The widget behind a key, if the request comes from one of its allowed origins.
async fn widget(state: &AppState, key: &str, headers: &HeaderMap) -> Result<(TenantId, ChannelEndpoint), ApiError> {
    let store: &dyn Store = &*state.store;
    let found = store.find_by_global_key(DocKind::Endpoint, &format!("chat_widget:{key}")).await?;
    let (tenant, doc) = found.ok_or(ApiError::NotFound)?;
    let endpoint = ChannelEndpoint::from_stored(&doc)?;
    if endpoint.kind != EndpointKind::ChatWidget {
        return Err(ApiError::NotFound);
    }
    check_origin(&endpoint, headers)?;
    Ok((tenant, endpoint))
}

/// Only pages on the widget's allowed origins may use it.
pub fn check_origin(endpoint: &ChannelEndpoint, headers: &HeaderMap) -> Result<(), ApiError> {
    let origin =
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(|o| o.trim_end_matches('/').to_ascii_lowercase());
    match origin {
        Some(o) if endpoint.allowed_origins.contains(&o) => Ok(()),
        Some(_) => Err(ApiError::Forbidden("this page's origin is not allowed to use the widget")),
        None => Err(ApiError::Forbidden("an Origin header is required")),
    }
}

/// Who is asking, from the `Authorization: Bearer` visitor token or `?token=`.
pub fn visitor(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(VisitorClaims, TenantId, ContactId), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned)
        .or_else(|| query.map(str::to_owned))
        .ok_or(ApiError::Unauthorized("missing visitor token"))?;
    let claims = state.keys.verify_visitor(token.trim())?;
    let tenant: TenantId = claims.tid.parse().map_err(|_| ApiError::Unauthorized("invalid visitor token"))?;
    let contact: ContactId = claims.cid.parse().map_err(|_| ApiError::Unauthorized("invalid visitor token"))?;
    Ok((claims, tenant, contact))
}

/// Why nobody can chat now, if so.
async fn unavailable(
    state: &AppState,
    tenant: TenantId,
    endpoint: &ChannelEndpoint,
) -> Result<Option<&'static str>, ApiError> {
    let store: &dyn Store = &*state.store;
    // A suspended tenant's visitors are told politely and can still leave a message.
    if !crate::billing::standing(state, tenant).await?.serves() {
        return Ok(Some("unavailable"));
    }
    if let Some(h) = endpoint.business_hours_id
        && let Some(hours) = store.get::<BusinessHours>(tenant, &h.to_string()).await?
        && !hours.is_open(now_ms())
    {
        return Ok(Some("closed"));
    }
    let Some(queue) = endpoint.queue_id else { return Ok(Some("no_agents")) };
    let stats = state.routing.stats(tenant).await.unwrap_or_default();
    let staffed = stats.iter().any(|(q, s)| *q == queue && s.estimated_wait_secs.is_some());
    Ok(if staffed { None } else { Some("no_agents") })
}

fn email_of(p: &mut Problems, field: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw.map(str::trim).filter(|e| !e.is_empty())?;
    match raw.parse::<switchboard_domain::EmailAddress>() {
        Ok(e) => Some(e.as_str().to_lowercase()),
        Err(e) => {
            p.add(field, "invalid", e.to_string());
            None
        }
    }
}

/// `POST /chat/v1/sessions`.
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::api::ApiJson(req): crate::api::ApiJson<SessionInput>,
) -> Result<(StatusCode, Json<SessionView>), ApiError> {
    let mut p = Problems::default();
    let name = req.name.as_deref().map(|n| p.text("name", n, 1, 100)).filter(|n| !n.is_empty());
    let email = email_of(&mut p, "email", req.email.as_deref());
    let phone = match req.phone.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => match raw.parse::<switchboard_domain::PhoneNumber>() {
            Ok(n) => Some(n.as_str().to_owned()),
            Err(e) => {
                p.add("phone", "invalid", e.to_string());
                None
            }
        },
    };
    if req.fields.len() > 20 {
        p.add("fields", "too_many", "at most 20 fields");
    }
    let mut fields = std::collections::BTreeMap::new();
    for (k, v) in &req.fields {
        let key = p.text("fields", k, 1, 40);
        fields.insert(format!("field.{key}"), p.text(&format!("fields.{k}"), v, 0, 500));
    }
    p.finish()?;
    let (tenant, endpoint) = widget(&state, &req.widget_key, &headers).await?;
    if let Some(reason) = unavailable(&state, tenant, &endpoint).await? {
        return Ok((
            StatusCode::OK,
            Json(SessionView {
                mode: "leave_message".into(),
                reason: Some(reason.into()),
                token: None,
                conversation_id: None,
            }),
        ));
    }
    let queue_id = endpoint.queue_id.ok_or(ApiError::Conflict("this widget has no queue".into()))?;
    let store: &dyn Store = &*state.store;
    let queue = store.get::<Queue>(tenant, &queue_id.to_string()).await?.ok_or(ApiError::NotFound)?;
    let visitor = uuid::Uuid::now_v7().to_string();
    // The customer is their e-mail (or phone number) when they gave one: the same person across
    // channels.
    let customer = email.clone().or_else(|| phone.clone()).unwrap_or_else(|| format!("visitor:{visitor}"));
    let mut contact = Contact::queued(Channel::Chat, queue_id, queue.priority, Some(customer), now_ms());
    contact.attributes = fields;
    if let Some(n) = &name {
        contact.attributes.insert("name".into(), n.clone());
    }
    if let Some(e) = &email {
        contact.attributes.insert("email".into(), e.clone());
    }
    if let Some(n) = &phone {
        contact.attributes.insert("phone".into(), n.clone());
    }
    contact.attributes.insert("widget".into(), endpoint.id.to_string());
    contact.thread_key = Some(format!("chat:{visitor}"));
    let arrival = crate::plugins::Arrival { address: Some(endpoint.id.to_string()), text: None };
    state.plugins.admit(tenant, &mut contact, &arrival).await;
    state.routing.enqueue(tenant, &contact).await?;
    let token = state.keys.issue_visitor(tenant, &endpoint.id.to_string(), &contact.id.to_string(), &visitor)?;
    tracing::info!(%tenant, contact = %contact.id, "chat started");
    Ok((
        StatusCode::CREATED,
        Json(SessionView {
            mode: "chat".into(),
            reason: None,
            token: Some(token),
            conversation_id: Some(contact.id.to_string()),
        }),
    ))
}

/// `POST /chat/v1/offline-messages`: becomes an e-mail contact in the widget's queue.
pub async fn offline_message(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::api::ApiJson(req): crate::api::ApiJson<OfflineMessageInput>,
) -> Result<StatusCode, ApiError> {
    let mut p = Problems::default();
    let name = p.text("name", &req.name, 1, 100);
    let email = email_of(&mut p, "email", Some(&req.email));
    if email.is_none() && req.email.trim().is_empty() {
        p.add("email", "required", "where should the answer go?");
    }
    let body = p.multiline("body", &req.body, 1, chat::MAX_BODY_CHARS);
    p.finish()?;
    let (tenant, endpoint) = widget(&state, &req.widget_key, &headers).await?;
    let email = email.ok_or(ApiError::field("email", "required", "where should the answer go?"))?;
    let mail = InboundMail {
        message_id: format!("{}@chat.switchboard.invalid", uuid::Uuid::now_v7().simple()),
        in_reply_to: Vec::new(),
        references: Vec::new(),
        from: email,
        from_name: Some(name),
        subject: format!("Message left on the web chat ({})", endpoint.name),
        text: body,
        html: None,
        attachments: Vec::<MailAttachment>::new(),
    };
    // Replies go out from the tenant's first inbound e-mail address, if it has one.
    let our_address = sender_address(&state, tenant).await?.unwrap_or_default();
    crate::email::inbound::into_conversation(&state, tenant, &endpoint, &our_address, &mail).await?;
    Ok(StatusCode::CREATED)
}

/// The tenant's first inbound e-mail address: what mail about chats is sent from.
async fn sender_address(state: &AppState, tenant: TenantId) -> Result<Option<String>, ApiError> {
    crate::conversation::first_endpoint(state, tenant, EndpointKind::EmailAddress).await
}

/// Query of the token-authenticated GET routes.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// `POST /chat/v1/attachments`: the visitor sends a file (raw body, `Content-Type`, `X-Filename`).
pub async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<switchboard_api_types::MessageView>), ApiError> {
    let (claims, tenant, contact_id) = visitor(&state, &headers, None)?;
    let content_type = media_type(&headers);
    if !ATTACHMENT_TYPES.contains(&content_type.as_str()) {
        return Err(ApiError::field(
            "content_type",
            "unsupported",
            format!("allowed: {}", ATTACHMENT_TYPES.join(", ")),
        ));
    }
    if body.is_empty() || body.len() > MAX_ATTACHMENT_BYTES {
        return Err(ApiError::field("file", "size", format!("1 byte to {} MiB", MAX_ATTACHMENT_BYTES >> 20)));
    }
    let name = file_name(&headers);
    let name = name.as_str();
    let contact = live_contact(&state, tenant, contact_id).await?;
    let name = switchboard_channels::email::mime::safe_name(name);
    let file = MailAttachment { name, content_type, bytes: body.to_vec() };
    let attachments = crate::email::inbound::store_attachments(&state, tenant, &[file]).await?;
    let mut m = visitor_message(&claims, &contact, format!("upload-{}", attachments[0].id), String::new());
    m.attachments = attachments;
    let (stored, _) = crate::conversation::append(&state, tenant, &contact, &m).await?;
    Ok((StatusCode::CREATED, Json(crate::conversation::view(&stored))))
}

/// The visitor's conversation while it is still open.
pub async fn live_contact(state: &AppState, tenant: TenantId, id: ContactId) -> Result<Contact, ApiError> {
    let contact = state.store.contact(tenant, id).await?.ok_or(ApiError::NotFound)?;
    if contact.state.is_terminal() {
        return Err(ApiError::Conflict("this chat has ended".into()));
    }
    Ok(contact)
}

/// A message from the visitor.
pub fn visitor_message(claims: &VisitorClaims, contact: &Contact, client_id: String, body: String) -> ChannelMessage {
    let mut m = ChannelMessage::text(
        uuid::Uuid::now_v7().to_string(),
        Some(contact.id),
        Direction::Inbound,
        // Namespaced by conversation: the client's id only has to be unique there.
        format!("chat:{}:{client_id}", contact.id),
        contact.customer.clone().unwrap_or_else(|| format!("visitor:{}", claims.sub)),
        String::new(),
        body,
        "received",
        now_ms(),
    );
    m.author = contact.attributes.get("name").cloned();
    m
}

/// The media type of an upload (`Content-Type` without parameters, lower case; empty if absent).
pub fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The file name of an upload (`X-Filename`; header values are ASCII, so browsers send other
/// names percent-encoded UTF-8). Not yet made safe: callers pass it through `safe_name`.
pub fn file_name(headers: &HeaderMap) -> String {
    headers.get("x-filename").and_then(|v| v.to_str().ok()).map(percent_decoded).unwrap_or_else(|| "file".into())
}

/// The bytes stored under a key of the object store.
pub async fn object_bytes(state: &AppState, key: &str) -> Result<Bytes, ApiError> {
    let unavailable = |e: object_store::Error| ApiError::Unavailable(format!("object store: {e}"));
    state
        .objects
        .get(&object_store::path::Path::from(key))
        .await
        .map_err(unavailable)?
        .bytes()
        .await
        .map_err(unavailable)
}

/// Serves an attachment of a conversation.
pub async fn attachment_bytes(
    state: &AppState,
    tenant: TenantId,
    contact: ContactId,
    attachment: &str,
) -> Result<Response, ApiError> {
    let messages = state.store.messages(tenant, contact).await?;
    let a = messages
        .iter()
        .flat_map(|m| m.attachments.iter())
        .find(|a| a.id == attachment)
        .ok_or(ApiError::NotFound)?
        .clone();
    let data = object_bytes(state, &a.object_key(tenant)).await?;
    let disposition = format!("attachment; filename=\"{}\"", a.name.replace(['"', '\\'], "_"));
    let mut res = (StatusCode::OK, data).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&a.content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
    );
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok(res)
}

/// `GET /chat/v1/attachments/{id}?token=`: only files of the visitor's own conversation.
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let (_, tenant, contact) = visitor(&state, &headers, q.token.as_deref())?;
    attachment_bytes(&state, tenant, contact, &id).await
}

/// `GET /api/v1/contacts/{id}/attachments/{attachment_id}`: for the tenant's agents.
pub async fn agent_download(
    State(state): State<AppState>,
    axum::Extension(p): axum::Extension<crate::auth::Principal>,
    Path((id, attachment)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    attachment_bytes(&state, p.tenant_id, id, &attachment).await
}

/// `POST /chat/v1/transcript`: mails the conversation to the visitor.
pub async fn transcript(
    State(state): State<AppState>,
    headers: HeaderMap,
    crate::api::ApiJson(req): crate::api::ApiJson<TranscriptInput>,
) -> Result<StatusCode, ApiError> {
    let (_, tenant, contact_id) = visitor(&state, &headers, None)?;
    let mut p = Problems::default();
    let given = email_of(&mut p, "email", req.email.as_deref());
    p.finish()?;
    let store: &dyn Store = &*state.store;
    let contact = store.contact(tenant, contact_id).await?.ok_or(ApiError::NotFound)?;
    let to = given.or_else(|| contact.attributes.get("email").cloned()).ok_or(ApiError::field(
        "email",
        "required",
        "no e-mail address given in the pre-chat form or here",
    ))?;
    let tenant_name = store.tenant(tenant).await?.map(|t| t.name).unwrap_or_default();
    let from = sender_address(&state, tenant)
        .await?
        .ok_or(ApiError::Conflict("this business has no e-mail address to send transcripts from".into()))?;
    let mut text = format!("Your chat with {tenant_name}\n\n");
    for m in store.messages(tenant, contact_id).await? {
        let who = match m.direction {
            Direction::Inbound => "You".to_owned(),
            Direction::Outbound => tenant_name.clone(),
            Direction::Internal => continue,
        };
        let when = jiff::Timestamp::from_millisecond(m.at)
            .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default();
        text.push_str(&format!("[{when}] {who}: {}\n", m.body));
        for a in &m.attachments {
            text.push_str(&format!("    (file: {})\n", a.name));
        }
    }
    crate::email::outbound::send_notice(
        &state,
        &tenant_name,
        &from,
        &to,
        &format!("Your chat with {tenant_name}"),
        &text,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `%XX` sequences decoded as UTF-8 (invalid sequences kept as they are, lossy UTF-8 replaced).
pub fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_are_percent_decoded() {
        assert_eq!(super::percent_decoded("Gr%C3%BC%C3%9Fe%20Rechnung.pdf"), "Grüße Rechnung.pdf");
        assert_eq!(super::percent_decoded("plain.txt"), "plain.txt");
        assert_eq!(super::percent_decoded("100%.txt"), "100%.txt");
        assert_eq!(super::percent_decoded("%zz%4"), "%zz%4");
    }
}
