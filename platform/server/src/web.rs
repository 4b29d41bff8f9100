//! The browser apps (admin portal, agent console, supervisor wallboard) and the chat widget's
//! script, served from the built `web/dist` folder: every path that is not an API path gets a
//! file, or the app's `index.html` so the app's own routes (`/console`, `/admin/queues`) load.

use std::path::PathBuf;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;

/// Paths that belong to the API: unknown ones are JSON 404s, never the app.
const API_PREFIXES: [&str; 4] = ["/api/", "/chat/", "/webhooks/", "/metrics"];

/// Serves a file of the built apps (the router's fallback).
pub async fn serve(dir: PathBuf, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    if API_PREFIXES.iter().any(|p| path.starts_with(p)) {
        return ApiError::NotFound.into_response();
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let index = dir.join("index.html");
    if !index.is_file() {
        return not_built(&dir);
    }
    let files = ServeDir::new(&dir).append_index_html_on_directories(true).fallback(ServeFile::new(&index));
    let mut response = match files.oneshot(req).await {
        Ok(r) => r.map(Body::new),
        Err(e) => match e {},
    };
    let h = response.headers_mut();
    // Built assets carry a content hash in their names; the rest must be revalidated so a new
    // release is picked up.
    let cache = if path.starts_with("/assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if path != "/widget.js" {
        // The console is never framed by another site (clickjacking); the widget script is
        // loaded by the tenants' sites, so it is the one exception.
        h.insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
    }
    response
}

fn not_built(dir: &std::path::Path) -> Response {
    let body = format!(
        "<!doctype html><title>Switchboard</title><h1>Switchboard is running</h1>\
         <p>The browser apps are not built in <code>{}</code>. Build them with \
         <code>npm --prefix web ci &amp;&amp; npm --prefix web run build</code> (infra/run.sh does this), \
         or point <code>SWITCHBOARD_WEB_DIR</code> at a build. The API is at <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>",
        html_escape(&dir.display().to_string())
    );
    (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
