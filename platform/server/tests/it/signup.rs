//! Public signup: a business and its owner, or a clear error and nothing written.

use crate::common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{PASSWORD, each_backend, fields};
use serde_json::json;

#[tokio::test]
async fn signup_creates_a_tenant_whose_owner_is_logged_in() {
    each_backend(|app| async move {
        let owner = app.signup("Acme Plumbing", "owner@acme.example").await;
        let (status, me) = app.call("GET", "/api/v1/me", Some(&owner.token), None).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["tenant"]["name"], "Acme Plumbing");
        assert_eq!(me["role"], "owner");
        assert_eq!(me["user"]["email"], "owner@acme.example");
        let (status, _) = app.login("OWNER@acme.example", PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "login is case-insensitive on e-mail");
        app
    })
    .await;
}

#[tokio::test]
async fn signup_with_a_taken_email_is_a_conflict_and_writes_nothing() {
    each_backend(|app| async move {
        let first = app.signup("First", "taken@acme.example").await;
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/signup",
                None,
                Some(json!({"business_name": "Second", "email": "Taken@ACME.example", "password": "another good password"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "conflict");
        // The original owner still logs in with the original password, into the original tenant.
        let (status, tokens) = app.login("taken@acme.example", PASSWORD).await;
        assert_eq!(status, StatusCode::OK);
        let token = tokens["access_token"].as_str().expect("token");
        let (_, me) = app.call("GET", "/api/v1/me", Some(token), None).await;
        assert_eq!(me["tenant"]["id"], first.tenant_id.as_str());
        assert_eq!(app.login("taken@acme.example", "another good password").await.0, StatusCode::UNAUTHORIZED);
        app
    })
    .await;
}

#[tokio::test]
async fn a_weak_password_is_refused_naming_the_field() {
    each_backend(|app| async move {
        for weak in ["short", "password123", "aaaaaaaaaaaaaa", "weak@acme.example"] {
            let (status, body) = app
                .call(
                    "POST",
                    "/api/v1/signup",
                    None,
                    Some(json!({"business_name": "Acme", "email": "weak@acme.example", "password": weak})),
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}: {body}");
            assert_eq!(fields(&body), ["password"], "{weak}");
        }
        assert_eq!(
            app.login("weak@acme.example", "aaaaaaaaaaaaaa").await.0,
            StatusCode::UNAUTHORIZED,
            "nothing written"
        );
        app
    })
    .await;
}

#[tokio::test]
async fn every_invalid_field_is_reported_at_once() {
    each_backend(|app| async move {
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/signup",
                None,
                Some(json!({"business_name": "A", "email": "not-an-email", "password": "short"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(fields(&body), ["business_name", "email", "password"]);
        app
    })
    .await;
}

#[tokio::test]
async fn malformed_bodies_are_bad_requests() {
    each_backend(|app| async move {
        let cases = [
            ("application/json", "{not json"),
            ("application/json", r#"{"business_name": "Acme"}"#),
            (
                "application/json",
                r#"{"business_name": "Acme", "email": "a@b.example", "password": "long enough pw", "admin": true}"#,
            ),
            ("application/json", r#"{"business_name": 42, "email": "a@b.example", "password": "long enough pw"}"#),
            ("text/plain", r#"{"business_name": "Acme", "email": "a@b.example", "password": "long enough pw"}"#),
        ];
        for (content_type, body) in cases {
            let req = Request::post("/api/v1/signup")
                .header("content-type", content_type)
                .body(Body::from(body))
                .expect("req");
            let (status, answer) = app.send(req).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
            assert_eq!(answer["error"]["code"], "bad_request");
        }
        assert_eq!(app.login("a@b.example", "long enough pw").await.0, StatusCode::UNAUTHORIZED, "nothing written");
        app
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    each_backend(|app| async move {
        let huge = "x".repeat(2 * 1024 * 1024);
        let (status, _) = app
            .call(
                "POST",
                "/api/v1/signup",
                None,
                Some(json!({"business_name": huge, "email": "big@acme.example", "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        app
    })
    .await;
}
