//! The control link, platform side: what a stand-alone edge (`switchboard edge`) reaches.
//! Every route needs the deployment's edge token (and answers 404 while links are off). Asks and
//! uploads are served by [`StorePlatform`], the same code the embedded edge calls directly, so a
//! linked edge behaves exactly as the one inside `switchboard`. The WebSocket registers the edge
//! with [`Edges`](super::edges::Edges) for as long as it heartbeats, and carries commands to it.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Json, body::Body};
use switchboard_control_link::{
    Answer, Ask, EDGE_HEADER, EdgeFrame, PlatformFrame, RecordingMeta, RouteWire, VERSION, VoicemailMeta, compatible,
};
use switchboard_edge::{NumberRoute, Platform, PlatformError, Recording, Voicemail};

use super::StorePlatform;
use crate::app::AppState;
use crate::error::ApiError;

/// Largest voicemail upload (the longest voicemail a flow may ask for is minutes of 8 kHz mono).
pub const MAX_VOICEMAIL_BYTES: usize = 64 * 1024 * 1024;
/// Largest recording upload (about four hours of stereo 8 kHz 16-bit).
pub const MAX_RECORDING_BYTES: usize = 512 * 1024 * 1024;

/// An edge that presented the deployment's edge token, by the name it gave (for logs). An
/// extractor of the request's head: it runs before any body is read, so nobody without the token
/// can make the server buffer an upload.
#[derive(Debug)]
pub struct Edge(String);

impl axum::extract::FromRequestParts<AppState> for Edge {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, ApiError> {
        let headers = &parts.headers;
        if !state.voice.links_enabled() {
            return Err(ApiError::NotFound);
        }
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized("the edge token is required"))?;
        if !state.voice.edge_token_matches(presented) {
            return Err(ApiError::Unauthorized("wrong edge token"));
        }
        let edge = headers.get(EDGE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("unnamed");
        Ok(Edge(edge.chars().take(100).collect()))
    }
}

fn platform(state: &AppState) -> StorePlatform {
    StorePlatform::new(state.clone(), state.voice.max_calls_per_tenant)
}

/// A platform failure as the edge sees it: 503, so it retries or falls back.
fn failed(edge: &str, what: &str) -> impl FnOnce(PlatformError) -> ApiError {
    let (edge, what) = (edge.to_owned(), what.to_owned());
    move |e| {
        tracing::warn!(%edge, ask = %what, error = %e, "edge ask failed");
        ApiError::Unavailable(e.0)
    }
}

fn to_wire(route: NumberRoute) -> Result<RouteWire, PlatformError> {
    let flow = route.flow.map(|f| serde_json::to_value(&f)).transpose().map_err(|e| PlatformError(e.to_string()))?;
    Ok(RouteWire {
        tenant_id: route.tenant_id,
        endpoint_id: route.endpoint_id,
        queue_id: route.queue_id,
        flow,
        hours: route.hours,
        max_concurrent_calls: route.max_concurrent_calls,
        unavailable: route.unavailable,
        redirect: route.redirect,
    })
}

/// `POST /api/v1/edge/ask`: an edge's question, answered from the store and routing.
pub async fn ask(State(state): State<AppState>, Edge(edge): Edge, body: Bytes) -> Result<Json<Answer>, ApiError> {
    let ask: Ask = serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("unreadable ask: {e}")))?;
    let p = platform(&state);
    let fail = failed(&edge, ask.name());
    let answer = match ask {
        Ask::Number { number, caller } => match p.number(&number, &caller).await {
            Ok(Some(mut route)) => {
                route.redirect = super::registry::redirect(&state, &edge, &number, &caller).await;
                to_wire(route).map(|r| Answer::Route(Some(r)))
            }
            Ok(None) => Ok(Answer::Route(None)),
            Err(e) => Err(e),
        },
        Ask::SipAccount { username } => p.sip_account(&username).await.map(Answer::SipAccount),
        Ask::Enqueue { mut call } => {
            // Which edge holds the call: if that edge dies, the call's contact is ended.
            call.attributes.insert(super::registry::EDGE_ATTRIBUTE.into(), edge.clone());
            p.enqueue(&call).await.map(Answer::Admission)
        }
        Ask::IvrStep { ask } => p.ivr_step(&ask).await.map(Answer::IvrChoice),
        Ask::Position { tenant_id, contact_id } => p.position(&tenant_id, &contact_id).await.map(Answer::Position),
        Ask::Abandoned { tenant_id, contact_id } => p.abandoned(&tenant_id, &contact_id).await.map(|()| Answer::Done),
        Ask::CallEvent { event } => p.call_event(event).await.map(|()| Answer::Done),
        Ask::CallEnded { ended } => p.call_ended(ended).await.map(|()| Answer::Done),
        Ask::RecordingFailed { tenant_id, contact_id, reason } => {
            p.recording_failed(&tenant_id, &contact_id, &reason).await.map(|()| Answer::Done)
        }
    };
    answer.map(Json).map_err(fail)
}

/// The `meta` query parameter of an upload.
#[derive(Debug, serde::Deserialize)]
pub struct Meta {
    meta: String,
}

fn meta<T: serde::de::DeserializeOwned>(q: &Meta) -> Result<T, ApiError> {
    serde_json::from_str(&q.meta).map_err(|e| ApiError::BadRequest(format!("unreadable meta: {e}")))
}

/// `POST /api/v1/edge/voicemails?meta=`: a voicemail's WAV; it becomes a contact.
pub async fn voicemail(
    State(state): State<AppState>,
    Edge(edge): Edge,
    q: Query<Meta>,
    body: Bytes,
) -> Result<Json<Answer>, ApiError> {
    let m: VoicemailMeta = meta(&q)?;
    let vm = Voicemail { call: m.call, wav: Vec::from(body), duration_ms: m.duration_ms };
    platform(&state).voicemail(vm).await.map(|id| Json(Answer::Contact(id))).map_err(failed(&edge, "voicemail"))
}

/// `POST /api/v1/edge/recordings?meta=`: a finished recording's WAV, stored with its contact.
pub async fn recording(
    State(state): State<AppState>,
    Edge(edge): Edge,
    q: Query<Meta>,
    body: Bytes,
) -> Result<Json<Answer>, ApiError> {
    let m: RecordingMeta = meta(&q)?;
    let recording = Recording {
        tenant_id: m.tenant_id,
        contact_id: m.contact_id,
        call_id: m.call_id,
        wav: Vec::from(body),
        duration_ms: m.duration_ms,
        caller_sound_ms: m.caller_sound_ms,
        agent_sound_ms: m.agent_sound_ms,
    };
    platform(&state).recording(recording).await.map(|()| Json(Answer::Done)).map_err(failed(&edge, "recording"))
}

/// Which prompt an edge wants.
#[derive(Debug, serde::Deserialize)]
pub struct PromptQuery {
    tenant_id: String,
    name: String,
}

/// `GET /api/v1/edge/prompts?tenant_id=&name=`: a tenant's prompt as WAV.
pub async fn prompt(
    State(state): State<AppState>,
    Edge(edge): Edge,
    Query(q): Query<PromptQuery>,
) -> Result<Response, ApiError> {
    match platform(&state).prompt(&q.tenant_id, &q.name).await.map_err(failed(&edge, "prompt"))? {
        Some(wav) => Ok(([(header::CONTENT_TYPE, "audio/wav")], Body::from(wav)).into_response()),
        None => Err(ApiError::NotFound),
    }
}

/// `GET /api/v1/edge/link`: the edge's WebSocket.
pub async fn socket(State(state): State<AppState>, _edge: Edge, ws: WebSocketUpgrade) -> Result<Response, ApiError> {
    Ok(ws
        .max_message_size(switchboard_control_link::MAX_FRAME_BYTES)
        .on_upgrade(move |s| session(state, s))
        .into_response())
}

/// Sends a frame; an edge that takes none for 10 s is as good as gone.
async fn send(socket: &mut WebSocket, frame: &PlatformFrame) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(10), socket.send(Frame::Text(frame.encode().into()))).await,
        Ok(Ok(()))
    )
}

/// One edge's link, from hello until it closes or goes silent.
async fn session(state: AppState, mut socket: WebSocket) {
    let hello = match tokio::time::timeout(Duration::from_secs(10), socket.recv()).await {
        Ok(Some(Ok(Frame::Text(text)))) => match EdgeFrame::decode(&text) {
            Ok(EdgeFrame::Hello(hello)) => hello,
            Ok(_) | Err(_) => {
                let _ = send(&mut socket, &PlatformFrame::Refused { reason: "say hello first".into() }).await;
                return;
            }
        },
        _ => return,
    };
    let refusal = if !compatible(hello.version) {
        Some(format!("this platform speaks control-link version {VERSION}, not {}", hello.version))
    } else if hello.edge_id.trim().is_empty() || hello.edge_id.len() > 100 || hello.region.trim().is_empty() {
        Some("an edge needs a name (at most 100 characters) and a region".to_owned())
    } else {
        None
    };
    if let Some(reason) = refusal {
        tracing::warn!(edge = %hello.edge_id, %reason, "edge link refused");
        let _ = send(&mut socket, &PlatformFrame::Refused { reason }).await;
        return;
    }
    let heartbeat = state.voice.heartbeat;
    let edges = state.voice.edges.clone();
    let (region, capacity, sip) = (hello.region.clone(), hello.capacity, hello.sip.clone());
    let record = |active_calls: u32, registered: Vec<String>| switchboard_store::EdgeRecord {
        edge_id: hello.edge_id.clone(),
        region: hello.region.clone(),
        capacity: hello.capacity,
        sip: hello.sip.clone(),
        active_calls,
        registered,
        replica: super::registry::replica_name(&state),
    };
    super::registry::heard(&state, record(0, Vec::new()));
    let mut link = edges.link(hello.clone());
    let edge = link.edge_id.clone();
    tracing::info!(%edge, %region, capacity, %sip, "edge linked");
    state.metrics.edge_links.inc();
    let welcome = PlatformFrame::Welcome { version: VERSION, heartbeat_ms: heartbeat.as_millis() as u64 };
    if send(&mut socket, &welcome).await {
        // Checked five times a beat, so a silent edge goes within a little over three beats.
        let mut watchdog = tokio::time::interval(heartbeat / 5);
        let mut last_heard = Instant::now();
        let why = loop {
            tokio::select! {
                frame = link.frames.recv() => match frame {
                    Some(frame) => if !send(&mut socket, &frame).await { break "the socket failed" },
                    None => break "replaced by a newer link",
                },
                message = socket.recv() => match message {
                    Some(Ok(Frame::Text(text))) => {
                        last_heard = Instant::now();
                        match EdgeFrame::decode(&text) {
                            Ok(EdgeFrame::Heartbeat(beat)) => {
                                super::registry::heard(&state, record(beat.active_calls, beat.registered.clone()));
                                edges.heard(&edge, link.session, beat);
                            }
                            Ok(EdgeFrame::CommandDone { id, result }) => edges.done(link.session, id, result),
                            Ok(EdgeFrame::Hello(_)) => tracing::warn!(%edge, "a second hello ignored"),
                            Err(e) => tracing::warn!(%edge, error = %e, "ignoring an unreadable frame from an edge"),
                        }
                    }
                    Some(Ok(Frame::Close(_))) | None => break "the edge closed the link",
                    Some(Err(_)) => break "the socket failed",
                    Some(Ok(_)) => last_heard = Instant::now(),
                },
                _ = watchdog.tick() => {
                    if last_heard.elapsed() > heartbeat * 3 {
                        break "the edge went silent";
                    }
                    if !edges.is_current(&edge, link.session) {
                        break "replaced by a newer link";
                    }
                }
            }
        };
        tracing::warn!(%edge, reason = why, "edge link ended");
    }
    edges.unlink(&edge, link.session);
    state.metrics.edge_links.dec();
    let _ = socket.send(Frame::Close(None)).await;
}
