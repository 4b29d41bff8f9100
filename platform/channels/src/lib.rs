//! Channel protocol logic. Each channel's adapters (webhook handlers, provider clients,
//! listeners) build on the pure pieces here: SMS rules and the provider client, the receiving SMTP
//! session and MIME reading for e-mail, and the web chat visitor protocol.

pub mod chat;
pub mod email;
pub mod hostile;
pub mod sms;
