//! SMS: segment counting, carrier keywords, and Twilio-compatible webhook signatures.

mod keywords;
mod provider;
mod segments;
mod signature;

pub use keywords::{Keyword, keyword};
pub use provider::{OutboundSms, SentSms, SmsError, SmsSender, TwilioRest};
pub use segments::{Encoding, Segments, segments};
pub use signature::{sign, verify};
