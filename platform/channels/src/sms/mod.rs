//! SMS: segment counting, carrier keywords, and Twilio-compatible webhook signatures.

mod keywords;
mod segments;
mod signature;

pub use keywords::{Keyword, keyword};
pub use segments::{Encoding, Segments, segments};
pub use signature::{sign, verify};
