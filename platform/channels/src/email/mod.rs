//! E-mail: the receiving SMTP session (sans-IO) and reading received MIME messages.

pub mod mime;
pub mod smtp;
