//! The route table: the one list of every HTTP route with who may call it and what it takes and
//! returns. The router, the role checks, the OpenAPI document and the authorisation-matrix test
//! are all generated from it, so a new route cannot skip any of them.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, delete, get, post, put};
use switchboard_domain::{BusinessHours, ChannelEndpoint, IvrFlow, Queue, Role, Skill, Webhook};

use crate::api::{self, docs};
use crate::app::AppState;
use crate::auth::authenticate;
use crate::error::ApiError;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (signup, login, health).
    Public,
    /// An authenticated user or API key of the tenant with at least this role.
    Role(Role),
}

/// What a route takes or returns, by OpenAPI schema name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Nothing.
    None,
    /// One JSON object of the named schema.
    Json(&'static str),
    /// A page of the named schema (`{items, next_cursor}`), with `limit`/`after` parameters.
    Page(&'static str),
    /// Plain text.
    Text,
    /// An `application/x-www-form-urlencoded` form.
    Form,
    /// XML (TwiML).
    Xml,
}

/// The resource an `{id}` in the path names (tests use it to pick a fixture).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// No id in the path.
    None,
    /// A user.
    User,
    /// A skill.
    Skill,
    /// A queue.
    Queue,
    /// A channel endpoint.
    Endpoint,
    /// Business hours.
    BusinessHours,
    /// An API key.
    ApiKey,
    /// A contact.
    Contact,
    /// A webhook endpoint.
    Webhook,
    /// An IVR flow.
    IvrFlow,
    /// An uploaded prompt (by name).
    Prompt,
    /// A plugin (by name).
    Plugin,
    /// A plugin secret (by name).
    PluginSecret,
}

/// One route.
#[derive(Debug)]
pub struct Route {
    /// HTTP method.
    pub method: Method,
    /// Path, with `{id}` for the resource id.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One line for the docs.
    pub summary: &'static str,
    /// OpenAPI tag.
    pub tag: &'static str,
    /// Request body.
    pub request: Body,
    /// Success status.
    pub status: u16,
    /// Success body.
    pub response: Body,
    /// What `{id}` refers to.
    pub resource: Resource,
    /// The handler.
    pub handler: MethodRouter<AppState>,
}

#[allow(clippy::too_many_arguments)]
fn r(
    method: Method,
    path: &'static str,
    access: Access,
    tag: &'static str,
    summary: &'static str,
    request: Body,
    status: u16,
    response: Body,
    handler: MethodRouter<AppState>,
) -> Route {
    let resource = match (path.contains("{id}"), tag) {
        (false, _) => Resource::None,
        (true, "users") => Resource::User,
        (true, "skills") => Resource::Skill,
        (true, "queues") => Resource::Queue,
        (true, "endpoints") => Resource::Endpoint,
        (true, "business-hours") => Resource::BusinessHours,
        (true, "contacts") | (true, "agent") => Resource::Contact,
        (true, "webhooks") => Resource::Webhook,
        (true, "ivr-flows") => Resource::IvrFlow,
        (true, "prompts") => Resource::Prompt,
        (true, "plugins") => Resource::Plugin,
        (true, "plugin-secrets") => Resource::PluginSecret,
        (true, _) => Resource::ApiKey,
    };
    Route { method, path, access, summary, tag, request, status, response, resource, handler }
}

use Access::{Public, Role as R};
use Body::{Json as J, None as N, Page as P, Text as T};

/// The CRUD routes of a configuration document type.
macro_rules! config_routes {
    ($out:ident, $ty:ty, $base:literal, $item:literal, $tag:literal, $input:literal, $view:literal, $read:expr) => {
        $out.push(r(
            Method::GET,
            $base,
            R($read),
            $tag,
            concat!("List ", $tag),
            N,
            200,
            P($view),
            get(docs::list::<$ty>),
        ));
        $out.push(r(
            Method::POST,
            $base,
            R(Role::Admin),
            $tag,
            concat!("Create one of ", $tag),
            J($input),
            201,
            J($view),
            post(docs::create::<$ty>),
        ));
        $out.push(r(
            Method::GET,
            $item,
            R($read),
            $tag,
            concat!("Read one of ", $tag),
            N,
            200,
            J($view),
            get(docs::read::<$ty>),
        ));
        $out.push(r(
            Method::PUT,
            $item,
            R(Role::Admin),
            $tag,
            concat!("Replace one of ", $tag),
            J($input),
            200,
            J($view),
            put(docs::replace::<$ty>),
        ));
        $out.push(r(
            Method::DELETE,
            $item,
            R(Role::Admin),
            $tag,
            concat!("Delete one of ", $tag),
            N,
            204,
            N,
            delete(docs::remove::<$ty>),
        ));
    };
}

/// Every route of the HTTP API.
#[rustfmt::skip]
pub fn table() -> Vec<Route> {
    let mut t = vec![
        r(
            Method::GET,
            "/healthz",
            Public,
            "operations",
            "Liveness: the process answers",
            N,
            200,
            T,
            get(api::health::healthz),
        ),
        r(
            Method::GET,
            "/readyz",
            Public,
            "operations",
            "Readiness: store and bus answer",
            N,
            200,
            J("Readiness"),
            get(api::health::readyz),
        ),
        r(Method::GET, "/metrics", Public, "operations", "Prometheus metrics", N, 200, T, get(api::health::metrics)),
        r(
            Method::GET,
            "/api/openapi.json",
            Public,
            "operations",
            "This OpenAPI document",
            N,
            200,
            J("OpenApi"),
            get(api::health::openapi),
        ),
        r(
            Method::POST,
            "/api/v1/signup",
            Public,
            "auth",
            "Sign up a business and its owner",
            J("SignupRequest"),
            201,
            J("SignupResponse"),
            post(api::session::signup),
        ),
        r(
            Method::POST,
            "/api/v1/auth/login",
            Public,
            "auth",
            "Log in with e-mail and password",
            J("LoginRequest"),
            200,
            J("TokenPair"),
            post(api::session::login),
        ),
        r(
            Method::POST,
            "/api/v1/auth/refresh",
            Public,
            "auth",
            "Trade a refresh token for new tokens",
            J("RefreshRequest"),
            200,
            J("TokenPair"),
            post(api::session::refresh),
        ),
        r(
            Method::POST,
            "/api/v1/auth/accept-invite",
            Public,
            "auth",
            "Set a password for an invitation",
            J("AcceptInviteRequest"),
            200,
            J("TokenPair"),
            post(api::session::accept_invite),
        ),
        r(
            Method::POST,
            "/api/v1/auth/logout",
            R(Role::Agent),
            "auth",
            "End this session",
            N,
            204,
            N,
            post(api::session::logout),
        ),
        r(Method::GET, "/api/v1/me", R(Role::Agent), "auth", "Who am I", N, 200, J("MeView"), get(api::session::me)),
        r(
            Method::GET,
            "/api/v1/tenant",
            R(Role::Agent),
            "tenant",
            "Read the tenant",
            N,
            200,
            J("TenantView"),
            get(api::tenant::read),
        ),
        r(
            Method::PUT,
            "/api/v1/tenant",
            R(Role::Owner),
            "tenant",
            "Rename the tenant",
            J("TenantUpdate"),
            200,
            J("TenantView"),
            put(api::tenant::update),
        ),
        r(
            Method::GET,
            "/api/v1/users",
            R(Role::Supervisor),
            "users",
            "List users",
            N,
            200,
            P("UserView"),
            get(api::users::list),
        ),
        r(
            Method::POST,
            "/api/v1/users",
            R(Role::Admin),
            "users",
            "Invite a user",
            J("UserInvite"),
            201,
            J("UserInvited"),
            post(api::users::invite),
        ),
        r(
            Method::GET,
            "/api/v1/users/{id}",
            R(Role::Supervisor),
            "users",
            "Read a user",
            N,
            200,
            J("UserView"),
            get(api::users::read),
        ),
        r(
            Method::PUT,
            "/api/v1/users/{id}",
            R(Role::Admin),
            "users",
            "Replace a user's settings",
            J("UserUpdate"),
            200,
            J("UserView"),
            put(api::users::update),
        ),
        r(
            Method::DELETE,
            "/api/v1/users/{id}",
            R(Role::Admin),
            "users",
            "Delete a user",
            N,
            204,
            N,
            delete(api::users::remove),
        ),
        r(Method::GET, "/api/v1/users/{id}/sip-account", R(Role::Supervisor), "users", "An agent's SIP phone login (never the password) and whether a phone is registered", N, 200, J("SipAccountView"), get(crate::voice::accounts::read)),
        r(Method::PUT, "/api/v1/users/{id}/sip-account", R(Role::Admin), "users", "Set an agent's SIP phone login (user name unique across the service)", J("SipAccountInput"), 200, J("SipAccountView"), put(crate::voice::accounts::write)),
        r(Method::DELETE, "/api/v1/users/{id}/sip-account", R(Role::Admin), "users", "Remove an agent's SIP phone login", N, 204, N, delete(crate::voice::accounts::remove)),
        r(
            Method::GET,
            "/api/v1/api-keys",
            R(Role::Admin),
            "api-keys",
            "List API keys",
            N,
            200,
            P("ApiKeyView"),
            get(api::api_keys::list),
        ),
        r(
            Method::POST,
            "/api/v1/api-keys",
            R(Role::Admin),
            "api-keys",
            "Create an API key",
            J("ApiKeyInput"),
            201,
            J("ApiKeyCreated"),
            post(api::api_keys::create),
        ),
        r(
            Method::DELETE,
            "/api/v1/api-keys/{id}",
            R(Role::Admin),
            "api-keys",
            "Revoke an API key",
            N,
            204,
            N,
            delete(api::api_keys::revoke),
        ),
        r(Method::POST, "/api/v1/contacts", R(Role::Supervisor), "contacts", "Create a work item and route it", J("ContactInput"), 201, J("ContactView"), post(api::contacts::create)),
        r(Method::GET, "/api/v1/contacts", R(Role::Supervisor), "contacts", "List contacts", N, 200, P("ContactView"), get(api::contacts::list)),
        r(Method::GET, "/api/v1/contacts/search", R(Role::Supervisor), "contacts", "Contact history with filters (state, channel, queue, agent, customer, time), newest first", N, 200, P("ContactView"), get(api::contacts::search)),
        r(Method::GET, "/api/v1/contacts/{id}", R(Role::Supervisor), "contacts", "Read a contact with its lifecycle", N, 200, J("ContactView"), get(api::contacts::read)),
        r(Method::GET, "/api/v1/contacts/{id}/queue-state", R(Role::Supervisor), "contacts", "Position and estimated wait", N, 200, J("QueueStateView"), get(api::contacts::queue_state)),
        r(Method::DELETE, "/api/v1/contacts/{id}", R(Role::Supervisor), "contacts", "Cancel a waiting contact", N, 204, N, delete(api::contacts::cancel)),
        r(Method::PUT, "/api/v1/agent/presence", R(Role::Agent), "agent", "Set my presence", J("PresenceInput"), 200, J("AgentStatusView"), put(api::agent::set_presence)),
        r(Method::POST, "/api/v1/agent/contacts/{id}/accept", R(Role::Agent), "agent", "Accept an offer", N, 204, N, post(api::agent::accept)),
        r(Method::POST, "/api/v1/agent/contacts/{id}/reject", R(Role::Agent), "agent", "Decline an offer", N, 204, N, post(api::agent::reject)),
        r(Method::POST, "/api/v1/agent/contacts/{id}/transfer", R(Role::Agent), "agent", "Hand a connected contact to a queue or a colleague", J("TransferInput"), 204, N, post(api::agent::transfer)),
        r(Method::POST, "/api/v1/agent/contacts/{id}/call/hold", R(Role::Agent), "agent", "Put my caller on hold (music; supervisors: any call)", N, 204, N, post(crate::voice::control::hold)),
        r(Method::POST, "/api/v1/agent/contacts/{id}/call/resume", R(Role::Agent), "agent", "Take my caller off hold", N, 204, N, post(crate::voice::control::resume)),
        r(Method::POST, "/api/v1/agent/contacts/{id}/call/hangup", R(Role::Agent), "agent", "End my call (the contact stays open to finish)", N, 204, N, post(crate::voice::control::hangup)),
        r(Method::POST, "/api/v1/agent/contacts/{id}/complete", R(Role::Agent), "agent", "Finish a contact", J("CompleteInput"), 204, N, post(api::agent::complete)),
        r(Method::GET, "/api/v1/agent/contacts", R(Role::Agent), "agent", "My open contacts (offered, connected, wrapping up)", N, 200, P("ContactView"), get(api::agent::my_contacts)),
        r(Method::GET, "/api/v1/agent/colleagues", R(Role::Agent), "agent", "Colleagues to transfer to, with their live activity", N, 200, J("ColleagueList"), get(api::agent::colleagues)),
        r(Method::GET, "/api/v1/agent/ws", R(Role::Agent), "agent", "Agent console WebSocket (offers, contacts, stats, commands)", N, 101, N, get(api::ws::agent)),
        r(Method::GET, "/api/v1/stats/queues", R(Role::Supervisor), "stats", "Live queue statistics", N, 200, J("QueueStatsList"), get(api::stats::queues)),
        r(Method::GET, "/api/v1/stats/intervals", R(Role::Supervisor), "stats", "Offered, answered, abandoned and service level per interval (?since=&until=&minutes=15&queue_id=)", N, 200, J("IntervalStats"), get(api::stats::interval_stats)),
        r(Method::POST, "/api/v1/contacts/{id}/attachments", R(Role::Agent), "contacts", "Upload a file to send with a reply (raw body, Content-Type, X-Filename; connected agent)", N, 201, J("AttachmentView"), post(crate::conversation::upload).layer(axum::extract::DefaultBodyLimit::max(crate::chat::MAX_ATTACHMENT_BYTES))),
        r(Method::POST, "/api/v1/contacts/{id}/whisper", R(Role::Supervisor), "contacts", "Supervisor: a note to the agent of a live conversation (the customer never sees it)", J("WhisperInput"), 201, J("MessageView"), post(crate::conversation::whisper)),
        r(Method::POST, "/api/v1/contacts/{id}/barge", R(Role::Supervisor), "contacts", "Supervisor: write to the customer in an agent's live conversation", J("MessageInput"), 201, J("MessageView"), post(crate::conversation::barge)),
        r(Method::GET, "/api/v1/stats/agents", R(Role::Supervisor), "stats", "Live agent states", N, 200, J("AgentStatusList"), get(api::stats::agents)),
        r(Method::GET, "/api/v1/routing-rules", R(Role::Supervisor), "routing", "The tenant's routing rules", N, 200, J("RoutingRulesView"), get(api::rules::read)),
        r(Method::PUT, "/api/v1/routing-rules", R(Role::Admin), "routing", "Replace the tenant's routing rules", J("RoutingRulesView"), 200, J("RoutingRulesView"), put(api::rules::update)),
        r(Method::POST, "/webhooks/sms/twilio", Public, "channels", "Incoming SMS from a Twilio-compatible provider (X-Twilio-Signature checked)", Body::Form, 200, Body::Xml, post(api::sms::inbound)),
        r(Method::POST, "/webhooks/sms/twilio/status", Public, "channels", "Delivery status of a sent SMS (X-Twilio-Signature checked)", Body::Form, 204, N, post(api::sms::status)),
        r(Method::POST, "/api/v1/contacts/{id}/messages", R(Role::Agent), "contacts", "Reply in a conversation: SMS, chat or e-mail (connected agent)", J("MessageInput"), 201, J("MessageView"), post(crate::conversation::reply)),
        r(Method::GET, "/api/v1/channels/sms", R(Role::Admin), "channels", "The SMS provider account", N, 200, J("SmsProviderView"), get(api::sms::read_provider)),
        r(Method::PUT, "/api/v1/channels/sms", R(Role::Admin), "channels", "Set the SMS provider account", J("SmsProviderInput"), 200, J("SmsProviderView"), put(api::sms::write_provider)),
        r(Method::GET, "/api/v1/contacts/{id}/messages", R(Role::Agent), "contacts", "A conversation's messages", N, 200, J("MessageList"), get(crate::conversation::transcript)),
        r(Method::GET, "/api/v1/contacts/{id}/history", R(Role::Agent), "contacts", "The customer's contacts and messages on every channel", N, 200, J("CustomerHistory"), get(crate::conversation::history)),
        r(Method::GET, "/api/v1/contacts/{id}/attachments/{attachment_id}", R(Role::Agent), "contacts", "Download a file of a conversation", N, 200, T, get(crate::chat::agent_download)),
        r(Method::POST, "/chat/v1/sessions", Public, "chat", "Widget: start a chat (pre-chat form); or leave_message when nobody can answer", J("SessionInput"), 201, J("SessionView"), post(crate::chat::start)),
        r(Method::POST, "/chat/v1/offline-messages", Public, "chat", "Widget: leave a message (becomes an e-mail contact)", J("OfflineMessageInput"), 201, N, post(crate::chat::offline_message)),
        r(Method::GET, "/chat/v1/ws", Public, "chat", "Widget: the visitor's chat WebSocket (?token=visitor token)", N, 101, N, get(crate::chat::socket::upgrade)),
        r(Method::POST, "/chat/v1/attachments", Public, "chat", "Widget: send a file (raw body, Content-Type, X-Filename; visitor token)", N, 201, J("MessageView"), post(crate::chat::upload).layer(axum::extract::DefaultBodyLimit::max(crate::chat::MAX_ATTACHMENT_BYTES))),
        r(Method::GET, "/chat/v1/attachments/{id}", Public, "chat", "Widget: download a file of the visitor's conversation", N, 200, T, get(crate::chat::download)),
        r(Method::POST, "/chat/v1/transcript", Public, "chat", "Widget: e-mail the transcript to the visitor", J("TranscriptInput"), 204, N, post(crate::chat::transcript)),
        r(Method::GET, "/api/v1/billing/plans", Public, "billing", "Plans on offer (enabled: false when the deployment does not bill)", N, 200, J("PlanList"), get(crate::billing::plans)),
        r(Method::GET, "/api/v1/billing", R(Role::Admin), "billing", "Plan, standing, usage this month, invoices and usage reports", N, 200, J("BillingView"), get(crate::billing::overview)),
        r(Method::POST, "/api/v1/billing/checkout", R(Role::Owner), "billing", "Owner: a Stripe Checkout page that subscribes to a plan", J("CheckoutInput"), 200, J("RedirectView"), post(crate::billing::checkout)),
        r(Method::POST, "/api/v1/billing/portal", R(Role::Owner), "billing", "Owner: Stripe's billing portal (payment methods, plan, invoices)", N, 200, J("RedirectView"), post(crate::billing::portal)),
        r(Method::POST, "/api/v1/webhooks/stripe", Public, "billing", "Stripe's events (Stripe-Signature checked; each event id applied once)", T, 200, N, post(crate::billing::stripe_webhook)),
        r(Method::GET, "/api/v1/supervisor/ws", R(Role::Supervisor), "stats", "Supervisor WebSocket: every event of the tenant", N, 101, N, get(api::ws::supervisor)),
        r(Method::GET, "/api/v1/edge/link", Public, "edge", "Control link: a stand-alone edge's WebSocket (hello, heartbeats, commands to its calls; edge token)", N, 101, N, get(crate::voice::link::socket)),
        r(Method::POST, "/api/v1/edge/ask", Public, "edge", "Control link: an edge's question (number, SIP account, enqueue, IVR step, position, call events; edge token)", T, 200, T, post(crate::voice::link::ask)),
        r(Method::POST, "/api/v1/edge/voicemails", Public, "edge", "Control link: a voicemail's WAV (?meta=; edge token); becomes a contact", N, 200, T, post(crate::voice::link::voicemail).layer(axum::extract::DefaultBodyLimit::max(crate::voice::link::MAX_VOICEMAIL_BYTES))),
        r(Method::POST, "/api/v1/edge/recordings", Public, "edge", "Control link: a finished recording's WAV (?meta=; edge token), stored with its contact", N, 200, T, post(crate::voice::link::recording).layer(axum::extract::DefaultBodyLimit::max(crate::voice::link::MAX_RECORDING_BYTES))),
        r(Method::GET, "/api/v1/edge/edges", Public, "edge", "The deployment's edges (region, capacity, calls, phones, the replica holding each link, whether alive; edge token)", N, 200, T, get(crate::voice::registry::list)),
        r(Method::DELETE, "/api/v1/edge/edges/{id}", Public, "edge", "Forget a decommissioned edge (out of rotation; 409 while live; edge token)", N, 204, N, delete(crate::voice::registry::forget)),
        r(Method::GET, "/api/v1/edge/prompts", Public, "edge", "Control link: a tenant's prompt as WAV (?tenant_id=&name=; edge token)", N, 200, T, get(crate::voice::link::prompt)),
    ];
    config_routes!(t, Skill, "/api/v1/skills", "/api/v1/skills/{id}", "skills", "SkillInput", "SkillView", Role::Agent);
    config_routes!(t, Queue, "/api/v1/queues", "/api/v1/queues/{id}", "queues", "QueueInput", "QueueView", Role::Agent);
    config_routes!(t, ChannelEndpoint, "/api/v1/endpoints", "/api/v1/endpoints/{id}", "endpoints", "EndpointInput", "EndpointView", Role::Supervisor);
    config_routes!(t, BusinessHours, "/api/v1/business-hours", "/api/v1/business-hours/{id}", "business-hours", "BusinessHoursInput", "BusinessHoursView", Role::Supervisor);
    config_routes!(t, IvrFlow, "/api/v1/ivr-flows", "/api/v1/ivr-flows/{id}", "ivr-flows", "IvrFlowInput", "IvrFlowView", Role::Supervisor);
    config_routes!(t, Webhook, "/api/v1/webhooks", "/api/v1/webhooks/{id}", "webhooks", "WebhookInput", "WebhookView", Role::Admin);
    let prompt_limit = || axum::extract::DefaultBodyLimit::max(crate::voice::prompts::MAX_PROMPT_BYTES);
    t.push(r(Method::GET, "/api/v1/prompts", R(Role::Supervisor), "prompts", "Uploaded IVR prompts", N, 200, P("PromptView"), get(crate::voice::prompts::list)));
    t.push(r(Method::POST, "/api/v1/prompts", R(Role::Admin), "prompts", "Upload a prompt (?name=; raw WAV body of any rate, converted to 8 kHz mono; at most 10 minutes)", N, 201, J("PromptView"), post(crate::voice::prompts::create).layer(prompt_limit())));
    t.push(r(Method::GET, "/api/v1/prompts/{id}", R(Role::Supervisor), "prompts", "A prompt's audio (8 kHz mono WAV)", N, 200, T, get(crate::voice::prompts::download)));
    t.push(r(Method::PUT, "/api/v1/prompts/{id}", R(Role::Admin), "prompts", "Replace a prompt's audio (raw WAV body)", N, 200, J("PromptView"), put(crate::voice::prompts::replace).layer(prompt_limit())));
    let plugin_limit = || axum::extract::DefaultBodyLimit::max(crate::plugins::api::MAX_PLUGIN_BYTES);
    t.push(r(Method::GET, "/api/v1/plugins", R(Role::Admin), "plugins", "The tenant's WebAssembly plugins", N, 200, P("PluginView"), get(crate::plugins::api::list)));
    t.push(r(Method::POST, "/api/v1/plugins", R(Role::Admin), "plugins", "A new plugin (?name=&note=; raw component body, `application/wasm`): validated and compiled, not activated", N, 201, J("PluginView"), post(crate::plugins::api::create).layer(plugin_limit())));
    t.push(r(Method::GET, "/api/v1/plugins/{id}", R(Role::Admin), "plugins", "A plugin: versions, the active one, grants", N, 200, J("PluginView"), get(crate::plugins::api::read)));
    t.push(r(Method::DELETE, "/api/v1/plugins/{id}", R(Role::Admin), "plugins", "Delete a plugin (it stops running)", N, 204, N, delete(crate::plugins::api::remove)));
    t.push(r(Method::POST, "/api/v1/plugins/{id}/versions", R(Role::Admin), "plugins", "Upload a version (raw component body, `application/wasm`; ?note=): validated and compiled, not activated", N, 201, J("PluginView"), post(crate::plugins::api::upload).layer(plugin_limit())));
    t.push(r(Method::POST, "/api/v1/plugins/{id}/activate", R(Role::Admin), "plugins", "Run a version (an older one rolls back); one plugin per hook", J("PluginActivateInput"), 200, J("PluginView"), post(crate::plugins::api::activate)));
    t.push(r(Method::POST, "/api/v1/plugins/{id}/deactivate", R(Role::Admin), "plugins", "Stop running the plugin", N, 200, J("PluginView"), post(crate::plugins::api::deactivate)));
    t.push(r(Method::PUT, "/api/v1/plugins/{id}/grants", R(Role::Admin), "plugins", "What the tenant allows the plugin (key-value store, HTTP hosts, secrets); deny by default", J("PluginCapabilitiesView"), 200, J("PluginView"), put(crate::plugins::api::grant)));
    t.push(r(Method::GET, "/api/v1/plugins/{id}/calls", R(Role::Admin), "plugins", "The plugin's calls, newest first (?before=&limit=), with what each decided or why it failed, and its logs", N, 200, P("PluginCallView"), get(crate::plugins::api::calls)));
    t.push(r(Method::POST, "/api/v1/plugins/{id}/versions/{version}/replay", R(Role::Admin), "plugins", "What a version would decide for the newest contacts, next to what happens now (changes nothing)", J("PluginReplayInput"), 200, J("PluginReplayView"), post(crate::plugins::api::replay)));
    t.push(r(Method::GET, "/api/v1/plugin-secrets", R(Role::Admin), "plugin-secrets", "Names of the secrets plugins may be granted", N, 200, P("PluginSecretView"), get(crate::plugins::api::secrets)));
    t.push(r(Method::POST, "/api/v1/plugin-secrets", R(Role::Admin), "plugin-secrets", "Set a secret (made or replaced; write-only)", J("PluginSecretInput"), 200, J("PluginSecretView"), post(crate::plugins::api::set_secret)));
    t.push(r(Method::DELETE, "/api/v1/plugin-secrets/{id}", R(Role::Admin), "plugin-secrets", "Delete a secret", N, 204, N, delete(crate::plugins::api::delete_secret)));
    t.push(r(Method::DELETE, "/api/v1/prompts/{id}", R(Role::Admin), "prompts", "Delete a prompt no flow plays", N, 204, N, delete(crate::voice::prompts::remove)));
    t.push(r(Method::GET, "/api/v1/webhooks/{id}/deliveries", R(Role::Admin), "webhooks", "Delivery log of an endpoint, newest first", N, 200, P("WebhookDeliveryView"), get(docs::deliveries)));
    t
}

/// The router for a route table, each route behind its role check.
pub fn router(state: AppState, routes: Vec<Route>) -> Router {
    let mut router = Router::new();
    for route in routes {
        let handler = match route.access {
            Access::Public => route.handler,
            Access::Role(role) => {
                route.handler.route_layer(middleware::from_fn_with_state((state.clone(), role), require_role))
            }
        };
        router = router.route(route.path, handler);
    }
    router.with_state(state)
}

/// The credential of a request: the bearer header, or for WebSocket upgrades (browsers cannot
/// set headers there) an `access_token` query parameter.
fn bearer_of(req: &Request) -> Result<String, ApiError> {
    let header_token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(|t| t.trim().to_owned());
    let is_upgrade =
        req.headers().get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    let query_token = || {
        req.uri().query().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("access_token=")).map(str::to_owned))
    };
    header_token
        .or_else(|| if is_upgrade { query_token() } else { None })
        .ok_or(ApiError::Unauthorized("missing bearer token"))
}

/// Authenticates the bearer credential and checks the role; the principal goes into the
/// request's extensions for the handler.
async fn require_role(
    State((state, role)): State<(AppState, Role)>,
    mut req: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let bearer = bearer_of(&req)?;
    let principal = authenticate(&*state.store, &state.keys, &bearer).await?;

    if !principal.role.includes(role) {
        return Err(ApiError::Forbidden("your role does not allow this"));
    }
    tracing::Span::current().record("tenant", tracing::field::display(principal.tenant_id));
    req.extensions_mut().insert(principal);
    Ok(next.run(req).await)
}
