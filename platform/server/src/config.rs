//! Configuration: one type, read from an optional TOML file, then environment variables and
//! flags (which win). `switchboard --help` lists every setting with its variable.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use serde::{Deserialize, Serialize};

/// Every setting of a `switchboard` process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listen address (API, console, WebSockets, metrics).
    pub http_addr: SocketAddr,
    /// Folder for the SQLite database, secrets and local files.
    pub data_dir: PathBuf,
    /// Database URL; empty means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// URL of the role that owns the schema, for migrations (PostgreSQL); defaults to `database_url`.
    pub database_owner_url: Option<String>,
    /// PostgreSQL role the application connects as; migrations grant it table access.
    pub database_app_role: Option<String>,
    /// RabbitMQ URL; empty means the in-process bus.
    pub amqp_url: Option<String>,
    /// The address people reach this deployment at (links in e-mails, widget snippets).
    pub public_url: String,
    /// HMAC secret for access tokens (at least 32 bytes); empty means a random secret kept in
    /// `data_dir/jwt.secret`. Replicas of one deployment must share it.
    pub jwt_secret: Option<String>,
    /// Access token lifetime in seconds.
    pub access_token_ttl_secs: u64,
    /// Refresh token lifetime in seconds.
    pub refresh_token_ttl_secs: u64,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Log filter, e.g. `info` or `switchboard_server=debug,info`.
    pub log: String,
    /// First webhook retry after this many milliseconds; each retry waits three times longer.
    pub webhook_retry_base_ms: u64,
    /// Attempts per webhook delivery before it is marked failed.
    pub webhook_max_attempts: u32,
    /// Deliver webhooks (and send through SMS provider URLs) to loopback and private addresses
    /// too. Dangerous: tenants could reach internal services (SSRF). Only for tests and
    /// single-tenant installations.
    pub danger_allow_private_webhook_targets: bool,
    /// SMTP listen address for the tenants' inbound e-mail addresses; empty turns the listener off.
    pub smtp_addr: Option<SocketAddr>,
    /// Name the SMTP listener greets with and puts in Message-IDs it makes.
    pub smtp_hostname: String,
    /// PEM certificate chain for STARTTLS (with `smtp_tls_key`); without it STARTTLS is not offered.
    pub smtp_tls_cert: Option<PathBuf>,
    /// PEM private key for STARTTLS.
    pub smtp_tls_key: Option<PathBuf>,
    /// Largest e-mail accepted, in bytes.
    pub smtp_max_message_bytes: usize,
    /// Recipients per e-mail.
    pub smtp_max_recipients: usize,
    /// Longest an SMTP client may stay silent, in seconds.
    pub smtp_idle_secs: u64,
    /// Longest one SMTP session may last, in seconds.
    pub smtp_session_secs: u64,
    /// Relay for outgoing e-mail (agents' replies, transcripts), e.g. `smtp://127.0.0.1:25`,
    /// `smtp://user:pass@relay.example:587?tls=required` or `smtps://relay.example`. Empty: no
    /// outgoing e-mail (replies are refused with a clear error).
    pub smtp_relay_url: Option<String>,
    /// Folder for attachments and other files; empty means `data_dir/objects`.
    pub objects_dir: Option<PathBuf>,
    /// The built browser apps (`npm --prefix web run build` writes `web/dist`).
    pub web_dir: PathBuf,
    /// Stripe secret key; empty turns billing off (everything is included, nobody is charged).
    pub stripe_secret_key: Option<String>,
    /// Stripe API base URL; empty means Stripe itself (tests point it at localstripe).
    pub stripe_api_base: Option<String>,
    /// Signing secret of the Stripe webhook endpoint (`whsec_...`); required with a key.
    pub stripe_webhook_secret: Option<String>,
    /// How far a webhook's signed timestamp may be from now, in seconds.
    pub stripe_webhook_tolerance_secs: u64,
    /// TOML file with the plan catalogue; empty means the built-in one.
    pub billing_plans: Option<PathBuf>,
    /// Days of full service after a failed payment before the tenant is suspended.
    pub billing_grace_secs: u64,
    /// How often usage is sealed and reported to Stripe, in seconds.
    pub billing_report_interval_secs: u64,
    /// SIP address (UDP and TCP) of the edge inside this process; empty runs no edge.
    pub sip_addr: Option<SocketAddr>,
    /// The address phones and carriers reach the edge at (Via, Contact, SDP); empty: the SIP
    /// address when specific, else this host's outbound address.
    pub sip_public_ip: Option<std::net::IpAddr>,
    /// Digest realm for phones that register.
    pub sip_realm: String,
    /// Lowest RTP port.
    pub rtp_port_min: u16,
    /// Highest RTP port.
    pub rtp_port_max: u16,
    /// Concurrent calls one tenant may have on an edge.
    pub voice_max_calls_per_tenant: u32,
    /// The `switchboard` binary whose `plugin compile-worker` compiles plugins; empty: this one.
    pub plugin_compiler: Option<PathBuf>,
    /// Shared secret of the control link (at least 32 bytes): a platform accepts stand-alone
    /// edges that present it, and `switchboard edge` presents it. Empty: no edge may link.
    pub edge_token: Option<String>,
    /// `switchboard edge`: the platform it links to, e.g. `http://platform:8080`; several replicas
    /// (or load balancers) separated by commas are tried in turn.
    pub platform_url: Option<String>,
    /// `switchboard edge`: this edge's stable name [default: the host name and SIP port].
    pub edge_id: Option<String>,
    /// `switchboard edge`: the region it serves.
    pub edge_region: String,
    /// Which callers belong to which edge region, by E.164 prefix (`eu=+49,+33;us=+1`): a call
    /// that reaches an edge outside its caller's region is redirected (302) to a live edge there.
    pub caller_regions: Vec<(String, String)>,
    /// `switchboard edge`: where it serves `/healthz` and `/metrics`; empty: nowhere.
    pub edge_http_addr: Option<SocketAddr>,
    /// Most calls an edge takes at once (all tenants); more are answered 503.
    pub edge_max_calls: u32,
    /// Carriers' trunk addresses or blocks (`203.0.113.0/24`), exempt from the SIP flood limit.
    pub sip_trusted_peers: Vec<String>,
    /// Take new calls only from `sip_trusted_peers` or `sip_trunk_accounts` (others get 403);
    /// phones register anywhere.
    pub sip_calls_from_trusted_only: bool,
    /// Carriers' trunk accounts (`user:password`): calls from outside the trusted blocks are
    /// challenged (407) and taken when they prove one.
    pub sip_trunk_accounts: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_owner_url: None,
            database_app_role: None,
            amqp_url: None,
            public_url: "http://localhost:8080".into(),
            jwt_secret: None,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            max_body_bytes: 1024 * 1024,
            log: "info".into(),
            webhook_retry_base_ms: 10_000,
            webhook_max_attempts: 8,
            danger_allow_private_webhook_targets: false,
            smtp_addr: Some(SocketAddr::from(([0, 0, 0, 0], 2525))),
            smtp_hostname: "localhost".into(),
            smtp_tls_cert: None,
            smtp_tls_key: None,
            smtp_max_message_bytes: 25 * 1024 * 1024,
            smtp_max_recipients: 50,
            smtp_idle_secs: 60,
            smtp_session_secs: 600,
            smtp_relay_url: None,
            objects_dir: None,
            web_dir: PathBuf::from("web/dist"),
            stripe_secret_key: None,
            stripe_api_base: None,
            stripe_webhook_secret: None,
            stripe_webhook_tolerance_secs: 300,
            billing_plans: None,
            billing_grace_secs: 7 * 86_400,
            billing_report_interval_secs: 60,
            sip_addr: Some(SocketAddr::from(([0, 0, 0, 0], 5060))),
            sip_public_ip: None,
            sip_realm: "switchboard".into(),
            rtp_port_min: 20_000,
            rtp_port_max: 29_999,
            voice_max_calls_per_tenant: 50,
            plugin_compiler: None,
            edge_token: None,
            platform_url: None,
            edge_id: None,
            edge_region: "default".into(),
            caller_regions: Vec::new(),
            edge_http_addr: None,
            edge_max_calls: 1_000,
            sip_trusted_peers: Vec::new(),
            sip_trunk_accounts: Vec::new(),
            sip_calls_from_trusted_only: false,
        }
    }
}

/// Command-line and environment overrides; each wins over the TOML file.
#[derive(Debug, Clone, Default, Args)]
pub struct Overrides {
    /// TOML configuration file (keys as in `switchboard config`).
    #[arg(long, env = "SWITCHBOARD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// HTTP listen address [default: 0.0.0.0:8080].
    #[arg(long, env = "SWITCHBOARD_HTTP_ADDR", global = true)]
    pub http_addr: Option<SocketAddr>,
    /// Data folder [default: ./data].
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// Folder for attachments and recordings [default: objects/ in the data folder]; replicas of
    /// one deployment share it.
    #[arg(long, env = "SWITCHBOARD_OBJECTS_DIR", global = true)]
    pub objects_dir: Option<PathBuf>,
    /// Database URL (sqlite://... or postgres://...) [default: SQLite in the data folder].
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Schema owner's database URL, for migrations.
    #[arg(long, env = "SWITCHBOARD_DATABASE_OWNER_URL", global = true)]
    pub database_owner_url: Option<String>,
    /// PostgreSQL role the application connects as (granted table access by migrations).
    #[arg(long, env = "SWITCHBOARD_DATABASE_APP_ROLE", global = true)]
    pub database_app_role: Option<String>,
    /// RabbitMQ URL (amqp://...) [default: in-process bus].
    #[arg(long, env = "SWITCHBOARD_AMQP_URL", global = true)]
    pub amqp_url: Option<String>,
    /// Public base URL [default: http://localhost:8080].
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Access-token signing secret (shared by all replicas) [default: generated in the data folder].
    #[arg(long, env = "SWITCHBOARD_JWT_SECRET", global = true, hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Log filter [default: info].
    #[arg(long, env = "SWITCHBOARD_LOG", global = true)]
    pub log: Option<String>,
    /// SMTP listen address for inbound e-mail [default: 0.0.0.0:2525].
    #[arg(long, env = "SWITCHBOARD_SMTP_ADDR", global = true)]
    pub smtp_addr: Option<SocketAddr>,
    /// Relay for outgoing e-mail (smtp://host:port, smtps://...) [default: none].
    #[arg(long, env = "SWITCHBOARD_SMTP_RELAY_URL", global = true, hide_env_values = true)]
    pub smtp_relay_url: Option<String>,
    /// The built browser apps [default: web/dist].
    #[arg(long, env = "SWITCHBOARD_WEB_DIR", global = true)]
    pub web_dir: Option<PathBuf>,
    /// Stripe secret key; empty turns billing off [default: none].
    #[arg(long, env = "SWITCHBOARD_STRIPE_SECRET_KEY", global = true, hide_env_values = true)]
    pub stripe_secret_key: Option<String>,
    /// Stripe API base URL [default: Stripe itself].
    #[arg(long, env = "SWITCHBOARD_STRIPE_API_BASE", global = true)]
    pub stripe_api_base: Option<String>,
    /// Stripe webhook signing secret (whsec_...).
    #[arg(long, env = "SWITCHBOARD_STRIPE_WEBHOOK_SECRET", global = true, hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,
    /// Plan catalogue file (TOML) [default: built in].
    #[arg(long, env = "SWITCHBOARD_BILLING_PLANS", global = true)]
    pub billing_plans: Option<PathBuf>,
    /// Seconds of service after a failed payment [default: 604800].
    #[arg(long, env = "SWITCHBOARD_BILLING_GRACE_SECS", global = true)]
    pub billing_grace_secs: Option<u64>,
    /// Seconds between usage reports to Stripe [default: 60].
    #[arg(long, env = "SWITCHBOARD_BILLING_REPORT_INTERVAL_SECS", global = true)]
    pub billing_report_interval_secs: Option<u64>,
    /// SIP address of the edge (UDP and TCP); "off" runs no edge [default: 0.0.0.0:5060].
    #[arg(long, env = "SWITCHBOARD_SIP_ADDR", global = true)]
    pub sip_addr: Option<String>,
    /// Address carriers and phones reach the edge at [default: detected].
    #[arg(long, env = "SWITCHBOARD_SIP_PUBLIC_IP", global = true)]
    pub sip_public_ip: Option<std::net::IpAddr>,
    /// RTP port range, e.g. 20000-29999 [default: 20000-29999].
    #[arg(long, env = "SWITCHBOARD_RTP_PORTS", global = true)]
    pub rtp_ports: Option<String>,
    /// Control-link secret shared by the platform and its stand-alone edges [default: none].
    #[arg(long, env = "SWITCHBOARD_EDGE_TOKEN", global = true, hide_env_values = true)]
    pub edge_token: Option<String>,
    /// `switchboard edge`: the platform to link to, e.g. http://platform:8080 (several: comma-separated).
    #[arg(long, env = "SWITCHBOARD_PLATFORM_URL", global = true)]
    pub platform_url: Option<String>,
    /// `switchboard edge`: this edge's name [default: host name and SIP port].
    #[arg(long, env = "SWITCHBOARD_EDGE_ID", global = true)]
    pub edge_id: Option<String>,
    /// `switchboard edge`: address of its /healthz and /metrics [default: none].
    #[arg(long, env = "SWITCHBOARD_EDGE_HTTP_ADDR", global = true)]
    pub edge_http_addr: Option<SocketAddr>,
    /// `switchboard edge`: its region [default: default].
    #[arg(long, env = "SWITCHBOARD_EDGE_REGION", global = true)]
    pub edge_region: Option<String>,
    /// Callers' regions by E.164 prefix, e.g. `eu=+49,+33,+44;us=+1` [default: none].
    #[arg(long, env = "SWITCHBOARD_CALLER_REGIONS", global = true)]
    pub caller_regions: Option<String>,
    /// Most calls an edge takes at once [default: 1000].
    #[arg(long, env = "SWITCHBOARD_EDGE_MAX_CALLS", global = true)]
    pub edge_max_calls: Option<u32>,
    /// Carrier trunk addresses exempt from the SIP flood limit, comma-separated (203.0.113.0/24).
    #[arg(long, env = "SWITCHBOARD_SIP_TRUSTED_PEERS", global = true)]
    pub sip_trusted_peers: Option<String>,
    /// Take new calls only from the trusted carrier trunks (true/false) [default: false].
    #[arg(long, env = "SWITCHBOARD_SIP_CALLS_FROM_TRUSTED_ONLY", global = true)]
    pub sip_calls_from_trusted_only: Option<bool>,
    /// Carriers' trunk accounts that authenticate with digest, comma-separated user:password.
    #[arg(long, env = "SWITCHBOARD_SIP_TRUNK_ACCOUNTS", global = true, hide_env_values = true)]
    pub sip_trunk_accounts: Option<String>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for [`Config`].
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// Which file.
        path: PathBuf,
        /// What is wrong (line and key).
        message: String,
    },
    /// A value is out of bounds.
    #[error("invalid setting {key}: {message}")]
    Invalid {
        /// Which key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Config {
    /// The file (if any), then overrides; validated.
    pub fn load(o: &Overrides) -> Result<Self, ConfigError> {
        let mut c = match &o.config {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &o.$f { c.$f = v.clone(); } )* };
        }
        macro_rules! set_opt {
            ($($f:ident),*) => { $( if let Some(v) = &o.$f { c.$f = (!v.is_empty()).then(|| v.clone()); } )* };
        }
        set!(http_addr, data_dir, public_url, log, web_dir, edge_region);
        if let Some(v) = o.edge_max_calls {
            c.edge_max_calls = v;
        }
        if let Some(a) = o.edge_http_addr {
            c.edge_http_addr = Some(a);
        }
        if let Some(v) = o.sip_calls_from_trusted_only {
            c.sip_calls_from_trusted_only = v;
        }
        if let Some(v) = &o.sip_trunk_accounts {
            c.sip_trunk_accounts = v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
        }
        if let Some(v) = &o.sip_trusted_peers {
            c.sip_trusted_peers = v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
        }
        set_opt!(
            database_url,
            database_owner_url,
            database_app_role,
            amqp_url,
            jwt_secret,
            smtp_relay_url,
            stripe_secret_key,
            stripe_api_base,
            stripe_webhook_secret,
            edge_token,
            platform_url,
            edge_id
        );
        if let Some(v) = &o.caller_regions {
            c.caller_regions = parse_caller_regions(v)?;
        }
        if let Some(p) = &o.objects_dir {
            c.objects_dir = (!p.as_os_str().is_empty()).then(|| p.clone());
        }
        if let Some(p) = &o.billing_plans {
            c.billing_plans = (!p.as_os_str().is_empty()).then(|| p.clone());
        }
        if let Some(v) = o.billing_grace_secs {
            c.billing_grace_secs = v;
        }
        if let Some(v) = o.billing_report_interval_secs {
            c.billing_report_interval_secs = v;
        }
        if let Some(a) = o.smtp_addr {
            c.smtp_addr = Some(a);
        }
        if let Some(a) = &o.sip_addr {
            c.sip_addr = match a.trim() {
                "" | "off" => None,
                a => Some(a.parse().map_err(|_| ConfigError::Invalid {
                    key: "sip_addr",
                    message: format!("{a:?} is not an address such as 0.0.0.0:5060 (or \"off\")"),
                })?),
            };
        }
        if let Some(ip) = o.sip_public_ip {
            c.sip_public_ip = Some(ip);
        }
        if let Some(range) = &o.rtp_ports {
            let parsed =
                range.split_once('-').and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
            let (min, max) = parsed.ok_or_else(|| ConfigError::Invalid {
                key: "rtp_ports",
                message: format!("{range:?} is not a range such as 20000-29999"),
            })?;
            c.rtp_port_min = min;
            c.rtp_port_max = max;
        }
        c.validate()?;
        Ok(c)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.to_owned(), message: e.to_string() })
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.rtp_port_min < 1024 || self.rtp_port_max <= self.rtp_port_min {
            return Err(ConfigError::Invalid {
                key: "rtp_ports",
                message: "the range must start at 1024 or above and hold at least one even/odd pair".into(),
            });
        }
        if self.voice_max_calls_per_tenant == 0 {
            return Err(ConfigError::Invalid {
                key: "voice_max_calls_per_tenant",
                message: "must be at least 1".into(),
            });
        }
        if let Some(s) = &self.jwt_secret
            && s.len() < 32
        {
            return Err(ConfigError::Invalid { key: "jwt_secret", message: "must be at least 32 bytes".into() });
        }
        if let Some(s) = &self.edge_token
            && s.len() < 32
        {
            return Err(ConfigError::Invalid { key: "edge_token", message: "must be at least 32 bytes".into() });
        }
        if self.platform_url.is_some()
            && (self.platform_urls().is_empty()
                || self.platform_urls().iter().any(|u| !(u.starts_with("http://") || u.starts_with("https://"))))
        {
            return Err(ConfigError::Invalid {
                key: "platform_url",
                message: "must be http(s)://..., or several separated by commas".into(),
            });
        }
        if self.trusted_peers()?.is_empty() && self.trunk_accounts()?.is_empty() && self.sip_calls_from_trusted_only {
            return Err(ConfigError::Invalid {
                key: "sip_calls_from_trusted_only",
                message: "name the carriers' trunks in sip_trusted_peers or sip_trunk_accounts, or no call would ever be taken"
                    .into(),
            });
        }
        if self.edge_max_calls == 0 {
            return Err(ConfigError::Invalid {
                key: "edge_max_calls",
                message: "an edge takes at least one call".into(),
            });
        }
        if self.edge_region.trim().is_empty() {
            return Err(ConfigError::Invalid { key: "edge_region", message: "an edge names its region".into() });
        }
        if let Some(id) = &self.edge_id
            && (id.trim().is_empty() || id.len() > 100)
        {
            return Err(ConfigError::Invalid { key: "edge_id", message: "1 to 100 characters".into() });
        }
        if !(60..=86_400).contains(&self.access_token_ttl_secs) {
            return Err(ConfigError::Invalid { key: "access_token_ttl_secs", message: "must be 60..=86400".into() });
        }
        if self.refresh_token_ttl_secs < self.access_token_ttl_secs {
            return Err(ConfigError::Invalid {
                key: "refresh_token_ttl_secs",
                message: "must not be shorter than the access token's".into(),
            });
        }
        if let Some(url) = &self.database_url
            && !(url.starts_with("sqlite:") || url.starts_with("postgres:") || url.starts_with("postgresql:"))
        {
            return Err(ConfigError::Invalid {
                key: "database_url",
                message: "must be sqlite:... or postgres:...".into(),
            });
        }
        if let Some(url) = &self.amqp_url
            && !(url.starts_with("amqp://") || url.starts_with("amqps://"))
        {
            return Err(ConfigError::Invalid { key: "amqp_url", message: "must be amqp://... or amqps://...".into() });
        }
        if let Some(url) = &self.smtp_relay_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(ConfigError::Invalid {
                key: "smtp_relay_url",
                message: "must be smtp://... or smtps://...".into(),
            });
        }
        if self.smtp_tls_cert.is_some() != self.smtp_tls_key.is_some() {
            return Err(ConfigError::Invalid {
                key: "smtp_tls_cert",
                message: "smtp_tls_cert and smtp_tls_key go together".into(),
            });
        }
        if self.stripe_secret_key.is_some() && self.stripe_webhook_secret.is_none() {
            return Err(ConfigError::Invalid {
                key: "stripe_webhook_secret",
                message: "billing needs the webhook signing secret too (whsec_...)".into(),
            });
        }
        if let Some(url) = &self.stripe_api_base
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid { key: "stripe_api_base", message: "must be http(s)://...".into() });
        }
        if !(1..=86_400).contains(&self.billing_report_interval_secs) {
            return Err(ConfigError::Invalid {
                key: "billing_report_interval_secs",
                message: "must be 1..=86400".into(),
            });
        }
        if !(10..=3_600).contains(&self.stripe_webhook_tolerance_secs) {
            return Err(ConfigError::Invalid {
                key: "stripe_webhook_tolerance_secs",
                message: "must be 10..=3600".into(),
            });
        }
        self.catalogue()?;
        if self.smtp_max_message_bytes < 1024 || self.smtp_max_recipients == 0 {
            return Err(ConfigError::Invalid {
                key: "smtp_max_message_bytes",
                message: "at least 1024 bytes and one recipient".into(),
            });
        }
        Ok(())
    }

    /// The carriers' trunk blocks, parsed.
    pub fn trusted_peers(&self) -> Result<Vec<switchboard_edge::TrustedNet>, ConfigError> {
        self.sip_trusted_peers
            .iter()
            .map(|p| p.parse().map_err(|message| ConfigError::Invalid { key: "sip_trusted_peers", message }))
            .collect()
    }

    /// The carriers' trunk accounts, parsed.
    pub fn trunk_accounts(&self) -> Result<Vec<switchboard_edge::TrunkAccount>, ConfigError> {
        self.sip_trunk_accounts
            .iter()
            .map(|a| a.parse().map_err(|message| ConfigError::Invalid { key: "sip_trunk_accounts", message }))
            .collect()
    }

    /// The plan catalogue: the configured file, or the built-in one; checked.
    pub fn catalogue(&self) -> Result<switchboard_billing::Catalogue, ConfigError> {
        let catalogue = match &self.billing_plans {
            None => switchboard_billing::Catalogue::default(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse { path: path.clone(), message: e.to_string() })?
            }
        };
        catalogue.validate().map_err(|e| ConfigError::Invalid { key: "billing_plans", message: e.to_string() })?;
        Ok(catalogue)
    }

    /// The region of a caller (E.164), by the longest matching prefix.
    pub fn caller_region(&self, caller: &str) -> Option<&str> {
        self.caller_regions
            .iter()
            .filter(|(prefix, _)| caller.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, region)| region.as_str())
    }

    /// `switchboard edge`: the platform replicas (or load balancers) it links to, in order.
    pub fn platform_urls(&self) -> Vec<String> {
        self.platform_url
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// The folder for attachments and other files.
    pub fn objects_dir(&self) -> PathBuf {
        self.objects_dir.clone().unwrap_or_else(|| self.data_dir.join("objects"))
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| switchboard_store_sql::sqlite_url(&self.data_dir.join("switchboard.db")))
    }

    /// This configuration as TOML (secrets masked).
    pub fn to_toml(&self) -> String {
        let mut shown = self.clone();
        for secret in [
            &mut shown.jwt_secret,
            &mut shown.stripe_secret_key,
            &mut shown.stripe_webhook_secret,
            &mut shown.edge_token,
        ] {
            if secret.is_some() {
                *secret = Some("********".into());
            }
        }
        for account in &mut shown.sip_trunk_accounts {
            if let Some((user, _)) = account.split_once(':') {
                *account = format!("{user}:********");
            }
        }
        if let Some(url) = &shown.smtp_relay_url
            && let Some((scheme, rest)) = url.split_once("://")
            && let Some((_, host)) = rest.rsplit_once('@')
        {
            shown.smtp_relay_url = Some(format!("{scheme}://********@{host}"));
        }
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }
}

/// Parses `eu=+49,+33;us=+1` into (prefix, region) pairs.
fn parse_caller_regions(v: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let bad = |message: String| ConfigError::Invalid { key: "caller_regions", message };
    let mut pairs = Vec::new();
    for part in v.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (region, prefixes) =
            part.split_once('=').ok_or_else(|| bad(format!("{part:?} is not region=+prefix,+prefix")))?;
        let region = region.trim();
        if region.is_empty() {
            return Err(bad(format!("{part:?} names no region")));
        }
        for prefix in prefixes.split(',').map(str::trim) {
            let digits = prefix.strip_prefix('+').unwrap_or_default();
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad(format!("{prefix:?} is not an E.164 prefix like +49")));
            }
            pairs.push((prefix.to_owned(), region.to_owned()));
        }
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_environment_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("sb-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("switchboard.toml");
        std::fs::write(&file, "http_addr = \"127.0.0.1:9000\"\npublic_url = \"https://cc.example\"\n").expect("write");
        let o = Overrides {
            config: Some(file),
            http_addr: Some("127.0.0.1:9100".parse().expect("addr")),
            ..Overrides::default()
        };
        let c = Config::load(&o).expect("load");
        assert_eq!(c.http_addr.port(), 9100);
        assert_eq!(c.public_url, "https://cc.example");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused_with_the_key_named() {
        let dir = std::env::temp_dir().join(format!("sb-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("bad.toml");
        std::fs::write(&file, "htp_addr = \"x\"\n").expect("write");
        let err = Config::load(&Overrides { config: Some(file), ..Overrides::default() }).expect_err("refused");
        assert!(err.to_string().contains("htp_addr"), "{err}");
    }

    #[test]
    fn short_jwt_secrets_are_refused() {
        let o = Overrides { jwt_secret: Some("short".into()), ..Overrides::default() };
        assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "jwt_secret", .. })));
    }

    #[test]
    fn edge_settings_are_checked_and_the_token_never_printed() {
        let o = Overrides { edge_token: Some("short".into()), ..Overrides::default() };
        assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "edge_token", .. })));
        for bad in ["platform:8080", "http://a:8080, platform:8080", " , "] {
            let o = Overrides { platform_url: Some(bad.into()), ..Overrides::default() };
            assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "platform_url", .. })), "{bad}");
        }
        for bad in ["eu", "eu=49", "=+49", "eu=+4x"] {
            let o = Overrides { caller_regions: Some(bad.into()), ..Overrides::default() };
            assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "caller_regions", .. })), "{bad}");
        }
        let o = Overrides { caller_regions: Some("eu=+49, +4930 ; us=+1".into()), ..Overrides::default() };
        let c = Config::load(&o).expect("regions");
        assert_eq!(c.caller_region("+493012345"), Some("eu"));
        assert_eq!(c.caller_region("+14155550100"), Some("us"));
        assert_eq!(c.caller_region("+33123"), None);
        assert_eq!(c.caller_region(""), None);
        let o = Overrides { platform_url: Some("http://a:8080, https://b.example/".into()), ..Overrides::default() };
        let c = Config::load(&o).expect("two replicas");
        assert_eq!(c.platform_urls(), ["http://a:8080", "https://b.example/"]);
        let o = Overrides { sip_trusted_peers: Some("203.0.113.0/24, carrier".into()), ..Overrides::default() };
        assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "sip_trusted_peers", .. })));
        let o = Overrides { sip_trusted_peers: Some("203.0.113.0/24, 198.51.100.7".into()), ..Overrides::default() };
        assert_eq!(Config::load(&o).expect("valid").trusted_peers().expect("parsed").len(), 2);
        let o = Overrides { sip_calls_from_trusted_only: Some(true), ..Overrides::default() };
        assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "sip_calls_from_trusted_only", .. })));
        let o = Overrides { edge_max_calls: Some(0), ..Overrides::default() };
        assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "edge_max_calls", .. })));
        for bad in ["carrier", "carrier:short", ":a-long-trunk-password", "car rier:a-long-trunk-password"] {
            let o = Overrides { sip_trunk_accounts: Some(bad.into()), ..Overrides::default() };
            assert!(matches!(Config::load(&o), Err(ConfigError::Invalid { key: "sip_trunk_accounts", .. })), "{bad}");
        }
        let token = "an-edge-token-of-at-least-32-bytes!!";
        let o = Overrides {
            edge_token: Some(token.into()),
            edge_region: Some("eu".into()),
            edge_max_calls: Some(200),
            // Trunk accounts alone are enough for calls from carriers only.
            sip_calls_from_trusted_only: Some(true),
            sip_trunk_accounts: Some("carrier-1:a-long-trunk-password, carrier-2:another-long-one".into()),
            ..Overrides::default()
        };
        let c = Config::load(&o).expect("valid");
        assert_eq!((c.edge_region.as_str(), c.edge_max_calls), ("eu", 200));
        assert_eq!(c.trunk_accounts().expect("parsed").len(), 2);
        let shown = c.to_toml();
        assert!(!shown.contains(token) && shown.contains("edge_token = \"********\""), "{shown}");
        assert!(!shown.contains("a-long-trunk-password") && shown.contains("carrier-1:********"), "{shown}");
    }

    #[test]
    fn the_default_database_is_sqlite_in_the_data_folder() {
        let c = Config::default();
        assert!(c.database_url().starts_with("sqlite://./data/switchboard.db"));
        assert!(c.to_toml().contains("http_addr = \"0.0.0.0:8080\""));
    }
}
