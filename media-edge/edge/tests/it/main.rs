//! The edge's integration tests in one binary (one link of the edge runtime instead of three).

mod common;

mod agents;
mod calls;
mod sip_peers;
