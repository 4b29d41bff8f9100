//! Voice in the embedded default: the edge runs inside `switchboard` and reaches tenants,
//! queues and contacts through [`StorePlatform`], the edge's `Platform` seam implemented over
//! this process's store, routing and object store. (A stand-alone edge reaches the same
//! behaviour through the control link.)

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use switchboard_domain::{
    Attachment, BusinessHours, Channel, ChannelEndpoint, ChannelMessage, Contact, ContactId, Direction, EndpointKind,
    IvrFlow, Queue, QueueId, TenantId,
};
use switchboard_edge::{CallIntake, NumberRoute, Platform, PlatformError, QueuePosition, SipAccount, Voicemail};
use switchboard_store::{DocKind, Document};

use crate::app::AppState;
use crate::routing::Command;

/// The edge's view of this process.
pub struct StorePlatform {
    state: AppState,
    max_calls_per_tenant: u32,
}

impl std::fmt::Debug for StorePlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePlatform").finish_non_exhaustive()
    }
}

impl StorePlatform {
    /// Over the application's state.
    pub fn new(state: AppState, max_calls_per_tenant: u32) -> Self {
        StorePlatform { state, max_calls_per_tenant }
    }
}

fn unavailable(e: impl std::fmt::Display) -> PlatformError {
    PlatformError(e.to_string())
}

fn tenant_of(id: &str) -> Result<TenantId, PlatformError> {
    TenantId::from_str(id).map_err(|_| PlatformError(format!("bad tenant id {id}")))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl StorePlatform {
    async fn queue_for(&self, tenant: TenantId, id: Option<&str>) -> Result<Queue, PlatformError> {
        let id = id.ok_or_else(|| PlatformError("the call has no queue".into()))?;
        let queue_id = QueueId::from_str(id).map_err(|_| PlatformError(format!("bad queue id {id}")))?;
        self.state
            .store
            .get::<Queue>(tenant, &queue_id.to_string())
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PlatformError(format!("queue {id} no longer exists")))
    }
}

#[async_trait::async_trait]
impl Platform for StorePlatform {
    async fn number(&self, number: &str) -> Result<Option<NumberRoute>, PlatformError> {
        let key = format!("{}:{number}", EndpointKind::VoiceNumber.as_str());
        let Some((tenant, doc)) =
            self.state.store.find_by_global_key(DocKind::Endpoint, &key).await.map_err(unavailable)?
        else {
            return Ok(None);
        };
        let endpoint = ChannelEndpoint::from_stored(&doc).map_err(unavailable)?;
        let flow = match endpoint.ivr_flow_id {
            Some(id) => {
                let doc: Option<IvrFlow> = self.state.store.get(tenant, &id.to_string()).await.map_err(unavailable)?;
                match doc.map(|d| switchboard_ivr::Flow::from_json(&d.definition)) {
                    Some(Ok(flow)) => Some(flow),
                    Some(Err(e)) => return Err(PlatformError(format!("stored flow {id} unreadable: {e}"))),
                    None => None,
                }
            }
            None => None,
        };
        let hours: Vec<BusinessHours> = self.state.store.all(tenant).await.map_err(unavailable)?;
        // A suspended tenant's callers are turned away the way carriers understand (480).
        let serves =
            crate::billing::standing(&self.state, tenant).await.map_err(|e| PlatformError(format!("{e:?}")))?.serves();
        Ok(Some(NumberRoute {
            tenant_id: tenant.to_string(),
            endpoint_id: endpoint.id.to_string(),
            queue_id: endpoint.queue_id.map(|q| q.to_string()),
            flow,
            hours: hours.into_iter().map(|h| (h.id.to_string(), h)).collect::<BTreeMap<_, _>>(),
            max_concurrent_calls: self.max_calls_per_tenant,
            unavailable: (!serves).then(|| "Service suspended".to_owned()),
        }))
    }

    async fn sip_account(&self, _username: &str) -> Result<Option<SipAccount>, PlatformError> {
        // Agents' SIP credentials come with phones as agent devices (not yet in the platform).
        Ok(None)
    }

    async fn prompt(&self, _tenant: &str, _name: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        // Flows may name system prompts only until prompt upload lands (refused on save).
        Ok(None)
    }

    async fn enqueue(&self, call: &CallIntake) -> Result<String, PlatformError> {
        let tenant = tenant_of(&call.tenant_id)?;
        let thread = format!("call:{}", call.call_id);
        // A retried intake (the edge timed out but we got it) finds the contact it made.
        if let Some(c) = self.state.store.open_contact_by_thread(tenant, &thread).await.map_err(unavailable)? {
            return Ok(c.id.to_string());
        }
        let queue = self.queue_for(tenant, call.queue_id.as_deref()).await?;
        let priority = (i32::from(queue.priority) + call.priority).clamp(0, 100) as u8;
        let mut contact = Contact::queued(Channel::Voice, queue.id, priority, Some(call.caller.clone()), now_ms());
        contact.attributes = call.attributes.clone();
        contact.attributes.insert("dialled".into(), call.dialled.clone());
        contact.attributes.insert("endpoint_id".into(), call.endpoint_id.clone());
        contact.thread_key = Some(thread);
        self.state.routing.enqueue(tenant, &contact).await.map_err(|e| PlatformError(format!("{e:?}")))?;
        tracing::info!(%tenant, contact = %contact.id, "call queued");
        Ok(contact.id.to_string())
    }

    async fn position(&self, tenant_id: &str, contact_id: &str) -> Result<Option<QueuePosition>, PlatformError> {
        let tenant = tenant_of(tenant_id)?;
        let contact = ContactId::from_str(contact_id).map_err(|_| PlatformError("bad contact id".into()))?;
        let position = self.state.routing.position(tenant, contact).await.map_err(unavailable)?;
        Ok(position.map(|(position, estimated_wait_secs)| QueuePosition { position, estimated_wait_secs }))
    }

    async fn abandoned(&self, tenant_id: &str, contact_id: &str) -> Result<(), PlatformError> {
        let tenant = tenant_of(tenant_id)?;
        let contact = ContactId::from_str(contact_id).map_err(|_| PlatformError("bad contact id".into()))?;
        match self.state.routing.run(tenant, |r| Command::Cancel(contact, r)).await {
            Ok(()) => Ok(()),
            // Already offered, connected or finished: nothing to cancel here.
            Err(crate::routing::ShardError::Routing(e)) => {
                tracing::info!(%tenant, %contact, reason = %e, "caller left a contact that was no longer waiting");
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn voicemail(&self, voicemail: Voicemail) -> Result<String, PlatformError> {
        let call = &voicemail.call;
        let tenant = tenant_of(&call.tenant_id)?;
        let thread = format!("voicemail:{}", call.call_id);
        if let Some(c) = self.state.store.open_contact_by_thread(tenant, &thread).await.map_err(unavailable)? {
            return Ok(c.id.to_string());
        }
        let queue = self.queue_for(tenant, call.queue_id.as_deref()).await?;
        // The audio first: a contact never points at a file that is not there.
        let attachment = Attachment {
            id: uuid::Uuid::now_v7().to_string(),
            name: "voicemail.wav".into(),
            content_type: "audio/wav".into(),
            size: voicemail.wav.len() as u64,
        };
        let path = object_store::path::Path::from(attachment.object_key(tenant));
        self.state.objects.put(&path, voicemail.wav.clone().into()).await.map_err(unavailable)?;
        let mut contact = Contact::queued(Channel::Task, queue.id, queue.priority, Some(call.caller.clone()), now_ms());
        contact.attributes = call.attributes.clone();
        contact.attributes.insert("kind".into(), "voicemail".into());
        contact.attributes.insert("subject".into(), format!("Voicemail from {}", call.caller));
        contact.attributes.insert("duration_ms".into(), voicemail.duration_ms.to_string());
        contact.thread_key = Some(thread);
        // Stored, then the recording attached, then offered: no agent sees it without its audio.
        self.state.routing.store_new(tenant, &contact).await.map_err(|e| PlatformError(format!("{e:?}")))?;
        let mut message = ChannelMessage::text(
            uuid::Uuid::now_v7().to_string(),
            Some(contact.id),
            Direction::Inbound,
            format!("voicemail:{}", call.call_id),
            call.caller.clone(),
            call.dialled.clone(),
            format!("Voicemail, {} seconds", voicemail.duration_ms.div_ceil(1000)),
            "received",
            now_ms(),
        );
        message.attachments = vec![attachment];
        crate::conversation::append(&self.state, tenant, &contact, &message)
            .await
            .map_err(|e| PlatformError(format!("{e:?}")))?;
        self.state.routing.announce(tenant, &contact).await;
        tracing::info!(%tenant, contact = %contact.id, duration_ms = voicemail.duration_ms, "voicemail kept");
        Ok(contact.id.to_string())
    }
}

/// Starts the edge inside this process when `sip_addr` is set.
pub async fn start(
    state: &AppState,
    config: &crate::config::Config,
) -> anyhow::Result<Option<switchboard_edge::EdgeHandle>> {
    let Some(addr) = config.sip_addr else { return Ok(None) };
    let mut edge = switchboard_edge::EdgeConfig::new(addr, &config.sip_realm);
    if let Some(ip) = config.sip_public_ip {
        edge.public_ip = ip;
    }
    edge.rtp_ports = (config.rtp_port_min, config.rtp_port_max);
    let platform = Arc::new(StorePlatform::new(state.clone(), config.voice_max_calls_per_tenant));
    let handle = switchboard_edge::start(edge, platform)
        .await
        .map_err(|e| anyhow::anyhow!("starting the SIP edge on {addr}: {e}"))?;
    Ok(Some(handle))
}
