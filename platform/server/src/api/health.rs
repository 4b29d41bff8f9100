//! Operations endpoints: liveness, readiness, metrics, the OpenAPI document.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;

use crate::app::AppState;

/// `/healthz`: the process is up.
pub async fn healthz() -> &'static str {
    "ok"
}

/// What `/readyz` reports.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` or the error.
    pub store: String,
    /// `ok` or the error.
    pub bus: String,
}

/// `/readyz`: 200 when the store and the bus answer, 503 otherwise.
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = match state.store.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    let bus = match state.bus.check().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    let status = if store == "ok" && bus == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(Readiness { store, bus }))
}

/// `/metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.metrics.set_driven_shards(&state.routing.driven_shards(), crate::routing::SHARDS);
    if state.voice.links_enabled()
        && let Ok(edges) = crate::voice::registry::edges(&state).await
    {
        let regions: Vec<(String, bool)> = edges.into_iter().map(|e| (e.edge.region, e.live)).collect();
        state.metrics.set_edges(&regions);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// `/api/openapi.json`.
pub async fn openapi() -> impl IntoResponse {
    Json(crate::openapi::document(&crate::routes::table()))
}
