//! The `switchboard` process: configuration, wiring of store, bus and services, the HTTP API.
//!
//! Architecture invariant: this is the only crate that knows axum, and the only one that picks
//! implementations for the seams (store, bus). Everything below it is reached through traits.

pub mod api;
pub mod app;
pub mod auth;
pub mod billing;
pub mod chat;
pub mod config;
pub mod conversation;
pub mod email;
pub mod error;
pub mod metrics;
pub mod openapi;
pub mod plugins;
pub mod routes;
pub mod routing;
pub mod voice;
pub mod web;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchboard_bus::{Bus, InProcessBus};
use switchboard_store::Store;
use switchboard_store_sql::{Backend, SqlStore};

use crate::app::AppState;
use crate::auth::TokenKeys;
use crate::config::Config;
use crate::metrics::Metrics;

/// Applies migrations: through the owner URL when one is configured, else the main one.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let url = config.database_owner_url.clone().unwrap_or_else(|| config.database_url());
    if Backend::of_url(&url)? == Backend::Sqlite {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data folder {}", config.data_dir.display()))?;
    }
    SqlStore::migrate(&url, config.database_app_role.as_deref()).await.context("applying database migrations")?;
    Ok(())
}

/// Connects the store (after migrating).
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    migrate(config).await?;
    let store = SqlStore::connect(&config.database_url()).await.context("connecting to the database")?;
    Ok(Arc::new(store))
}

/// Connects the bus: RabbitMQ when configured, else in-process.
pub async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(match &config.amqp_url {
        Some(url) => Arc::new(switchboard_bus_amqp::AmqpBus::connect(url).await.context("connecting to RabbitMQ")?),
        None => Arc::new(InProcessBus::new()),
    })
}

/// The access-token secret: configured, or kept in the data folder (made on first start).
pub fn jwt_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt.secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => anyhow::bail!("{} is too short; delete it to make a new one", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&config.data_dir)?;
            let secret = auth::random_secret();
            write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
            Ok(secret.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// The app state over given backends (tests build it this way too).
pub fn state(
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    secret: &[u8],
    config: &Config,
    objects: Arc<dyn object_store::ObjectStore>,
    relay: email::Relay,
) -> AppState {
    let metrics = Arc::new(Metrics::new(store.backend(), bus.backend()));
    let (store_for_plugins, objects_for_plugins) = (store.clone(), objects.clone());
    // Several replicas share a bus only in distributed mode: there each drives its share of the
    // routing shards; on the in-process bus this process drives them all.
    let routing = if config.amqp_url.is_some() {
        routing::Routing::clustered(store.clone(), bus.clone())
    } else {
        routing::Routing::new(store.clone(), bus.clone())
    };
    AppState {
        routing,
        public_url: config.public_url.clone(),
        keys: Arc::new(TokenKeys::new(
            secret,
            Duration::from_secs(config.access_token_ttl_secs),
            Duration::from_secs(config.refresh_token_ttl_secs),
        )),
        store,
        bus,
        metrics,
        throttle: Arc::default(),
        max_body_bytes: config.max_body_bytes,
        objects,
        relay,
        allow_private_targets: config.danger_allow_private_webhook_targets,
        web_dir: config.web_dir.clone(),
        billing: None,
        voice: voice::Voice::new(config),
        plugins: plugins::Plugins::new(config, store_for_plugins, objects_for_plugins),
    }
}

/// The object store of a configuration: a local folder (created if missing).
pub fn open_objects(config: &Config) -> anyhow::Result<Arc<dyn object_store::ObjectStore>> {
    let dir = config.objects_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let local = object_store::local::LocalFileSystem::new_with_prefix(&dir)
        .with_context(|| format!("opening {}", dir.display()))?;
    Ok(Arc::new(local))
}

/// Starts the webhook delivery worker.
pub async fn start_webhooks(state: &AppState, config: &Config) -> anyhow::Result<()> {
    let settings = webhooks::WebhookSettings {
        retry_base: Duration::from_millis(config.webhook_retry_base_ms),
        max_attempts: config.webhook_max_attempts.max(1),
        allow_private: config.danger_allow_private_webhook_targets,
    };
    webhooks::Webhooks::new(state.store.clone(), state.bus.clone(), settings)
        .start()
        .await
        .context("starting the webhook worker")?;
    Ok(())
}

/// Runs the HTTP API until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let store = open_store(&config).await?;
    let bus = open_bus(&config).await?;
    let secret = jwt_secret(&config)?;
    let objects = open_objects(&config)?;
    let relay = email::Relay::new(config.smtp_relay_url.as_deref()).context("smtp_relay_url")?;
    let mut state = state(store.clone(), bus, &secret, &config, objects, relay);
    state.billing = billing::Billing::from_config(&config).context("billing")?;
    billing::start_reporter(state.clone());
    billing::start_storage_meter(state.clone());
    // Waiting contacts' timers (overflow, offer deadlines) run again right after a restart.
    state.routing.warm().await;
    start_webhooks(&state, &config).await?;
    if let Some(addr) = config.smtp_addr {
        let settings = email::listener::SmtpSettings::from_config(&config)?;
        email::listener::start(state.clone(), addr, settings).await?;
    }
    // Kept for the life of the server: dropping the handle stops the edge.
    let _edge = voice::start(&state, &config).await?;
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding HTTP on {}", config.http_addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, store = store.backend(), bus = state.bus.backend(), ready_in_ms = started.elapsed().as_millis() as u64, "switchboard ready");
    let routing = state.routing.clone();
    axum::serve(listener, app::app(state)).with_graceful_shutdown(shutdown).await.context("HTTP server")?;
    // The other replicas take this one's routing shards now, not when its leases run out.
    routing.leave().await;
    tracing::info!("switchboard stopped");
    Ok(())
}
