//! `/api/v1/plugins` and `/api/v1/plugin-secrets`.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{Contact, ContactArrival, Plugin, PluginCapabilities, PluginSecret, PluginVersion, TenantId};
use switchboard_plugin_host::{PluginHost, UploadError};
use switchboard_store::PageRequest;

use super::{Arrival, Plugins, capabilities_of, describe};
use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::ApiError;

/// Largest component accepted.
pub const MAX_PLUGIN_BYTES: usize = 16 << 20;
/// Versions kept per plugin.
const MAX_VERSIONS: usize = 50;

fn caps_view(c: &PluginCapabilities) -> wire::PluginCapabilitiesView {
    wire::PluginCapabilitiesView { kv: c.kv, http_hosts: c.http_hosts.clone(), secrets: c.secrets.clone() }
}

fn view(p: &Plugin) -> wire::PluginView {
    let needs = p.active_version().map(|v| v.needs.clone()).unwrap_or_default();
    let granted = needs.intersect(&p.grants);
    let missing = PluginCapabilities {
        kv: needs.kv && !granted.kv,
        http_hosts: needs.http_hosts.iter().filter(|h| !granted.http_hosts.contains(h)).cloned().collect(),
        secrets: needs.secrets.iter().filter(|s| !granted.secrets.contains(s)).cloned().collect(),
    };
    wire::PluginView {
        name: p.name.clone(),
        active: p.active,
        grants: caps_view(&p.grants),
        missing_grants: caps_view(&missing),
        versions: p
            .versions
            .iter()
            .map(|v| wire::PluginVersionView {
                number: v.number,
                sha256: v.sha256.clone(),
                size: v.size,
                hooks: v.hooks.clone(),
                needs: caps_view(&v.needs),
                uploaded_at: v.uploaded_at,
                note: v.note.clone(),
            })
            .collect(),
        updated_at: p.updated_at,
    }
}

fn valid_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(ApiError::field("name", "invalid", "1 to 64 of a-z, 0-9, '_' and '-'")) }
}

async fn plugin(state: &AppState, tenant: TenantId, name: &str) -> Result<Plugin, ApiError> {
    state.store.get::<Plugin>(tenant, name).await?.ok_or(ApiError::NotFound)
}

/// `GET /api/v1/plugins`.
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::Page<wire::PluginView>>, ApiError> {
    let mut plugins: Vec<Plugin> = state.store.all(p.tenant_id).await?;
    plugins.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(wire::Page { items: plugins.iter().map(view).collect(), next_cursor: None }))
}

/// `GET /api/v1/plugins/{name}`.
pub async fn read(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<wire::PluginView>, ApiError> {
    Ok(Json(view(&plugin(&state, p.tenant_id, &name).await?)))
}

/// `?note=` of an upload (and `?name=` of a new plugin).
#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    /// The new plugin's name (`POST /api/v1/plugins`).
    pub name: Option<String>,
    /// What changed, for the version list.
    pub note: Option<String>,
}

/// `POST /api/v1/plugins?name=`: a new plugin with its first version (a component body).
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<wire::PluginView>), ApiError> {
    let name = q.name.clone().unwrap_or_default();
    valid_name(&name)?;
    if state.store.get::<Plugin>(p.tenant_id, &name).await?.is_some() {
        return Err(ApiError::field("name", "taken", "a plugin with this name exists; POST a version to it"));
    }
    save_version(&state, &p, &name, &q, &body).await
}

/// `POST /api/v1/plugins/{name}/versions`: a new version of a plugin from a component body.
/// Validated and compiled before anything is stored; not activated.
pub async fn upload(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<wire::PluginView>), ApiError> {
    plugin(&state, p.tenant_id, &name).await?;
    save_version(&state, &p, &name, &q, &body).await
}

async fn save_version(
    state: &AppState,
    p: &Principal,
    name: &str,
    q: &UploadQuery,
    body: &Bytes,
) -> Result<(StatusCode, Json<wire::PluginView>), ApiError> {
    if let Some(note) = &q.note
        && note.len() > 500
    {
        return Err(ApiError::field("note", "too_long", "at most 500 bytes"));
    }
    let host = state.plugins.host().await?;
    let loaded = host.prepare(body).await.map_err(|e| match e {
        UploadError::Compile(m) => ApiError::Internal(format!("plugin compile: {m}")),
        refused => ApiError::field("body", "invalid_plugin", refused.to_string()),
    })?;
    let sha256 = PluginHost::content_hash(body);
    // The component first: a version never names missing bytes.
    let key = object_store::path::Path::from(Plugin::object_key(p.tenant_id, &sha256));
    state.objects.put(&key, body.to_vec().into()).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let existing = state.store.get::<Plugin>(p.tenant_id, name).await?;
    let now = crate::auth::now_ms();
    let mut plugin = existing.clone().unwrap_or(Plugin {
        name: name.to_owned(),
        versions: Vec::new(),
        active: None,
        grants: PluginCapabilities::default(),
        updated_at: now,
    });
    if plugin.versions.len() >= MAX_VERSIONS {
        return Err(ApiError::Conflict(format!("a plugin keeps at most {MAX_VERSIONS} versions")));
    }
    let number = plugin.versions.iter().map(|v| v.number).max().unwrap_or(0) + 1;
    plugin.versions.push(PluginVersion {
        number,
        sha256,
        size: body.len() as u64,
        hooks: loaded.manifest.hooks.iter().map(|h| h.as_str().to_string()).collect(),
        needs: capabilities_of(&loaded.manifest),
        uploaded_at: now,
        note: q.note.clone(),
    });
    plugin.updated_at = now;
    if existing.is_some() {
        state.store.update(p.tenant_id, &plugin).await?;
    } else {
        state.store.insert(p.tenant_id, &plugin).await?;
    }
    state.plugins.forget(p.tenant_id);
    tracing::info!(tenant = %p.tenant_id, plugin = %name, version = number, "plugin version uploaded");
    Ok((StatusCode::CREATED, Json(view(&plugin))))
}

/// `POST /api/v1/plugins/{name}/activate`: run a version (an older one rolls back). One
/// plugin per hook: another active plugin with the same hook is a conflict.
pub async fn activate(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<wire::PluginActivateInput>,
) -> Result<Json<wire::PluginView>, ApiError> {
    let mut plugin = plugin(&state, p.tenant_id, &name).await?;
    let version = plugin
        .version(req.version)
        .cloned()
        .ok_or_else(|| ApiError::field("version", "unknown_reference", "no such version"))?;
    let others: Vec<Plugin> = state.store.all(p.tenant_id).await?;
    for other in others.iter().filter(|o| o.name != name) {
        if let Some(v) = other.active_version()
            && let Some(h) = v.hooks.iter().find(|h| version.hooks.contains(h))
        {
            return Err(ApiError::Conflict(format!("{h} is handled by plugin {:?}; deactivate it first", other.name)));
        }
    }
    plugin.active = Some(version.number);
    plugin.updated_at = crate::auth::now_ms();
    state.store.update(p.tenant_id, &plugin).await?;
    state.plugins.forget(p.tenant_id);
    tracing::info!(tenant = %p.tenant_id, plugin = %name, version = version.number, "plugin activated");
    Ok(Json(view(&plugin)))
}

/// `POST /api/v1/plugins/{name}/deactivate`: nothing of it runs any more.
pub async fn deactivate(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<wire::PluginView>, ApiError> {
    let mut plugin = plugin(&state, p.tenant_id, &name).await?;
    plugin.active = None;
    plugin.updated_at = crate::auth::now_ms();
    state.store.update(p.tenant_id, &plugin).await?;
    state.plugins.forget(p.tenant_id);
    Ok(Json(view(&plugin)))
}

/// `PUT /api/v1/plugins/{name}/grants`: what the tenant allows it (deny by default).
pub async fn grant(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    ApiJson(req): ApiJson<wire::PluginCapabilitiesView>,
) -> Result<Json<wire::PluginView>, ApiError> {
    let mut plugin = plugin(&state, p.tenant_id, &name).await?;
    if req.http_hosts.len() > 20 || req.secrets.len() > 20 {
        return Err(ApiError::field("http_hosts", "too_many", "at most 20 hosts and 20 secrets"));
    }
    for (i, h) in req.http_hosts.iter().enumerate() {
        let ok = !h.is_empty()
            && h.len() <= 253
            && h.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !ok {
            return Err(ApiError::field(&format!("http_hosts.{i}"), "invalid", "a lower-case host name"));
        }
    }
    for (i, s) in req.secrets.iter().enumerate() {
        if valid_secret_name(s).is_err() {
            return Err(ApiError::field(&format!("secrets.{i}"), "invalid", "1 to 64 of A-Z, a-z, 0-9, '_' and '-'"));
        }
    }
    plugin.grants = PluginCapabilities { kv: req.kv, http_hosts: req.http_hosts, secrets: req.secrets };
    plugin.updated_at = crate::auth::now_ms();
    state.store.update(p.tenant_id, &plugin).await?;
    state.plugins.forget(p.tenant_id);
    Ok(Json(view(&plugin)))
}

/// `DELETE /api/v1/plugins/{name}`.
pub async fn remove(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    plugin(&state, p.tenant_id, &name).await?;
    state.store.delete::<Plugin>(p.tenant_id, &name).await?;
    state.plugins.forget(p.tenant_id);
    Ok(StatusCode::NO_CONTENT)
}

/// `?before=&limit=` of the call list.
#[derive(Debug, serde::Deserialize)]
pub struct CallsQuery {
    /// Calls older than this id.
    pub before: Option<String>,
    /// How many (1-500, default 50).
    pub limit: Option<u32>,
}

/// `GET /api/v1/plugins/{name}/calls`: its calls, newest first, with logs and errors.
pub async fn calls(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
    Query(q): Query<CallsQuery>,
) -> Result<Json<wire::Page<wire::PluginCallView>>, ApiError> {
    plugin(&state, p.tenant_id, &name).await?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let calls = state.store.plugin_calls(p.tenant_id, &name, q.before.as_deref(), limit).await?;
    let next_cursor = (calls.len() == limit as usize).then(|| calls.last().map(|c| c.id.clone())).flatten();
    let items = calls
        .into_iter()
        .map(|c| wire::PluginCallView {
            id: c.id,
            version: c.version,
            hook: c.hook,
            contact_id: c.contact_id,
            at: c.at,
            duration_us: c.duration_us,
            outcome: c.outcome,
            detail: c.detail,
            logs: c.logs,
        })
        .collect();
    Ok(Json(wire::Page { items, next_cursor }))
}

/// `POST /api/v1/plugins/{name}/versions/{version}/replay`: what this version's on-contact would
/// have decided for the tenant's newest contacts, next to what the active version (or no
/// plugin) decides. Nothing is changed: key-value writes stay inside each call.
pub async fn replay(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path((name, version)): Path<(String, u32)>,
    ApiJson(req): ApiJson<wire::PluginReplayInput>,
) -> Result<Json<wire::PluginReplayView>, ApiError> {
    let candidate = plugin(&state, p.tenant_id, &name).await?;
    let v = candidate.version(version).ok_or(ApiError::NotFound)?;
    if !v.hooks.iter().any(|h| h == "on-contact") {
        return Err(ApiError::Conflict("replay runs on-contact, which this version does not implement".into()));
    }
    if !(1..=200).contains(&req.contacts) {
        return Err(ApiError::field("contacts", "out_of_range", "1 to 200"));
    }
    let page = PageRequest { limit: req.contacts, after: None };
    let filter = switchboard_store::ContactFilter::default();
    let contacts: Vec<Contact> = state.store.search_contacts(p.tenant_id, &filter, &page).await?.items;
    let current = state.plugins.active_for(p.tenant_id, switchboard_plugin_host::HookKind::OnContact).await;
    let mut entries = Vec::new();
    for contact in contacts.iter().take(req.contacts as usize) {
        let before = as_created(&state, p.tenant_id, contact).await;
        let arrival = Arrival::default();
        let now = match &current {
            Some((active, n)) => decided(&state.plugins, p.tenant_id, active, *n, &before, &arrival).await,
            None => "route (unchanged)".to_string(),
        };
        let would = decided(&state.plugins, p.tenant_id, &candidate, version, &before, &arrival).await;
        entries.push(wire::PluginReplayEntry {
            contact_id: contact.id.to_string(),
            channel: contact.channel.as_str().to_string(),
            changed: now != would,
            current: now,
            candidate: would,
        });
    }
    let changed = entries.iter().filter(|e| e.changed).count() as u32;
    Ok(Json(wire::PluginReplayView { version, replayed: entries.len() as u32, changed, entries }))
}

/// A contact as it was when it arrived: as kept when a plugin changed it, else as far as the
/// events tell (its first queue).
async fn as_created(state: &AppState, tenant: TenantId, contact: &Contact) -> Contact {
    if let Ok(Some(arrival)) = state.store.get::<ContactArrival>(tenant, &contact.id.to_string()).await {
        return arrival.contact;
    }
    let mut c = contact.clone();
    if let Ok(events) = state.store.contact_events(tenant, contact.id).await
        && let Some(first) = events.first()
        && let Some(q) = first.data.get("queue_id").and_then(|q| q.as_str()).and_then(|q| q.parse().ok())
    {
        c.queue_id = q;
    }
    c
}

async fn decided(
    plugins: &Plugins,
    tenant: TenantId,
    plugin: &Plugin,
    version: u32,
    contact: &Contact,
    arrival: &Arrival,
) -> String {
    let (result, call) = plugins.decide(tenant, plugin, version, contact, arrival, true).await;
    match result {
        Some((after, verdict)) => describe(contact, &after, &verdict),
        None => format!("{}: {}", call.outcome, call.detail),
    }
}

fn valid_secret_name(name: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(ApiError::field("name", "invalid", "1 to 64 of A-Z, a-z, 0-9, '_' and '-'")) }
}

/// `GET /api/v1/plugin-secrets`: names only.
pub async fn secrets(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::Page<wire::PluginSecretView>>, ApiError> {
    let mut all: Vec<PluginSecret> = state.store.all(p.tenant_id).await?;
    all.sort_by(|a, b| a.name.cmp(&b.name));
    let items = all.iter().map(|s| wire::PluginSecretView { name: s.name.clone(), updated_at: s.updated_at }).collect();
    Ok(Json(wire::Page { items, next_cursor: None }))
}

/// `POST /api/v1/plugin-secrets`: sets a secret (made or replaced).
pub async fn set_secret(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::PluginSecretInput>,
) -> Result<Json<wire::PluginSecretView>, ApiError> {
    let name = req.name.clone();
    valid_secret_name(&name)?;
    if req.value.is_empty() || req.value.len() > 4096 {
        return Err(ApiError::field("value", "invalid", "1 to 4096 bytes"));
    }
    let secret = PluginSecret { name: name.clone(), value: req.value, updated_at: crate::auth::now_ms() };
    if state.store.get::<PluginSecret>(p.tenant_id, &name).await?.is_some() {
        state.store.update(p.tenant_id, &secret).await?;
    } else {
        state.store.insert(p.tenant_id, &secret).await?;
    }
    Ok(Json(wire::PluginSecretView { name, updated_at: secret.updated_at }))
}

/// `DELETE /api/v1/plugin-secrets/{name}`.
pub async fn delete_secret(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.get::<PluginSecret>(p.tenant_id, &name).await?.ok_or(ApiError::NotFound)?;
    state.store.delete::<PluginSecret>(p.tenant_id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
