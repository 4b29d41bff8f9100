//! Agents' SIP phone logins: `GET|PUT|DELETE /api/v1/users/{id}/sip-account`. The password is
//! kept only as digest HA1 values for the deployment's realm, so it is never readable back;
//! user names are unique across the service because REGISTER carries nothing else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{SipAccount, UserId};
use switchboard_edge::{Algorithm, ha1};

use crate::api::ApiJson;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Problems};

async fn user_of(state: &AppState, p: &Principal, id: &str) -> Result<UserId, ApiError> {
    let id: UserId = id.parse().map_err(|_| ApiError::NotFound)?;
    state.store.user(p.tenant_id, id).await?.ok_or(ApiError::NotFound)?;
    Ok(id)
}

async fn view(state: &AppState, account: SipAccount) -> wire::SipAccountView {
    // This replica's own edges first, then every live edge of the deployment.
    let registered = state.voice.edges.registered(&account.username).await
        || super::registry::registered_anywhere(state, &account.username).await;
    wire::SipAccountView {
        user_id: account.user_id.to_string(),
        username: account.username,
        realm: account.realm,
        registered,
        updated_at: account.updated_at,
    }
}

/// `GET /api/v1/users/{id}/sip-account`.
pub async fn read(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<wire::SipAccountView>, ApiError> {
    let user = user_of(&state, &p, &id).await?;
    let account: SipAccount = state.store.get(p.tenant_id, &user.to_string()).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(view(&state, account).await))
}

/// `PUT /api/v1/users/{id}/sip-account`: sets (or replaces) the agent's phone login.
pub async fn write(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<wire::SipAccountInput>,
) -> Result<Json<wire::SipAccountView>, ApiError> {
    let user = user_of(&state, &p, &id).await?;
    let mut problems = Problems::default();
    let username = req.username.trim();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    if !(3..=64).contains(&username.len()) || !username.chars().all(allowed) {
        problems.add("username", "invalid", "3 to 64 of a-z, 0-9, '.', '_' and '-'");
    }
    if !(12..=128).contains(&req.password.chars().count()) {
        problems.add("password", "invalid", "12 to 128 characters");
    }
    problems.finish()?;
    let realm = state.voice.realm.clone();
    let account = SipAccount {
        user_id: user,
        username: username.to_owned(),
        ha1_md5: ha1(Algorithm::Md5, username, &realm, &req.password),
        ha1_sha256: ha1(Algorithm::Sha256, username, &realm, &req.password),
        realm,
        updated_at: crate::auth::now_ms(),
    };
    let existing: Option<SipAccount> = state.store.get(p.tenant_id, &user.to_string()).await?;
    let saved = match existing {
        Some(_) => state.store.update(p.tenant_id, &account).await,
        None => state.store.insert(p.tenant_id, &account).await,
    };
    saved.map_err(|e| match e {
        switchboard_store::StoreError::Conflict { .. } => {
            ApiError::field("username", "taken", "this SIP user name is already in use")
        }
        other => other.into(),
    })?;
    tracing::info!(tenant = %p.tenant_id, %user, username = %account.username, "SIP account set");
    Ok(Json(view(&state, account).await))
}

/// `DELETE /api/v1/users/{id}/sip-account`: the phone can no longer register (a registration
/// in place lapses at its expiry).
pub async fn remove(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = user_of(&state, &p, &id).await?;
    let existing: Option<SipAccount> = state.store.get(p.tenant_id, &user.to_string()).await?;
    existing.ok_or(ApiError::NotFound)?;
    state.store.delete::<SipAccount>(p.tenant_id, &user.to_string()).await?;
    Ok(StatusCode::NO_CONTENT)
}
