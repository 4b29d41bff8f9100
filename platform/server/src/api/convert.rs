//! Domain values to wire views and back.

use std::collections::BTreeMap;

use switchboard_api_types as wire;
use switchboard_domain::{self as d, Channel, Role};

/// Domain role to wire role.
pub fn role_out(r: Role) -> wire::Role {
    match r {
        Role::Agent => wire::Role::Agent,
        Role::Supervisor => wire::Role::Supervisor,
        Role::Admin => wire::Role::Admin,
        Role::Owner => wire::Role::Owner,
    }
}

/// Wire role to domain role.
pub fn role_in(r: wire::Role) -> Role {
    match r {
        wire::Role::Agent => Role::Agent,
        wire::Role::Supervisor => Role::Supervisor,
        wire::Role::Admin => Role::Admin,
        wire::Role::Owner => Role::Owner,
    }
}

/// Domain channel to wire channel.
pub fn channel_out(c: Channel) -> wire::Channel {
    match c {
        Channel::Voice => wire::Channel::Voice,
        Channel::Webrtc => wire::Channel::Webrtc,
        Channel::Chat => wire::Channel::Chat,
        Channel::Sms => wire::Channel::Sms,
        Channel::Email => wire::Channel::Email,
        Channel::Task => wire::Channel::Task,
    }
}

/// Wire channel to domain channel.
pub fn channel_in(c: wire::Channel) -> Channel {
    match c {
        wire::Channel::Voice => Channel::Voice,
        wire::Channel::Webrtc => Channel::Webrtc,
        wire::Channel::Chat => Channel::Chat,
        wire::Channel::Sms => Channel::Sms,
        wire::Channel::Email => Channel::Email,
        wire::Channel::Task => Channel::Task,
    }
}

/// A tenant as shown.
pub fn tenant_view(t: &d::Tenant) -> wire::TenantView {
    wire::TenantView {
        id: t.id.to_string(),
        name: t.name.clone(),
        status: match t.status {
            d::TenantStatus::Active => "active".into(),
            d::TenantStatus::Suspended => "suspended".into(),
        },
        created_at: t.created_at,
    }
}

/// A user as shown; every channel's effective cost is listed.
pub fn user_view(u: &d::User) -> wire::UserView {
    let channel_costs: BTreeMap<wire::Channel, u32> =
        Channel::ALL.into_iter().map(|c| (channel_out(c), u.channel_costs.cost(c))).collect();
    wire::UserView {
        id: u.id.to_string(),
        email: u.email.as_str().to_owned(),
        name: u.name.clone(),
        role: role_out(u.role),
        status: u.status.as_str().into(),
        capacity: u.capacity,
        channel_costs,
        skills: u
            .skills
            .iter()
            .map(|s| wire::SkillLevel { skill_id: s.skill_id.to_string(), level: s.level })
            .collect(),
        created_at: u.created_at,
    }
}

/// An API key as shown.
pub fn api_key_view(k: &d::ApiKey) -> wire::ApiKeyView {
    wire::ApiKeyView {
        id: k.id.to_string(),
        name: k.name.clone(),
        role: role_out(k.role),
        prefix: k.prefix.clone(),
        created_at: k.created_at,
    }
}
