//! Received e-mail into conversations: recipients checked against the tenants' inbound
//! addresses (nothing is relayed), the message parsed, threaded by Message-ID / In-Reply-To /
//! References, attachments stored, the contact routed — all before the sender hears 250.

use switchboard_channels::email::mime::{self, InboundMail, MailAttachment};
use switchboard_channels::email::smtp::Envelope;
use switchboard_domain::{Attachment, Channel, ChannelEndpoint, ChannelMessage, Contact, Direction, Queue, TenantId};
use switchboard_store::{DocKind, Document, Store};

use crate::app::AppState;
use crate::auth::now_ms;
use crate::error::ApiError;

/// Why a received message was not taken.
#[derive(Debug)]
pub enum Refusal {
    /// Never (malformed): the sender gets a 5xx and must not retry.
    Permanent(String),
    /// Not now (storage unavailable): the sender gets a 4xx and retries later.
    Temporary(String),
}

/// The inbound endpoint behind an address, if it is one of ours.
pub async fn endpoint_of(store: &dyn Store, address: &str) -> Result<Option<(TenantId, ChannelEndpoint)>, ApiError> {
    let key = format!("email_address:{}", address.to_lowercase());
    match store.find_by_global_key(DocKind::Endpoint, &key).await? {
        Some((tenant, doc)) => Ok(Some((tenant, ChannelEndpoint::from_stored(&doc)?))),
        None => Ok(None),
    }
}

/// Takes one received message for every accepted recipient.
pub async fn deliver(state: &AppState, envelope: &Envelope) -> Result<(), Refusal> {
    let mail = mime::parse(&envelope.data).map_err(|e| Refusal::Permanent(e.to_string()))?;
    let store: &dyn Store = &*state.store;
    for rcpt in &envelope.recipients {
        let found = endpoint_of(store, rcpt).await.map_err(|e| Refusal::Temporary(e.to_string()))?;
        // Removed since RCPT was accepted: nobody to give it to.
        let Some((tenant, endpoint)) = found else { continue };
        let span = tracing::info_span!("email", %tenant, to = %rcpt);
        let taken = tracing::Instrument::instrument(into_conversation(state, tenant, &endpoint, rcpt, &mail), span);
        taken.await.map_err(|e| match e {
            ApiError::Conflict(m) => Refusal::Permanent(m),
            other => Refusal::Temporary(other.to_string()),
        })?;
    }
    Ok(())
}

/// Stores attachments in the object store; their records for the message.
pub async fn store_attachments(
    state: &AppState,
    tenant: TenantId,
    files: &[MailAttachment],
) -> Result<Vec<Attachment>, ApiError> {
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let a = Attachment {
            id: uuid::Uuid::now_v7().to_string(),
            name: f.name.clone(),
            content_type: f.content_type.clone(),
            size: f.bytes.len() as u64,
        };
        let path = object_store::path::Path::from(a.object_key(tenant));
        state
            .objects
            .put(&path, f.bytes.clone().into())
            .await
            .map_err(|e| ApiError::Unavailable(format!("object store: {e}")))?;
        out.push(a);
    }
    Ok(out)
}

/// Puts a received message into its conversation (a new contact when it starts one, or when the
/// conversation it answers is over), once: the same Message-ID again changes nothing.
pub async fn into_conversation(
    state: &AppState,
    tenant: TenantId,
    endpoint: &ChannelEndpoint,
    our_address: &str,
    mail: &InboundMail,
) -> Result<(Contact, ChannelMessage), ApiError> {
    let store: &dyn Store = &*state.store;
    if let Some(m) = store.message_by_provider_id(tenant, &mail.message_id).await?
        && let Some(c) = m.contact_id
        && let Some(contact) = store.contact(tenant, c).await?
    {
        return Ok((contact, m));
    }
    let mut answered: Option<Contact> = None;
    for id in mail.in_reply_to.iter().chain(mail.references.iter().rev()) {
        if let Some(m) = store.message_by_provider_id(tenant, id).await?
            && let Some(c) = m.contact_id
        {
            answered = store.contact(tenant, c).await?;
            if answered.is_some() {
                break;
            }
        }
    }
    let attachments = store_attachments(state, tenant, &mail.attachments).await?;
    let contact = match answered {
        Some(c) if !c.state.is_terminal() => c,
        previous => {
            let thread = previous
                .as_ref()
                .and_then(|p| p.thread_key.clone())
                .unwrap_or_else(|| format!("email:{}", mail.message_id));
            // An open contact of the thread: a follow-up already made for the finished conversation,
            // or the contact of an earlier attempt at this very message that failed before its
            // message was stored (the sender retried after our 4xx).
            match store.open_contact_by_thread(tenant, &thread).await? {
                Some(c) => c,
                None => {
                    let queue_id = endpoint
                        .queue_id
                        .ok_or(ApiError::Conflict("this address has no queue to deliver to".into()))?;
                    let queue = store.get::<Queue>(tenant, &queue_id.to_string()).await?.ok_or(ApiError::NotFound)?;
                    let mut c =
                        Contact::queued(Channel::Email, queue_id, queue.priority, Some(mail.from.clone()), now_ms());
                    c.attributes.insert("to".to_owned(), our_address.to_owned());
                    c.attributes.insert("subject".to_owned(), mail.subject.chars().take(200).collect());
                    if let Some(name) = &mail.from_name {
                        c.attributes.insert("name".to_owned(), name.chars().take(100).collect());
                    }
                    if let Some(p) = &previous {
                        c.attributes.insert("follows".to_owned(), p.id.to_string());
                    }
                    c.thread_key = Some(thread);
                    let text: String = mail.text.chars().take(4000).collect();
                    let arrival = crate::plugins::Arrival { address: Some(our_address.to_owned()), text: Some(text) };
                    state.plugins.admit(tenant, &mut c, &arrival).await;
                    state.routing.enqueue(tenant, &c).await?;
                    c
                }
            }
        }
    };
    let mut message = ChannelMessage::text(
        uuid::Uuid::now_v7().to_string(),
        Some(contact.id),
        Direction::Inbound,
        mail.message_id.clone(),
        mail.from.clone(),
        our_address.to_owned(),
        mail.text.clone(),
        "received",
        now_ms(),
    );
    message.subject = Some(mail.subject.clone());
    message.html = mail.html.clone();
    message.attachments = attachments;
    message.author = mail.from_name.clone();
    let (stored, _) = crate::conversation::append(state, tenant, &contact, &message).await?;
    tracing::info!(contact = %contact.id, message_id = %mail.message_id, "e-mail received");
    Ok((contact, stored))
}
