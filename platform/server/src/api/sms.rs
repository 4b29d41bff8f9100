//! SMS in: the Twilio-compatible inbound webhook (signature verified, replay-safe), threading into
//! contacts of the unified queues, carrier keywords; and the provider settings and transcripts.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_channels::sms::{self, Keyword};
use switchboard_domain::{Channel, ChannelEndpoint, ChannelMessage, Contact, Direction, Queue, SmsProvider, TenantId};
use switchboard_store::{DocKind, Document, SMS_PROVIDER_ID, Store};

use super::ApiJson;
use crate::app::AppState;
use crate::auth::{Principal, now_ms};
use crate::error::{ApiError, Problems};

/// The path providers POST incoming messages to.
pub const INBOUND_PATH: &str = "/webhooks/sms/twilio";
/// The path providers POST delivery status to.
pub const STATUS_PATH: &str = "/webhooks/sms/twilio/status";

fn inbound_url(state: &AppState) -> String {
    format!("{}{INBOUND_PATH}", state.public_url.trim_end_matches('/'))
}

fn status_url(state: &AppState) -> String {
    format!("{}{STATUS_PATH}", state.public_url.trim_end_matches('/'))
}

/// Parses a provider form and checks its signature against the tenant owning `our_number_param`.
async fn signed_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
    our_number_param: &str,
    url: &str,
) -> Result<(switchboard_domain::TenantId, ChannelEndpoint, Vec<(String, String)>), ApiError> {
    let params: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| ApiError::BadRequest(format!("form body expected: {e}")))?;
    let ours = params
        .iter()
        .find(|(n, _)| n == our_number_param)
        .map(|(_, v)| v.clone())
        .ok_or_else(|| ApiError::BadRequest(format!("{our_number_param} is required")))?;
    let store: &dyn Store = &*state.store;
    let (tenant, doc) =
        store.find_by_global_key(DocKind::Endpoint, &format!("sms_number:{ours}")).await?.ok_or(ApiError::NotFound)?;
    let endpoint = ChannelEndpoint::from_stored(&doc)?;
    let provider = store
        .get::<SmsProvider>(tenant, SMS_PROVIDER_ID)
        .await?
        .ok_or(ApiError::Forbidden("no SMS provider configured for this number"))?;
    let signature = headers.get("x-twilio-signature").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !sms::verify(&provider.auth_token, url, &params, signature) {
        tracing::warn!(%tenant, "SMS webhook with a bad signature refused");
        return Err(ApiError::Forbidden("bad signature"));
    }
    Ok((tenant, endpoint, params))
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
    let (tenant, endpoint, params) = signed_form(&state, &headers, &body, "To", &inbound_url(&state)).await?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(to), Some(from), Some(sid)) = (get("To"), get("From"), get("MessageSid")) else {
        return Err(ApiError::BadRequest("To, From and MessageSid are required".into()));
    };
    let text = get("Body").unwrap_or_default();
    let store: &dyn Store = &*state.store;
    // A provider retry or a replayed request: already recorded, answered the same way.
    if store.message_by_provider_id(tenant, &sid).await?.is_some() {
        return Ok(twiml(None));
    }
    let now = now_ms();
    let mut message = ChannelMessage::text(
        uuid::Uuid::now_v7().to_string(),
        None,
        Direction::Inbound,
        sid,
        from.clone(),
        to.clone(),
        text.clone(),
        "received",
        now,
    );
    message.segments = sms::segments(&text).count as u32;
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
            let mut c = Contact::queued(Channel::Sms, queue_id, queue.priority, Some(from.clone()), now);
            c.attributes.insert("to".to_owned(), to.clone());
            c.thread_key = Some(thread);
            let arrival = crate::plugins::Arrival { address: Some(to.clone()), text: Some(text.clone()) };
            state.plugins.admit(tenant, &mut c, &arrival).await;
            state.routing.enqueue(tenant, &c).await?;
            c
        }
    };
    message.contact_id = Some(contact.id);
    crate::conversation::append(&state, tenant, &contact, &message).await?;
    Ok(twiml(None))
}

/// `POST /webhooks/sms/twilio/status`: the provider reports delivery of one of our messages.
pub async fn status(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, ApiError> {
    // Status callbacks are about messages we sent: our number is `From`.
    let (tenant, _, params) = signed_form(&state, &headers, &body, "From", &status_url(&state)).await?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(sid), Some(status)) = (get("MessageSid"), get("MessageStatus")) else {
        return Err(ApiError::BadRequest("MessageSid and MessageStatus are required".into()));
    };
    let mut p = Problems::default();
    let status = p.text("MessageStatus", &status, 1, 32);
    p.finish()?;
    state.store.set_message_status(tenant, &sid, &status).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends an agent's text to the customer of an SMS conversation through the tenant's provider;
/// the message to append (nothing is stored when the provider refuses).
pub async fn send(
    state: &AppState,
    tenant: TenantId,
    contact: &Contact,
    text: &str,
) -> Result<ChannelMessage, ApiError> {
    let (Some(ours), Some(theirs)) = (contact.attributes.get("to").cloned(), contact.customer.clone()) else {
        return Err(ApiError::Internal("SMS contact without numbers".into()));
    };
    send_text(state, tenant, Some(contact.id), &ours, &theirs, text).await
}

/// Sends a text from one of the tenant's numbers (`ours`) to `theirs` through its provider; the
/// message to store (with `contact`), nothing stored when the provider refuses. Opted-out
/// customers are never texted.
pub async fn send_text(
    state: &AppState,
    tenant: TenantId,
    contact: Option<switchboard_domain::ContactId>,
    ours: &str,
    theirs: &str,
    text: &str,
) -> Result<ChannelMessage, ApiError> {
    let (ours, theirs) = (ours.to_owned(), theirs.to_owned());
    let store: &dyn Store = &*state.store;
    if store.is_opted_out(tenant, &ours, &theirs).await? {
        return Err(ApiError::Conflict("the customer opted out (STOP); they can opt in again with START".into()));
    }
    let provider = store
        .get::<SmsProvider>(tenant, SMS_PROVIDER_ID)
        .await?
        .ok_or(ApiError::Conflict("no SMS provider configured".into()))?;
    // The base URL is tenant-set: the same guard as webhooks keeps it off internal services.
    if let Err(why) = crate::webhooks::check_target(&provider.base_url, state.allow_private_targets).await {
        return Err(ApiError::Conflict(format!("the SMS provider URL is not allowed: {why}")));
    }
    let sender = sms::TwilioRest::new(&provider.base_url, &provider.account_sid, &provider.auth_token);
    let outbound = sms::OutboundSms {
        from: ours.clone(),
        to: theirs.clone(),
        body: text.to_owned(),
        status_callback: Some(status_url(state)),
    };
    let sent = match sms::SmsSender::send(&sender, &outbound).await {
        Ok(s) => s,
        Err(sms::SmsError::Refused { message, .. }) => {
            return Err(ApiError::Conflict(format!("the SMS provider refused the message: {message}")));
        }
        Err(e @ sms::SmsError::Unavailable(_)) => return Err(ApiError::Unavailable(e.to_string())),
    };
    let mut message = ChannelMessage::text(
        uuid::Uuid::now_v7().to_string(),
        contact,
        Direction::Outbound,
        sent.provider_id,
        ours,
        theirs,
        text.to_owned(),
        &sent.status,
        now_ms(),
    );
    message.segments = sms::segments(text).count as u32;
    Ok(message)
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
