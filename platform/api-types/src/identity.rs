//! Signup, login, tokens, users, API keys.

use std::collections::BTreeMap;

use crate::Channel;

/// What a user may do; each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Handles contacts.
    Agent,
    /// Watches queues and agents.
    Supervisor,
    /// Configures the tenant.
    Admin,
    /// Owns the tenant.
    Owner,
}

/// `POST /api/v1/signup`: a business signs up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    /// The business name, 2 to 100 characters.
    #[schema(example = "Acme Plumbing")]
    pub business_name: String,
    /// The owner's e-mail; used to log in.
    #[schema(example = "owner@acme.example")]
    pub email: String,
    /// At least 10 characters, not a common password, not the e-mail.
    pub password: String,
    /// The owner's display name (defaults to the part of the e-mail before `@`).
    #[serde(default)]
    pub name: Option<String>,
    /// The plan to start on, when the deployment bills (see `GET /api/v1/billing/plans`);
    /// defaults to the catalogue's default plan.
    #[serde(default)]
    pub plan: Option<String>,
}

/// Tokens for a session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Always `Bearer`.
    pub token_type: String,
    /// One-time token for `POST /api/v1/auth/refresh`; each use returns a new one.
    pub refresh_token: String,
}

/// Answer to a signup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SignupResponse {
    /// The new tenant.
    pub tenant: TenantView,
    /// Its owner.
    pub user: UserView,
    /// A session for the owner.
    pub tokens: TokenPair,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login e-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /api/v1/auth/refresh`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The latest refresh token of the session.
    pub refresh_token: String,
}

/// `POST /api/v1/auth/accept-invite`: an invited user sets a password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInviteRequest {
    /// The invitation token from the invite.
    pub invite_token: String,
    /// The new password.
    pub password: String,
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TenantView {
    /// Id.
    pub id: String,
    /// Business name.
    pub name: String,
    /// `active` or `suspended`.
    pub status: String,
    /// Signup time, ms since the epoch.
    pub created_at: i64,
}

/// `PUT /api/v1/tenant`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantUpdate {
    /// New business name.
    pub name: String,
}

/// A skill an agent has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillLevel {
    /// Skill id.
    pub skill_id: String,
    /// 1 (novice) to 10 (expert).
    pub level: u8,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UserView {
    /// Id.
    pub id: String,
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// `invited`, `active` or `disabled`.
    pub status: String,
    /// Capacity units (100 = one call).
    pub capacity: u32,
    /// Cost of one contact per channel (every channel listed).
    pub channel_costs: BTreeMap<Channel, u32>,
    /// Skills.
    pub skills: Vec<SkillLevel>,
    /// Created, ms since the epoch.
    pub created_at: i64,
}

/// `POST /api/v1/users`: invite a user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserInvite {
    /// Their e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role (`owner` cannot be given).
    pub role: Role,
    /// Capacity units, 1 to 1000 (default 100).
    #[serde(default)]
    pub capacity: Option<u32>,
    /// Per-channel cost overrides.
    #[serde(default)]
    pub channel_costs: BTreeMap<Channel, u32>,
    /// Skills with levels.
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
}

/// Answer to an invite: the token goes to the invitee (it is shown once).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct UserInvited {
    /// The new user (status `invited`).
    pub user: UserView,
    /// Secret for `POST /api/v1/auth/accept-invite`.
    pub invite_token: String,
}

/// `PUT /api/v1/users/{id}`: replace a user's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    /// Login e-mail.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Disable or re-enable the account.
    pub disabled: bool,
    /// Capacity units, 1 to 1000.
    pub capacity: u32,
    /// Per-channel cost overrides.
    #[serde(default)]
    pub channel_costs: BTreeMap<Channel, u32>,
    /// Skills with levels.
    #[serde(default)]
    pub skills: Vec<SkillLevel>,
}

/// Who is calling: `GET /api/v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MeView {
    /// The user (absent for API keys).
    pub user: Option<UserView>,
    /// The tenant.
    pub tenant: TenantView,
    /// The effective role.
    pub role: Role,
}

/// `POST /api/v1/api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyInput {
    /// A label, 1 to 100 characters.
    pub name: String,
    /// What the key may do (`agent` to `admin`).
    pub role: Role,
}

/// An API key (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    /// Id.
    pub id: String,
    /// Label.
    pub name: String,
    /// Role.
    pub role: Role,
    /// First characters, to recognise the key.
    pub prefix: String,
    /// Created, ms since the epoch.
    pub created_at: i64,
}

/// A new API key; `key` is shown this once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    /// The key's metadata.
    pub api_key: ApiKeyView,
    /// The secret key for `Authorization: Bearer`.
    pub key: String,
}
