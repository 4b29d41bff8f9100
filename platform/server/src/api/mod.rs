//! HTTP handlers, one module per resource.

pub mod agent;
pub mod api_keys;
pub mod contacts;
pub mod convert;
pub mod docs;
pub mod health;
pub mod rules;
pub mod session;
pub mod sms;
pub mod stats;
pub mod tenant;
pub mod users;
pub mod ws;

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use switchboard_api_types::PageQuery;
use switchboard_bus::Message;
use switchboard_domain::TenantId;
use switchboard_store::PageRequest;

use crate::app::AppState;
use crate::error::{ApiError, Problems};

/// A JSON body whose rejections are API errors (400 with the reason).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        axum::Json::<T>::from_request(req, state).await.map(|axum::Json(v)| ApiJson(v)).map_err(ApiError::from)
    }
}

/// Query parameters whose rejections are API errors.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// Checks list parameters.
pub fn page_request(q: PageQuery) -> Result<PageRequest, ApiError> {
    let mut p = Problems::default();
    let limit = p.range("limit", q.limit.unwrap_or(50), 1, 200);
    if let Some(after) = &q.after
        && (after.len() > 128 || after.chars().any(char::is_control))
    {
        p.add("after", "invalid", "not a cursor from a previous page");
    }
    p.finish()?;
    Ok(PageRequest { limit, after: q.after })
}

/// Tells the rest of the platform that tenant configuration changed. The change is already
/// committed; a lost notice only delays whoever caches configuration until its next reload.
pub async fn announce(state: &AppState, tenant: TenantId, what: &str, id: &str, change: &str) {
    let topic = format!("tenant.{}.config.{what}.{change}", tenant.as_uuid().simple());
    let body = serde_json::json!({ "tenant_id": tenant.to_string(), "kind": what, "id": id, "change": change });
    if let Err(e) = state.bus.publish(Message::new(topic, body.to_string())).await {
        tracing::warn!(%tenant, error = %e, "configuration change not announced");
    }
}
