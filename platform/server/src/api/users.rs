//! Users: invite, list, read, change, delete.

use std::collections::{BTreeMap, HashSet};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use switchboard_api_types as wire;
use switchboard_domain::{
    ChannelCosts, EmailAddress, MAX_SKILL_LEVEL, Role, Skill, SkillId, SkillLevel, User, UserId, UserStatus,
};

use super::convert::{channel_in, role_in, user_view};
use super::{ApiJson, ApiQuery, page_request};
use crate::app::AppState;
use crate::auth::{self, Principal, now_ms};
use crate::error::{ApiError, Problems};

/// Capacity, per-channel costs and skills, validated together.
fn profile(
    p: &mut Problems,
    capacity: u32,
    costs: &BTreeMap<wire::Channel, u32>,
    skills: &[wire::SkillLevel],
    known: &HashSet<SkillId>,
) -> (u32, ChannelCosts, Vec<SkillLevel>) {
    let capacity = p.range("capacity", capacity, 1, 1000);
    let mut channel_costs = ChannelCosts::default();
    for (channel, cost) in costs {
        let field = format!("channel_costs.{}", channel_in(*channel).as_str());
        channel_costs.0.insert(channel_in(*channel), p.range(&field, *cost, 1, 1000));
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, s) in skills.iter().enumerate() {
        let field = format!("skills[{i}].skill_id");
        p.range(&format!("skills[{i}].level"), s.level, 1, MAX_SKILL_LEVEL);
        let Some(id) = p.id::<SkillId>(&field, &s.skill_id) else { continue };
        if !known.contains(&id) {
            p.add(&field, "unknown_reference", "no such skill");
        } else if !seen.insert(id) {
            p.add(&field, "duplicate", "skill listed twice");
        }
        out.push(SkillLevel { skill_id: id, level: s.level });
    }
    (capacity, channel_costs, out)
}

fn email(p: &mut Problems, value: &str) -> Option<EmailAddress> {
    match value.parse() {
        Ok(e) => Some(e),
        Err(e) => {
            p.add("email", "invalid", e.to_string());
            None
        }
    }
}

async fn known_skills(state: &AppState, p: &Principal) -> Result<HashSet<SkillId>, ApiError> {
    Ok(state.store.all::<Skill>(p.tenant_id).await?.into_iter().map(|s| s.id).collect())
}

fn parse_id(id: &str) -> Result<UserId, ApiError> {
    id.parse().map_err(|_| ApiError::NotFound)
}

/// `GET /api/v1/users`.
pub async fn list(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<wire::PageQuery>,
) -> Result<Json<wire::Page<wire::UserView>>, ApiError> {
    let page = state.store.list_users(p.tenant_id, &page_request(q)?).await?;
    Ok(Json(wire::Page { items: page.items.iter().map(user_view).collect(), next_cursor: page.next_cursor }))
}

/// `POST /api/v1/users`: creates an invited user and returns the invitation secret once.
pub async fn invite(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::UserInvite>,
) -> Result<(StatusCode, Json<wire::UserInvited>), ApiError> {
    let known = known_skills(&state, &p).await?;
    let mut problems = Problems::default();
    let email = email(&mut problems, &req.email);
    let name = problems.text("name", &req.name, 1, 100);
    let role = role_in(req.role);
    if role == Role::Owner {
        problems.add("role", "invalid", "a tenant has one owner; invite as admin");
    } else if !p.role.includes(role) {
        problems.add("role", "forbidden", "cannot grant a role above your own");
    }
    let (capacity, channel_costs, skills) =
        profile(&mut problems, req.capacity.unwrap_or(100), &req.channel_costs, &req.skills, &known);
    problems.finish()?;
    let Some(email) = email else { return Err(ApiError::BadRequest("email".into())) };
    let user = User {
        id: UserId::generate(),
        tenant_id: p.tenant_id,
        email,
        name,
        role,
        status: UserStatus::Invited,
        capacity,
        channel_costs,
        skills,
        created_at: now_ms(),
    };
    let secret = auth::random_secret();
    state.store.create_user(p.tenant_id, &user, Some(&auth::secret_hash(&secret))).await?;
    super::announce(&state, p.tenant_id, "user", &user.id.to_string(), "created").await;
    Ok((
        StatusCode::CREATED,
        Json(wire::UserInvited { user: user_view(&user), invite_token: auth::invite_text(p.tenant_id, &secret) }),
    ))
}

/// `GET /api/v1/users/{id}`.
pub async fn read(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<wire::UserView>, ApiError> {
    let user = state.store.user(p.tenant_id, parse_id(&id)?).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(user_view(&user)))
}

/// `PUT /api/v1/users/{id}`.
pub async fn update(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<wire::UserUpdate>,
) -> Result<Json<wire::UserView>, ApiError> {
    let mut user = state.store.user(p.tenant_id, parse_id(&id)?).await?.ok_or(ApiError::NotFound)?;
    if user.role == Role::Owner && p.role != Role::Owner {
        return Err(ApiError::Forbidden("only the owner can change the owner's account"));
    }
    let known = known_skills(&state, &p).await?;
    let mut problems = Problems::default();
    let email = email(&mut problems, &req.email);
    let name = problems.text("name", &req.name, 1, 100);
    let role = role_in(req.role);
    match (user.role == Role::Owner, role == Role::Owner) {
        (true, false) => problems.add("role", "invalid", "the owner stays owner"),
        (false, true) => problems.add("role", "invalid", "a tenant has one owner"),
        _ if !p.role.includes(role) => problems.add("role", "forbidden", "cannot grant a role above your own"),
        _ => {}
    }
    if req.disabled && user.role == Role::Owner {
        problems.add("disabled", "invalid", "the owner cannot be disabled");
    }
    let (capacity, channel_costs, skills) =
        profile(&mut problems, req.capacity, &req.channel_costs, &req.skills, &known);
    problems.finish()?;
    if let Some(email) = email {
        user.email = email;
    }
    user.name = name;
    user.role = role;
    user.status = match (req.disabled, user.status) {
        (true, _) => UserStatus::Disabled,
        (false, UserStatus::Disabled) => UserStatus::Active,
        (false, s) => s,
    };
    user.capacity = capacity;
    user.channel_costs = channel_costs;
    user.skills = skills;
    state.store.update_user(p.tenant_id, &user).await?;
    super::announce(&state, p.tenant_id, "user", &user.id.to_string(), "updated").await;
    Ok(Json(user_view(&user)))
}

/// `DELETE /api/v1/users/{id}`.
pub async fn remove(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = state.store.user(p.tenant_id, parse_id(&id)?).await?.ok_or(ApiError::NotFound)?;
    if user.role == Role::Owner {
        return Err(ApiError::Conflict("the tenant's owner cannot be deleted".into()));
    }
    // Their phone login goes first: a deleted agent's phone must not register again.
    match state.store.delete::<switchboard_domain::SipAccount>(p.tenant_id, &user.id.to_string()).await {
        Ok(()) | Err(switchboard_store::StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }
    state.store.delete_user(p.tenant_id, user.id).await?;
    super::announce(&state, p.tenant_id, "user", &user.id.to_string(), "deleted").await;
    Ok(StatusCode::NO_CONTENT)
}
