//! What plugins reach in the platform: the tenant's key-value store and secrets, and HTTP with
//! the same protection as webhooks (public addresses only unless the deployment allows private
//! ones; the request is pinned to the addresses checked; no redirects).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use switchboard_domain::{PluginSecret, TenantId};
use switchboard_plugin_host::{HostServices, HttpRequest, HttpResponse, ServiceError};
use switchboard_store::{Store, StoreError};

/// Keys one tenant's plugins may keep.
const MAX_KEYS: u32 = 10_000;

pub(crate) struct PlatformServices {
    store: Arc<dyn Store>,
    allow_private: Arc<AtomicBool>,
}

impl PlatformServices {
    pub(crate) fn new(store: Arc<dyn Store>, allow_private: Arc<AtomicBool>) -> Self {
        PlatformServices { store, allow_private }
    }
}

fn tenant(t: &str) -> Result<TenantId, ServiceError> {
    t.parse().map_err(|_| ServiceError::Denied("no tenant".into()))
}

fn store_error(e: StoreError) -> ServiceError {
    match e {
        StoreError::Conflict { what } => ServiceError::Quota(what),
        other => ServiceError::Unavailable(other.to_string()),
    }
}

fn client_error(e: reqwest::Error) -> ServiceError {
    if e.is_timeout() { ServiceError::Timeout } else { ServiceError::Unavailable(e.to_string()) }
}

#[async_trait::async_trait]
impl HostServices for PlatformServices {
    async fn kv_get(&self, t: &str, key: &str) -> Result<Option<String>, ServiceError> {
        self.store.plugin_kv_get(tenant(t)?, key).await.map_err(store_error)
    }

    async fn kv_set(&self, t: &str, key: &str, value: &str) -> Result<(), ServiceError> {
        self.store.plugin_kv_set(tenant(t)?, key, value, MAX_KEYS, crate::auth::now_ms()).await.map_err(store_error)
    }

    async fn kv_delete(&self, t: &str, key: &str) -> Result<(), ServiceError> {
        self.store.plugin_kv_delete(tenant(t)?, key).await.map_err(store_error)
    }

    async fn secret(&self, t: &str, name: &str) -> Result<Option<String>, ServiceError> {
        let secret: Option<PluginSecret> = self.store.get(tenant(t)?, name).await.map_err(store_error)?;
        Ok(secret.map(|s| s.value))
    }

    async fn http(&self, t: &str, request: HttpRequest) -> Result<HttpResponse, ServiceError> {
        let allow_private = self.allow_private.load(Ordering::Relaxed);
        let pinned =
            crate::webhooks::check_target(request.url.as_str(), allow_private).await.map_err(ServiceError::Denied)?;
        let mut builder = reqwest::Client::builder()
            .timeout(request.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Switchboard-Plugins/1");
        if let Some((host, addrs)) = pinned {
            builder = builder.resolve_to_addrs(&host, &addrs);
        }
        let client = builder.build().map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| ServiceError::Denied(format!("method {}", request.method)))?;
        let mut req = client.request(method, request.url.clone());
        for (name, value) in &request.headers {
            req = req.header(name, value);
        }
        if let Some(body) = request.body {
            req = req.body(body);
        }
        let mut response = req.send().await.map_err(client_error)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .take(64)
            .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.to_string(), v.to_string())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(client_error)? {
            if body.len() + chunk.len() > request.max_body_bytes {
                return Err(ServiceError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        tracing::debug!(tenant = t, url = %request.url, status, "plugin HTTP");
        Ok(HttpResponse { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
    }
}
