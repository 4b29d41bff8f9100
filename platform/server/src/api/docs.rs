//! Configuration documents (skills, queues, channel endpoints, business hours): one set of
//! generic CRUD handlers, and per type its validation, view and references.

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_api_types as wire;
use switchboard_domain::{
    self as d, AgentSelection, BusinessHours, BusinessHoursId, ChannelEndpoint, DayOfWeek, EndpointId, EndpointKind,
    IvrFlow, IvrFlowId, MAX_SKILL_LEVEL, OpenSpan, Overflow, OverflowTarget, PhoneNumber, Queue, QueueId, RelaxStep,
    Skill, SkillId, SkillRequirement, TenantId, User, Webhook,
};
use switchboard_store::{Document, Store};

use super::{ApiJson, ApiQuery, page_request};
use crate::app::AppState;
use crate::auth::{self, Principal};
use crate::error::{ApiError, Problems};

/// Everything a configuration document may refer to, loaded for validation.
#[derive(Debug, Default)]
pub struct Refs {
    skills: Vec<Skill>,
    queues: Vec<Queue>,
    hours: Vec<BusinessHours>,
    endpoints: Vec<ChannelEndpoint>,
    flows: Vec<IvrFlow>,
    users: Vec<User>,
    prompts: Vec<switchboard_domain::Prompt>,
}

impl Refs {
    async fn load(store: &dyn Store, tenant: TenantId) -> Result<Self, ApiError> {
        let mut users = Vec::new();
        let mut page = switchboard_store::PageRequest { limit: 200, after: None };
        loop {
            let p = store.list_users(tenant, &page).await?;
            users.extend(p.items);
            match p.next_cursor {
                Some(c) => page.after = Some(c),
                None => break,
            }
        }
        Ok(Self {
            skills: store.all(tenant).await?,
            queues: store.all(tenant).await?,
            hours: store.all(tenant).await?,
            endpoints: store.all(tenant).await?,
            flows: store.all(tenant).await?,
            users,
            prompts: store.all(tenant).await?,
        })
    }

    fn skill_ids(&self) -> HashSet<SkillId> {
        self.skills.iter().map(|s| s.id).collect()
    }
}

/// A configuration document type served by the generic handlers.
pub trait ConfigResource: Document + Clone + 'static {
    /// What `POST`/`PUT` take.
    type Input: DeserializeOwned + Send + 'static;
    /// What the API returns.
    type View: Serialize + Send;
    /// Name in events and messages.
    const NAME: &'static str;

    /// The API view.
    fn view(&self) -> Self::View;
    /// Validates input (all problems at once) into a document with `id`; `existing` on `PUT`.
    fn build(input: Self::Input, id: &str, existing: Option<&Self>, refs: &Refs) -> Result<Self, ApiError>;
    /// Names of what refers to this document (deleting it is refused while any do).
    fn used_by(&self, refs: &Refs) -> Vec<String>;
}

fn opt_ref<T: std::str::FromStr + PartialEq>(
    p: &mut Problems,
    field: &str,
    value: Option<&String>,
    known: &[T],
) -> Option<T> {
    let id = p.id::<T>(field, value?)?;
    if known.contains(&id) {
        Some(id)
    } else {
        p.add(field, "unknown_reference", "no such item");
        None
    }
}

impl ConfigResource for Skill {
    type Input = wire::SkillInput;
    type View = wire::SkillView;
    const NAME: &'static str = "skill";

    fn view(&self) -> wire::SkillView {
        wire::SkillView { id: self.id.to_string(), name: self.name.clone(), description: self.description.clone() }
    }

    fn build(input: wire::SkillInput, id: &str, _: Option<&Self>, _: &Refs) -> Result<Self, ApiError> {
        let mut p = Problems::default();
        let name = p.text("name", &input.name, 1, 64);
        let description = p.text("description", &input.description, 0, 500);
        p.finish()?;
        Ok(Skill { id: id.parse().map_err(|_| ApiError::NotFound)?, name, description })
    }

    fn used_by(&self, refs: &Refs) -> Vec<String> {
        let queues = refs
            .queues
            .iter()
            .filter(|q| q.required_skills.iter().any(|r| r.skill_id == self.id))
            .map(|q| format!("queue {}", q.name));
        let users = refs
            .users
            .iter()
            .filter(|u| u.skills.iter().any(|s| s.skill_id == self.id))
            .map(|u| format!("user {}", u.name));
        queues.chain(users).collect()
    }
}

fn selection(s: wire::AgentSelection) -> AgentSelection {
    match s {
        wire::AgentSelection::LongestIdle => AgentSelection::LongestIdle,
        wire::AgentSelection::LeastOccupied => AgentSelection::LeastOccupied,
    }
}

impl ConfigResource for Queue {
    type Input = wire::QueueInput;
    type View = wire::QueueView;
    const NAME: &'static str = "queue";

    fn view(&self) -> wire::QueueView {
        wire::QueueView {
            id: self.id.to_string(),
            name: self.name.clone(),
            required_skills: self
                .required_skills
                .iter()
                .map(|r| wire::SkillRequirement { skill_id: r.skill_id.to_string(), min_level: r.min_level })
                .collect(),
            priority: self.priority,
            service_level_secs: self.service_level_secs,
            service_level_percent: self.service_level_percent,
            max_waiting: self.max_waiting,
            offer_timeout_secs: self.offer_timeout_secs,
            agent_selection: match self.agent_selection {
                AgentSelection::LongestIdle => wire::AgentSelection::LongestIdle,
                AgentSelection::LeastOccupied => wire::AgentSelection::LeastOccupied,
            },
            relaxation: self
                .relaxation
                .iter()
                .map(|s| wire::RelaxStep { after_secs: s.after_secs, lower_by: s.lower_by })
                .collect(),
            overflow: self.overflow.map(|o| wire::Overflow {
                after_secs: o.after_secs,
                when_full: o.when_full,
                when_no_agents: o.when_no_agents,
                target: match o.target {
                    OverflowTarget::Queue { .. } => wire::OverflowKind::Queue,
                    OverflowTarget::Voicemail => wire::OverflowKind::Voicemail,
                    OverflowTarget::Callback => wire::OverflowKind::Callback,
                },
                queue_id: match o.target {
                    OverflowTarget::Queue { queue_id } => Some(queue_id.to_string()),
                    _ => None,
                },
            }),
            business_hours_id: self.business_hours_id.map(|h| h.to_string()),
            record_calls: self.record_calls,
            disposition_codes: self.disposition_codes.clone(),
        }
    }

    fn build(input: wire::QueueInput, id: &str, _: Option<&Self>, refs: &Refs) -> Result<Self, ApiError> {
        let id: QueueId = id.parse().map_err(|_| ApiError::NotFound)?;
        let mut p = Problems::default();
        let name = p.text("name", &input.name, 1, 64);
        let known = refs.skill_ids();
        let mut required_skills = Vec::new();
        for (i, r) in input.required_skills.iter().enumerate() {
            let field = format!("required_skills[{i}].skill_id");
            p.range(&format!("required_skills[{i}].min_level"), r.min_level, 1, MAX_SKILL_LEVEL);
            let Some(skill_id) = p.id::<SkillId>(&field, &r.skill_id) else { continue };
            if !known.contains(&skill_id) {
                p.add(&field, "unknown_reference", "no such skill");
            } else if required_skills.iter().any(|x: &SkillRequirement| x.skill_id == skill_id) {
                p.add(&field, "duplicate", "skill listed twice");
            }
            required_skills.push(SkillRequirement { skill_id, min_level: r.min_level });
        }
        let priority = p.range("priority", input.priority.unwrap_or(50), 0, 100);
        let service_level_secs = p.range("service_level_secs", input.service_level_secs.unwrap_or(20), 1, 3600);
        let service_level_percent = p.range("service_level_percent", input.service_level_percent.unwrap_or(80), 1, 100);
        if let Some(m) = input.max_waiting {
            p.range("max_waiting", m, 1, 1_000_000);
        }
        let offer_timeout_secs = p.range("offer_timeout_secs", input.offer_timeout_secs.unwrap_or(20), 5, 300);
        let mut last = 0;
        let mut relaxation = Vec::new();
        for (i, s) in input.relaxation.iter().enumerate() {
            if s.after_secs <= last && i > 0 {
                p.add(
                    format!("relaxation[{i}].after_secs"),
                    "not_increasing",
                    "steps must be in increasing after_secs",
                );
            }
            p.range(&format!("relaxation[{i}].lower_by"), s.lower_by, 1, MAX_SKILL_LEVEL);
            last = s.after_secs;
            relaxation.push(RelaxStep { after_secs: s.after_secs, lower_by: s.lower_by });
        }
        let queue_ids: Vec<QueueId> = refs.queues.iter().map(|q| q.id).collect();
        let overflow = input.overflow.as_ref().and_then(|o| {
            if o.after_secs.is_none() && !o.when_full && !o.when_no_agents {
                p.add("overflow", "invalid", "say when: after_secs, when_full or when_no_agents");
            }
            if o.when_full && input.max_waiting.is_none() {
                p.add("overflow.when_full", "invalid", "needs max_waiting");
            }
            let target = match o.target {
                wire::OverflowKind::Voicemail => OverflowTarget::Voicemail,
                wire::OverflowKind::Callback => OverflowTarget::Callback,
                wire::OverflowKind::Queue => {
                    let Some(qid) = o.queue_id.as_ref() else {
                        p.add("overflow.queue_id", "required", "required when target is queue");
                        return None;
                    };
                    let queue_id = opt_ref(&mut p, "overflow.queue_id", Some(qid), &queue_ids)?;
                    if queue_id == id {
                        p.add("overflow.queue_id", "invalid", "a queue cannot overflow to itself");
                    }
                    OverflowTarget::Queue { queue_id }
                }
            };
            Some(Overflow {
                after_secs: o.after_secs,
                when_full: o.when_full,
                when_no_agents: o.when_no_agents,
                target,
            })
        });
        let hours: Vec<BusinessHoursId> = refs.hours.iter().map(|h| h.id).collect();
        let business_hours_id = opt_ref(&mut p, "business_hours_id", input.business_hours_id.as_ref(), &hours);
        if input.disposition_codes.len() > 50 {
            p.add("disposition_codes", "too_long", "at most 50 codes");
        }
        let mut disposition_codes: Vec<String> = Vec::new();
        for (i, c) in input.disposition_codes.iter().enumerate() {
            let code = p.text(&format!("disposition_codes[{i}]"), c, 1, 64);
            if disposition_codes.contains(&code) {
                p.add(format!("disposition_codes[{i}]"), "duplicate", "code listed twice");
            }
            disposition_codes.push(code);
        }
        p.finish()?;
        Ok(Queue {
            id,
            name,
            required_skills,
            priority,
            service_level_secs,
            service_level_percent,
            max_waiting: input.max_waiting,
            offer_timeout_secs,
            agent_selection: selection(input.agent_selection),
            relaxation,
            overflow,
            business_hours_id,
            record_calls: input.record_calls,
            disposition_codes,
        })
    }

    fn used_by(&self, refs: &Refs) -> Vec<String> {
        let endpoints =
            refs.endpoints.iter().filter(|e| e.queue_id == Some(self.id)).map(|e| format!("endpoint {}", e.name));
        let queues = refs
            .queues
            .iter()
            .filter(|q| matches!(q.overflow, Some(Overflow { target: OverflowTarget::Queue { queue_id }, .. }) if queue_id == self.id))
            .map(|q| format!("queue {} (overflow)", q.name));
        endpoints.chain(queues).collect()
    }
}

fn kind_in(k: wire::EndpointKind) -> EndpointKind {
    match k {
        wire::EndpointKind::VoiceNumber => EndpointKind::VoiceNumber,
        wire::EndpointKind::SmsNumber => EndpointKind::SmsNumber,
        wire::EndpointKind::EmailAddress => EndpointKind::EmailAddress,
        wire::EndpointKind::ChatWidget => EndpointKind::ChatWidget,
    }
}

fn kind_out(k: EndpointKind) -> wire::EndpointKind {
    match k {
        EndpointKind::VoiceNumber => wire::EndpointKind::VoiceNumber,
        EndpointKind::SmsNumber => wire::EndpointKind::SmsNumber,
        EndpointKind::EmailAddress => wire::EndpointKind::EmailAddress,
        EndpointKind::ChatWidget => wire::EndpointKind::ChatWidget,
    }
}

/// An origin as browsers send it: scheme, host, optional port; nothing else.
fn valid_origin(o: &str) -> bool {
    let Some((scheme, rest)) = o.split_once("://") else { return false };
    let host = rest.split(':').next().unwrap_or("");
    (scheme == "https" || scheme == "http")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', '@', ' '])
        && !host.is_empty()
        && rest.split_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_ok())
}

impl ConfigResource for ChannelEndpoint {
    type Input = wire::EndpointInput;
    type View = wire::EndpointView;
    const NAME: &'static str = "endpoint";

    fn view(&self) -> wire::EndpointView {
        wire::EndpointView {
            id: self.id.to_string(),
            kind: kind_out(self.kind),
            address: self.address.clone(),
            name: self.name.clone(),
            queue_id: self.queue_id.map(|q| q.to_string()),
            business_hours_id: self.business_hours_id.map(|h| h.to_string()),
            allowed_origins: self.allowed_origins.clone(),
            ivr_flow_id: self.ivr_flow_id.map(|f| f.to_string()),
        }
    }

    fn build(input: wire::EndpointInput, id: &str, existing: Option<&Self>, refs: &Refs) -> Result<Self, ApiError> {
        let id: EndpointId = id.parse().map_err(|_| ApiError::NotFound)?;
        let mut p = Problems::default();
        let kind = kind_in(input.kind);
        if let Some(old) = existing
            && old.kind != kind
        {
            p.add("kind", "immutable", "the kind of an endpoint cannot change; create a new one");
        }
        let name = p.text("name", &input.name, 1, 64);
        let address = match (kind, input.address.as_deref()) {
            (EndpointKind::ChatWidget, None) => match existing {
                Some(old) => old.address.clone(),
                None => format!("wk_{}", &auth::random_secret()[..24]),
            },
            (EndpointKind::ChatWidget, Some(_)) => {
                p.add("address", "invalid", "chat widget keys are generated; omit address");
                String::new()
            }
            (_, None) => {
                p.add("address", "required", "required for numbers and e-mail addresses");
                String::new()
            }
            (EndpointKind::VoiceNumber | EndpointKind::SmsNumber, Some(a)) => match a.trim().parse::<PhoneNumber>() {
                Ok(n) => n.as_str().to_owned(),
                Err(e) => {
                    p.add("address", "invalid", e.to_string());
                    String::new()
                }
            },
            (EndpointKind::EmailAddress, Some(a)) => match a.parse::<d::EmailAddress>() {
                Ok(e) => e.as_str().to_lowercase(),
                Err(e) => {
                    p.add("address", "invalid", e.to_string());
                    String::new()
                }
            },
        };
        if kind != EndpointKind::ChatWidget && !input.allowed_origins.is_empty() {
            p.add("allowed_origins", "invalid", "only chat widgets have allowed origins");
        }
        let mut allowed_origins = Vec::new();
        for (i, o) in input.allowed_origins.iter().enumerate() {
            let o = o.trim().trim_end_matches('/').to_ascii_lowercase();
            if !valid_origin(&o) {
                p.add(format!("allowed_origins[{i}]"), "invalid", "must be an origin such as https://shop.example");
            }
            allowed_origins.push(o);
        }
        let queues: Vec<QueueId> = refs.queues.iter().map(|q| q.id).collect();
        let queue_id = opt_ref(&mut p, "queue_id", input.queue_id.as_ref(), &queues);
        let hours: Vec<BusinessHoursId> = refs.hours.iter().map(|h| h.id).collect();
        let business_hours_id = opt_ref(&mut p, "business_hours_id", input.business_hours_id.as_ref(), &hours);
        let flows: Vec<IvrFlowId> = refs.flows.iter().map(|f| f.id).collect();
        let ivr_flow_id = opt_ref(&mut p, "ivr_flow_id", input.ivr_flow_id.as_ref(), &flows);
        if ivr_flow_id.is_some() && kind != EndpointKind::VoiceNumber {
            p.add("ivr_flow_id", "invalid", "only voice numbers have an IVR flow");
        }
        p.finish()?;
        Ok(ChannelEndpoint { id, kind, address, name, queue_id, business_hours_id, allowed_origins, ivr_flow_id })
    }

    fn used_by(&self, _: &Refs) -> Vec<String> {
        Vec::new()
    }
}

impl ConfigResource for IvrFlow {
    type Input = wire::IvrFlowInput;
    type View = wire::IvrFlowView;
    const NAME: &'static str = "ivr_flow";

    fn view(&self) -> wire::IvrFlowView {
        wire::IvrFlowView { id: self.id.to_string(), name: self.name.clone(), definition: self.definition.clone() }
    }

    fn build(input: wire::IvrFlowInput, id: &str, _: Option<&Self>, refs: &Refs) -> Result<Self, ApiError> {
        let mut p = Problems::default();
        let name = p.text("name", &input.name, 1, 64);
        if input.definition.to_string().len() > 256 * 1024 {
            p.add("definition", "too_long", "a flow is at most 256 KiB of JSON");
        }
        match switchboard_ivr::Flow::from_json(&input.definition) {
            Err(e) => p.add("definition", "invalid", e.message),
            Ok(flow) => {
                for problem in flow.problems() {
                    p.add(format!("definition.{}", problem.field), "invalid", problem.message);
                }
                for reference in flow.references() {
                    match reference {
                        switchboard_ivr::Reference::Queue(q, field) => {
                            if !q.parse::<QueueId>().is_ok_and(|q| refs.queues.iter().any(|x| x.id == q)) {
                                p.add(format!("definition.{field}"), "unknown_reference", "no such queue");
                            }
                        }
                        switchboard_ivr::Reference::Hours(h, field) => {
                            if !h.parse::<BusinessHoursId>().is_ok_and(|h| refs.hours.iter().any(|x| x.id == h)) {
                                p.add(format!("definition.{field}"), "unknown_reference", "no such business hours");
                            }
                        }
                        switchboard_ivr::Reference::PromptFile(name, field) => {
                            if !refs.prompts.iter().any(|x| x.name == name) {
                                p.add(
                                    format!("definition.{field}"),
                                    "unknown_reference",
                                    "no such prompt; upload it first, or use a system prompt (sys:...)",
                                );
                            }
                        }
                    }
                }
            }
        }
        p.finish()?;
        Ok(IvrFlow { id: id.parse().map_err(|_| ApiError::NotFound)?, name, definition: input.definition })
    }

    fn used_by(&self, refs: &Refs) -> Vec<String> {
        refs.endpoints
            .iter()
            .filter(|e| e.ivr_flow_id == Some(self.id))
            .map(|e| format!("endpoint {}", e.name))
            .collect()
    }
}

fn day_in(d: wire::DayOfWeek) -> DayOfWeek {
    match d {
        wire::DayOfWeek::Mon => DayOfWeek::Mon,
        wire::DayOfWeek::Tue => DayOfWeek::Tue,
        wire::DayOfWeek::Wed => DayOfWeek::Wed,
        wire::DayOfWeek::Thu => DayOfWeek::Thu,
        wire::DayOfWeek::Fri => DayOfWeek::Fri,
        wire::DayOfWeek::Sat => DayOfWeek::Sat,
        wire::DayOfWeek::Sun => DayOfWeek::Sun,
    }
}

fn day_out(d: DayOfWeek) -> wire::DayOfWeek {
    match d {
        DayOfWeek::Mon => wire::DayOfWeek::Mon,
        DayOfWeek::Tue => wire::DayOfWeek::Tue,
        DayOfWeek::Wed => wire::DayOfWeek::Wed,
        DayOfWeek::Thu => wire::DayOfWeek::Thu,
        DayOfWeek::Fri => wire::DayOfWeek::Fri,
        DayOfWeek::Sat => wire::DayOfWeek::Sat,
        DayOfWeek::Sun => wire::DayOfWeek::Sun,
    }
}

impl ConfigResource for BusinessHours {
    type Input = wire::BusinessHoursInput;
    type View = wire::BusinessHoursView;
    const NAME: &'static str = "business_hours";

    fn view(&self) -> wire::BusinessHoursView {
        wire::BusinessHoursView {
            id: self.id.to_string(),
            name: self.name.clone(),
            timezone: self.timezone.clone(),
            weekly: self
                .weekly
                .iter()
                .map(|s| wire::OpenSpan { day: day_out(s.day), open: s.open.clone(), close: s.close.clone() })
                .collect(),
            closed_dates: self.closed_dates.clone(),
        }
    }

    fn build(input: wire::BusinessHoursInput, id: &str, _: Option<&Self>, _: &Refs) -> Result<Self, ApiError> {
        let mut p = Problems::default();
        let name = p.text("name", &input.name, 1, 64);
        if input.weekly.len() > 100 {
            p.add("weekly", "too_long", "at most 100 spans");
        }
        if input.closed_dates.len() > 1000 {
            p.add("closed_dates", "too_long", "at most 1000 dates");
        }
        let hours = BusinessHours {
            id: id.parse().map_err(|_| ApiError::NotFound)?,
            name,
            timezone: input.timezone.trim().to_owned(),
            weekly: input
                .weekly
                .into_iter()
                .map(|s| OpenSpan { day: day_in(s.day), open: s.open, close: s.close })
                .collect(),
            closed_dates: input.closed_dates,
        };
        for problem in hours.problems() {
            p.add(problem.field, "invalid", problem.message);
        }
        p.finish()?;
        Ok(hours)
    }

    fn used_by(&self, refs: &Refs) -> Vec<String> {
        let queues =
            refs.queues.iter().filter(|q| q.business_hours_id == Some(self.id)).map(|q| format!("queue {}", q.name));
        let endpoints = refs
            .endpoints
            .iter()
            .filter(|e| e.business_hours_id == Some(self.id))
            .map(|e| format!("endpoint {}", e.name));
        queues.chain(endpoints).collect()
    }
}

/// Event types a webhook can ask for.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "contact.queued",
    "contact.offered",
    "contact.offer_withdrawn",
    "contact.connected",
    "contact.requeued",
    "contact.wrap_up",
    "contact.done",
    "contact.abandoned",
    "contact.overflowed",
    "contact.failed",
    "contact.*",
    "recording.saved",
    "recording.failed",
    "recording.*",
];

impl ConfigResource for Webhook {
    type Input = wire::WebhookInput;
    type View = wire::WebhookView;
    const NAME: &'static str = "webhook";

    fn view(&self) -> wire::WebhookView {
        wire::WebhookView {
            id: self.id.to_string(),
            name: self.name.clone(),
            url: self.url.clone(),
            secret: self.secret.clone(),
            events: self.events.clone(),
            active: self.active,
        }
    }

    fn build(input: wire::WebhookInput, id: &str, existing: Option<&Self>, _: &Refs) -> Result<Self, ApiError> {
        let mut p = Problems::default();
        let name = p.text("name", &input.name, 1, 64);
        let url = input.url.trim().to_owned();
        match reqwest::Url::parse(&url) {
            Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host_str().is_some() && url.len() <= 2000 => {
                if u.username() != "" || u.password().is_some() {
                    p.add("url", "invalid", "credentials in the URL are not allowed; verify the signature instead");
                }
            }
            _ => p.add("url", "invalid", "must be an http(s) URL such as https://crm.example/hooks"),
        }
        if input.events.is_empty() {
            p.add("events", "required", "name at least one event type, or contact.*");
        }
        for (i, e) in input.events.iter().enumerate() {
            if !WEBHOOK_EVENTS.contains(&e.as_str()) {
                p.add(
                    format!("events[{i}]"),
                    "invalid",
                    format!("unknown event type; one of {}", WEBHOOK_EVENTS.join(", ")),
                );
            }
        }
        p.finish()?;
        Ok(Webhook {
            id: id.parse().map_err(|_| ApiError::NotFound)?,
            name,
            url,
            secret: existing.map(|w| w.secret.clone()).unwrap_or_else(|| format!("whsec_{}", auth::random_secret())),
            events: input.events,
            active: input.active,
        })
    }

    fn used_by(&self, _: &Refs) -> Vec<String> {
        Vec::new()
    }
}

/// `GET /api/v1/webhooks/{id}/deliveries`: the delivery log, newest first.
pub async fn deliveries(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<wire::PageQuery>,
) -> Result<Json<wire::Page<wire::WebhookDeliveryView>>, ApiError> {
    let hook = state.store.get::<Webhook>(p.tenant_id, &id).await?.ok_or(ApiError::NotFound)?;
    let page = state.store.list_deliveries(p.tenant_id, hook.id, &page_request(q)?).await?;
    Ok(Json(wire::Page {
        items: page
            .items
            .into_iter()
            .map(|d| wire::WebhookDeliveryView {
                id: d.id,
                event_id: d.event_id,
                event: d.event,
                status: d.status.as_str().into(),
                attempts: d.attempts,
                next_attempt_at: d.next_attempt_at,
                last_status: d.last_status,
                last_error: d.last_error,
                created_at: d.created_at,
                delivered_at: d.delivered_at,
            })
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET` a page.
pub async fn list<R: ConfigResource>(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<wire::PageQuery>,
) -> Result<Json<wire::Page<R::View>>, ApiError> {
    let page = state.store.list::<R>(p.tenant_id, &page_request(q)?).await?;
    Ok(Json(wire::Page { items: page.items.iter().map(R::view).collect(), next_cursor: page.next_cursor }))
}

/// `POST`: validate, store, announce.
pub async fn create<R: ConfigResource>(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(input): ApiJson<R::Input>,
) -> Result<(StatusCode, Json<R::View>), ApiError> {
    let refs = Refs::load(&*state.store, p.tenant_id).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let doc = R::build(input, &id, None, &refs)?;
    state.store.insert(p.tenant_id, &doc).await?;
    super::announce(&state, p.tenant_id, R::NAME, &id, "created").await;
    Ok((StatusCode::CREATED, Json(doc.view())))
}

/// `GET` one.
pub async fn read<R: ConfigResource>(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<R::View>, ApiError> {
    let doc = state.store.get::<R>(p.tenant_id, &id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(doc.view()))
}

/// `PUT`: replace after validation.
pub async fn replace<R: ConfigResource>(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<R::Input>,
) -> Result<Json<R::View>, ApiError> {
    let existing = state.store.get::<R>(p.tenant_id, &id).await?.ok_or(ApiError::NotFound)?;
    let refs = Refs::load(&*state.store, p.tenant_id).await?;
    let doc = R::build(input, &id, Some(&existing), &refs)?;
    state.store.update(p.tenant_id, &doc).await?;
    super::announce(&state, p.tenant_id, R::NAME, &id, "updated").await;
    Ok(Json(doc.view()))
}

/// `DELETE`: refused while other configuration refers to it.
pub async fn remove<R: ConfigResource>(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let doc = state.store.get::<R>(p.tenant_id, &id).await?.ok_or(ApiError::NotFound)?;
    let refs = Refs::load(&*state.store, p.tenant_id).await?;
    let users = doc.used_by(&refs);
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!("still used by {}", users.join(", "))));
    }
    state.store.delete::<R>(p.tenant_id, &id).await?;
    super::announce(&state, p.tenant_id, R::NAME, &id, "deleted").await;
    Ok(StatusCode::NO_CONTENT)
}
