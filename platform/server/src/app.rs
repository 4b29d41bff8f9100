//! Shared state of the HTTP app and the router with its cross-cutting layers.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::{self, Next};
use axum::response::Response;
use switchboard_bus::Bus;
use switchboard_store::Store;
use tower_http::trace::TraceLayer;

use crate::api::session::LoginThrottle;
use crate::auth::TokenKeys;
use crate::metrics::Metrics;
use crate::routes;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The bus.
    pub bus: Arc<dyn Bus>,
    /// Token keys and lifetimes.
    pub keys: Arc<TokenKeys>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Failed-login counters.
    pub throttle: Arc<LoginThrottle>,
    /// Largest body accepted.
    pub max_body_bytes: usize,
    /// The routing shards of this process.
    pub routing: crate::routing::Routing,
    /// The address people and providers reach this deployment at.
    pub public_url: String,
    /// Files: attachments (local folder embedded; any object_store backend distributed).
    pub objects: Arc<dyn object_store::ObjectStore>,
    /// Outgoing e-mail.
    pub relay: crate::email::Relay,
    /// Let tenant-set URLs (webhooks, SMS provider) reach loopback and private addresses.
    pub allow_private_targets: bool,
    /// The built browser apps (console, admin, widget).
    pub web_dir: std::path::PathBuf,
    /// Billing through Stripe; None when the deployment has no Stripe key (billing off).
    pub billing: Option<Arc<crate::billing::Billing>>,
    /// Calls: the in-process edge's controls and the SIP realm.
    pub voice: crate::voice::Voice,
    /// Tenants' WebAssembly plugins.
    pub plugins: crate::plugins::Plugins,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("store", &self.store.backend()).field("bus", &self.bus.backend()).finish()
    }
}

/// The whole HTTP app.
pub fn app(state: AppState) -> Router {
    let max_body = state.max_body_bytes;
    let metrics = state.metrics.clone();
    let web = state.web_dir.clone();
    routes::router(state, routes::table())
        .route_layer(middleware::from_fn_with_state(metrics, track))
        .fallback(move |req: Request| crate::web::serve(web.clone(), req))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(chat_cors))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), tenant = tracing::field::Empty)
        }))
}

/// The chat widget calls `/chat/v1/*` from the tenant's own site. Browsers may make those
/// cross-origin requests; whether an origin may use a widget is checked by the handlers against
/// the widget's allowed origins, so the answer names the asking origin (no credentials).
async fn chat_cors(req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, Method, StatusCode, header};
    use axum::response::IntoResponse;
    if !req.uri().path().starts_with("/chat/v1/") {
        return next.run(req).await;
    }
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut response =
        if req.method() == Method::OPTIONS { StatusCode::NO_CONTENT.into_response() } else { next.run(req).await };
    if let Some(o) = origin {
        let h = response.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST"));
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, x-filename"),
        );
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
    response
}

async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let method = req.method().to_string();
    let started = Instant::now();
    let response = next.run(req).await;
    metrics.observe_http(&method, &route, response.status().as_u16(), started.elapsed());
    response
}
