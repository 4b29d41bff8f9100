//! One error type for every handler, mapped to a status, a stable code and a message.
//! Internal causes are logged, never shown.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchboard_api_types::{ErrorBody, ErrorCode, ErrorDetail, FieldError};
use switchboard_store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed body or parameters.
    #[error("{0}")]
    BadRequest(String),
    /// Fields failed validation; all of them are listed.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Missing or invalid credentials.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The role does not allow this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such resource for this tenant.
    #[error("not found")]
    NotFound,
    /// Clashes with existing data.
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than allowed.
    #[error("request body too large")]
    PayloadTooLarge,
    /// Too many attempts.
    #[error("{0}")]
    RateLimited(&'static str),
    /// The tenant's service is suspended until its bill is paid.
    #[error("{0}")]
    PaymentRequired(String),
    /// A dependency is down.
    #[error("service unavailable")]
    Unavailable(String),
    /// A bug; details only in the log.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A single field error.
    pub fn field(field: &str, code: &str, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError { field: field.into(), code: code.into(), message: message.into() }])
    }

    fn parts(&self) -> (StatusCode, ErrorCode, String) {
        match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, ErrorCode::BadRequest, m.clone()),
            ApiError::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::ValidationFailed,
                "some fields are invalid; see fields".into(),
            ),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, (*m).into()),
            ApiError::Forbidden(m) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden, (*m).into()),
            ApiError::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound, "not found".into()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, ErrorCode::Conflict, m.clone()),
            ApiError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::PayloadTooLarge, "request body too large".into())
            }
            ApiError::RateLimited(m) => (StatusCode::TOO_MANY_REQUESTS, ErrorCode::RateLimited, (*m).into()),
            ApiError::PaymentRequired(m) => (StatusCode::PAYMENT_REQUIRED, ErrorCode::PaymentRequired, m.clone()),
            ApiError::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
                "a backing service is unavailable; retry shortly".into(),
            ),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal, "internal error".into()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { what } => ApiError::Conflict(what),
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Backend(m) => ApiError::Unavailable(m),
            StoreError::Corrupt(m) => ApiError::Internal(m),
            StoreError::Fenced(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<crate::routing::ShardError> for ApiError {
    fn from(e: crate::routing::ShardError) -> Self {
        use switchboard_routing::RoutingError as R;
        match e {
            crate::routing::ShardError::Gone => ApiError::Unavailable("routing shard".into()),
            crate::routing::ShardError::Routing(r) => match r {
                R::UnknownContact => ApiError::NotFound,
                R::NotOffered => {
                    ApiError::Conflict("this contact is not offered to you (taken, withdrawn or timed out)".into())
                }
                R::NotConnected => ApiError::Conflict("this contact is not connected to you".into()),
                R::NotInWrapUp => ApiError::Conflict("this contact is not in wrap-up".into()),
                R::UnknownAgent => ApiError::Conflict("you are not an active agent of this tenant".into()),
                R::UnknownQueue => ApiError::field("queue_id", "unknown_reference", "no such queue"),
                R::DuplicateContact => ApiError::Conflict("contact already routed".into()),
                R::Invalid(m) => ApiError::BadRequest(m.into()),
            },
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonDataError(e) => ApiError::BadRequest(format!("invalid body: {}", e.body_text())),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!("malformed JSON: {}", e.body_text())),
            JsonRejection::MissingJsonContentType(_) => {
                ApiError::BadRequest("expected Content-Type: application/json".into())
            }
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        match &self {
            ApiError::Internal(cause) => tracing::error!(%cause, "internal error"),
            ApiError::Unavailable(cause) => tracing::warn!(%cause, "dependency unavailable"),
            _ => {}
        }
        let fields = match self {
            ApiError::Validation(fields) => fields,
            _ => Vec::new(),
        };
        (status, Json(ErrorBody { error: ErrorDetail { code, message, fields } })).into_response()
    }
}

/// Collects every field problem of a request, so the caller sees all of them at once.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// Records a problem.
    pub fn add(&mut self, field: impl Into<String>, code: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.into(), code: code.into(), message: message.into() });
    }

    /// A trimmed text field of `min..=max` characters.
    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        self.checked_text(field, value, min, max, false)
    }

    /// Like [`Problems::text`] for message bodies: line breaks and tabs are allowed.
    pub fn multiline(&mut self, field: &str, value: &str, min: usize, max: usize) -> String {
        self.checked_text(field, value, min, max, true)
    }

    fn checked_text(&mut self, field: &str, value: &str, min: usize, max: usize, lines: bool) -> String {
        let v = value.trim();
        let n = v.chars().count();
        if n < min {
            self.add(
                field,
                if n == 0 { "required" } else { "too_short" },
                format!("must be at least {min} characters"),
            );
        } else if n > max {
            self.add(field, "too_long", format!("must be at most {max} characters"));
        } else if v.chars().any(|c| c.is_control() && !(lines && matches!(c, '\n' | '\r' | '\t'))) {
            self.add(field, "invalid", "must not contain control characters");
        }
        v.to_owned()
    }

    /// A number within `min..=max`.
    pub fn range<T: PartialOrd + std::fmt::Display + Copy>(&mut self, field: &str, value: T, min: T, max: T) -> T {
        if value < min || value > max {
            self.add(field, "out_of_range", format!("must be between {min} and {max}"));
        }
        value
    }

    /// Parses an id, recording a problem when it is not one.
    pub fn id<T: std::str::FromStr>(&mut self, field: &str, value: &str) -> Option<T> {
        match value.parse() {
            Ok(id) => Some(id),
            Err(_) => {
                self.add(field, "invalid", "must be an id");
                None
            }
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when there were no problems.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.0)) }
    }
}
