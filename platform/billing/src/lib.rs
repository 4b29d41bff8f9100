//! Billing rules, sans IO: the plan catalogue, Stripe webhook signatures, what Stripe's events
//! mean for a tenant's account, and when an unpaid tenant's service stops. The Stripe client and
//! the HTTP routes live in `switchboard-billing-stripe` and the server; nothing here reads the
//! clock (callers pass `now`).

mod catalogue;
mod event;
mod signature;
mod standing;

pub use catalogue::{Catalogue, CatalogueError, Meter, Plan};
pub use event::{BillingEvent, EventError, StripeEvent};
pub use signature::{SignatureError, sign, verify};
pub use standing::{Standing, apply, standing};
