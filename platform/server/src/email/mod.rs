//! E-mail: the SMTP listener for the tenants' inbound addresses, received mail into
//! conversations, and outgoing mail through the configured relay.

pub mod inbound;
pub mod listener;
pub mod outbound;

pub use outbound::{Relay, send_reply};
