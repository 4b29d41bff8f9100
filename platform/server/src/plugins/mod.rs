//! Tenant plugins in the platform: the host (made on first use), what plugins may reach
//! ([`services::PlatformServices`]), the hooks where the platform asks them, and the API.
//!
//! A hook's failure never stops a contact: it is recorded with the reason (the tenant sees it in
//! the plugin's calls) and the platform does what it would have done without the plugin.

pub mod api;
pub mod effects;
mod services;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_domain::{
    Channel, Contact, ContactArrival, Plugin, PluginCall, PluginCapabilities, Queue, Skill, TenantId,
};
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
    /// Each tenant's plugins as last read: every contact and message asks which plugin is
    /// active, and that must not be a store read each time.
    known: Arc<Mutex<HashMap<TenantId, KnownPlugins>>>,
}

/// A tenant's plugins as read at that instant.
type KnownPlugins = (Instant, Arc<Vec<Plugin>>);

/// How long this process trusts its copy of a tenant's plugins. Changes made through this
/// process apply at once ([`Plugins::forget`]); changes made through another replica within this.
const PLUGINS_FRESH: Duration = Duration::from_secs(2);
/// Tenants whose plugins are kept in memory at most (the copy is rebuilt when full).
const PLUGINS_KNOWN: usize = 10_000;

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

/// Longest bot reply, in characters (a long chat message; SMS splits it into segments).
const MAX_REPLY_CHARS: usize = 1600;
/// Most actions one wrap-up may ask for.
const MAX_WRAP_UP_ACTIONS: usize = 5;

/// A hook call's report with the plugin that answered.
struct Invocation<T> {
    plugin: Plugin,
    version: u32,
    started: i64,
    report: Report<T>,
}

/// The on-ivr plugin's choice, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IvrAnswer {
    /// A branch of the step (None: its default).
    pub branch: Option<String>,
    /// Attributes to set on the call.
    pub attributes: Vec<(String, String)>,
}

/// The on-message plugin's answer, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAnswer {
    /// The bot's reply to the customer.
    pub reply: Option<String>,
    /// Tags to set on the contact.
    pub attributes: Vec<(String, String)>,
    /// A queue to move the contact to (id, name).
    pub queue: Option<(switchboard_domain::QueueId, String)>,
}

/// Something to do after a finished contact, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WrapUpAction {
    /// An SMS from the tenant's number.
    Sms {
        /// E.164.
        to: String,
        /// The text.
        text: String,
    },
    /// An e-mail from the tenant's address.
    Email {
        /// The address.
        to: String,
        /// Subject.
        subject: String,
        /// Plain-text body.
        body: String,
    },
    /// Attributes to set on the contact.
    Attributes(Vec<(String, String)>),
}

impl WrapUpAction {
    fn describe(&self) -> String {
        match self {
            WrapUpAction::Sms { to, .. } => format!("SMS to {to}"),
            WrapUpAction::Email { to, subject, .. } => format!("e-mail to {to} ({subject:?})"),
            WrapUpAction::Attributes(a) => a.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
        }
    }
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
            known: Arc::default(),
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

    /// Drops this process's copy of a tenant's plugins (after the API changed one).
    pub fn forget(&self, tenant: TenantId) {
        if let Ok(mut known) = self.known.lock() {
            known.remove(&tenant);
        }
    }

    /// The tenant's plugins: this process's copy while fresh, else read again.
    async fn tenant_plugins(&self, tenant: TenantId) -> Result<Arc<Vec<Plugin>>, switchboard_store::StoreError> {
        if let Ok(known) = self.known.lock()
            && let Some((read_at, plugins)) = known.get(&tenant)
            && read_at.elapsed() < PLUGINS_FRESH
        {
            return Ok(plugins.clone());
        }
        let plugins = Arc::new(self.store.all::<Plugin>(tenant).await?);
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= PLUGINS_KNOWN {
                known.clear();
            }
            known.insert(tenant, (Instant::now(), plugins.clone()));
        }
        Ok(plugins)
    }

    /// The tenant's plugin whose active version implements `hook`, if any.
    async fn active_for(&self, tenant: TenantId, hook: HookKind) -> Option<(Plugin, u32)> {
        let plugins = match self.tenant_plugins(tenant).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(%tenant, error = %e, "plugins unreadable; defaults apply");
                return None;
            }
        };
        plugins.iter().find_map(|p| {
            let v = p.active_version()?;
            let n = v.number;
            v.hooks.iter().any(|h| h == hook.as_str()).then_some(())?;
            Some((p.clone(), n))
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
        let Some((changed, verdict)) = verdict else { return Verdict::Route };
        if changed != *contact {
            // Replay must ask other versions about the contact as it arrived.
            let before = ContactArrival { contact: contact.clone() };
            if let Err(e) = self.store.insert(tenant, &before).await {
                tracing::warn!(%tenant, contact = %contact.id, error = %e, "could not keep the contact as it arrived");
            }
        }
        *contact = changed;
        verdict
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

    /// Calls one hook of the tenant's active plugin for it: None when no active plugin
    /// implements the hook. The report comes back with the plugin, its version and the start.
    async fn invoke<T, F, Fut>(&self, tenant: TenantId, hook: HookKind, call: F) -> Option<Invocation<T>>
    where
        F: FnOnce(Arc<PluginHost>, Arc<LoadedPlugin>, CallContext) -> Fut,
        Fut: std::future::Future<Output = Report<T>>,
    {
        let (plugin, version) = self.active_for(tenant, hook).await?;
        let started = crate::auth::now_ms();
        let report = match (self.load(tenant, &plugin, version).await, self.host().await) {
            (Ok(loaded), Ok(host)) => call(host, loaded, Self::context(tenant, &plugin, version, false)).await,
            (Err(f), _) => failed_report(f),
            (_, Err(e)) => failed_report(Failure::Unavailable(format!("{e:?}"))),
        };
        Some(Invocation { plugin, version, started, report })
    }

    /// Records a call of `hook`: `result` is what the platform made of the answer (Ok: a
    /// description of the effect) or why the default applied.
    async fn record_call<T>(
        &self,
        tenant: TenantId,
        hook: HookKind,
        contact: Option<String>,
        inv: &Invocation<T>,
        result: Result<String, Failure>,
    ) {
        let (outcome, detail) = match result {
            Ok(detail) => ("ok".to_string(), detail),
            Err(f) => (failure_kind(&f), format!("{f}; the default applies")),
        };
        let call = PluginCall {
            id: uuid::Uuid::now_v7().to_string(),
            plugin: inv.plugin.name.clone(),
            version: inv.version,
            hook: hook.as_str().into(),
            contact_id: contact,
            at: inv.started,
            duration_us: u64::try_from(inv.report.duration.as_micros()).unwrap_or(u64::MAX),
            outcome,
            detail,
            logs: logs_json(&inv.report),
        };
        self.record(tenant, call).await;
    }

    /// Asks the tenant's on-ivr plugin at an IVR `plugin` step: the branch it names (None: the
    /// step's default) and attributes. None when there is no such plugin or it failed.
    pub async fn on_ivr(&self, tenant: TenantId, state: hook::IvrState) -> Option<IvrAnswer> {
        let call_id = state.contact.id.clone();
        let inv = self
            .invoke(tenant, HookKind::OnIvr, async |host, loaded, ctx| host.on_ivr(&loaded, ctx, state).await)
            .await?;
        let result = match &inv.report.outcome {
            Ok(d) => {
                checked_attributes(&d.attributes).map(|attributes| IvrAnswer { branch: d.branch.clone(), attributes })
            }
            Err(f) => Err(f.clone()),
        };
        let detail = result.as_ref().map(|a| {
            let mut parts = vec![match &a.branch {
                Some(b) => format!("branch {b}"),
                None => "default branch".to_string(),
            }];
            parts.extend(a.attributes.iter().map(|(k, v)| format!("{k}={v}")));
            parts.join(", ")
        });
        self.record_call(tenant, HookKind::OnIvr, Some(format!("call:{call_id}")), &inv, detail.map_err(|f| f.clone()))
            .await;
        result.ok()
    }

    /// Asks the tenant's on-message plugin about a customer's message: a reply, tags and a
    /// queue to move to, checked. None when there is no such plugin or it failed.
    pub async fn on_message(
        &self,
        tenant: TenantId,
        contact: &Contact,
        text: &str,
        count: u32,
    ) -> Option<MessageAnswer> {
        let input = hook::InboundMessage {
            contact: self.hook_contact(tenant, contact, &Arrival::default()).await,
            text: text.to_owned(),
            count,
        };
        let inv = self
            .invoke(tenant, HookKind::OnMessage, async |host, loaded, ctx| host.on_message(&loaded, ctx, input).await)
            .await?;
        let result = match inv.report.outcome.clone() {
            Ok(d) => self.check_message(tenant, d).await,
            Err(f) => Err(f),
        };
        let detail = result.as_ref().map(|a| {
            let mut parts = Vec::new();
            if let Some(r) = &a.reply {
                parts.push(format!("reply {:?}", r.chars().take(80).collect::<String>()));
            }
            if let Some((_, name)) = &a.queue {
                parts.push(format!("queue {name}"));
            }
            parts.extend(a.attributes.iter().map(|(k, v)| format!("{k}={v}")));
            if parts.is_empty() { "nothing to do".to_string() } else { parts.join(", ") }
        });
        self.record_call(
            tenant,
            HookKind::OnMessage,
            Some(contact.id.to_string()),
            &inv,
            detail.map_err(|f| f.clone()),
        )
        .await;
        result.ok()
    }

    async fn check_message(&self, tenant: TenantId, d: hook::MessageDecision) -> Result<MessageAnswer, Failure> {
        let attributes = checked_attributes(&d.attributes)?;
        if let Some(r) = &d.reply
            && (r.trim().is_empty() || r.chars().count() > MAX_REPLY_CHARS)
        {
            return Err(Failure::BadOutput(format!("a reply is 1 to {MAX_REPLY_CHARS} characters")));
        }
        let queue = match d.queue {
            Some(name) => Some((self.queue_named(tenant, &name).await?, name)),
            None => None,
        };
        Ok(MessageAnswer { reply: d.reply, attributes, queue })
    }

    async fn queue_named(&self, tenant: TenantId, name: &str) -> Result<switchboard_domain::QueueId, Failure> {
        let queues = self.store.all::<Queue>(tenant).await.map_err(|e| Failure::Unavailable(e.to_string()))?;
        queues
            .iter()
            .find(|q| q.name == name)
            .map(|q| q.id)
            .ok_or_else(|| Failure::BadOutput(format!("no queue named {name:?}")))
    }

    /// Asks the tenant's on-wrap-up plugin what to do after a finished contact; the actions
    /// come back checked (addresses valid, sizes and counts bounded). Empty when there is no
    /// such plugin, it failed, or it wants nothing.
    pub async fn on_wrap_up(&self, tenant: TenantId, contact: &Contact, handled_ms: u64) -> Vec<WrapUpAction> {
        let input = hook::FinishedContact {
            contact: self.hook_contact(tenant, contact, &Arrival::default()).await,
            disposition: contact.disposition.clone(),
            notes: contact.notes.clone(),
            agent: contact.agent_id.map(|a| a.to_string()),
            handled_ms,
        };
        let Some(inv) = self
            .invoke(tenant, HookKind::OnWrapUp, async |host, loaded, ctx| host.on_wrap_up(&loaded, ctx, input).await)
            .await
        else {
            return Vec::new();
        };
        let result = match &inv.report.outcome {
            Ok(actions) => check_wrap_up(actions),
            Err(f) => Err(f.clone()),
        };
        let detail = result.as_ref().map(|actions| {
            if actions.is_empty() {
                "nothing to do".to_string()
            } else {
                actions.iter().map(WrapUpAction::describe).collect::<Vec<_>>().join(", ")
            }
        });
        self.record_call(tenant, HookKind::OnWrapUp, Some(contact.id.to_string()), &inv, detail.map_err(|f| f.clone()))
            .await;
        result.unwrap_or_default()
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
        changed.attributes.extend(checked_attributes(&route.attributes)?);
        Ok((changed, Verdict::Route))
    }
}

/// An IVR step's question as the plugin sees it: the call is not a contact yet, so the
/// contact's id is the call's and its queue is empty.
pub fn ivr_state(ask: &switchboard_edge::IvrAsk) -> hook::IvrState {
    hook::IvrState {
        contact: hook::Contact {
            id: ask.call_id.clone(),
            channel: hook::Channel::Voice,
            customer: Some(ask.caller.clone()),
            address: Some(ask.dialled.clone()),
            queue: String::new(),
            priority: 0,
            skills: Vec::new(),
            attributes: ask
                .attributes
                .iter()
                .map(|(name, value)| hook::Attribute { name: name.clone(), value: value.clone() })
                .collect(),
            text: None,
            arrived_ms: u64::try_from(crate::auth::now_ms()).unwrap_or(0),
        },
        step: ask.step.clone(),
        digits: ask.digits.clone(),
    }
}

fn failed_report<T>(f: Failure) -> Report<T> {
    Report { outcome: Err(f), logs: Vec::new(), logs_dropped: 0, duration: Default::default(), fuel: 0 }
}

/// Attributes a plugin may set: at most 50, names 1-64 bytes, values at most 1024.
fn checked_attributes(attributes: &[hook::Attribute]) -> Result<Vec<(String, String)>, Failure> {
    if attributes.len() > 50 {
        return Err(Failure::BadOutput("more than 50 attributes".into()));
    }
    attributes
        .iter()
        .map(|a| {
            if a.name.is_empty() || a.name.len() > 64 || a.value.len() > 1024 {
                Err(Failure::BadOutput(format!("attribute {:?}: names 1-64 bytes, values at most 1024", a.name)))
            } else {
                Ok((a.name.clone(), a.value.clone()))
            }
        })
        .collect()
}

/// Wrap-up actions a plugin may ask for: a few, to valid addresses, of bounded size.
fn check_wrap_up(actions: &[hook::WrapUpAction]) -> Result<Vec<WrapUpAction>, Failure> {
    if actions.len() > MAX_WRAP_UP_ACTIONS {
        return Err(Failure::BadOutput(format!("at most {MAX_WRAP_UP_ACTIONS} actions")));
    }
    actions
        .iter()
        .map(|a| match a {
            hook::WrapUpAction::SendSms(m) => {
                let to =
                    m.to.parse::<switchboard_domain::PhoneNumber>()
                        .map_err(|e| Failure::BadOutput(format!("send-sms to {:?}: {e}", m.to)))?;
                if m.text.trim().is_empty() || m.text.chars().count() > MAX_REPLY_CHARS {
                    return Err(Failure::BadOutput(format!("an SMS is 1 to {MAX_REPLY_CHARS} characters")));
                }
                Ok(WrapUpAction::Sms { to: to.as_str().to_owned(), text: m.text.clone() })
            }
            hook::WrapUpAction::SendEmail(m) => {
                let to =
                    m.to.parse::<switchboard_domain::EmailAddress>()
                        .map_err(|e| Failure::BadOutput(format!("send-email to {:?}: {e}", m.to)))?;
                if m.subject.trim().is_empty() || m.subject.len() > 200 || m.subject.contains(['\r', '\n']) {
                    return Err(Failure::BadOutput("an e-mail subject is one line of 1 to 200 bytes".into()));
                }
                if m.body.len() > 20_000 {
                    return Err(Failure::BadOutput("an e-mail body is at most 20,000 bytes".into()));
                }
                Ok(WrapUpAction::Email { to: to.as_str().to_owned(), subject: m.subject.clone(), body: m.body.clone() })
            }
            hook::WrapUpAction::SetAttributes(a) => Ok(WrapUpAction::Attributes(checked_attributes(a)?)),
        })
        .collect()
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
