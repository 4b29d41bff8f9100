//! Tenant API keys for server-to-server calls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{ApiKey, ApiKeyId, Role};

use super::convert::{api_key_view, role_in};
use super::{ApiJson, ApiQuery, page_request};
use crate::app::AppState;
use crate::auth::{self, Principal, now_ms};
use crate::error::{ApiError, Problems};

/// `GET /api/v1/api-keys`.
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<wire::PageQuery>,
) -> Result<Json<wire::Page<wire::ApiKeyView>>, ApiError> {
    let page = state.store.list_api_keys(p.tenant_id, &page_request(q)?).await?;
    Ok(Json(wire::Page { items: page.items.iter().map(api_key_view).collect(), next_cursor: page.next_cursor }))
}

/// `POST /api/v1/api-keys`: the key text is in the answer and nowhere else.
pub async fn create(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::ApiKeyInput>,
) -> Result<(StatusCode, Json<wire::ApiKeyCreated>), ApiError> {
    let mut problems = Problems::default();
    let name = problems.text("name", &req.name, 1, 100);
    let role = role_in(req.role);
    if role == Role::Owner {
        problems.add("role", "invalid", "API keys can be at most admin");
    } else if !p.role.includes(role) {
        problems.add("role", "forbidden", "cannot grant a role above your own");
    }
    problems.finish()?;
    let id = ApiKeyId::generate();
    let secret = auth::random_secret();
    let text = auth::api_key_text(p.tenant_id, id, &secret);
    // The key id's random tail tells keys of one tenant apart in lists.
    let simple = id.as_uuid().simple().to_string();
    let prefix = format!("sbk_…{}", &simple[simple.len() - 8..]);
    let key = ApiKey { id, name, role, prefix, created_at: now_ms(), last_used_at: None };
    state.store.create_api_key(p.tenant_id, &key, &auth::secret_hash(&secret)).await?;
    Ok((StatusCode::CREATED, Json(wire::ApiKeyCreated { api_key: api_key_view(&key), key: text })))
}

/// `DELETE /api/v1/api-keys/{id}`.
pub async fn revoke(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: ApiKeyId = id.parse().map_err(|_| ApiError::NotFound)?;
    state.store.revoke_api_key(p.tenant_id, id, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}
