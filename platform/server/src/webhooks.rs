//! Outbound webhooks: contact lifecycle events delivered to tenant endpoints, signed, retried,
//! each (endpoint, event) recorded once so redelivered bus messages are sent once.
//!
//! The worker consumes the durable bus queue `switchboard.webhooks` (every contact event of every
//! tenant), records a delivery per interested endpoint (idempotent by event id), acknowledges
//! the bus message, then attempts each delivery with backoff; pending deliveries are resumed from
//! the store when the process starts.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use switchboard_bus::{Bus, Subscription};
use switchboard_domain::{DeliveryStatus, TenantId, Webhook, WebhookDelivery};
use switchboard_store::Store;

use crate::auth::now_ms;

/// Name of the durable queue the worker consumes.
pub const QUEUE: &str = "switchboard.webhooks";

/// Settings of the delivery worker.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// First retry delay; each further retry waits three times longer.
    pub retry_base: Duration,
    /// Attempts before giving up.
    pub max_attempts: u32,
    /// Allow loopback/private targets (tests only).
    pub allow_private: bool,
}

/// The `Switchboard-Signature` header value for a body sent at `t` (unix seconds).
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
        // HMAC takes keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(b"").unwrap_or_else(|_| unreachable!())
    });
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64 // carrier-grade NAT
                || v4.octets()[0] == 0)
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local
                || (seg[0] & 0xffc0) == 0xfe80 // link local
                || v6.to_ipv4_mapped().is_some_and(|v4| !public(IpAddr::V4(v4))))
        }
    }
}

/// Resolves the URL's host and refuses non-public targets unless allowed. Returns the host and
/// the checked addresses, which the request is pinned to (no second lookup to rebind).
pub(crate) async fn check_target(
    url: &str,
    allow_private: bool,
) -> Result<Option<(String, Vec<std::net::SocketAddr>)>, String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("bad URL: {e}"))?;
    let host = parsed.host_str().ok_or("URL has no host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(443);
    if allow_private {
        return Ok(None);
    }
    let addrs: Vec<_> = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() || addrs.iter().any(|a| !public(a.ip())) {
        return Err(format!("{host} resolves to a non-public address; refused"));
    }
    Ok(Some((host, addrs)))
}

/// The delivery worker.
#[derive(Clone)]
pub struct Webhooks {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    client: reqwest::Client,
    settings: WebhookSettings,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Webhooks {
    /// A worker over the store and bus.
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>, settings: WebhookSettings) -> Self {
        let client = Self::builder().build().unwrap_or_default();
        Self { store, bus, client, settings }
    }

    /// Time-limited, no redirects (a redirect could lead to an internal address).
    fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Switchboard-Webhooks/1")
    }

    /// Subscribes (so no event published after this is missed), resumes pending deliveries and
    /// runs until the bus closes.
    pub async fn start(self) -> Result<tokio::task::JoinHandle<()>, switchboard_bus::BusError> {
        let consumer =
            self.bus.subscribe(Subscription::durable(QUEUE, &["tenant.*.contact.*", "tenant.*.recording.*"])).await?;
        let worker = self.clone();
        Ok(tokio::spawn(async move { worker.run(consumer).await }))
    }

    async fn run(self, mut consumer: Box<dyn switchboard_bus::Consumer>) {
        self.resume().await;
        while let Some(d) = consumer.next().await {
            let words: Vec<&str> = d.message.topic.split('.').collect();
            let (Some(tenant), Some(family), Some(kind)) =
                (words.get(1).and_then(|t| t.parse::<TenantId>().ok()), words.get(2), words.get(3))
            else {
                let _ = d.ack().await;
                continue;
            };
            let event = format!("{family}.{kind}");
            match self.fan_out(tenant, &event, &d.message.id.0, &d.message.payload).await {
                Ok(()) => {
                    let _ = d.ack().await;
                }
                Err(e) => {
                    // Nothing recorded: let the bus hand it to us (or a peer) again.
                    tracing::warn!(%tenant, error = %e, "webhook fan-out failed; requeued");
                    let _ = d.requeue().await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Pending deliveries left by a previous run.
    async fn resume(&self) {
        let Ok(tenants) = self.store.tenant_ids().await else { return };
        for tenant in tenants {
            if let Ok(due) = self.store.due_deliveries(tenant, i64::MAX, 10_000).await {
                for d in due {
                    self.spawn_attempts(tenant, d);
                }
            }
        }
    }

    async fn fan_out(
        &self,
        tenant: TenantId,
        event: &str,
        event_id: &str,
        payload: &[u8],
    ) -> Result<(), switchboard_store::StoreError> {
        let hooks: Vec<Webhook> = (&*self.store as &dyn Store).all(tenant).await?;
        let data: serde_json::Value = serde_json::from_slice(payload).unwrap_or(serde_json::Value::Null);
        let now = now_ms();
        for hook in hooks.into_iter().filter(|h| h.wants(event)) {
            let body = json!({
                "id": event_id,
                "type": event,
                "tenant_id": tenant,
                "created_at": data.get("at").cloned().unwrap_or(json!(now)),
                "data": data,
            });
            let delivery = WebhookDelivery {
                id: uuid::Uuid::now_v7().to_string(),
                webhook_id: hook.id,
                event_id: event_id.to_owned(),
                event: event.to_owned(),
                payload: body.to_string(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: Some(now),
                last_status: None,
                last_error: None,
                created_at: now,
                delivered_at: None,
            };
            if self.store.create_delivery(tenant, &delivery).await? {
                self.spawn_attempts(tenant, delivery);
            }
        }
        Ok(())
    }

    fn spawn_attempts(&self, tenant: TenantId, delivery: WebhookDelivery) {
        let worker = self.clone();
        tokio::spawn(async move { worker.attempts(tenant, delivery).await });
    }

    async fn attempts(&self, tenant: TenantId, mut d: WebhookDelivery) {
        loop {
            if let Some(at) = d.next_attempt_at {
                let wait = (at - now_ms()).max(0) as u64;
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            let hook = match (&*self.store as &dyn Store).get::<Webhook>(tenant, &d.webhook_id.to_string()).await {
                Ok(Some(h)) => h,
                Ok(None) => {
                    self.finish(tenant, &mut d, DeliveryStatus::Failed, None, Some("endpoint deleted".into())).await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook endpoint unreadable; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            d.attempts += 1;
            let (status, error) = match self.send(&hook, &d).await {
                Attempt::Answered(code) if (200..300).contains(&code) => {
                    d.delivered_at = Some(now_ms());
                    self.finish(tenant, &mut d, DeliveryStatus::Delivered, Some(code), None).await;
                    return;
                }
                Attempt::Refused(reason) => {
                    self.finish(tenant, &mut d, DeliveryStatus::Failed, None, Some(reason)).await;
                    return;
                }
                Attempt::Answered(code) => (Some(code), Some(format!("HTTP {code}"))),
                Attempt::Unreachable(e) => (None, Some(e)),
            };
            if d.attempts >= self.settings.max_attempts {
                self.finish(tenant, &mut d, DeliveryStatus::Failed, status, error).await;
                return;
            }
            let delay = self.settings.retry_base.as_millis() as i64 * 3i64.pow(d.attempts.saturating_sub(1).min(12));
            d.next_attempt_at = Some(now_ms() + delay);
            d.last_status = status;
            d.last_error = error;
            if let Err(e) = self.store.update_delivery(tenant, &d).await {
                tracing::warn!(error = %e, "webhook delivery progress not saved");
            }
        }
    }

    async fn finish(
        &self,
        tenant: TenantId,
        d: &mut WebhookDelivery,
        status: DeliveryStatus,
        code: Option<u16>,
        error: Option<String>,
    ) {
        d.status = status;
        d.next_attempt_at = None;
        d.last_status = code;
        d.last_error = error;
        if let Err(e) = self.store.update_delivery(tenant, d).await {
            tracing::warn!(error = %e, "webhook delivery result not saved");
        }
    }

    /// One attempt.
    async fn send(&self, hook: &Webhook, d: &WebhookDelivery) -> Attempt {
        let client = match check_target(&hook.url, self.settings.allow_private).await {
            Err(reason) => return Attempt::Refused(reason),
            Ok(None) => self.client.clone(),
            Ok(Some((host, addrs))) => match Self::builder().resolve_to_addrs(&host, &addrs).build() {
                Ok(c) => c,
                Err(e) => return Attempt::Unreachable(e.to_string()),
            },
        };
        let t = now_ms() / 1000;
        let sent = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("switchboard-event-id", &d.event_id)
            .header("switchboard-event", &d.event)
            .header("switchboard-signature", signature(&hook.secret, t, &d.payload))
            .body(d.payload.clone())
            .send()
            .await;
        match sent {
            Ok(r) => Attempt::Answered(r.status().as_u16()),
            Err(e) => Attempt::Unreachable(e.to_string()),
        }
    }
}

/// What one attempt came to.
#[derive(Debug)]
enum Attempt {
    /// The endpoint answered with this status.
    Answered(u16),
    /// No answer (connection refused, timeout): retried.
    Unreachable(String),
    /// Not sent because the target is forbidden: not retried.
    Refused(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature("secret", 100, "{}");
        assert!(a.starts_with("t=100,v1="));
        assert_ne!(a, signature("secret", 101, "{}"));
        assert_ne!(a, signature("secret", 100, "{ }"));
        assert_ne!(a, signature("other", 100, "{}"));
    }

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!public(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::"] {
            assert!(public(ip.parse().expect("ip")), "{ip}");
        }
    }
}
