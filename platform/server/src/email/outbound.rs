//! Outgoing e-mail through the configured relay (lettre): agents' replies, with the threading
//! headers mail clients need to show them in the customer's thread, and chat transcripts.

use lettre::message::{Mailbox, MultiPart, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use switchboard_domain::{ChannelMessage, Contact, Direction, TenantId};
use switchboard_store::Store;

use crate::app::AppState;
use crate::auth::now_ms;
use crate::error::ApiError;

/// The relay outgoing mail goes through.
#[derive(Clone)]
pub struct Relay {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("configured", &self.transport.is_some()).finish()
    }
}

impl Relay {
    /// From `smtp_relay_url` (None: no outgoing mail).
    pub fn new(url: Option<&str>) -> Result<Self, lettre::transport::smtp::Error> {
        let transport = match url {
            Some(u) => Some(AsyncSmtpTransport::<Tokio1Executor>::from_url(u)?.build()),
            None => None,
        };
        Ok(Self { transport })
    }

    /// Sends one message.
    pub async fn send(&self, message: lettre::Message) -> Result<(), ApiError> {
        let transport = self.transport.as_ref().ok_or_else(|| {
            ApiError::Conflict("outgoing e-mail is not configured on this deployment (smtp_relay_url)".into())
        })?;
        match transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(ApiError::Conflict(format!("the mail relay refused the message: {e}"))),
            Err(e) => Err(ApiError::Unavailable(format!("mail relay: {e}"))),
        }
    }
}

/// Escapes text into a simple HTML part.
pub fn text_to_html(text: &str) -> String {
    let escaped = text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    format!("<html><body><p>{}</p></body></html>", escaped.replace("\r\n", "\n").replace('\n', "<br>\n"))
}

fn mailbox(name: Option<&str>, address: &str) -> Result<Mailbox, ApiError> {
    let addr = address.parse().map_err(|e| ApiError::Internal(format!("bad address {address}: {e}")))?;
    Ok(Mailbox::new(name.map(str::to_owned), addr))
}

fn domain_of(address: &str) -> &str {
    address.rsplit_once('@').map(|(_, d)| d).unwrap_or("switchboard.invalid")
}

/// Sends an agent's reply in an e-mail conversation; the message to append.
pub async fn send_reply(
    state: &AppState,
    tenant: TenantId,
    contact: &Contact,
    text: &str,
    html: Option<&str>,
    files: &[(switchboard_domain::Attachment, Vec<u8>)],
) -> Result<ChannelMessage, ApiError> {
    let store: &dyn Store = &*state.store;
    let (Some(ours), Some(theirs)) = (contact.attributes.get("to").cloned(), contact.customer.clone()) else {
        return Err(ApiError::Internal("e-mail contact without addresses".into()));
    };
    if ours.is_empty() {
        return Err(ApiError::Conflict("add an inbound e-mail address (endpoint) to answer e-mail from".into()));
    }
    let tenant_name = store.tenant(tenant).await?.map(|t| t.name);
    let history = store.messages(tenant, contact.id).await?;
    // The ids of the thread, oldest first; the reply answers the customer's latest message.
    let ids: Vec<&str> = history.iter().map(|m| m.provider_id.as_str()).filter(|id| id.contains('@')).collect();
    let answered = history.iter().rev().find(|m| m.direction == Direction::Inbound).map(|m| m.provider_id.clone());
    let subject = contact.attributes.get("subject").cloned().unwrap_or_default();
    let subject = if subject.to_ascii_lowercase().starts_with("re:") {
        subject
    } else if subject.is_empty() {
        "Re: your message".to_owned()
    } else {
        format!("Re: {subject}")
    };
    let message_id = format!("{}@{}", uuid::Uuid::now_v7().simple(), domain_of(&ours));
    let html = html.map(str::to_owned).unwrap_or_else(|| text_to_html(text));
    let mut builder = lettre::Message::builder()
        .from(mailbox(tenant_name.as_deref(), &ours)?)
        .to(mailbox(None, &theirs)?)
        .subject(subject.clone())
        .message_id(Some(format!("<{message_id}>")));
    if let Some(a) = &answered {
        builder = builder.in_reply_to(format!("<{a}>"));
    }
    if !ids.is_empty() {
        // The last few ids are what clients use; a long thread's list stays short.
        let tail = &ids[ids.len().saturating_sub(20)..];
        builder = builder.references(tail.iter().map(|i| format!("<{i}>")).collect::<Vec<_>>().join(" "));
    }
    let alternative = MultiPart::alternative_plain_html(text.to_owned(), html.clone());
    let body = if files.is_empty() {
        alternative
    } else {
        let mut mixed = MultiPart::mixed().multipart(alternative);
        for (a, bytes) in files {
            let kind = ContentType::parse(&a.content_type)
                .unwrap_or_else(|_| ContentType::parse("application/octet-stream").expect("a valid type"));
            mixed = mixed.singlepart(lettre::message::Attachment::new(a.name.clone()).body(bytes.clone(), kind));
        }
        mixed
    };
    let email = builder.multipart(body).map_err(|e| ApiError::Internal(format!("building the e-mail: {e}")))?;
    state.relay.send(email).await?;
    let mut message = ChannelMessage::text(
        uuid::Uuid::now_v7().to_string(),
        Some(contact.id),
        Direction::Outbound,
        message_id,
        ours,
        theirs,
        text.to_owned(),
        "sent",
        now_ms(),
    );
    message.subject = Some(subject);
    message.html = Some(html);
    Ok(message)
}

/// Sends a plain notice (a chat transcript) from the deployment to someone.
pub async fn send_notice(
    state: &AppState,
    from_name: &str,
    from: &str,
    to: &str,
    subject: &str,
    text: &str,
) -> Result<(), ApiError> {
    let email = lettre::Message::builder()
        .from(mailbox(Some(from_name), from)?)
        .to(mailbox(None, to).map_err(|_| ApiError::field("email", "invalid", "not an e-mail address"))?)
        .subject(subject)
        .message_id(Some(format!("<{}@{}>", uuid::Uuid::now_v7().simple(), domain_of(from))))
        .header(ContentType::TEXT_PLAIN)
        .body(text.to_owned())
        .map_err(|e| ApiError::Internal(format!("building the e-mail: {e}")))?;
    state.relay.send(email).await
}
