//! SMS in: the Twilio-compatible inbound webhook (signature verified, replay-safe), threading into
//! contacts of the unified queues, carrier keywords; and the provider settings and transcripts.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_channels::sms::{self, Keyword};
use switchboard_domain::{
    Channel, ChannelEndpoint, ChannelMessage, Contact, ContactId, ContactState, Direction, Queue, SmsProvider,
};
use switchboard_store::{DocKind, Document, SMS_PROVIDER_ID, Store};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::{Principal, now_ms};
use crate::error::{ApiError, Problems};

/// The path providers POST incoming messages to.
pub const INBOUND_PATH: &str = "/webhooks/sms/twilio";

fn inbound_url(state: &AppState) -> String {
    format!("{}{INBOUND_PATH}", state.public_url.trim_end_matches('/'))
}

fn twiml(reply: Option<&str>) -> Response {
    let body = match reply {
        Some(text) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>".to_owned(),
    };
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// `POST /webhooks/sms/twilio`: a customer's text message.
pub async fn inbound(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|e| ApiError::BadRequest(format!("form body expected: {e}")))?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(to), Some(from), Some(sid)) = (get("To"), get("From"), get("MessageSid")) else {
        return Err(ApiError::BadRequest("To, From and MessageSid are required".into()));
    };
    let text = get("Body").unwrap_or_default();
    let store: &dyn Store = &*state.store;
    let (tenant, doc) =
        store.find_by_global_key(DocKind::Endpoint, &format!("sms_number:{to}")).await?.ok_or(ApiError::NotFound)?;
    let endpoint = ChannelEndpoint::from_stored(&doc)?;
    let provider = store
        .get::<SmsProvider>(tenant, SMS_PROVIDER_ID)
        .await?
        .ok_or(ApiError::Forbidden("no SMS provider configured for this number"))?;
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !sms::verify(&provider.auth_token, &inbound_url(&state), &params, signature) {
        tracing::warn!(%tenant, "SMS webhook with a bad signature refused");
        return Err(ApiError::Forbidden("bad signature"));
    }
    // A provider retry or a replayed request: already recorded, answered the same way.
    if store.message_by_provider_id(tenant, &sid).await?.is_some() {
        return Ok(twiml(None));
    }
    let now = now_ms();
    let mut message = ChannelMessage {
        id: uuid::Uuid::now_v7().to_string(),
        contact_id: None,
        direction: Direction::Inbound,
        provider_id: sid,
        from: from.clone(),
        to: to.clone(),
        segments: sms::segments(&text).count as u32,
        body: text.clone(),
        status: "received".into(),
        at: now,
    };
    let tenant_name = store.tenant(tenant).await?.map(|t| t.name).unwrap_or_default();
    let reply = match sms::keyword(&text) {
        Some(Keyword::OptOut) => {
            store.set_opt_out(tenant, &to, &from, true, now).await?;
            Some(format!(
                "You have been unsubscribed from {tenant_name} and will receive no more messages. Reply START to resubscribe."
            ))
        }
        Some(Keyword::OptIn) => {
            store.set_opt_out(tenant, &to, &from, false, now).await?;
            Some(format!("You are subscribed to {tenant_name} again. Reply STOP to unsubscribe."))
        }
        Some(Keyword::Help) => {
            Some(format!("{tenant_name}: reply to this number to reach our team. Reply STOP to unsubscribe."))
        }
        None => None,
    };
    if reply.is_some() {
        store.insert_message(tenant, &message).await?;
        return Ok(twiml(reply.as_deref()));
    }
    // Thread by (our number, their number): an open conversation takes the message, else a new
    // contact is stored and routed before the provider hears back.
    let thread = format!("sms:{to}:{from}");
    let contact = match store.open_contact_by_thread(tenant, &thread).await? {
        Some(c) => c,
        None => {
            let queue_id = endpoint.queue_id.ok_or(ApiError::Conflict("this SMS number has no queue".into()))?;
            let queue = store.get::<Queue>(tenant, &queue_id.to_string()).await?.ok_or(ApiError::NotFound)?;
            let c = Contact {
                id: ContactId::generate(),
                channel: Channel::Sms,
                queue_id,
                state: ContactState::Queued,
                priority: queue.priority,
                skills: Vec::new(),
                customer: Some(from.clone()),
                attributes: [("to".to_owned(), to.clone())].into_iter().collect(),
                agent_id: None,
                enqueued_at: now,
                updated_at: now,
                disposition: None,
                notes: None,
                thread_key: Some(thread),
            };
            state.routing.enqueue(tenant, &c).await?;
            c
        }
    };
    message.contact_id = Some(contact.id);
    store.insert_message(tenant, &message).await?;
    if let Some(agent) = contact.agent_id {
        let topic =
            format!("{}.agent.{}.message", crate::routing::tenant_topic(tenant), crate::routing::agent_word(agent));
        let body = serde_json::json!({"type": "message", "contact_id": contact.id, "message": view(&message)});
        let _ = state.bus.publish(switchboard_bus::Message::new(topic, body.to_string())).await;
    }
    Ok(twiml(None))
}

fn view(m: &ChannelMessage) -> wire::MessageView {
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
    }
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

fn provider_view(state: &AppState, p: &SmsProvider) -> wire::SmsProviderView {
    let hint: String = p.auth_token.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    wire::SmsProviderView {
        account_sid: p.account_sid.clone(),
        auth_token_hint: format!("…{hint}"),
        base_url: p.base_url.clone(),
        inbound_webhook_url: inbound_url(state),
    }
}

/// `GET /api/v1/channels/sms`.
pub async fn read_provider(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::SmsProviderView>, ApiError> {
    let provider = (&*state.store as &dyn Store)
        .get::<SmsProvider>(p.tenant_id, SMS_PROVIDER_ID)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(provider_view(&state, &provider)))
}

/// `PUT /api/v1/channels/sms`.
pub async fn write_provider(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::SmsProviderInput>,
) -> Result<(StatusCode, Json<wire::SmsProviderView>), ApiError> {
    let mut problems = Problems::default();
    let account_sid = problems.text("account_sid", &req.account_sid, 2, 64);
    let auth_token = problems.text("auth_token", &req.auth_token, 8, 256);
    let base_url = req.base_url.as_deref().unwrap_or("https://api.twilio.com").trim().trim_end_matches('/').to_owned();
    if !reqwest::Url::parse(&base_url).is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some()) {
        problems.add("base_url", "invalid", "must be an http(s) URL");
    }
    problems.finish()?;
    let provider = SmsProvider { account_sid, auth_token, base_url };
    let store: &dyn Store = &*state.store;
    match store.get::<SmsProvider>(p.tenant_id, SMS_PROVIDER_ID).await? {
        Some(_) => store.update(p.tenant_id, &provider).await?,
        None => store.insert(p.tenant_id, &provider).await?,
    }
    Ok((StatusCode::OK, Json(provider_view(&state, &provider))))
}
