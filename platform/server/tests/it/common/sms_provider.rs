//! A local stand-in for a Twilio-compatible SMS provider's REST API.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// One request the provider got: account in the path, Authorization header, form fields.
pub type Recorded = (String, String, Vec<(String, String)>);

/// A local stand-in for the provider's REST API that records what it was sent.
#[derive(Clone, Default)]
pub struct Provider {
    requests: std::sync::Arc<std::sync::Mutex<Vec<Recorded>>>,
}

impl Provider {
    /// Serves the Messages resource; numbers starting with +1999 are refused like invalid numbers.
    pub async fn start(&self) -> String {
        use axum::extract::{Path, State};
        use axum::http::HeaderMap;
        async fn create(
            State(p): State<Provider>,
            Path(account): Path<String>,
            headers: HeaderMap,
            body: String,
        ) -> (StatusCode, axum::Json<Value>) {
            let form: Vec<(String, String)> = serde_urlencoded::from_str(&body).expect("form");
            let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            let to = form.iter().find(|(k, _)| k == "To").map(|(_, v)| v.clone()).unwrap_or_default();
            let n = {
                let mut r = p.requests.lock().expect("lock");
                r.push((account, auth, form));
                r.len()
            };
            if to.starts_with("+1999") {
                return (StatusCode::BAD_REQUEST, axum::Json(json!({"code": 21211, "message": "Invalid 'To' number"})));
            }
            (StatusCode::CREATED, axum::Json(json!({"sid": format!("SMout{n}"), "status": "queued"})))
        }
        let router = axum::Router::new()
            .route("/2010-04-01/Accounts/{account}/Messages.json", axum::routing::post(create))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("lock").clone()
    }
}
