//! What plugins' answers do beyond the contact being routed: a bot's reply, tags and a queue
//! move after a customer's message (on-message), and the actions after a finished contact
//! (on-wrap-up: texts, e-mails, attributes). Both run in the background: the customer's message
//! is already stored and acknowledged, the agent's completion already answered.

use switchboard_domain::{Channel, ChannelMessage, Contact, ContactId, Direction, EndpointKind, TenantId};
use switchboard_store::Store;

use super::WrapUpAction;
use crate::app::AppState;
use crate::auth::now_ms;
use crate::error::ApiError;
use crate::routing::Command;

/// Who plugins' changes are recorded as, in contact events.
const BY_PLUGIN: &str = "plugin";

/// A customer's new message on chat or SMS: the on-message plugin is asked in the background.
pub fn customer_message(state: &AppState, tenant: TenantId, contact: &Contact, message: &ChannelMessage) {
    if !matches!(contact.channel, Channel::Chat | Channel::Sms) || message.direction != Direction::Inbound {
        return;
    }
    let (state, id, text, count) = (state.clone(), contact.id, message.body.clone(), message.seq as u32);
    tokio::spawn(async move {
        if let Err(e) = on_message(&state, tenant, id, &text, count).await {
            tracing::warn!(%tenant, contact = %id, error = ?e, "on-message plugin's answer not applied");
        }
    });
}

async fn on_message(state: &AppState, tenant: TenantId, id: ContactId, text: &str, count: u32) -> Result<(), ApiError> {
    let Some(contact) = state.store.contact(tenant, id).await? else { return Ok(()) };
    if contact.state.is_terminal() {
        return Ok(());
    }
    let Some(answer) = state.plugins.on_message(tenant, &contact, text, count).await else { return Ok(()) };
    if !answer.attributes.is_empty() {
        let attributes = answer.attributes.into_iter().collect();
        state
            .routing
            .run(tenant, |reply| Command::Annotate { contact: id, attributes, by: BY_PLUGIN.into(), reply })
            .await?;
    }
    if let Some((queue, name)) = answer.queue {
        match state.routing.run(tenant, |r| Command::Move(id, queue, r)).await {
            Ok(()) => tracing::info!(%tenant, contact = %id, queue = %name, "moved by the on-message plugin"),
            // Offered or taken meanwhile: it stays where it is.
            Err(e) => tracing::info!(%tenant, contact = %id, queue = %name, reason = %e, "not moved"),
        }
    }
    if let Some(reply) = answer.reply {
        // A bot answers first; once an agent has the conversation, the agent does.
        let Some(now) = state.store.contact(tenant, id).await? else { return Ok(()) };
        if now.agent_id.is_some() || now.state.is_terminal() {
            tracing::info!(%tenant, contact = %id, "bot reply dropped: an agent has the conversation");
            return Ok(());
        }
        let mut message = match now.channel {
            Channel::Sms => crate::api::sms::send(state, tenant, &now, &reply).await?,
            _ => ChannelMessage::text(
                uuid::Uuid::now_v7().to_string(),
                Some(id),
                Direction::Outbound,
                format!("bot:{}", uuid::Uuid::now_v7().simple()),
                String::new(),
                now.customer.clone().unwrap_or_default(),
                reply,
                "sent",
                now_ms(),
            ),
        };
        message.author = Some("Bot".into());
        crate::conversation::append(state, tenant, &now, &message).await?;
    }
    Ok(())
}

/// A contact an agent has finished: the on-wrap-up plugin is asked in the background and its
/// actions carried out.
pub fn finished(state: &AppState, tenant: TenantId, id: ContactId) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = on_wrap_up(&state, tenant, id).await {
            tracing::warn!(%tenant, contact = %id, error = ?e, "on-wrap-up plugin's actions not carried out");
        }
    });
}

async fn on_wrap_up(state: &AppState, tenant: TenantId, id: ContactId) -> Result<(), ApiError> {
    let store: &dyn Store = &*state.store;
    let Some(contact) = store.contact(tenant, id).await? else { return Ok(()) };
    let events = store.contact_events(tenant, id).await?;
    let connected = events.iter().rev().find(|e| e.kind == "connected").map(|e| e.at);
    let handled_ms = connected.map_or(0, |at| u64::try_from(contact.updated_at - at).unwrap_or(0));
    for action in state.plugins.on_wrap_up(tenant, &contact, handled_ms).await {
        let done = match &action {
            WrapUpAction::Sms { to, text } => send_sms(state, tenant, &contact, to, text).await,
            WrapUpAction::Email { to, subject, body } => send_email(state, tenant, to, subject, body).await,
            WrapUpAction::Attributes(attributes) => {
                let attributes = attributes.iter().cloned().collect();
                state
                    .routing
                    .run(tenant, |reply| Command::Annotate { contact: id, attributes, by: BY_PLUGIN.into(), reply })
                    .await
                    .map_err(ApiError::from)
            }
        };
        // One action failing (no SMS provider, the relay down) does not stop the others.
        if let Err(e) = done {
            tracing::warn!(%tenant, contact = %id, error = ?e, "wrap-up action failed");
        }
    }
    Ok(())
}

/// Texts from the number the customer used, else from the tenant's first SMS number; the text
/// is kept with the contact.
async fn send_sms(state: &AppState, tenant: TenantId, contact: &Contact, to: &str, text: &str) -> Result<(), ApiError> {
    let ours = match contact.attributes.get("to").filter(|_| contact.channel == Channel::Sms) {
        Some(n) => n.clone(),
        None => crate::conversation::first_endpoint(state, tenant, EndpointKind::SmsNumber)
            .await?
            .ok_or(ApiError::Conflict("the tenant has no SMS number to send from".into()))?,
    };
    let message = crate::api::sms::send_text(state, tenant, Some(contact.id), &ours, to, text).await?;
    state.store.insert_message(tenant, &message).await?;
    Ok(())
}

/// E-mails from the tenant's first inbound address.
async fn send_email(state: &AppState, tenant: TenantId, to: &str, subject: &str, body: &str) -> Result<(), ApiError> {
    let from = crate::conversation::first_endpoint(state, tenant, EndpointKind::EmailAddress)
        .await?
        .ok_or(ApiError::Conflict("the tenant has no e-mail address to send from".into()))?;
    let name = state.store.tenant(tenant).await?.map(|t| t.name).unwrap_or_default();
    crate::email::outbound::send_notice(state, &name, &from, to, subject, body).await
}
