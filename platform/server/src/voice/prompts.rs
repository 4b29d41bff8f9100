//! Tenants' IVR prompts: WAV files of any rate and format, converted on upload to the 8 kHz mono
//! the edge plays (so a bad file is refused here with a reason, never found out mid-call), kept
//! in the object store with a `Prompt` document that flows are checked against.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{IvrFlow, Prompt, TenantId};

use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// Largest upload (a 10-minute 48 kHz stereo 16-bit WAV is about 110 MB; prompts are short).
pub const MAX_PROMPT_BYTES: usize = 20 * 1024 * 1024;

/// `?name=` of an upload.
#[derive(Debug, serde::Deserialize)]
pub struct NameQuery {
    /// The prompt's name.
    pub name: String,
}

fn view(p: &Prompt) -> wire::PromptView {
    wire::PromptView { name: p.name.clone(), duration_ms: p.duration_ms, size: p.size, updated_at: p.updated_at }
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(ApiError::field("name", "invalid", "1 to 64 of a-z, 0-9, '_' and '-'")) }
}

/// Converts, stores the audio, then the document (a document never names missing audio).
async fn save(state: &AppState, tenant: TenantId, name: &str, body: &[u8], existed: bool) -> Result<Prompt, ApiError> {
    let clip =
        switchboard_media::audio::load_wav(body).map_err(|e| ApiError::field("body", "invalid", e.to_string()))?;
    let wav = switchboard_media::audio::wav_bytes(&clip).map_err(|e| ApiError::Internal(e.to_string()))?;
    let prompt = Prompt {
        name: name.to_owned(),
        duration_ms: clip.len() as u64 * 1000 / u64::from(switchboard_media::SAMPLE_RATE),
        size: wav.len() as u64,
        updated_at: crate::auth::now_ms(),
    };
    let path = object_store::path::Path::from(Prompt::object_key(tenant, name));
    state.objects.put(&path, wav.into()).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    if existed {
        state.store.update(tenant, &prompt).await?;
    } else {
        state.store.insert(tenant, &prompt).await?;
    }
    tracing::info!(%tenant, prompt = name, duration_ms = prompt.duration_ms, "prompt uploaded");
    Ok(prompt)
}

/// `POST /api/v1/prompts?name=`: a new prompt from a WAV body.
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<NameQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<wire::PromptView>), ApiError> {
    valid_name(&q.name)?;
    let existing: Option<Prompt> = state.store.get(p.tenant_id, &q.name).await?;
    if existing.is_some() {
        return Err(ApiError::field("name", "taken", "a prompt with this name exists; PUT replaces it"));
    }
    let prompt = save(&state, p.tenant_id, &q.name, &body, false).await?;
    Ok((StatusCode::CREATED, Json(view(&prompt))))
}

/// `PUT /api/v1/prompts/{name}`: new audio for a prompt (flows using it play the new one).
pub async fn replace(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<wire::PromptView>, ApiError> {
    let _: Prompt = state.store.get(p.tenant_id, &name).await?.ok_or(ApiError::NotFound)?;
    let prompt = save(&state, p.tenant_id, &name, &body, true).await?;
    Ok(Json(view(&prompt)))
}

/// `GET /api/v1/prompts`.
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::Page<wire::PromptView>>, ApiError> {
    let mut prompts: Vec<Prompt> = state.store.all(p.tenant_id).await?;
    prompts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(wire::Page { items: prompts.iter().map(view).collect(), next_cursor: None }))
}

/// `GET /api/v1/prompts/{name}`: the audio, to listen to.
pub async fn download(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let _: Prompt = state.store.get(p.tenant_id, &name).await?.ok_or(ApiError::NotFound)?;
    let bytes = crate::chat::object_bytes(&state, &Prompt::object_key(p.tenant_id, &name)).await?;
    let mut res = (StatusCode::OK, bytes).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    res.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok(res)
}

/// `DELETE /api/v1/prompts/{name}`: refused while a flow plays it.
pub async fn remove(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let _: Prompt = state.store.get(p.tenant_id, &name).await?.ok_or(ApiError::NotFound)?;
    let flows: Vec<IvrFlow> = state.store.all(p.tenant_id).await?;
    let users: Vec<String> = flows
        .iter()
        .filter(|f| {
            switchboard_ivr::Flow::from_json(&f.definition).is_ok_and(|flow| {
                flow.references()
                    .iter()
                    .any(|r| matches!(r, switchboard_ivr::Reference::PromptFile(n, _) if *n == name))
            })
        })
        .map(|f| format!("flow {}", f.name))
        .collect();
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!("in use by {}", users.join(", "))));
    }
    state.store.delete::<Prompt>(p.tenant_id, &name).await?;
    let path = object_store::path::Path::from(Prompt::object_key(p.tenant_id, &name));
    if let Err(e) = state.objects.delete(&path).await {
        tracing::warn!(tenant = %p.tenant_id, prompt = %name, error = %e, "prompt audio left behind");
    }
    Ok(StatusCode::NO_CONTENT)
}
