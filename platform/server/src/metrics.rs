//! Prometheus metrics, rendered in the text format at `/metrics`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InfoLabels {
    version: String,
    store: String,
    bus: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    channel: String,
    direction: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShardLabels {
    shard: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EdgeLabels {
    region: String,
    state: String,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The process's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    /// Signups completed.
    pub signups: Counter,
    /// Failed logins.
    pub login_failures: Counter,
    messages: Family<MessageLabels, Counter>,
    /// SMTP sessions refused or cut (limits, smuggling attempts, unknown recipients).
    pub smtp_refusals: Counter,
    billing_webhooks: Family<OutcomeLabels, Counter>,
    usage_reported: Family<KindLabels, Counter>,
    /// Stand-alone edges linked to this process now.
    pub edge_links: Gauge,
    routing_shards: Family<ShardLabels, Gauge>,
    edges: Family<EdgeLabels, Gauge>,
}

fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

impl Metrics {
    /// Registers every metric; `store` and `bus` name the backends in `switchboard_info`.
    pub fn new(store: &str, bus: &str) -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let requests = Family::<RequestLabels, Counter>::default();
        let durations: DurationFamily = Family::new_with_constructor(duration_histogram);
        let signups = Counter::default();
        let login_failures = Counter::default();
        let info = Family::<InfoLabels, Gauge>::default();
        info.get_or_create(&InfoLabels {
            version: env!("CARGO_PKG_VERSION").into(),
            store: store.into(),
            bus: bus.into(),
        })
        .set(1);
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency", durations.clone());
        registry.register("signups", "Tenants signed up", signups.clone());
        registry.register("login_failures", "Failed login attempts", login_failures.clone());
        registry.register("info", "Build and backend information", info);
        let messages = Family::<MessageLabels, Counter>::default();
        registry.register("messages", "Conversation messages stored, by channel and direction", messages.clone());
        let smtp_refusals = Counter::default();
        registry.register("smtp_refusals", "SMTP commands or mails refused", smtp_refusals.clone());
        let billing_webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "billing_webhooks",
            "Stripe webhook deliveries by outcome (applied, duplicate, ignored, refused)",
            billing_webhooks.clone(),
        );
        let usage_reported = Family::<KindLabels, Counter>::default();
        registry.register("usage_reported_units", "Usage units Stripe accepted, by kind", usage_reported.clone());
        let edge_links = Gauge::default();
        registry.register("edge_links", "Stand-alone edges linked to this process", edge_links.clone());
        let routing_shards = Family::<ShardLabels, Gauge>::default();
        registry.register(
            "routing_shard_driven",
            "1 for each routing shard this replica drives (all of them outside distributed mode)",
            routing_shards.clone(),
        );
        let edges = Family::<EdgeLabels, Gauge>::default();
        registry.register(
            "edges",
            "The deployment's edges by region, live (in rotation) or dead, as the edge registry has them",
            edges.clone(),
        );
        Self {
            edges,
            routing_shards,
            registry: Mutex::new(registry),
            requests,
            durations,
            signups,
            login_failures,
            messages,
            smtp_refusals,
            billing_webhooks,
            usage_reported,
            edge_links,
        }
    }

    /// Sets the edge counts by region from the registry's `(region, live)` pairs.
    pub fn set_edges(&self, edges: &[(String, bool)]) {
        self.edges.clear();
        for (region, live) in edges {
            let state = if *live { "live" } else { "dead" };
            self.edges.get_or_create(&EdgeLabels { region: region.clone(), state: state.into() }).inc();
        }
    }

    /// Records which routing shards this replica drives (a shard driven elsewhere reads 0).
    pub fn set_driven_shards(&self, driven: &[u32], all: u32) {
        for shard in 0..all {
            let on = i64::from(driven.contains(&shard));
            self.routing_shards.get_or_create(&ShardLabels { shard: shard.to_string() }).set(on);
        }
    }

    /// Counts one HTTP request.
    pub fn observe_http(&self, method: &str, route: &str, status: u16, took: Duration) {
        self.requests.get_or_create(&RequestLabels { method: method.into(), route: route.into(), status }).inc();
        self.durations
            .get_or_create(&RouteLabels { method: method.into(), route: route.into() })
            .observe(took.as_secs_f64());
    }

    /// Counts one stored conversation message.
    pub fn count_message(&self, channel: &str, direction: &str) {
        self.messages.get_or_create(&MessageLabels { channel: channel.into(), direction: direction.into() }).inc();
    }

    /// Counts one Stripe webhook delivery.
    pub fn count_billing_webhook(&self, outcome: &str) {
        self.billing_webhooks.get_or_create(&OutcomeLabels { outcome: outcome.into() }).inc();
    }

    /// Counts usage units Stripe accepted.
    pub fn count_usage_reported(&self, kind: &str, units: u64) {
        self.usage_reported.get_or_create(&KindLabels { kind: kind.into() }).inc_by(units);
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.push_str("# encoding failed\n");
        }
        out
    }
}
