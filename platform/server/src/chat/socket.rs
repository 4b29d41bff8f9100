//! The visitor's chat socket: `GET /chat/v1/ws?token=...` from an allowed origin. The first
//! frame is `resume` with the last sequence number the widget has shown; the server answers
//! `welcome`, then every message after that number in order, then live traffic. Messages always
//! come from the store (the bus only says "there is more"), so a reconnect never loses or repeats
//! one. The frames are documented in `docs/chat-protocol.md`.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use switchboard_bus::Subscription;
use switchboard_channels::chat::{self, ClientFrame, FrameError};
use switchboard_domain::{ChannelEndpoint, ContactId, TenantId};
use switchboard_store::Store;

use super::{TokenQuery, check_origin, live_contact, visitor, visitor_message};
use crate::app::AppState;
use crate::auth::VisitorClaims;
use crate::conversation;
use crate::error::ApiError;

/// Messages sent per store read while catching up.
const PAGE: u32 = 500;
/// Refused frames before the socket is closed.
const MAX_ERRORS: u32 = 20;

/// `GET /chat/v1/ws`.
pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TokenQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (claims, tenant, contact) = visitor(&state, &headers, q.token.as_deref())?;
    let store: &dyn Store = &*state.store;
    let endpoint = store.get::<ChannelEndpoint>(tenant, &claims.wid).await?.ok_or(ApiError::NotFound)?;
    check_origin(&endpoint, &headers)?;
    store.contact(tenant, contact).await?.ok_or(ApiError::NotFound)?;
    Ok(ws
        .max_message_size(chat::MAX_FRAME_BYTES * 2)
        .on_upgrade(move |socket| {
            let span = tracing::info_span!("chat", %tenant, %contact);
            tracing::Instrument::instrument(session(state, claims, tenant, contact, socket), span)
        })
        .into_response())
}

fn error_frame(code: &str, message: &str) -> String {
    json!({"type": "error", "code": code, "message": message}).to_string()
}

/// What the socket does after a frame.
enum Next {
    /// Send this answer.
    Answer(String),
    /// Nothing to send.
    Continue,
    /// The visitor ended the chat: close.
    Close,
}

struct Visitor {
    state: AppState,
    claims: VisitorClaims,
    tenant: TenantId,
    contact: ContactId,
    /// Highest sequence number sent to the widget.
    sent: u64,
}

impl Visitor {
    /// Sends every stored message after `sent`, in order.
    async fn catch_up(&mut self, socket: &mut WebSocket) -> Result<(), ()> {
        loop {
            let batch =
                self.state.store.messages_after(self.tenant, self.contact, self.sent, PAGE).await.map_err(|_| ())?;
            for m in &batch {
                // A supervisor's whisper to the agent is numbered in the conversation but never
                // leaves the tenant: the widget sees a gap in the numbers, not the text.
                if m.direction != switchboard_domain::Direction::Internal {
                    let frame = json!({"type": "message", "message": conversation::view(m)}).to_string();
                    socket.send(Frame::Text(frame.into())).await.map_err(|_| ())?;
                }
                self.sent = m.seq;
            }
            if batch.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    async fn announce(&self, kind: &str, body: Value) -> Result<(), ApiError> {
        let contact = self.state.store.contact(self.tenant, self.contact).await?.ok_or(ApiError::NotFound)?;
        conversation::announce(&self.state, self.tenant, &contact, kind, body).await;
        Ok(())
    }

    /// Handles one frame: what to do next.
    async fn frame(&mut self, frame: ClientFrame) -> Result<Next, ApiError> {
        match frame {
            ClientFrame::Resume { .. } => {
                Ok(Next::Answer(error_frame("invalid_frame", "resume only as the first frame")))
            }
            ClientFrame::Message { client_id, body } => {
                let body = chat::check_body(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
                let contact = live_contact(&self.state, self.tenant, self.contact).await?;
                let m = visitor_message(&self.claims, &contact, client_id.clone(), body);
                let (stored, _) = conversation::append(&self.state, self.tenant, &contact, &m).await?;
                Ok(Next::Answer(json!({"type": "ack", "client_id": client_id, "seq": stored.seq}).to_string()))
            }
            ClientFrame::Typing { active } => {
                self.announce("typing", json!({"from": "visitor", "active": active})).await?;
                Ok(Next::Continue)
            }
            ClientFrame::Read { seq } => {
                self.announce("read", json!({"from": "visitor", "seq": seq})).await?;
                Ok(Next::Continue)
            }
            ClientFrame::End => {
                self.announce("ended", json!({"from": "visitor"})).await?;
                Ok(Next::Close)
            }
            ClientFrame::Ping => Ok(Next::Answer(json!({"type": "pong"}).to_string())),
        }
    }
}

fn api_code(e: &ApiError) -> &'static str {
    match e {
        ApiError::Conflict(_) => "conflict",
        ApiError::NotFound => "not_found",
        ApiError::BadRequest(_) => "invalid_frame",
        ApiError::Unavailable(_) => "unavailable",
        _ => "internal",
    }
}

async fn session(state: AppState, claims: VisitorClaims, tenant: TenantId, contact: ContactId, mut socket: WebSocket) {
    // Subscribe before reading the backlog: nothing stored in between is missed.
    let topic = format!("{}.#", conversation::topic(tenant, contact));
    let mut events = match state.bus.subscribe(Subscription::transient(&[topic.as_str()])).await {
        Ok(s) => s,
        Err(_) => {
            let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1011, reason: "try again".into() }))).await;
            return;
        }
    };
    // The widget says where it is first.
    let first = tokio::time::timeout(Duration::from_secs(15), socket.recv()).await;
    let last_seq = match first {
        Ok(Some(Ok(Frame::Text(t)))) => match chat::parse(t.as_str()) {
            Ok(ClientFrame::Resume { last_seq }) => last_seq,
            Ok(_) | Err(_) => {
                let _ = socket
                    .send(Frame::Text(error_frame("invalid_frame", "the first frame must be resume").into()))
                    .await;
                let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1008, reason: "resume first".into() }))).await;
                return;
            }
        },
        _ => return,
    };
    let Ok(Some(c)) = state.store.contact(tenant, contact).await else { return };
    let mut v = Visitor { state: state.clone(), claims, tenant, contact, sent: last_seq };
    let welcome = json!({"type": "welcome", "conversation_id": contact, "state": c.state, "last_seq": last_seq});
    if socket.send(Frame::Text(welcome.to_string().into())).await.is_err() || v.catch_up(&mut socket).await.is_err() {
        return;
    }
    let mut errors = 0u32;
    let mut keepalive = tokio::time::interval(Duration::from_secs(20));
    loop {
        tokio::select! {
            frame = socket.recv() => {
                let answer = match frame {
                    Some(Ok(Frame::Text(t))) => match chat::parse(t.as_str()) {
                        Ok(f) => match v.frame(f).await {
                            Ok(Next::Answer(a)) => Some(a),
                            Ok(Next::Continue) => None,
                            Ok(Next::Close) => {
                                let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1000, reason: "chat ended".into() }))).await;
                                return;
                            }
                            Err(e) => {
                                errors += 1;
                                Some(error_frame(api_code(&e), &e.to_string()))
                            }
                        },
                        Err(e @ FrameError::TooLarge) | Err(e @ FrameError::Malformed(_)) | Err(e @ FrameError::Invalid { .. }) => {
                            errors += 1;
                            Some(error_frame(e.code(), &e.to_string()))
                        }
                    },
                    Some(Ok(Frame::Binary(_))) => {
                        let _ = socket.send(Frame::Text(error_frame("malformed_frame", "text frames only").into())).await;
                        let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1003, reason: "text frames only".into() }))).await;
                        return;
                    }
                    Some(Ok(Frame::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => None,
                };
                if let Some(a) = answer && socket.send(Frame::Text(a.into())).await.is_err() {
                    return;
                }
                if errors >= MAX_ERRORS {
                    let _ = socket.send(Frame::Close(Some(CloseFrame { code: 1008, reason: "too many bad frames".into() }))).await;
                    return;
                }
            }
            event = events.next() => {
                let Some(d) = event else { return };
                let payload: Value = serde_json::from_slice(&d.message.payload).unwrap_or(Value::Null);
                let _ = d.ack().await;
                let out = match payload["type"].as_str() {
                    Some("message") => {
                        if v.catch_up(&mut socket).await.is_err() {
                            return;
                        }
                        None
                    }
                    // The agent's typing, read receipts and goodbyes; the visitor's own are not echoed.
                    Some("typing" | "read" | "ended") if payload["from"] == "agent" => Some(payload.to_string()),
                    Some("contact") => Some(json!({"type": "state", "state": payload["state"], "event": payload["event"]}).to_string()),
                    _ => None,
                };
                if let Some(o) = out && socket.send(Frame::Text(o.into())).await.is_err() {
                    return;
                }
            }
            _ = keepalive.tick() => {
                if socket.send(Frame::Ping(Vec::new().into())).await.is_err() {
                    return;
                }
            }
        }
    }
}
