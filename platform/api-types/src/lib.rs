//! The HTTP API's wire types: requests, responses and error codes.
//!
//! These are the public contract. They compile without the database or the server and carry
//! OpenAPI schemas (utoipa), from which the console's TypeScript types are generated. Ids travel
//! as strings; the server parses and validates them, naming the offending field.
//!
//! Architecture invariant: depends on serde and utoipa only — never on the domain, store or axum.

mod billing;
mod config;
mod error;
mod identity;
mod plugins;
mod routing;

pub use billing::*;
pub use config::*;
pub use error::{ErrorBody, ErrorCode, ErrorDetail, FieldError};
pub use identity::*;
pub use plugins::*;
pub use routing::*;

/// One page of a list; pass `next_cursor` as `?after=` to get the next.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Query parameters of every list endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 200 (default 50).
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub after: Option<String>,
}
