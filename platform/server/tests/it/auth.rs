//! Login, refresh rotation, logout, invitations, API keys, and JWT attacks.

use crate::common;

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Owner, PASSWORD, SECRET, TestApp, each_backend};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

async fn me(app: &TestApp, token: &str) -> StatusCode {
    app.call("GET", "/api/v1/me", Some(token), None).await.0
}

#[tokio::test]
async fn wrong_password_and_unknown_email_get_the_same_answer() {
    each_backend(|app| async move {
        app.signup("Acme", "owner@acme.example").await;
        let (s1, b1) = app.login("owner@acme.example", "wrong password!!").await;
        let (s2, b2) = app.login("nobody@acme.example", PASSWORD).await;
        assert_eq!((s1, s2), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
        assert_eq!(b1, b2, "no account-existence oracle");
        app
    })
    .await;
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled() {
    each_backend(|app| async move {
        app.signup("Acme", "owner@acme.example").await;
        for _ in 0..10 {
            assert_eq!(app.login("owner@acme.example", "guess guess guess").await.0, StatusCode::UNAUTHORIZED);
        }
        let (status, body) = app.login("owner@acme.example", PASSWORD).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(body["error"]["code"], "rate_limited");
        app
    })
    .await;
}

async fn refresh(app: &TestApp, token: &str) -> (StatusCode, Value) {
    app.call("POST", "/api/v1/auth/refresh", None, Some(json!({"refresh_token": token}))).await
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let (status, second) = refresh(&app, &owner.refresh).await;
        assert_eq!(status, StatusCode::OK, "{second}");
        let second_access = second["access_token"].as_str().expect("access").to_owned();
        let second_refresh = second["refresh_token"].as_str().expect("refresh").to_owned();
        assert_ne!(second_refresh, owner.refresh, "a new refresh token each time");
        assert_eq!(me(&app, &second_access).await, StatusCode::OK);

        // The first token comes back (stolen copy): refused, and the whole session ends.
        let (status, body) = refresh(&app, &owner.refresh).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(refresh(&app, &second_refresh).await.0, StatusCode::UNAUTHORIZED, "family revoked");
        assert_eq!(me(&app, &second_access).await, StatusCode::UNAUTHORIZED, "access tokens of the session die too");
        // A new login still works.
        assert_eq!(app.login("owner@acme.example", PASSWORD).await.0, StatusCode::OK);
        app
    })
    .await;
}

#[tokio::test]
async fn malformed_or_forged_refresh_tokens_are_refused() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let mut forged = owner.refresh.clone();
        forged.pop();
        forged.push(if owner.refresh.ends_with('0') { '1' } else { '0' });
        for bad in ["", "garbage", "a.b.c", forged.as_str()] {
            assert_eq!(refresh(&app, bad).await.0, StatusCode::UNAUTHORIZED, "{bad}");
        }
        assert_eq!(refresh(&app, &owner.refresh).await.0, StatusCode::OK, "forgeries did not burn the real token");
        app
    })
    .await;
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        assert_eq!(app.call("POST", "/api/v1/auth/logout", Some(&owner.token), None).await.0, StatusCode::NO_CONTENT);
        assert_eq!(me(&app, &owner.token).await, StatusCode::UNAUTHORIZED);
        assert_eq!(refresh(&app, &owner.refresh).await.0, StatusCode::UNAUTHORIZED);
        app
    })
    .await;
}

#[tokio::test]
async fn an_invitation_works_once_and_the_user_gets_their_role() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let (status, body) = app
            .call(
                "POST",
                "/api/v1/users",
                Some(&owner.token),
                Some(json!({"email": "ann@acme.example", "name": "Ann", "role": "agent"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["user"]["status"], "invited");
        assert_eq!(app.login("ann@acme.example", PASSWORD).await.0, StatusCode::UNAUTHORIZED, "no password yet");
        let invite = body["invite_token"].clone();
        let accept = json!({"invite_token": invite, "password": PASSWORD});
        let (status, tokens) = app.call("POST", "/api/v1/auth/accept-invite", None, Some(accept.clone())).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let (_, me) = app.call("GET", "/api/v1/me", tokens["access_token"].as_str(), None).await;
        assert_eq!(me["role"], "agent");
        assert_eq!(me["user"]["status"], "active");
        assert_eq!(
            app.call("POST", "/api/v1/auth/accept-invite", None, Some(accept)).await.0,
            StatusCode::UNAUTHORIZED
        );
        app
    })
    .await;
}

#[tokio::test]
async fn disabling_a_user_locks_them_out() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let (id, token) = app.user_with_role(&owner, "ann@acme.example", "agent").await;
        let update =
            json!({"email": "ann@acme.example", "name": "Ann", "role": "agent", "disabled": true, "capacity": 100});
        let (status, body) = app.call("PUT", &format!("/api/v1/users/{id}"), Some(&owner.token), Some(update)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(me(&app, &token).await, StatusCode::UNAUTHORIZED);
        assert_eq!(app.login("ann@acme.example", PASSWORD).await.0, StatusCode::UNAUTHORIZED);
        app
    })
    .await;
}

#[tokio::test]
async fn api_keys_authenticate_with_their_role_until_revoked() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let (status, created) = app
            .call("POST", "/api/v1/api-keys", Some(&owner.token), Some(json!({"name": "crm", "role": "supervisor"})))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let key = created["key"].as_str().expect("key").to_owned();
        assert_eq!(
            app.call("GET", "/api/v1/users", Some(&key), None).await.0,
            StatusCode::OK,
            "supervisor may list users"
        );
        let (status, _) = app.call("POST", "/api/v1/skills", Some(&key), Some(json!({"name": "billing"}))).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "but not configure");
        let (_, list) = app.call("GET", "/api/v1/api-keys", Some(&owner.token), None).await;
        assert!(!list.to_string().contains(&key[key.len() - 64..]), "the secret is never listed");
        let id = created["api_key"]["id"].as_str().expect("id");
        assert_eq!(
            app.call("DELETE", &format!("/api/v1/api-keys/{id}"), Some(&owner.token), None).await.0,
            StatusCode::NO_CONTENT
        );
        assert_eq!(app.call("GET", "/api/v1/users", Some(&key), None).await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = app
            .call("POST", "/api/v1/api-keys", Some(&owner.token), Some(json!({"name": "root", "role": "owner"})))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        app
    })
    .await;
}

// --- JWT attacks ---------------------------------------------------------------------------

fn claims(owner: &Owner) -> Value {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs();
    json!({
        "iss": "switchboard", "aud": "switchboard-api", "sub": owner.user_id, "tid": owner.tenant_id,
        "sid": session_of(&owner.token), "role": "owner", "iat": now, "exp": now + 600,
    })
}

fn session_of(token: &str) -> String {
    let payload = token.split('.').nth(1).expect("payload");
    let v: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    v["sid"].as_str().expect("sid").to_owned()
}

fn sign(claims: &Value, alg: Algorithm, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).expect("sign")
}

fn unsigned(header: Value, claims: &Value) -> String {
    format!("{}.{}.", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()))
}

#[tokio::test]
async fn a_correctly_signed_token_is_accepted() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        assert_eq!(me(&app, &sign(&claims(&owner), Algorithm::HS256, SECRET)).await, StatusCode::OK);
        app
    })
    .await;
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let other = app.signup("Other", "owner@other.example").await;
        let c = claims(&owner);
        let without = |field: &str| {
            let mut c = c.clone();
            c.as_object_mut().expect("object").remove(field);
            c
        };
        let with = |field: &str, value: Value| {
            let mut c = c.clone();
            c[field] = value;
            c
        };
        let now = c["iat"].as_u64().expect("iat");
        let hs = |claims: &Value| sign(claims, Algorithm::HS256, SECRET);
        let cases: Vec<(&str, String)> = vec![
            ("alg none", unsigned(json!({"alg": "none", "typ": "JWT"}), &c)),
            ("alg None", unsigned(json!({"alg": "None", "typ": "JWT"}), &c)),
            ("algorithm confusion HS512", sign(&c, Algorithm::HS512, SECRET)),
            ("wrong key", sign(&c, Algorithm::HS256, b"some-other-secret-some-other-secret!!")),
            ("missing aud", hs(&without("aud"))),
            ("wrong aud", hs(&with("aud", json!("another-api")))),
            ("missing iss", hs(&without("iss"))),
            ("wrong iss", hs(&with("iss", json!("evil")))),
            ("missing exp", hs(&without("exp"))),
            ("expired beyond leeway", hs(&with("exp", json!(now - 120)))),
            ("missing sub", hs(&without("sub"))),
            ("swapped tenant claim", hs(&with("tid", json!(other.tenant_id)))),
            ("other tenant's session", hs(&with("sid", json!(session_of(&other.token))))),
            ("unknown user", hs(&with("sub", json!("0190f1e0-0000-7000-8000-000000000000")))),
            ("oversized", hs(&with("pad", json!("x".repeat(8000))))),
            ("garbage", "not.a.jwt".into()),
            ("empty", String::new()),
        ];
        for (name, token) in cases {
            let (status, body) = app.call("GET", "/api/v1/me", Some(&token), None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {body}");
            assert_eq!(body["error"]["code"], "unauthorized", "{name}");
        }
        // A swapped tenant signed by the tampering party (wrong key) is refused too.
        let tampered =
            sign(&with("tid", json!(other.tenant_id)), Algorithm::HS256, b"attacker-key-attacker-key-attacker!!");
        assert_eq!(me(&app, &tampered).await, StatusCode::UNAUTHORIZED);
        app
    })
    .await;
}

#[tokio::test]
async fn expiry_within_the_leeway_is_tolerated() {
    each_backend(|app| async move {
        let owner = app.signup("Acme", "owner@acme.example").await;
        let mut c = claims(&owner);
        c["exp"] = json!(c["iat"].as_u64().expect("iat") - 5);
        assert_eq!(me(&app, &sign(&c, Algorithm::HS256, SECRET)).await, StatusCode::OK);
        app
    })
    .await;
}
