//! The caller's tenant.

use axum::extract::State;
use axum::{Extension, Json};
use switchboard_api_types as wire;

use super::ApiJson;
use super::convert::tenant_view;
use crate::app::AppState;
use crate::auth::Principal;
use crate::error::{ApiError, Problems};

/// `GET /api/v1/tenant`.
pub async fn read(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
) -> Result<Json<wire::TenantView>, ApiError> {
    let t = state.store.tenant(p.tenant_id).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(tenant_view(&t)))
}

/// `PUT /api/v1/tenant`.
pub async fn update(
    State(state): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<wire::TenantUpdate>,
) -> Result<Json<wire::TenantView>, ApiError> {
    let mut problems = Problems::default();
    let name = problems.text("name", &req.name, 2, 100);
    problems.finish()?;
    let mut t = state.store.tenant(p.tenant_id).await?.ok_or(ApiError::NotFound)?;
    t.name = name;
    state.store.update_tenant(&t).await?;
    super::announce(&state, p.tenant_id, "tenant", &t.id.to_string(), "updated").await;
    Ok(Json(tenant_view(&t)))
}
