//! Console WebSockets: live offers, contact updates and statistics pushed from the bus; agent
//! commands (presence, accept, reject, complete) answered on the same socket.
//!
//! Protocol (JSON text frames). Server to client: `{"type":"hello",...}` first, then events as
//! published by the routing shard (`contact`, `agent`, `queue_stats`), and `{"type":"ack","ref":..}`
//! or `{"type":"error","ref":..,"error":{code,message}}` for commands. Client to server:
//! `{"type":"presence","status":"available"}`, `{"type":"accept","contact_id":".."}`,
//! `{"type":"reject",..}`, `{"type":"complete","contact_id":"..","disposition":..,"notes":..}`,
//! `{"type":"responded","contact_id":".."}`, each with an optional `"ref"` echoed in the answer.
//! Closing the last console socket of an agent sets them offline.

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use switchboard_api_types as wire;
use switchboard_bus::Subscription;
use switchboard_domain::{ContactId, Presence, UserId};

use super::agent::{completion_of, presence_of};
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::routing::{Command, agent_word, tenant_topic};

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientCommand {
    Presence {
        status: wire::PresenceStatus,
        #[serde(default)]
        reason: Option<String>,
    },
    Accept {
        contact_id: String,
    },
    Reject {
        contact_id: String,
    },
    Complete {
        contact_id: String,
        #[serde(flatten)]
        input: wire::CompleteInput,
    },
    Responded {
        contact_id: String,
    },
    /// A reply in a text conversation (SMS, chat, e-mail).
    Send {
        contact_id: String,
        body: String,
        #[serde(default)]
        html: Option<String>,
        #[serde(default)]
        attachment_ids: Vec<String>,
    },
    /// Hand the contact to a queue or a colleague.
    Transfer {
        contact_id: String,
        #[serde(flatten)]
        to: wire::TransferInput,
    },
    /// The agent is typing (chat).
    Typing {
        contact_id: String,
        active: bool,
    },
    /// The agent has read the conversation up to `seq`.
    Read {
        contact_id: String,
        seq: u64,
    },
}

/// `GET /api/v1/agent/ws`: the agent console socket.
pub async fn agent(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let agent = p.user_id.ok_or(ApiError::Forbidden("API keys are not agents; log in as a user"))?;
    let t = tenant_topic(p.tenant_id);
    let topics = vec![format!("{t}.agent.{}.#", agent_word(agent)), format!("{t}.stats.#")];
    Ok(ws.on_upgrade(move |socket| session(state, p, agent, topics, true, socket)).into_response())
}

/// `GET /api/v1/supervisor/ws`: every event of the tenant, live.
pub async fn supervisor(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let user = p.user_id.ok_or(ApiError::Forbidden("log in as a user"))?;
    let topics = vec![format!("{}.#", tenant_topic(p.tenant_id))];
    Ok(ws.on_upgrade(move |socket| session(state, p, user, topics, false, socket)).into_response())
}

fn error_frame(reference: &serde_json::Value, e: &ApiError) -> String {
    json!({"type": "error", "ref": reference, "error": {"message": e.to_string(), "code": code_of(e)}}).to_string()
}

fn code_of(e: &ApiError) -> &'static str {
    match e {
        ApiError::BadRequest(_) => "bad_request",
        ApiError::Validation(_) => "validation_failed",
        ApiError::NotFound => "not_found",
        ApiError::Conflict(_) => "conflict",
        ApiError::Forbidden(_) => "forbidden",
        ApiError::Unavailable(_) => "unavailable",
        _ => "internal",
    }
}

async fn handle(
    state: &AppState,
    p: &Principal,
    agent: UserId,
    text: &str,
) -> (serde_json::Value, Result<(), ApiError>) {
    let raw: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return (serde_json::Value::Null, Err(ApiError::BadRequest(format!("malformed JSON: {e}")))),
    };
    let reference = raw.get("ref").cloned().unwrap_or(serde_json::Value::Null);
    let mut raw = raw;
    if let Some(o) = raw.as_object_mut() {
        o.remove("ref");
    }
    let cmd: ClientCommand = match serde_json::from_value(raw) {
        Ok(c) => c,
        Err(e) => return (reference, Err(ApiError::BadRequest(format!("unknown command: {e}")))),
    };
    let id = |s: &str| s.parse::<ContactId>().map_err(|_| ApiError::NotFound);
    let t = p.tenant_id;
    let result = async {
        match cmd {
            ClientCommand::Presence { status, reason } => {
                let presence = presence_of(&wire::PresenceInput { status, reason })?;
                if presence == switchboard_domain::Presence::Available {
                    crate::billing::require_service(state, t).await?;
                }
                Ok(state.routing.run(t, |r| Command::Presence(agent, presence, r)).await?)
            }
            ClientCommand::Accept { contact_id } => {
                let c = id(&contact_id)?;
                Ok(state.routing.run(t, |r| Command::Accept(c, agent, r)).await?)
            }
            ClientCommand::Reject { contact_id } => {
                let c = id(&contact_id)?;
                Ok(state.routing.run(t, |r| Command::Reject(c, agent, r)).await?)
            }
            ClientCommand::Complete { contact_id, input } => {
                let done = completion_of(state, t, id(&contact_id)?, agent, input).await?;
                let contact = done.contact;
                state.routing.run(t, |r| Command::Complete(done, r)).await?;
                crate::plugins::effects::finished(state, t, contact);
                Ok(())
            }
            ClientCommand::Responded { contact_id } => {
                let c = id(&contact_id)?;
                Ok(state.routing.run(t, |r| Command::Responded(c, r)).await?)
            }
            ClientCommand::Send { contact_id, body, html, attachment_ids } => {
                let input = wire::MessageInput { body, html, attachment_ids };
                crate::conversation::send_reply(state, p, id(&contact_id)?, &input).await.map(|_| ())
            }
            ClientCommand::Transfer { contact_id, to } => {
                if let Some(number) = &to.number {
                    return crate::voice::control::transfer_to_number(state, p, &contact_id, number).await;
                }
                let c = id(&contact_id)?;
                let to = super::agent::transfer_target(state, p, &to).await?;
                Ok(state.routing.run(t, |r| Command::Transfer(c, agent, to, r)).await?)
            }
            ClientCommand::Typing { contact_id, active } => {
                let contact = crate::conversation::writable(state, p, id(&contact_id)?).await?;
                let body = json!({"from": "agent", "active": active});
                crate::conversation::announce(state, t, &contact, "typing", body).await;
                Ok(())
            }
            ClientCommand::Read { contact_id, seq } => {
                let contact = crate::conversation::writable(state, p, id(&contact_id)?).await?;
                crate::conversation::announce(state, t, &contact, "read", json!({"from": "agent", "seq": seq})).await;
                Ok(())
            }
        }
    }
    .await;
    (reference, result)
}

async fn session(
    state: AppState,
    p: Principal,
    agent: UserId,
    topics: Vec<String>,
    is_agent: bool,
    mut socket: WebSocket,
) {
    let patterns: Vec<&str> = topics.iter().map(String::as_str).collect();
    let mut events = match state.bus.subscribe(Subscription::transient(&patterns)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "console socket without events");
            let _ =
                socket.send(Frame::Close(Some(CloseFrame { code: 1011, reason: "events unavailable".into() }))).await;
            return;
        }
    };
    if is_agent {
        state.routing.socket_opened(p.tenant_id, agent);
    }
    let queues = state.routing.stats(p.tenant_id).await.unwrap_or_default();
    let me = state.routing.agents(p.tenant_id).await.unwrap_or_default().into_iter().find(|a| a.agent_id == agent);
    let hello = json!({
        "type": "hello",
        "agent_id": agent,
        "agent": me.as_ref().map(super::stats::agent_view),
        "queues": queues.iter().map(|(q, s)| super::stats::queue_view(*q, s)).collect::<Vec<_>>(),
    });
    let mut open = socket.send(Frame::Text(hello.to_string().into())).await.is_ok();
    let mut keepalive = tokio::time::interval(Duration::from_secs(20));
    while open {
        tokio::select! {
            frame = socket.recv() => match frame {
                Some(Ok(Frame::Text(text))) => {
                    let (reference, result) = handle(&state, &p, agent, text.as_str()).await;
                    let answer = match result {
                        Ok(()) => json!({"type": "ack", "ref": reference}).to_string(),
                        Err(e) => error_frame(&reference, &e),
                    };
                    open = socket.send(Frame::Text(answer.into())).await.is_ok();
                }
                Some(Ok(Frame::Binary(_))) => {
                    let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1003, reason: "text frames only".into() }))).await;
                    open = false;
                }
                Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => open = false,
                Some(Ok(_)) => {}
            },
            delivery = events.next() => match delivery {
                Some(d) => {
                    let text = String::from_utf8_lossy(&d.message.payload).into_owned();
                    let _ = d.ack().await;
                    open = socket.send(Frame::Text(text.into())).await.is_ok();
                }
                None => open = false,
            },
            _ = keepalive.tick() => {
                open = socket.send(Frame::Ping(Vec::new().into())).await.is_ok();
            }
        }
    }
    // An agent with a console still open (here, or on another replica) stays as they are.
    if is_agent && state.routing.last_socket_closed(p.tenant_id, agent).await {
        let _ = state.routing.run(p.tenant_id, |r| Command::Presence(agent, Presence::Offline, r)).await;
    }
}
