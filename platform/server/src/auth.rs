//! Authentication: passwords (argon2id), access tokens (JWT, HS256), rotating refresh tokens,
//! invitations and API keys; and the per-route role check.
//!
//! Secrets we hand out (refresh tokens, invitations, API keys) are random 256-bit values; only
//! their SHA-256 is stored. Each token text starts with the tenant id so the right tenant's rows
//! are read without a cross-tenant lookup.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use switchboard_domain::{ApiKeyId, Role, SessionId, TenantId, UnixMillis, UserId, UserStatus};
use switchboard_store::Store;

use crate::error::ApiError;

/// Issuer claim of our access tokens.
pub const ISSUER: &str = "switchboard";
/// Audience claim of our access tokens.
pub const AUDIENCE: &str = "switchboard-api";
/// Longest token text we look at; longer ones are refused unread.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Clock skew tolerated on `exp`.
pub const LEEWAY_SECS: u64 = 30;

/// Milliseconds since the epoch, now.
pub fn now_ms() -> UnixMillis {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Who is making a request, established by the auth layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Their tenant; every query of the request is scoped to it.
    pub tenant_id: TenantId,
    /// The user, for people (None for API keys).
    pub user_id: Option<UserId>,
    /// The login session, for people.
    pub session_id: Option<SessionId>,
    /// The API key, for machines.
    pub api_key_id: Option<ApiKeyId>,
    /// Effective role.
    pub role: Role,
}

/// Access-token claims. Every one of them is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Tenant id.
    pub tid: String,
    /// Session id.
    pub sid: String,
    /// Role at issue time (the stored role is what counts).
    pub role: String,
    /// Issued at, seconds.
    pub iat: u64,
    /// Expires, seconds.
    pub exp: u64,
}

/// What a chat visitor's token says: one conversation of one widget, nothing else.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VisitorClaims {
    /// Issuer.
    pub iss: String,
    /// Audience: visitor tokens are never access tokens and the other way round.
    pub aud: String,
    /// Visitor id.
    pub sub: String,
    /// Tenant.
    pub tid: String,
    /// The widget (endpoint) id.
    pub wid: String,
    /// The conversation (contact) id.
    pub cid: String,
    /// Issued at, seconds.
    pub iat: u64,
    /// Expires, seconds.
    pub exp: u64,
}

/// Audience of visitor tokens.
const VISITOR_AUDIENCE: &str = "switchboard-visitor";
/// How long a visitor may resume a conversation.
const VISITOR_TTL_SECS: u64 = 24 * 3600;

/// Signing keys and lifetimes.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    visitor_validation: Validation,
    /// Access token lifetime.
    pub access_ttl: Duration,
    /// Refresh token lifetime.
    pub refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("access_ttl", &self.access_ttl).finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from an HMAC secret.
    pub fn new(secret: &[u8], access_ttl: Duration, refresh_ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        // jsonwebtoken checks aud/iss only when present unless they are required.
        validation.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        let mut visitor_validation = validation.clone();
        visitor_validation.set_audience(&[VISITOR_AUDIENCE]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            visitor_validation,
            access_ttl,
            refresh_ttl,
        }
    }

    /// Signs an access token.
    pub fn issue_access(
        &self,
        tenant: TenantId,
        user: UserId,
        session: SessionId,
        role: Role,
    ) -> Result<String, ApiError> {
        let now = (now_ms() / 1000) as u64;
        let claims = Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: user.to_string(),
            tid: tenant.to_string(),
            sid: session.to_string(),
            role: role.as_str().into(),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing token: {e}")))
    }

    /// Verifies signature, algorithm, issuer, audience and expiry.
    pub fn verify_access(&self, token: &str) -> Result<Claims, ApiError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(ApiError::Unauthorized("token too large"));
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::Unauthorized("invalid or expired token"))
    }
}

impl TokenKeys {
    /// Signs a visitor token for one conversation.
    pub fn issue_visitor(
        &self,
        tenant: TenantId,
        widget: &str,
        contact: &str,
        visitor: &str,
    ) -> Result<String, ApiError> {
        let now = (now_ms() / 1000) as u64;
        let claims = VisitorClaims {
            iss: ISSUER.into(),
            aud: VISITOR_AUDIENCE.into(),
            sub: visitor.into(),
            tid: tenant.to_string(),
            wid: widget.into(),
            cid: contact.into(),
            iat: now,
            exp: now + VISITOR_TTL_SECS,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| ApiError::Internal(format!("signing token: {e}")))
    }

    /// Verifies a visitor token.
    pub fn verify_visitor(&self, token: &str) -> Result<VisitorClaims, ApiError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(ApiError::Unauthorized("token too large"));
        }
        jsonwebtoken::decode::<VisitorClaims>(token, &self.decoding, &self.visitor_validation)
            .map(|d| d.claims)
            .map_err(|_| ApiError::Unauthorized("invalid or expired visitor token"))
    }
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ApiError::Internal(format!("hashing password: {e}")))
}

/// Checks a password against a stored hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash that costs as much to check as a real one, so an unknown e-mail takes as long as a
/// wrong password (no account-existence oracle by timing).
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password that matches nothing").unwrap_or_default())
}

const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password123",
    "1234567890",
    "12345678910",
    "qwertyuiop",
    "letmein123",
    "iloveyou12",
    "welcome123",
    "administrator",
    "passw0rd123",
    "changeme123",
    "abc1234567",
    "qwerty1234",
    "1q2w3e4r5t",
];

/// Why a password is too weak, if it is.
pub fn password_weakness(password: &str, email: &str) -> Option<&'static str> {
    let n = password.chars().count();
    if n < 10 {
        return Some("must be at least 10 characters");
    }
    if n > 256 {
        return Some("must be at most 256 characters");
    }
    let lower = password.to_lowercase();
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Some("is a commonly used password");
    }
    if lower == email.to_lowercase() || lower == email.split('@').next().unwrap_or("").to_lowercase() {
        return Some("must not be the e-mail address");
    }
    let mut chars = password.chars();
    if let Some(first) = chars.next()
        && chars.all(|c| c == first)
    {
        return Some("must not repeat one character");
    }
    None
}

/// A fresh 256-bit secret, hex.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// SHA-256 of a secret, hex: what the store keeps.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Refresh token text: `<tenant>.<token id>.<secret>`.
pub fn refresh_token_text(tenant: TenantId, token_id: &str, secret: &str) -> String {
    format!("{}.{token_id}.{secret}", tenant.as_uuid().simple())
}

/// Splits refresh token text; None when malformed.
pub fn parse_refresh_token(text: &str) -> Option<(TenantId, String, String)> {
    if text.len() > 256 {
        return None;
    }
    let mut parts = text.split('.');
    let (t, id, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || id.is_empty() || secret.len() != 64 {
        return None;
    }
    Some((t.parse().ok()?, id.to_owned(), secret.to_owned()))
}

/// Invitation text: `<tenant>.<secret>`.
pub fn invite_text(tenant: TenantId, secret: &str) -> String {
    format!("{}.{secret}", tenant.as_uuid().simple())
}

/// Splits invitation text.
pub fn parse_invite(text: &str) -> Option<(TenantId, String)> {
    let (t, secret) = text.split_once('.')?;
    (secret.len() == 64).then_some(())?;
    Some((t.parse().ok()?, secret.to_owned()))
}

/// API key text: `sbk_<tenant>_<key id>_<secret>`.
pub fn api_key_text(tenant: TenantId, key: ApiKeyId, secret: &str) -> String {
    format!("sbk_{}_{}_{secret}", tenant.as_uuid().simple(), key.as_uuid().simple())
}

/// Splits API key text.
pub fn parse_api_key(text: &str) -> Option<(TenantId, ApiKeyId, String)> {
    let rest = text.strip_prefix("sbk_")?;
    let mut parts = rest.split('_');
    let (t, k, secret) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || secret.len() != 64 {
        return None;
    }
    Some((t.parse().ok()?, k.parse().ok()?, secret.to_owned()))
}

/// Resolves a bearer credential (access token or API key) to a principal, checking it against
/// the store: the user must exist in the token's tenant and be active, the session alive.
pub async fn authenticate(store: &dyn Store, keys: &TokenKeys, bearer: &str) -> Result<Principal, ApiError> {
    if bearer.starts_with("sbk_") {
        let (tenant, key_id, secret) = parse_api_key(bearer).ok_or(ApiError::Unauthorized("malformed API key"))?;
        let (key, stored) = store.api_key(tenant, key_id).await?.ok_or(ApiError::Unauthorized("unknown API key"))?;
        let matches: bool =
            subtle::ConstantTimeEq::ct_eq(secret_hash(&secret).as_bytes(), stored.secret_hash.as_bytes()).into();
        if !matches || stored.revoked_at.is_some() {
            return Err(ApiError::Unauthorized("unknown API key"));
        }
        return Ok(Principal {
            tenant_id: tenant,
            user_id: None,
            session_id: None,
            api_key_id: Some(key.id),
            role: key.role,
        });
    }
    let claims = keys.verify_access(bearer)?;
    let bad = || ApiError::Unauthorized("invalid or expired token");
    let tenant: TenantId = claims.tid.parse().map_err(|_| bad())?;
    let user_id: UserId = claims.sub.parse().map_err(|_| bad())?;
    let session_id: SessionId = claims.sid.parse().map_err(|_| bad())?;
    let user = store.user(tenant, user_id).await?.ok_or_else(bad)?;
    if user.status != UserStatus::Active {
        return Err(ApiError::Unauthorized("account disabled"));
    }
    let session = store.session(tenant, session_id).await?.ok_or_else(bad)?;
    if session.revoked_at.is_some() || session.user_id != user_id {
        return Err(ApiError::Unauthorized("session ended"));
    }
    Ok(Principal {
        tenant_id: tenant,
        user_id: Some(user_id),
        session_id: Some(session_id),
        api_key_id: None,
        role: user.role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_texts_round_trip() {
        let t = TenantId::generate();
        let k = ApiKeyId::generate();
        let s = random_secret();
        assert_eq!(parse_api_key(&api_key_text(t, k, &s)), Some((t, k, s.clone())));
        assert_eq!(parse_refresh_token(&refresh_token_text(t, "abc", &s)), Some((t, "abc".into(), s.clone())));
        assert_eq!(parse_invite(&invite_text(t, &s)), Some((t, s)));
    }

    #[test]
    fn malformed_token_texts_are_refused() {
        for bad in ["", "sbk_", "sbk_x_y_z", "a.b", "a.b.c.d", "x.y"] {
            assert!(parse_api_key(bad).is_none() && parse_refresh_token(bad).is_none() && parse_invite(bad).is_none());
        }
    }

    #[test]
    fn weak_passwords_are_named() {
        assert!(password_weakness("short", "a@b.c").is_some());
        assert!(password_weakness("Password123", "a@b.c").is_some());
        assert!(password_weakness("aaaaaaaaaaaa", "a@b.c").is_some());
        assert!(password_weakness("annabelle@b.co", "annabelle@b.co").is_some());
        assert!(password_weakness("correct horse battery", "a@b.c").is_none());
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
    }
}
