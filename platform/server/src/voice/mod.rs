//! Voice: the platform side of the edges. [`StorePlatform`] is the edge's `Platform` seam over
//! this process's store, routing and object store; the edge inside `switchboard` (embedded
//! default) calls it directly, and stand-alone edges (`switchboard edge`) reach the same code
//! through the control link ([`link`]: HTTP asks, audio uploads and a WebSocket per edge).
//! [`edges`] knows every edge this process commands; [`control`] turns routing's decisions and
//! the agent's buttons into commands to their calls; [`accounts`] holds agents' SIP phone logins.

pub mod accounts;
pub mod control;
pub mod edges;
pub mod link;
mod platform;
pub mod prompts;
pub mod registry;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use platform::StorePlatform;

use crate::app::AppState;

/// This process's voice: the edges it commands, the digest realm, and whether (with which
/// secret) stand-alone edges may link.
#[derive(Debug, Clone)]
pub struct Voice {
    /// Every edge this process commands.
    pub edges: edges::Edges,
    /// The digest realm phones authenticate in.
    pub realm: String,
    /// Concurrent calls one tenant may have on an edge.
    pub max_calls_per_tenant: u32,
    /// SHA-256 of the edge token, once links are accepted.
    edge_token: Arc<OnceLock<[u8; 32]>>,
    /// How often linked edges heartbeat (a link silent for three beats is dropped).
    pub heartbeat: Duration,
    /// The deployment's settings, for callers' regions.
    config: Arc<crate::config::Config>,
}

impl Voice {
    /// Voice before any edge runs or links.
    pub fn new(config: &crate::config::Config) -> Self {
        Voice {
            edges: edges::Edges::default(),
            realm: config.sip_realm.clone(),
            max_calls_per_tenant: config.voice_max_calls_per_tenant,
            edge_token: Arc::default(),
            heartbeat: Duration::from_secs(5),
            config: Arc::new(config.clone()),
        }
    }

    /// The region of a caller (E.164), if the deployment maps it to one.
    pub fn caller_region(&self, caller: &str) -> Option<&str> {
        self.config.caller_region(caller)
    }

    /// Whether `presented` is the edge token (constant time; false while links are off).
    pub fn edge_token_matches(&self, presented: &str) -> bool {
        use sha2::Digest;
        let Some(expected) = self.edge_token.get() else { return false };
        let presented: [u8; 32] = sha2::Sha256::digest(presented.as_bytes()).into();
        subtle::ConstantTimeEq::ct_eq(&presented[..], &expected[..]).into()
    }

    /// Whether stand-alone edges may link.
    pub fn links_enabled(&self) -> bool {
        self.edge_token.get().is_some()
    }
}

/// Starts voice: the edge inside this process when `sip_addr` is set, links from stand-alone
/// edges when `edge_token` is, and in either case the call control that follows routing.
pub async fn start(
    state: &AppState,
    config: &crate::config::Config,
) -> anyhow::Result<Option<switchboard_edge::EdgeHandle>> {
    if let Some(token) = &config.edge_token {
        use sha2::Digest;
        let _ = state.voice.edge_token.set(sha2::Sha256::digest(token.as_bytes()).into());
    }
    let handle = match config.sip_addr {
        Some(addr) => {
            let edge = edge_config(config, addr);
            let platform = Arc::new(StorePlatform::new(state.clone(), config.voice_max_calls_per_tenant));
            let handle = switchboard_edge::start(edge, platform)
                .await
                .map_err(|e| anyhow::anyhow!("starting the SIP edge on {addr}: {e}"))?;
            state.voice.edges.set_local(handle.control.clone());
            Some(handle)
        }
        None => None,
    };
    if handle.is_some() || state.voice.links_enabled() {
        control::follow_routing(state.clone()).await?;
    }
    if let Some(cluster) = state.routing.cluster() {
        // Another replica's agent may press a button for a call on one of our edges.
        let edges = state.voice.edges.clone();
        cluster.on_broadcast(
            control::CALL_COMMAND_BROADCAST,
            Arc::new(move |question| {
                let edges = edges.clone();
                Box::pin(async move { control::answer_call_command(&edges, question).await })
            }),
        );
    }
    if state.voice.links_enabled() {
        tracing::info!("stand-alone edges may link");
        tokio::spawn(registry::sweep(state.clone()));
    }
    Ok(handle)
}

/// `switchboard edge`: an edge media node on its own, linked to a platform over the control link
/// (asks over HTTP, a WebSocket for registration, heartbeats and commands). Needs no database and
/// no bus: everything it knows about tenants comes from the platform. Runs until `shutdown`.
pub async fn run_edge(
    config: crate::config::Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (edge, link) = start_linked_edge(&config).await?;
    let Some(addr) = config.edge_http_addr else {
        shutdown.await;
        return Ok(());
    };
    // The edge's own health and metrics, for its orchestrator and Prometheus.
    let state = EdgeHealth { control: edge.control.clone(), link: link.state(), platform: link.platform() };
    let router = axum::Router::new()
        .route("/healthz", axum::routing::get(edge_health))
        .route("/metrics", axum::routing::get(edge_metrics))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("binding the edge's HTTP on {addr}: {e}"))?;
    tracing::info!(%addr, "edge health and metrics served");
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
    drop((edge, link));
    Ok(())
}

/// What the edge's health and metrics read.
#[derive(Clone)]
struct EdgeHealth {
    control: switchboard_edge::EdgeControl,
    link: tokio::sync::watch::Receiver<switchboard_edge::link::LinkState>,
    platform: Arc<switchboard_edge::link::LinkPlatform>,
}

/// `GET /healthz` on a stand-alone edge: 200 while linked, 503 (with the reason) while not.
async fn edge_health(axum::extract::State(h): axum::extract::State<EdgeHealth>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = h.control.status().await;
    let link = h.link.borrow().clone();
    let (code, word) = match &link {
        switchboard_edge::link::LinkState::Up => (axum::http::StatusCode::OK, "up".to_owned()),
        switchboard_edge::link::LinkState::Down(why) => {
            (axum::http::StatusCode::SERVICE_UNAVAILABLE, format!("down: {why}"))
        }
    };
    let body = serde_json::json!({
        "link": word,
        "active_calls": status.active_calls,
        "registered_phones": status.registered.len(),
        "held_notifications": h.platform.held(),
    });
    (code, axum::Json(body)).into_response()
}

/// `GET /metrics` on a stand-alone edge (Prometheus text).
async fn edge_metrics(axum::extract::State(h): axum::extract::State<EdgeHealth>) -> String {
    let status = h.control.status().await;
    let up = u8::from(*h.link.borrow() == switchboard_edge::link::LinkState::Up);
    format!(
        "# HELP switchboard_edge_link_up Whether the control link to the platform is up.\n# TYPE switchboard_edge_link_up gauge\nswitchboard_edge_link_up {up}\n\
# HELP switchboard_edge_active_calls Calls in progress on this edge.\n# TYPE switchboard_edge_active_calls gauge\nswitchboard_edge_active_calls {}\n\
# HELP switchboard_edge_registered_phones SIP phones registered on this edge.\n# TYPE switchboard_edge_registered_phones gauge\nswitchboard_edge_registered_phones {}\n\
# HELP switchboard_edge_held_notifications Notifications waiting for the platform.\n# TYPE switchboard_edge_held_notifications gauge\nswitchboard_edge_held_notifications {}\n",
        status.active_calls,
        status.registered.len(),
        h.platform.held()
    )
}

/// Starts a stand-alone edge and its link to the platform (what `switchboard edge` runs); both
/// stop when dropped.
pub async fn start_linked_edge(
    config: &crate::config::Config,
) -> anyhow::Result<(switchboard_edge::EdgeHandle, switchboard_edge::link::Link)> {
    use anyhow::Context;
    let token = config
        .edge_token
        .clone()
        .context("an edge links with the deployment's edge token: set SWITCHBOARD_EDGE_TOKEN (the platform's)")?;
    let platform_urls = config.platform_urls();
    anyhow::ensure!(
        !platform_urls.is_empty(),
        "an edge links to a platform: set SWITCHBOARD_PLATFORM_URL (e.g. http://platform:8080, or several replicas separated by commas)"
    );
    let addr = config.sip_addr.context("an edge needs SIP: set SWITCHBOARD_SIP_ADDR (e.g. 0.0.0.0:5060)")?;
    let edge = edge_config(config, addr);
    let public_ip = edge.public_ip;
    let edge_id = config.edge_id.clone().unwrap_or_else(|| format!("{}-{}", host_name(), addr.port()));
    let mut link = switchboard_edge::link::LinkConfig {
        platform_urls,
        token,
        edge_id,
        region: config.edge_region.clone(),
        capacity: config.edge_max_calls,
        sip: String::new(),
    };
    let platform = Arc::new(switchboard_edge::link::LinkPlatform::new(link.clone())?);
    let handle = switchboard_edge::start(edge, platform.clone())
        .await
        .map_err(|e| anyhow::anyhow!("starting the SIP edge on {addr}: {e}"))?;
    link.sip = std::net::SocketAddr::new(public_ip, handle.udp.port()).to_string();
    tracing::info!(edge = %link.edge_id, region = %link.region, udp = %handle.udp, tcp = %handle.tcp, platform = ?link.platform_urls, "edge ready");
    let link = switchboard_edge::link::spawn(link, handle.control.clone(), platform)?;
    Ok((handle, link))
}

/// The edge's settings from the process's configuration (the same inside `switchboard` and
/// alone).
fn edge_config(config: &crate::config::Config, addr: std::net::SocketAddr) -> switchboard_edge::EdgeConfig {
    let mut edge = switchboard_edge::EdgeConfig::new(addr, &config.sip_realm);
    if let Some(ip) = config.sip_public_ip {
        edge.public_ip = ip;
    }
    edge.rtp_ports = (config.rtp_port_min, config.rtp_port_max);
    edge.recordings_dir = config.data_dir.join("recordings");
    edge.max_calls = config.edge_max_calls;
    // Checked when the configuration was loaded.
    edge.trusted_peers = config.trusted_peers().unwrap_or_default();
    edge.calls_from_trusted_only = config.sip_calls_from_trusted_only;
    edge.trunk_accounts = config.trunk_accounts().unwrap_or_default();
    edge
}

/// This machine's name, for a default edge id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "edge".into())
}
