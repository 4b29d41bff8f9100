//! Tenant plugins as the platform keeps them: versions, the active one, grants, secrets, and the
//! record of each call.

use crate::UnixMillis;

/// What a plugin may use: declared by the plugin, granted by the tenant (deny by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginCapabilities {
    /// The tenant's key-value store.
    #[serde(default)]
    pub kv: bool,
    /// Hosts for HTTP (exact names).
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Secret names.
    #[serde(default)]
    pub secrets: Vec<String>,
}

impl PluginCapabilities {
    /// What is both asked for and granted.
    pub fn intersect(&self, other: &PluginCapabilities) -> PluginCapabilities {
        PluginCapabilities {
            kv: self.kv && other.kv,
            http_hosts: self.http_hosts.iter().filter(|h| other.http_hosts.contains(h)).cloned().collect(),
            secrets: self.secrets.iter().filter(|s| other.secrets.contains(s)).cloned().collect(),
        }
    }
}

/// One uploaded version of a plugin (the component is in the object store).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginVersion {
    /// 1, 2, ...
    pub number: u32,
    /// SHA-256 of the component (hex): its name in the object store and the compile cache.
    pub sha256: String,
    /// Bytes.
    pub size: u64,
    /// Hooks it implements (`on-contact`, `on-ivr`, `on-message`, `on-wrap-up`).
    pub hooks: Vec<String>,
    /// What it asks to use.
    pub needs: PluginCapabilities,
    /// When it was uploaded.
    pub uploaded_at: UnixMillis,
    /// Free text from the uploader.
    #[serde(default)]
    pub note: Option<String>,
}

/// A tenant's plugin: its versions, which one runs, and what the tenant granted it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Plugin {
    /// Its name (`a-z 0-9 _ -`), unique in the tenant.
    pub name: String,
    /// Every version uploaded, oldest first.
    pub versions: Vec<PluginVersion>,
    /// The version that runs, if any.
    pub active: Option<u32>,
    /// What the tenant allows it.
    #[serde(default)]
    pub grants: PluginCapabilities,
    /// Last change.
    pub updated_at: UnixMillis,
}

impl Plugin {
    /// Where a component is kept.
    pub fn object_key(tenant: crate::TenantId, sha256: &str) -> String {
        format!("tenants/{}/plugins/{sha256}.wasm", tenant.as_uuid().simple())
    }

    /// A version by number.
    pub fn version(&self, number: u32) -> Option<&PluginVersion> {
        self.versions.iter().find(|v| v.number == number)
    }

    /// The active version.
    pub fn active_version(&self) -> Option<&PluginVersion> {
        self.active.and_then(|n| self.version(n))
    }
}

/// A secret a tenant keeps for its plugins (written, never read back through the API).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginSecret {
    /// Its name (`A-Z a-z 0-9 _ -`).
    pub name: String,
    /// Its value.
    pub value: String,
    /// When it was set.
    pub updated_at: UnixMillis,
}

/// A contact as it arrived, before the tenant's on-contact plugin changed it: replay asks every
/// version about the contact as it was, not as a plugin left it. Kept only for changed contacts.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ContactArrival {
    /// The contact as it arrived.
    pub contact: crate::Contact,
}

/// One call of a plugin's hook, as the tenant sees it afterwards.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginCall {
    /// Its id (UUIDv7 text, so calls sort by time).
    pub id: String,
    /// The plugin.
    pub plugin: String,
    /// Its version.
    pub version: u32,
    /// The hook.
    pub hook: String,
    /// The contact it was about, if any.
    pub contact_id: Option<String>,
    /// When it started.
    pub at: UnixMillis,
    /// Microseconds it took.
    pub duration_us: u64,
    /// `ok`, or the failure kind (`timeout`, `memory`, `trap`, `busy`, ...).
    pub outcome: String,
    /// What it decided, or why it failed.
    pub detail: String,
    /// Its log lines (JSON array).
    pub logs: serde_json::Value,
}
