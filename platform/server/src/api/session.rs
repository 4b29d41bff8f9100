//! Signup, login, token refresh, invitations, logout, "who am I".

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Extension;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use switchboard_api_types as wire;
use switchboard_domain::{
    ChannelCosts, EmailAddress, Role, SessionId, Tenant, TenantId, TenantStatus, UnixMillis, User, UserId, UserStatus,
};
use switchboard_store::{NewTenant, RefreshOutcome, RefreshToken, Session};

use super::ApiJson;
use super::convert::{tenant_view, user_view};
use crate::app::AppState;
use crate::auth::{self, Principal, now_ms};
use crate::error::{ApiError, Problems};

/// Failed logins allowed per e-mail within [`THROTTLE_WINDOW_MS`].
pub const MAX_LOGIN_FAILURES: u32 = 10;
/// The window for counting failed logins.
pub const THROTTLE_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Counts failed logins per e-mail to slow down password guessing.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, (u32, UnixMillis)>>,
}

impl LoginThrottle {
    fn blocked(&self, key: &str, now: UnixMillis) -> bool {
        let map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).is_some_and(|(n, since)| *n >= MAX_LOGIN_FAILURES && now - since < THROTTLE_WINDOW_MS)
    }

    fn failed(&self, key: &str, now: UnixMillis) {
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now - *since < THROTTLE_WINDOW_MS);
        }
        let entry = map.entry(key.to_owned()).or_insert((0, now));
        if now - entry.1 >= THROTTLE_WINDOW_MS {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn succeeded(&self, key: &str) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

async fn hash_password(password: String) -> Result<String, ApiError> {
    // Argon2 is deliberately slow: keep it off the async workers.
    tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(format!("hashing task: {e}")))?
}

async fn verify_password(password: String, hash: String) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(format!("verify task: {e}")))
}

/// Starts a session: stores its first refresh token and signs an access token.
pub async fn start_session(
    state: &AppState,
    tenant: TenantId,
    user: UserId,
    role: Role,
) -> Result<wire::TokenPair, ApiError> {
    let now = now_ms();
    let session = Session { id: SessionId::generate(), user_id: user, created_at: now, revoked_at: None };
    let (token, text) = new_refresh_token(state, tenant, session.id, now);
    state.store.create_session(tenant, &session, &token).await?;
    token_pair(state, tenant, user, session.id, role, text)
}

fn new_refresh_token(
    state: &AppState,
    tenant: TenantId,
    session: SessionId,
    now: UnixMillis,
) -> (RefreshToken, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret = auth::random_secret();
    let token = RefreshToken {
        id: id.clone(),
        session_id: session,
        secret_hash: auth::secret_hash(&secret),
        expires_at: now + state.keys.refresh_ttl.as_millis() as i64,
    };
    (token, auth::refresh_token_text(tenant, &id, &secret))
}

fn token_pair(
    state: &AppState,
    tenant: TenantId,
    user: UserId,
    session: SessionId,
    role: Role,
    refresh_token: String,
) -> Result<wire::TokenPair, ApiError> {
    Ok(wire::TokenPair {
        access_token: state.keys.issue_access(tenant, user, session, role)?,
        expires_in: state.keys.access_ttl.as_secs(),
        token_type: "Bearer".into(),
        refresh_token,
    })
}

/// `POST /api/v1/signup`.
pub async fn signup(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::SignupRequest>,
) -> Result<(StatusCode, Json<wire::SignupResponse>), ApiError> {
    let mut p = Problems::default();
    let business_name = p.text("business_name", &req.business_name, 2, 100);
    let email: Option<EmailAddress> = match req.email.parse() {
        Ok(e) => Some(e),
        Err(e) => {
            p.add("email", "invalid", e.to_string());
            None
        }
    };
    if let Some(why) = auth::password_weakness(&req.password, &req.email) {
        p.add("password", "weak", format!("password {why}"));
    }
    let name = match &req.name {
        Some(n) => p.text("name", n, 1, 100),
        None => req.email.split('@').next().unwrap_or("owner").chars().take(100).collect(),
    };
    let plan = match crate::billing::signup_plan(&state, req.plan.as_deref()) {
        Ok(plan) => plan,
        Err(ApiError::Validation(errors)) => {
            for e in errors {
                p.add(&e.field, &e.code, e.message);
            }
            None
        }
        Err(other) => return Err(other),
    };
    p.finish()?;
    let Some(email) = email else { return Err(ApiError::BadRequest("email".into())) };

    let now = now_ms();
    let tenant =
        Tenant { id: TenantId::generate(), name: business_name, status: TenantStatus::Active, created_at: now };
    let owner = User {
        id: UserId::generate(),
        tenant_id: tenant.id,
        email,
        name,
        role: Role::Owner,
        status: UserStatus::Active,
        capacity: 100,
        channel_costs: ChannelCosts::default(),
        skills: vec![],
        created_at: now,
    };
    let password_hash = hash_password(req.password).await?;
    state.store.create_tenant(NewTenant { tenant: tenant.clone(), owner: owner.clone(), password_hash }).await?;
    state.metrics.signups.inc();
    tracing::info!(tenant = %tenant.id, "tenant signed up");
    if let Some(plan) = plan {
        crate::billing::open_account(&state, tenant.id, &tenant.name, owner.email.as_str(), plan, now).await;
    }
    let tokens = start_session(&state, tenant.id, owner.id, Role::Owner).await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::SignupResponse { tenant: tenant_view(&tenant), user: user_view(&owner), tokens }),
    ))
}

/// `POST /api/v1/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::LoginRequest>,
) -> Result<Json<wire::TokenPair>, ApiError> {
    const WRONG: ApiError = ApiError::Unauthorized("wrong e-mail or password");
    let key = req.email.trim().to_lowercase();
    let now = now_ms();
    if state.throttle.blocked(&key, now) {
        return Err(ApiError::RateLimited("too many failed logins; try again in 15 minutes"));
    }
    let creds = match req.email.parse::<EmailAddress>() {
        Ok(email) => state.store.find_login(&email).await?,
        Err(_) => None,
    };
    let hash = creds.as_ref().and_then(|c| c.password_hash.clone()).unwrap_or_else(|| auth::decoy_hash().to_owned());
    let ok = verify_password(req.password, hash).await?;
    let creds = match creds {
        Some(c) if ok && c.status == UserStatus::Active => c,
        _ => {
            state.throttle.failed(&key, now);
            state.metrics.login_failures.inc();
            return Err(WRONG);
        }
    };
    state.throttle.succeeded(&key);
    let user = state.store.user(creds.tenant_id, creds.user_id).await?.ok_or(WRONG)?;
    Ok(Json(start_session(&state, creds.tenant_id, user.id, user.role).await?))
}

/// `POST /api/v1/auth/refresh`: spends the refresh token and returns the next pair. Presenting a
/// spent token again ends the whole session (someone copied it).
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::RefreshRequest>,
) -> Result<Json<wire::TokenPair>, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("invalid or expired refresh token");
    let (tenant, token_id, secret) = auth::parse_refresh_token(&req.refresh_token).ok_or(INVALID)?;
    let now = now_ms();
    let session = match state.store.use_refresh_token(tenant, &token_id, &auth::secret_hash(&secret), now).await? {
        RefreshOutcome::Fresh(s) => s,
        RefreshOutcome::Reused => {
            tracing::warn!(%tenant, "refresh token reused; session revoked");
            return Err(ApiError::Unauthorized("refresh token already used; the session has been ended"));
        }
        RefreshOutcome::Invalid => return Err(INVALID),
    };
    let user = state.store.user(tenant, session.user_id).await?.ok_or(INVALID)?;
    if user.status != UserStatus::Active {
        return Err(ApiError::Unauthorized("account disabled"));
    }
    let (token, text) = new_refresh_token(&state, tenant, session.id, now);
    state.store.add_refresh_token(tenant, &token).await?;
    Ok(Json(token_pair(&state, tenant, user.id, session.id, user.role, text)?))
}

/// `POST /api/v1/auth/accept-invite`.
pub async fn accept_invite(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<wire::AcceptInviteRequest>,
) -> Result<Json<wire::TokenPair>, ApiError> {
    const INVALID: ApiError = ApiError::Unauthorized("invalid or used invitation");
    let (tenant, secret) = auth::parse_invite(&req.invite_token).ok_or(INVALID)?;
    let user_id = state.store.find_invite(tenant, &auth::secret_hash(&secret)).await?.ok_or(INVALID)?;
    let user = state.store.user(tenant, user_id).await?.ok_or(INVALID)?;
    if let Some(why) = auth::password_weakness(&req.password, user.email.as_str()) {
        return Err(ApiError::field("password", "weak", format!("password {why}")));
    }
    let hash = hash_password(req.password).await?;
    state.store.set_password(tenant, user_id, &hash).await?;
    // The user is active now: routing takes them on as an agent.
    super::announce(&state, tenant, "user", &user_id.to_string(), "updated").await;
    Ok(Json(start_session(&state, tenant, user_id, user.role).await?))
}

/// `POST /api/v1/auth/logout`: ends the caller's session; its tokens stop working at once.
pub async fn logout(State(state): State<AppState>, Extension(p): Extension<Principal>) -> Result<StatusCode, ApiError> {
    let session =
        p.session_id.ok_or_else(|| ApiError::BadRequest("API keys have no session; revoke the key instead".into()))?;
    state.store.revoke_session(p.tenant_id, session, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/me`.
pub async fn me(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::MeView>, ApiError> {
    let tenant = state.store.tenant(p.tenant_id).await?.ok_or(ApiError::NotFound)?;
    let user = match p.user_id {
        Some(id) => state.store.user(p.tenant_id, id).await?.map(|u| user_view(&u)),
        None => None,
    };
    Ok(Json(wire::MeView { user, tenant: tenant_view(&tenant), role: super::convert::role_out(p.role) }))
}
