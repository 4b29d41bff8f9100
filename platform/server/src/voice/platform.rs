//! [`StorePlatform`]: the edge's `Platform` seam implemented over this process's store, routing,
//! bus and object store.

use std::collections::BTreeMap;
use std::str::FromStr;

use switchboard_domain::{
    Attachment, BusinessHours, Channel, ChannelEndpoint, ChannelMessage, Contact, ContactId, Direction, EndpointKind,
    IvrFlow, Queue, QueueId, TenantId, UsageKind, UsageRecord, UserId,
};
use switchboard_edge::{
    Admission, CallEnded, CallEvent, CallIntake, CallState, IvrAsk, IvrChoice, NumberRoute, Platform, PlatformError,
    QueuePosition, Recording, SipAccount, Voicemail,
};
use switchboard_store::{DocKind, Document};

use serde_json::json;

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

/// A recording's or voicemail's attachment: kept in the tenant's recordings folder, which
/// recording storage is metered from.
fn recording_attachment(name: String, size: usize) -> Attachment {
    Attachment {
        id: format!("{}{}", switchboard_domain::RECORDING_ID_PREFIX, uuid::Uuid::now_v7()),
        name,
        content_type: "audio/wav".into(),
        size: size as u64,
    }
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
    async fn number(&self, number: &str, _caller: &str) -> Result<Option<NumberRoute>, PlatformError> {
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
            redirect: None,
        }))
    }

    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>, PlatformError> {
        let key = switchboard_store::sip_account_key(username);
        let Some((tenant, doc)) =
            self.state.store.find_by_global_key(DocKind::SipAccount, &key).await.map_err(unavailable)?
        else {
            return Ok(None);
        };
        let account = switchboard_domain::SipAccount::from_stored(&doc).map_err(unavailable)?;
        // A disabled or deleted agent's phone no longer registers.
        let user = self.state.store.user(tenant, account.user_id).await.map_err(unavailable)?;
        if user.is_none_or(|u| u.status == switchboard_domain::UserStatus::Disabled) {
            return Ok(None);
        }
        Ok(Some(SipAccount {
            tenant_id: tenant.to_string(),
            user_id: account.user_id.to_string(),
            username: account.username,
            ha1_md5: account.ha1_md5,
            ha1_sha256: account.ha1_sha256,
        }))
    }

    async fn prompt(&self, tenant_id: &str, name: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        let tenant = tenant_of(tenant_id)?;
        let known: Option<switchboard_domain::Prompt> =
            self.state.store.get(tenant, name).await.map_err(unavailable)?;
        if known.is_none() {
            return Ok(None);
        }
        let path = object_store::path::Path::from(switchboard_domain::Prompt::object_key(tenant, name));
        match self.state.objects.get(&path).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(unavailable)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn enqueue(&self, call: &CallIntake) -> Result<Admission, PlatformError> {
        let tenant = tenant_of(&call.tenant_id)?;
        let thread = format!("call:{}", call.call_id);
        // A retried intake (the edge timed out but we got it) finds the contact it made.
        if let Some(c) = self.state.store.open_contact_by_thread(tenant, &thread).await.map_err(unavailable)? {
            return Ok(Admission::Queued(c.id.to_string()));
        }
        let queue = self.queue_for(tenant, call.queue_id.as_deref()).await?;
        let priority = (i32::from(queue.priority) + call.priority).clamp(0, 100) as u8;
        let mut contact = Contact::queued(Channel::Voice, queue.id, priority, Some(call.caller.clone()), now_ms());
        contact.attributes = call.attributes.clone();
        contact.attributes.insert("dialled".into(), call.dialled.clone());
        contact.attributes.insert("endpoint_id".into(), call.endpoint_id.clone());
        contact.thread_key = Some(thread);
        let arrival = crate::plugins::Arrival { address: Some(call.dialled.clone()), text: None };
        // A call can still go elsewhere: the caller is on the line, nothing is stored yet.
        match self.state.plugins.on_contact(tenant, &mut contact, &arrival).await {
            crate::plugins::Verdict::Route => {}
            crate::plugins::Verdict::Voicemail => return Ok(Admission::Voicemail),
            crate::plugins::Verdict::Reject(why) => return Ok(Admission::Refused(why)),
        }
        self.state.routing.enqueue(tenant, &contact).await.map_err(|e| PlatformError(format!("{e:?}")))?;
        tracing::info!(%tenant, contact = %contact.id, "call queued");
        Ok(Admission::Queued(contact.id.to_string()))
    }

    async fn ivr_step(&self, ask: &IvrAsk) -> Result<Option<IvrChoice>, PlatformError> {
        let tenant = tenant_of(&ask.tenant_id)?;
        let state = crate::plugins::ivr_state(ask);
        Ok(self
            .state
            .plugins
            .on_ivr(tenant, state)
            .await
            .map(|a| IvrChoice { branch: a.branch, attributes: a.attributes }))
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
        let attachment = recording_attachment("voicemail.wav".into(), voicemail.wav.len());
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

    async fn call_event(&self, event: CallEvent) -> Result<(), PlatformError> {
        let tenant = tenant_of(&event.tenant_id)?;
        let contact = ContactId::from_str(&event.contact_id).map_err(|_| PlatformError("bad contact id".into()))?;
        let agent = event.agent_id.as_deref().and_then(|a| UserId::from_str(a).ok());
        if let (CallState::AgentUnreachable(why), Some(agent)) = (&event.state, agent) {
            if let Some(c) = self.state.store.contact(tenant, contact).await.map_err(unavailable)? {
                super::control::agent_unreachable(&self.state, tenant, &c, agent, why).await;
            }
            return Ok(());
        }
        let reason = match &event.state {
            CallState::TransferredOut(to) => Some(format!("sent to {to}")),
            _ => None,
        };
        let body = json!({
            "type": "call",
            "state": event.state.as_str(),
            "contact_id": contact,
            "agent_id": agent,
            "reason": reason,
            "at": now_ms(),
        });
        super::control::publish_call_state(&self.state, tenant, agent, event.state.as_str(), body).await;
        Ok(())
    }

    async fn call_ended(&self, ended: CallEnded) -> Result<(), PlatformError> {
        let tenant = tenant_of(&ended.tenant_id)?;
        // Every started minute counts; the Call-ID makes a repeated report count once.
        let record = UsageRecord {
            source: format!("call:{}", ended.call_id),
            kind: UsageKind::VoiceMinutes,
            quantity: ended.duration_ms.div_ceil(60_000).max(1),
            at: now_ms(),
        };
        self.state.store.record_usage(tenant, &record).await.map_err(unavailable)?;
        Ok(())
    }

    async fn recording(&self, recording: Recording) -> Result<(), PlatformError> {
        let tenant = tenant_of(&recording.tenant_id)?;
        let id = ContactId::from_str(&recording.contact_id).map_err(|_| PlatformError("bad contact id".into()))?;
        let contact = self
            .state
            .store
            .contact(tenant, id)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| PlatformError(format!("contact {id} not found")))?;
        let attachment =
            recording_attachment(format!("recording-{}.wav", uuid::Uuid::now_v7().simple()), recording.wav.len());
        let path = object_store::path::Path::from(attachment.object_key(tenant));
        self.state.objects.put(&path, recording.wav.into()).await.map_err(unavailable)?;
        // Kept with the conversation as an internal note: the team sees it, the customer never.
        let mut message = ChannelMessage::text(
            uuid::Uuid::now_v7().to_string(),
            Some(contact.id),
            Direction::Internal,
            // The same file handed over again (the sweep after a failed announcement) is one
            // message, not two.
            format!("recording:{}:{}:{}", recording.call_id, contact.id, recording.duration_ms),
            "switchboard".into(),
            contact.customer.clone().unwrap_or_default(),
            format!("Call recording, {} seconds", recording.duration_ms.div_ceil(1000)),
            "received",
            now_ms(),
        );
        message.attachments = vec![attachment.clone()];
        crate::conversation::append(&self.state, tenant, &contact, &message)
            .await
            .map_err(|e| PlatformError(format!("{e:?}")))?;
        let body = json!({
            "contact_id": contact.id,
            "attachment_id": attachment.id,
            "download": format!("/api/v1/contacts/{}/attachments/{}", contact.id, attachment.id),
            "duration_ms": recording.duration_ms,
            "caller_sound_ms": recording.caller_sound_ms,
            "agent_sound_ms": recording.agent_sound_ms,
            "at": now_ms(),
        });
        super::control::publish_recording(&self.state, tenant, "saved", body).await?;
        tracing::info!(%tenant, contact = %contact.id, duration_ms = recording.duration_ms, "call recording kept");
        Ok(())
    }

    async fn recording_failed(&self, tenant_id: &str, contact_id: &str, reason: &str) -> Result<(), PlatformError> {
        let tenant = tenant_of(tenant_id)?;
        let contact = ContactId::from_str(contact_id).map_err(|_| PlatformError("bad contact id".into()))?;
        tracing::error!(%tenant, %contact, %reason, "call recording failed");
        let body = json!({"contact_id": contact, "reason": reason, "at": now_ms()});
        super::control::publish_recording(&self.state, tenant, "failed", body).await
    }
}
