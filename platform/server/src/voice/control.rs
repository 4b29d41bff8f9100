//! Call control: routing's decisions become edge commands (an agent accepted a call → ring their
//! phone and bridge; transferred → release the phone, the caller waits again; finished → hang
//! up), the agent's buttons (hold, resume, hang up, transfer to a number) come through the API,
//! and what the edge reports goes out on the bus for consoles and webhooks.

use std::str::FromStr;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::Value;
use switchboard_bus::{Message, Subscription};
use switchboard_domain::{Channel, Contact, ContactId, ContactState, Queue, Role, SipAccount, TenantId, UserId};
use switchboard_edge::{CallCommand, CommandError, PlatformError};

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::routing::{Command, Completion, agent_word, tenant_topic};

/// Announces a call's state: to the tenant (`tenant.<id>.call.<state>`) and to its agent's
/// console (`tenant.<id>.agent.<user>.call`).
pub async fn publish_call_state(state: &AppState, tenant: TenantId, agent: Option<UserId>, word: &str, body: Value) {
    let t = tenant_topic(tenant);
    let mut topics = vec![format!("{t}.call.{word}")];
    if let Some(agent) = agent {
        topics.push(format!("{t}.agent.{}.call", agent_word(agent)));
    }
    for topic in topics {
        if let Err(e) = state.bus.publish(Message::new(topic, body.to_string())).await {
            tracing::warn!(%tenant, error = %e, "call state not published");
        }
    }
}

/// Announces a recording (`tenant.<id>.recording.saved|failed`, which webhooks carry). An error
/// means the announcement may be lost, so the edge keeps its file.
pub async fn publish_recording(
    state: &AppState,
    tenant: TenantId,
    kind: &str,
    body: Value,
) -> Result<(), PlatformError> {
    let topic = format!("{}.recording.{kind}", tenant_topic(tenant));
    state.bus.publish(Message::new(topic, body.to_string())).await.map_err(|e| PlatformError(e.to_string()))
}

/// The SIP Call-ID of a voice contact.
fn call_id_of(contact: &Contact) -> Option<&str> {
    contact.thread_key.as_deref().and_then(|k| k.strip_prefix("call:"))
}

/// Follows routing's events for voice contacts and commands the edge.
pub async fn follow_routing(state: AppState) -> anyhow::Result<()> {
    let patterns = [
        "tenant.*.contact.connected",
        "tenant.*.contact.transferred",
        "tenant.*.contact.wrap_up",
        "tenant.*.contact.done",
    ];
    let mut events = state.bus.subscribe(Subscription::transient(&patterns)).await?;
    tokio::spawn(async move {
        while let Some(d) = events.next().await {
            let topic = d.message.topic.clone();
            let words: Vec<&str> = topic.split('.').collect();
            let body: Value = serde_json::from_slice(&d.message.payload).unwrap_or(Value::Null);
            let _ = d.ack().await;
            if body.get("channel").and_then(Value::as_str) != Some(Channel::Voice.as_str()) {
                continue;
            }
            let (Some(tenant), Some(kind)) = (words.get(1).and_then(|t| t.parse::<TenantId>().ok()), words.get(3))
            else {
                continue;
            };
            let Some(contact) = body.get("contact_id").and_then(Value::as_str).and_then(|c| c.parse().ok()) else {
                continue;
            };
            let state = state.clone();
            let kind = (*kind).to_owned();
            // Each decision on its own: a slow store look-up never holds up another call.
            tokio::spawn(async move {
                if let Err(e) = on_routing(&state, tenant, contact, &kind, &body).await {
                    tracing::warn!(%tenant, %contact, event = %kind, error = %e, "call not commanded");
                }
            });
        }
    });
    Ok(())
}

async fn on_routing(state: &AppState, tenant: TenantId, id: ContactId, kind: &str, body: &Value) -> anyhow::Result<()> {
    let edge = &state.voice.edges;
    if !edge.any() {
        return Ok(());
    }
    let Some(contact) = state.store.contact(tenant, id).await? else { return Ok(()) };
    let Some(call) = call_id_of(&contact) else { return Ok(()) };
    match kind {
        "connected" => {
            let Some(agent) = body.get("agent_id").and_then(Value::as_str).and_then(|a| UserId::from_str(a).ok())
            else {
                return Ok(());
            };
            let account: Option<SipAccount> = state.store.get(tenant, &agent.to_string()).await?;
            let Some(account) = account else {
                agent_unreachable(state, tenant, &contact, agent, "the agent has no SIP phone").await;
                return Ok(());
            };
            let queue: Option<Queue> = state.store.get(tenant, &contact.queue_id.to_string()).await?;
            let record = queue.is_some_and(|q| q.record_calls);
            let connect = CallCommand::Connect {
                contact_id: id.to_string(),
                agent_id: agent.to_string(),
                username: account.username,
                record,
            };
            match edge.command(call, connect).await {
                // On another edge (or already over): not ours to ring.
                Err(CommandError::NoSuchCall) => tracing::info!(%tenant, contact = %id, "call not on this edge"),
                // The edge holding it did not answer: the caller must not wait for a phone that
                // will never ring.
                Err(CommandError::Stopped) => {
                    agent_unreachable(state, tenant, &contact, agent, "the edge holding the call did not answer").await;
                }
                other => other?,
            }
        }
        // A transfer to a queue or a colleague: the caller waits (again) with music.
        "transferred" => ignore_gone(edge.command(call, CallCommand::Requeue).await)?,
        // The agent finished the contact while the call was up: end it.
        _ => ignore_gone(edge.command(call, CallCommand::Hangup).await)?,
    }
    Ok(())
}

/// Commands to calls that have moved on are not failures.
fn ignore_gone(result: Result<(), CommandError>) -> Result<(), CommandError> {
    match result {
        Err(CommandError::NoSuchCall | CommandError::NotNow(_)) => Ok(()),
        other => other,
    }
}

/// The agent's phone cannot take the call: the caller goes back in line (the agent is passed
/// over for a while, as after any transfer) and the console is told why.
pub async fn agent_unreachable(state: &AppState, tenant: TenantId, contact: &Contact, agent: UserId, why: &str) {
    let body = serde_json::json!({
        "type": "call", "state": "agent_unreachable", "contact_id": contact.id, "agent_id": agent,
        "reason": why, "at": crate::auth::now_ms(),
    });
    publish_call_state(state, tenant, Some(agent), "agent_unreachable", body).await;
    let to = switchboard_routing::TransferTarget::Queue(contact.queue_id);
    match state.routing.run(tenant, |r| Command::Transfer(contact.id, agent, to, r)).await {
        Ok(()) => tracing::info!(%tenant, contact = %contact.id, %agent, reason = %why, "caller back in the queue"),
        Err(e) => tracing::warn!(%tenant, contact = %contact.id, error = %e, "caller not put back in the queue"),
    }
}

/// The connected voice contact an agent's button is for (supervisors may act on any).
async fn connected_call(state: &AppState, p: &Principal, id: &str) -> Result<(Contact, String), ApiError> {
    let id: ContactId = id.parse().map_err(|_| ApiError::NotFound)?;
    let contact = state.store.contact(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    if !p.role.includes(Role::Supervisor) && contact.agent_id != p.user_id {
        return Err(ApiError::NotFound);
    }
    let call = call_id_of(&contact).ok_or(ApiError::Conflict("this contact is not a call".into()))?.to_owned();
    if contact.channel != Channel::Voice || contact.state != ContactState::Connected {
        return Err(ApiError::Conflict("the call is not connected to an agent".into()));
    }
    Ok((contact, call))
}

/// The broadcast kind asking other replicas to command a call on their edges.
pub const CALL_COMMAND_BROADCAST: &str = "call_command";

/// How long a button waits for the replicas to answer (each edge has its own 10 s limit).
const CALL_COMMAND_WAIT: std::time::Duration = std::time::Duration::from_secs(12);

/// This replica's answer to another's call command: the result from our edges, as JSON.
pub async fn answer_call_command(edges: &super::edges::Edges, question: Value) -> Value {
    let call = question["call_id"].as_str().unwrap_or_default().to_owned();
    let result = match serde_json::from_value::<CallCommand>(question["command"].clone()) {
        Ok(command) if edges.any() => edges.command(&call, command).await,
        Ok(_) => Err(CommandError::NoSuchCall),
        Err(e) => Err(CommandError::NotNow(format!("unknown command: {e}"))),
    };
    serde_json::to_value(result).unwrap_or(Value::Null)
}

/// Carries out `command` on the call, on this replica's edges or, in distributed mode, on the
/// edges linked to another replica.
pub async fn command_call(state: &AppState, call: &str, command: CallCommand) -> Result<(), CommandError> {
    let edges = &state.voice.edges;
    let here = if edges.any() { edges.command(call, command.clone()).await } else { Err(CommandError::NoSuchCall) };
    let Some(cluster) = state.routing.cluster() else { return here };
    if here != Err(CommandError::NoSuchCall) {
        return here;
    }
    let question = serde_json::json!({"call_id": call, "command": command});
    let parse = |v: &Value| serde_json::from_value::<Result<(), CommandError>>(v.clone()).ok();
    let answers = cluster
        .broadcast(&*state.bus, CALL_COMMAND_BROADCAST, question, CALL_COMMAND_WAIT, |v| {
            parse(v).is_some_and(|r| r != Err(CommandError::NoSuchCall))
        })
        .await;
    answers.iter().filter_map(parse).find(|r| *r != Err(CommandError::NoSuchCall)).unwrap_or(here)
}

async fn command(state: &AppState, call: &str, command: CallCommand) -> Result<(), ApiError> {
    if !state.voice.edges.any() && state.routing.cluster().is_none() {
        return Err(ApiError::Unavailable("no edge is running or linked".into()));
    }
    command_call(state, call, command).await.map_err(|e| match e {
        CommandError::NoSuchCall => ApiError::Conflict("the call has ended".into()),
        CommandError::NotNow(why) => ApiError::Conflict(why),
        CommandError::Stopped => ApiError::Unavailable("the edge holding the call is not answering".into()),
    })
}

/// A call button: the connected call of contact `id` gets `command`.
async fn button(state: &AppState, p: &Principal, id: &str, what: CallCommand) -> Result<StatusCode, ApiError> {
    let (_, call) = connected_call(state, p, id).await?;
    command(state, &call, what).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/agent/contacts/{id}/call/hold`: the caller hears music, the agent nothing.
pub async fn hold(s: State<AppState>, p: Extension<Principal>, id: Path<String>) -> Result<StatusCode, ApiError> {
    button(&s, &p, &id, CallCommand::Hold).await
}

/// `POST /api/v1/agent/contacts/{id}/call/resume`.
pub async fn resume(s: State<AppState>, p: Extension<Principal>, id: Path<String>) -> Result<StatusCode, ApiError> {
    button(&s, &p, &id, CallCommand::Resume).await
}

/// `POST /api/v1/agent/contacts/{id}/call/hangup`: ends the call; the contact stays connected
/// for the agent to finish (notes, disposition).
pub async fn hangup(s: State<AppState>, p: Extension<Principal>, id: Path<String>) -> Result<StatusCode, ApiError> {
    button(&s, &p, &id, CallCommand::Hangup).await
}

/// A blind transfer of a connected call to a number: the caller is sent there (REFER), the
/// agent's phone released, and the contact finished with a note of where it went.
pub async fn transfer_to_number(state: &AppState, p: &Principal, id: &str, number: &str) -> Result<(), ApiError> {
    let number = number
        .parse::<switchboard_domain::PhoneNumber>()
        .map_err(|e| ApiError::field("number", "invalid", e.to_string()))?;
    let (contact, call) = connected_call(state, p, id).await?;
    let agent = contact.agent_id.ok_or(ApiError::Conflict("the call is not connected to an agent".into()))?;
    command(state, &call, CallCommand::TransferToNumber { number: number.as_str().to_owned() }).await?;
    let done = Completion {
        contact: contact.id,
        agent,
        disposition: None,
        notes: Some(format!("Transferred to {}", number.as_str())),
        wrap_up_secs: None,
    };
    let finished = done.contact;
    state.routing.run(p.tenant_id, |r| Command::Complete(done, r)).await?;
    crate::plugins::effects::finished(state, p.tenant_id, finished);
    Ok(())
}
