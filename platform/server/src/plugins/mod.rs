//! Tenant plugins in the platform: the host (made on first use), what plugins may reach
//! ([`services::PlatformServices`]), the hooks where the platform asks them, and the API.
//!
//! A hook's failure never stops a contact: it is recorded with the reason (the tenant sees it in
//! the plugin's calls) and the platform does what it would have done without the plugin.

pub mod api;
mod services;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use switchboard_domain::{Channel, Contact, Plugin, PluginCall, PluginCapabilities, Queue, Skill, TenantId};
use switchboard_plugin_host::{
    CallContext, Compiler, Failure, Grants, HookKind, HostConfig, LoadedPlugin, PluginHost, Report, hook,
};
use switchboard_store::Store;

use crate::error::ApiError;

/// Calls are kept this long.
const KEEP_CALLS_MS: i64 = 7 * 86_400_000;

/// The plugin service of this process.
#[derive(Clone)]
pub struct Plugins {
    config: HostConfig,
    host: Arc<tokio::sync::OnceCell<Arc<PluginHost>>>,
    store: Arc<dyn Store>,
    objects: Arc<dyn object_store::ObjectStore>,
    allow_private: Arc<AtomicBool>,
}

impl std::fmt::Debug for Plugins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugins").field("config", &self.config).finish_non_exhaustive()
    }
}

/// What the on-contact hook decided for a new contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Route it (the contact may have been changed).
    Route,
    /// Calls: to voicemail.
    Voicemail,
    /// Refuse it, with the plugin's reason.
    Reject(String),
}

/// What a new contact came with besides the contact itself.
#[derive(Debug, Clone, Default)]
pub struct Arrival {
    /// Our number, address or widget it reached.
    pub address: Option<String>,
    /// The first message's text.
    pub text: Option<String>,
}

impl Plugins {
    /// The service; the host itself (its instance pool) is made on first use.
    pub fn new(
        config: &crate::config::Config,
        store: Arc<dyn Store>,
        objects: Arc<dyn object_store::ObjectStore>,
    ) -> Plugins {
        let program = match &config.plugin_compiler {
            Some(program) => program.clone(),
            None => std::env::current_exe().unwrap_or_else(|_| "switchboard".into()),
        };
        let compiler = Compiler { program, args: vec!["plugin".into(), "compile-worker".into()] };
        Plugins {
            config: HostConfig {
                cache_dir: config.data_dir.join("plugin-cache"),
                compiler,
                limits: switchboard_plugin_host::Limits::default(),
            },
            host: Arc::default(),
            store,
            objects,
            allow_private: Arc::new(AtomicBool::new(config.danger_allow_private_webhook_targets)),
        }
    }

    /// Lets plugins' HTTP reach loopback and private addresses (tests, private deployments).
    pub fn allow_private_targets(&self, allow: bool) {
        self.allow_private.store(allow, Ordering::Relaxed);
    }

    /// The host, made on first use.
    pub async fn host(&self) -> Result<Arc<PluginHost>, ApiError> {
        self.host
            .get_or_try_init(|| async {
                let services = services::PlatformServices::new(self.store.clone(), self.allow_private.clone());
                PluginHost::new(self.config.clone(), Arc::new(services)).map(Arc::new)
            })
            .await
            .cloned()
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    /// The tenant's plugin whose active version implements `hook`, if any.
    async fn active_for(&self, tenant: TenantId, hook: HookKind) -> Option<(Plugin, u32)> {
        let plugins = match self.store.all::<Plugin>(tenant).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "plugins unreadable; defaults apply");
                return None;
            }
        };
        plugins.into_iter().find_map(|p| {
            let v = p.active_version()?;
            let n = v.number;
            v.hooks.iter().any(|h| h == hook.as_str()).then_some(())?;
            Some((p, n))
        })
    }

    /// Loads a version (memory, disk cache, or compiled from the stored component).
    async fn load(&self, tenant: TenantId, plugin: &Plugin, version: u32) -> Result<Arc<LoadedPlugin>, Failure> {
        let v = plugin.version(version).ok_or_else(|| Failure::Unavailable(format!("no version {version}")))?;
        let host = self.host().await.map_err(|e| Failure::Unavailable(format!("{e:?}")))?;
        let key = object_store::path::Path::from(Plugin::object_key(tenant, &v.sha256));
        let objects = self.objects.clone();
        host.load(&v.sha256, async move || {
            let got = objects.get(&key).await.ok()?;
            got.bytes().await.ok().map(|b| b.to_vec())
        })
        .await
    }

    fn context(tenant: TenantId, plugin: &Plugin, version: u32, dry_run: bool) -> CallContext {
        let needs = plugin.version(version).map(|v| v.needs.clone()).unwrap_or_default();
        let granted = needs.intersect(&plugin.grants);
        CallContext {
            tenant: tenant.to_string(),
            plugin: plugin.name.clone(),
            version,
            grants: Grants { kv: granted.kv, http_hosts: granted.http_hosts, secrets: granted.secrets },
            dry_run,
        }
    }

    /// Asks the tenant's on-contact plugin about a new contact and applies its answer to the
    /// contact (queue, priority, skills, attributes). Without a plugin, or when it fails, the
    /// contact is unchanged and routed.
    pub async fn on_contact(&self, tenant: TenantId, contact: &mut Contact, arrival: &Arrival) -> Verdict {
        let Some((plugin, version)) = self.active_for(tenant, HookKind::OnContact).await else {
            return Verdict::Route;
        };
        let (verdict, call) = self.decide(tenant, &plugin, version, contact, arrival, false).await;
        self.record(tenant, call).await;
        if let Some((changed, verdict)) = verdict {
            *contact = changed;
            return verdict;
        }
        Verdict::Route
    }

    /// On-contact for channels that cannot yet refuse or divert a contact at this point (calls,
    /// SMS, e-mail, chat): route changes apply; a reject or voicemail answer is kept as the
    /// `plugin_verdict` attribute and the contact is routed (it was already accepted from the
    /// customer, and nothing accepted is dropped).
    pub async fn admit(&self, tenant: TenantId, contact: &mut Contact, arrival: &Arrival) {
        match self.on_contact(tenant, contact, arrival).await {
            Verdict::Route => {}
            Verdict::Voicemail => {
                contact.attributes.insert("plugin_verdict".into(), "voicemail".into());
            }
            Verdict::Reject(why) => {
                contact.attributes.insert("plugin_verdict".into(), format!("reject: {why}"));
            }
        }
    }

    /// Runs on-contact of one version for a contact and says what it would do (the changed
    /// contact and the verdict), with the call's record. `None`: it failed, the default applies.
    async fn decide(
        &self,
        tenant: TenantId,
        plugin: &Plugin,
        version: u32,
        contact: &Contact,
        arrival: &Arrival,
        dry_run: bool,
    ) -> (Option<(Contact, Verdict)>, PluginCall) {
        let started = switchboard_domain::UnixMillis::from(crate::auth::now_ms());
        let input = self.hook_contact(tenant, contact, arrival).await;
        let report = match self.load(tenant, plugin, version).await {
            Ok(loaded) => {
                let host = match self.host().await {
                    Ok(h) => h,
                    Err(e) => return (None, failed_call(plugin, version, contact, started, &format!("{e:?}"))),
                };
                host.on_contact(&loaded, Self::context(tenant, plugin, version, dry_run), input).await
            }
            Err(f) => {
                Report { outcome: Err(f), logs: Vec::new(), logs_dropped: 0, duration: Default::default(), fuel: 0 }
            }
        };
        let applied = match &report.outcome {
            Ok(decision) => self.apply(tenant, contact, decision.clone()).await,
            Err(f) => Err(f.clone()),
        };
        let (outcome, detail, result) = match applied {
            Ok((changed, verdict)) => {
                let detail = describe(contact, &changed, &verdict);
                ("ok".to_string(), detail, Some((changed, verdict)))
            }
            Err(f) => (failure_kind(&f), format!("{f}; routed as without the plugin"), None),
        };
        let call = PluginCall {
            id: uuid::Uuid::now_v7().to_string(),
            plugin: plugin.name.clone(),
            version,
            hook: HookKind::OnContact.as_str().into(),
            contact_id: Some(contact.id.to_string()),
            at: started,
            duration_us: u64::try_from(report.duration.as_micros()).unwrap_or(u64::MAX),
            outcome,
            detail,
            logs: logs_json(&report),
        };
        (result, call)
    }

    async fn record(&self, tenant: TenantId, call: PluginCall) {
        if call.outcome != "ok" {
            tracing::warn!(%tenant, plugin = %call.plugin, version = call.version, outcome = %call.outcome, detail = %call.detail, "plugin call failed");
        }
        let forget = call.at - KEEP_CALLS_MS;
        if let Err(e) = self.store.record_plugin_call(tenant, &call, forget).await {
            tracing::warn!(%tenant, plugin = %call.plugin, error = %e, "plugin call not recorded");
        }
    }

    /// The contact as a plugin sees it.
    async fn hook_contact(&self, tenant: TenantId, contact: &Contact, arrival: &Arrival) -> hook::Contact {
        let queue = self.store.get::<Queue>(tenant, &contact.queue_id.to_string()).await.ok().flatten();
        let skills = self.store.all::<Skill>(tenant).await.unwrap_or_default();
        let skill_names = contact
            .skills
            .iter()
            .filter_map(|r| skills.iter().find(|s| s.id == r.skill_id).map(|s| s.name.clone()))
            .collect();
        hook::Contact {
            id: contact.id.to_string(),
            channel: match contact.channel {
                Channel::Voice => hook::Channel::Voice,
                Channel::Webrtc => hook::Channel::Webrtc,
                Channel::Chat => hook::Channel::Chat,
                Channel::Sms => hook::Channel::Sms,
                Channel::Email => hook::Channel::Email,
                Channel::Task => hook::Channel::Task,
            },
            customer: contact.customer.clone(),
            address: arrival.address.clone(),
            queue: queue.map(|q| q.name).unwrap_or_default(),
            priority: contact.priority,
            skills: skill_names,
            attributes: contact
                .attributes
                .iter()
                .map(|(name, value)| hook::Attribute { name: name.clone(), value: value.clone() })
                .collect(),
            text: arrival.text.clone(),
            arrived_ms: u64::try_from(contact.enqueued_at).unwrap_or(0),
        }
    }

    /// Applies a decision to a copy of the contact; names that do not exist are bad output.
    async fn apply(
        &self,
        tenant: TenantId,
        contact: &Contact,
        decision: hook::ContactDecision,
    ) -> Result<(Contact, Verdict), Failure> {
        let mut changed = contact.clone();
        let route = match decision {
            hook::ContactDecision::Voicemail => return Ok((changed, Verdict::Voicemail)),
            hook::ContactDecision::Reject(why) => return Ok((changed, Verdict::Reject(why))),
            hook::ContactDecision::Route(route) => route,
        };
        if let Some(name) = &route.queue {
            let queues = self.store.all::<Queue>(tenant).await.map_err(|e| Failure::Unavailable(e.to_string()))?;
            let queue = queues
                .iter()
                .find(|q| q.name == *name)
                .ok_or_else(|| Failure::BadOutput(format!("no queue named {name:?}")))?;
            changed.queue_id = queue.id;
            changed.priority = queue.priority;
        }
        if let Some(p) = route.priority {
            if p > 100 {
                return Err(Failure::BadOutput(format!("priority {p} is above 100")));
            }
            changed.priority = p;
        }
        if !route.skills.is_empty() {
            let skills = self.store.all::<Skill>(tenant).await.map_err(|e| Failure::Unavailable(e.to_string()))?;
            for name in &route.skills {
                let skill = skills
                    .iter()
                    .find(|s| s.name == *name)
                    .ok_or_else(|| Failure::BadOutput(format!("no skill named {name:?}")))?;
                if !changed.skills.iter().any(|r| r.skill_id == skill.id) {
                    changed.skills.push(switchboard_domain::SkillRequirement { skill_id: skill.id, min_level: 1 });
                }
            }
        }
        if route.attributes.len() > 50 {
            return Err(Failure::BadOutput("more than 50 attributes".into()));
        }
        for a in route.attributes {
            if a.name.is_empty() || a.name.len() > 64 || a.value.len() > 1024 {
                return Err(Failure::BadOutput(format!(
                    "attribute {:?}: names 1-64 bytes, values at most 1024",
                    a.name
                )));
            }
            changed.attributes.insert(a.name, a.value);
        }
        Ok((changed, Verdict::Route))
    }
}

/// The stable word for a failure (what the API shows as `outcome`).
fn failure_kind(f: &Failure) -> String {
    match f {
        Failure::Busy => "busy",
        Failure::Timeout(_) => "timeout",
        Failure::Memory(_) => "memory",
        Failure::StackOverflow => "stack_overflow",
        Failure::Trap(_) => "trap",
        Failure::HostCalls(_) => "host_calls",
        Failure::BadOutput(_) => "bad_output",
        Failure::Unavailable(_) => "unavailable",
    }
    .into()
}

fn failed_call(plugin: &Plugin, version: u32, contact: &Contact, at: i64, why: &str) -> PluginCall {
    PluginCall {
        id: uuid::Uuid::now_v7().to_string(),
        plugin: plugin.name.clone(),
        version,
        hook: HookKind::OnContact.as_str().into(),
        contact_id: Some(contact.id.to_string()),
        at,
        duration_us: 0,
        outcome: "unavailable".into(),
        detail: why.into(),
        logs: serde_json::json!([]),
    }
}

fn logs_json<T>(report: &Report<T>) -> serde_json::Value {
    let mut lines: Vec<serde_json::Value> = report
        .logs
        .iter()
        .map(|l| {
            let fields: serde_json::Map<String, serde_json::Value> =
                l.fields.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            serde_json::json!({"level": l.level, "message": l.message, "fields": fields})
        })
        .collect();
    if report.logs_dropped > 0 {
        lines.push(serde_json::json!({"level": "warn", "message": format!("{} more lines dropped", report.logs_dropped), "fields": {}}));
    }
    serde_json::Value::Array(lines)
}

/// What a decision changes, in words (the call record and replay show it).
fn describe(before: &Contact, after: &Contact, verdict: &Verdict) -> String {
    match verdict {
        Verdict::Voicemail => return "voicemail".into(),
        Verdict::Reject(why) => return format!("reject: {why}"),
        Verdict::Route => {}
    }
    let mut parts = Vec::new();
    if after.queue_id != before.queue_id {
        parts.push(format!("queue {}", after.queue_id));
    }
    if after.priority != before.priority {
        parts.push(format!("priority {}", after.priority));
    }
    if after.skills != before.skills {
        parts.push(format!("{} skills", after.skills.len()));
    }
    for (k, v) in &after.attributes {
        if before.attributes.get(k) != Some(v) {
            parts.push(format!("{k}={v}"));
        }
    }
    if parts.is_empty() { "route (unchanged)".into() } else { format!("route: {}", parts.join(", ")) }
}

/// What a plugin's manifest asks for, as the platform stores it.
pub(crate) fn capabilities_of(m: &switchboard_plugin_host::Manifest) -> PluginCapabilities {
    PluginCapabilities { kv: m.needs.kv, http_hosts: m.needs.http_hosts.clone(), secrets: m.needs.secrets.clone() }
}
