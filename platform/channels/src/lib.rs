//! Channel protocol logic. Each channel's adapters (webhook handlers, provider clients,
//! listeners) build on the pure pieces here.
//!
//! Status: the SMS rules (what a carrier counts, which keywords it requires us to honour, how a
//! Twilio-compatible provider signs its webhooks) exist and are tested; the SMS, chat and e-mail
//! adapters that use them are the work of the channels issue.

pub mod sms;
