//! Tenant plugins: versions, activation, grants, secrets, calls, replay.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What a plugin may use (asked for by the plugin, granted by the tenant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginCapabilitiesView {
    /// The tenant's key-value store.
    #[serde(default)]
    pub kv: bool,
    /// Host names for HTTP (exact).
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Secret names.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// One uploaded version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginVersionView {
    /// 1, 2, ...
    pub number: u32,
    /// SHA-256 of the component.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// Hooks it implements.
    pub hooks: Vec<String>,
    /// What it asks to use.
    pub needs: PluginCapabilitiesView,
    /// When it was uploaded.
    pub uploaded_at: i64,
    /// The uploader's note.
    pub note: Option<String>,
}

/// A plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginView {
    /// Its name.
    pub name: String,
    /// The version that runs, if any.
    pub active: Option<u32>,
    /// What the tenant granted.
    pub grants: PluginCapabilitiesView,
    /// What the active version asks for and is not granted (it gets "denied" for those).
    pub missing_grants: PluginCapabilitiesView,
    /// Every version, oldest first.
    pub versions: Vec<PluginVersionView>,
    /// Last change.
    pub updated_at: i64,
}

/// `POST /api/v1/plugins/{id}/activate`: run this version (an older one is a roll-back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginActivateInput {
    /// The version.
    pub version: u32,
}

/// One call of a plugin's hook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginCallView {
    /// Its id.
    pub id: String,
    /// The version that ran.
    pub version: u32,
    /// The hook.
    pub hook: String,
    /// The contact, if any.
    pub contact_id: Option<String>,
    /// When.
    pub at: i64,
    /// Microseconds.
    pub duration_us: u64,
    /// `ok` or the failure (`timeout`, `memory`, `trap`, `stack_overflow`, `host_calls`,
    /// `bad_output`, `busy`, `unavailable`).
    pub outcome: String,
    /// What it decided, or why it failed (then the default applied).
    pub detail: String,
    /// What it logged.
    #[schema(value_type = Object)]
    pub logs: serde_json::Value,
}

/// `POST /api/v1/plugins/{id}/versions/{version}/replay`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginReplayInput {
    /// How many of the newest contacts (1-200).
    #[serde(default = "twenty")]
    pub contacts: u32,
}

fn twenty() -> u32 {
    20
}

/// What a version would have decided for one past contact, next to what happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginReplayEntry {
    /// The contact.
    pub contact_id: String,
    /// Its channel.
    pub channel: String,
    /// What the active version (or the default, without one) decides now.
    pub current: String,
    /// What the replayed version decides.
    pub candidate: String,
    /// Whether they differ.
    pub changed: bool,
}

/// A replay's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginReplayView {
    /// The version replayed.
    pub version: u32,
    /// Contacts replayed.
    pub replayed: u32,
    /// How many would change.
    pub changed: u32,
    /// Each contact, newest first.
    pub entries: Vec<PluginReplayEntry>,
}

/// `POST /api/v1/plugin-secrets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginSecretInput {
    /// Its name (`A-Z a-z 0-9 _ -`), as plugins ask for it.
    pub name: String,
    /// The value (never shown again).
    pub value: String,
}

/// A secret's name (values are write-only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PluginSecretView {
    /// Its name.
    pub name: String,
    /// When it was set.
    pub updated_at: i64,
}
