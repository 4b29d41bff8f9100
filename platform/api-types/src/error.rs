//! Errors as the API shows them: a stable code the UI can switch on, a message for people, and
//! the fields at fault.

/// Stable error codes. Never rename one; add new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON or not of the expected shape.
    BadRequest,
    /// The body is well-formed but some fields are wrong (see `fields`).
    ValidationFailed,
    /// No valid credentials.
    Unauthorized,
    /// Authenticated, but the role does not allow it.
    Forbidden,
    /// No such resource (or not yours).
    NotFound,
    /// Clashes with existing data (a taken e-mail, name or number).
    Conflict,
    /// The body is larger than allowed.
    PayloadTooLarge,
    /// Too many requests; retry later.
    RateLimited,
    /// A dependency (database, bus) is unavailable; retry later.
    Unavailable,
    /// The tenant's service is suspended until its bill is paid (see `GET /api/v1/billing`).
    PaymentRequired,
    /// Our fault; the message says nothing more on purpose.
    Internal,
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// JSON path of the field, e.g. `skills[1].level`.
    pub field: String,
    /// Machine-readable reason, e.g. `required`, `too_short`, `invalid`, `unknown_reference`.
    pub code: String,
    /// What is wrong, for people.
    pub message: String,
}

/// The error payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable code.
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Field errors (validation failures list all of them at once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

/// Every error response body: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}
