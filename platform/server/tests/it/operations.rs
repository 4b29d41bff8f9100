//! Operations endpoints and the OpenAPI document.

use crate::common;

use axum::http::StatusCode;
use common::each_backend;
use switchboard_server::routes::table;

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    each_backend(|app| async move {
        assert_eq!(app.call("GET", "/healthz", None, None).await, (StatusCode::OK, "ok".into()));
        let (status, ready) = app.call("GET", "/readyz", None, None).await;
        assert_eq!(status, StatusCode::OK, "{ready}");
        assert_eq!((ready["store"].as_str(), ready["bus"].as_str()), (Some("ok"), Some("ok")));
        app.signup("Acme", "owner@acme.example").await;
        let (status, text) = app.call("GET", "/metrics", None, None).await;
        assert_eq!(status, StatusCode::OK);
        let text = text.as_str().expect("text").to_owned();
        assert!(
            text.contains("switchboard_http_requests_total{method=\"POST\",route=\"/api/v1/signup\",status=\"201\"} 1"),
            "{text}"
        );
        assert!(text.contains("switchboard_signups_total 1"), "{text}");
        assert!(text.contains("switchboard_info{"), "{text}");
        app
    })
    .await;
}

#[tokio::test]
async fn readiness_fails_when_the_bus_is_down() {
    each_backend(|app| async move {
        app.bus.close();
        let (status, ready) = app.call("GET", "/readyz", None, None).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
        assert_eq!(ready["store"], "ok");
        app
    })
    .await;
}

#[test]
fn the_openapi_document_covers_every_route_and_every_schema_it_names() {
    let routes = table();
    let doc = serde_json::to_value(switchboard_server::openapi::document(&routes)).expect("json");
    for route in &routes {
        let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
        assert!(op.is_object(), "{} {} missing from the OpenAPI document", route.method, route.path);
        assert!(
            op["responses"][route.status.to_string()].is_object(),
            "{} {}: no {} response",
            route.method,
            route.path,
            route.status
        );
    }
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap_or("");
        assert!(schemas.contains_key(name), "dangling schema reference {name}");
    }
    let operations: usize =
        doc["paths"].as_object().expect("paths").values().map(|p| p.as_object().map_or(0, |o| o.len())).sum();
    assert_eq!(operations, routes.len());
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    each_backend(|app| async move {
        let (status, doc) = app.call("GET", "/api/openapi.json", None, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
        assert!(doc["paths"]["/api/v1/queues"]["post"].is_object());
        app
    })
    .await;
}
