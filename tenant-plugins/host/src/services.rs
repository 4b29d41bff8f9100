//! The seam to the platform: what a plugin's host calls reach.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What a tenant has granted one plugin: deny by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// May use the tenant's key-value store.
    #[serde(default)]
    pub kv: bool,
    /// Host names it may reach over HTTP (exact, lower case).
    #[serde(default)]
    pub http_hosts: Vec<String>,
    /// Names of secrets it may read.
    #[serde(default)]
    pub secrets: Vec<String>,
}

/// Who is calling: the tenant, the plugin and what it may do.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The tenant (its id as text).
    pub tenant: String,
    /// The plugin's name.
    pub plugin: String,
    /// The version being run.
    pub version: u32,
    /// What this plugin may use (the declared capabilities the tenant granted).
    pub grants: Grants,
    /// Replay: key-value writes stay inside the call and are never stored.
    pub dry_run: bool,
}

/// An HTTP request a plugin makes (already checked against its grants).
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// GET, POST, ...
    pub method: String,
    /// Absolute http(s) URL.
    pub url: url::Url,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body, if any.
    pub body: Option<String>,
    /// Give up after this long.
    pub timeout: Duration,
    /// Refuse a response body larger than this.
    pub max_body_bytes: usize,
}

/// The answer to an [`HttpRequest`].
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body (as text; binary bodies are not for plugins).
    pub body: String,
}

/// Why a service call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// Not allowed (a private address, a quota).
    #[error("denied: {0}")]
    Denied(String),
    /// Over a size or count limit.
    #[error("quota: {0}")]
    Quota(String),
    /// Took too long.
    #[error("timed out")]
    Timeout,
    /// The response was too large.
    #[error("too large")]
    TooLarge,
    /// The backend failed.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// What the platform provides to plugins. Awaited inside the plugin call's future (time spent
/// waiting here does not count against the plugin's CPU budget).
#[async_trait]
pub trait HostServices: Send + Sync + 'static {
    /// A key of the tenant's key-value store.
    async fn kv_get(&self, tenant: &str, key: &str) -> Result<Option<String>, ServiceError>;
    /// Sets a key (quota checks are the implementation's).
    async fn kv_set(&self, tenant: &str, key: &str, value: &str) -> Result<(), ServiceError>;
    /// Deletes a key.
    async fn kv_delete(&self, tenant: &str, key: &str) -> Result<(), ServiceError>;
    /// One of the tenant's secrets.
    async fn secret(&self, tenant: &str, name: &str) -> Result<Option<String>, ServiceError>;
    /// Makes an HTTP request (the host already checked the host name against the grants).
    async fn http(&self, tenant: &str, request: HttpRequest) -> Result<HttpResponse, ServiceError>;
}
