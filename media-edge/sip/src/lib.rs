//! Sans-IO SIP for the edge media node. Nothing here touches a socket or reads the clock: bytes
//! and the current time (milliseconds on any monotonic scale) go in, bytes to send and events for
//! the call core come out. No input may make it panic (fuzzed; see `fuzz/`).
//!
//! - [`message`]: our own tolerant lexer (enough to answer anything with a 400) in front of
//!   rsip's full parser, request checks, and replies built from the request.
//! - [`frame`]: splitting a TCP byte stream into messages by Content-Length.
//! - [`transaction`]: RFC 3261 §17 server and client transactions with their timers, CANCEL,
//!   and the UAS core's 2xx retransmission until the ACK arrives.
//! - [`dialog`]: dialog state and the requests sent inside one (BYE, re-INVITE, ACK).
//! - [`digest`]: digest authentication (MD5 and SHA-256) with expiring, single-use nonces and
//!   a lock-out after repeated failures.
//! - [`guard`]: flood limits per source and scanner detection.

pub mod dialog;
pub mod digest;
pub mod frame;
pub mod guard;
pub mod hostile;
pub mod message;
pub mod transaction;

pub use rsip;
