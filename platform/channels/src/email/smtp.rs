//! The receiving side of SMTP (RFC 5321) as a sans-IO state machine: the listener feeds it lines
//! exactly as they arrived (terminator included) and acts on what it returns. It never relays:
//! every recipient is put to the caller, who accepts only the tenants' inbound addresses.
//!
//! Message content is only accepted with CRLF line endings. A bare CR or LF inside DATA refuses
//! the message and ends the session: receivers that treat a bare LF as a line end can be made to
//! see `<LF>.<LF>` as the end of one message and the start of a second one (SMTP smuggling).

/// Limits of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message, in bytes of content after dot-unstuffing.
    pub max_message_bytes: usize,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Longest line, terminator included (RFC 5321 allows 1,000 for text, 512 for commands).
    pub max_line_bytes: usize,
    /// Refused commands before the session is closed.
    pub max_errors: u32,
    /// Messages per session.
    pub max_messages: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 10 * 1024 * 1024,
            max_recipients: 50,
            max_line_bytes: 1000,
            max_errors: 10,
            max_messages: 100,
        }
    }
}

/// One message received: the envelope and the content as sent (CRLF line endings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `MAIL FROM` (empty for bounces).
    pub mail_from: String,
    /// Accepted `RCPT TO` addresses, lower-cased.
    pub recipients: Vec<String>,
    /// The message content.
    pub data: Vec<u8>,
}

/// What the listener must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this reply (possibly multi-line, already formatted with CRLFs).
    Reply(String),
    /// Send this reply and close the connection.
    ReplyAndClose(String),
    /// Decide whether `address` is one of ours, then call [`Session::recipient`].
    CheckRecipient(String),
    /// Store the message, then call [`Session::stored`] with the outcome.
    Deliver(Envelope),
    /// Send this reply, then run the TLS handshake and call [`Session::tls_started`]. Any bytes
    /// the client sent after the command must be discarded, not read as commands.
    StartTls(String),
    /// Nothing to send (a DATA line was taken in).
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Greeted,
    Ready,
    Mail,
    Data,
    /// Waiting for the caller to answer a recipient check or a delivery.
    Waiting,
    Closed,
}

/// One SMTP session.
#[derive(Debug)]
pub struct Session {
    hostname: String,
    limits: Limits,
    tls_offered: bool,
    tls_active: bool,
    phase: Phase,
    mail_from: String,
    recipients: Vec<String>,
    pending_recipient: Option<String>,
    data: Vec<u8>,
    data_too_big: bool,
    errors: u32,
    messages: u32,
}

fn reply(code: u16, text: &str) -> String {
    format!("{code} {text}\r\n")
}

impl Session {
    /// A new session; `tls_offered` when a certificate is configured.
    pub fn new(hostname: &str, limits: Limits, tls_offered: bool) -> Self {
        Self {
            hostname: hostname.to_owned(),
            limits,
            tls_offered,
            tls_active: false,
            phase: Phase::Greeted,
            mail_from: String::new(),
            recipients: Vec::new(),
            pending_recipient: None,
            data: Vec::new(),
            data_too_big: false,
            errors: 0,
            messages: 0,
        }
    }

    /// The greeting to send when the connection opens.
    pub fn greeting(&self) -> String {
        reply(220, &format!("{} ESMTP Switchboard", self.hostname))
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// Whether the session is taking message content (the listener allows longer waits then).
    pub fn in_data(&self) -> bool {
        self.phase == Phase::Data
    }

    /// A line longer than the limit arrived (the listener stops reading it).
    pub fn overlong_line(&mut self) -> Action {
        self.phase = Phase::Closed;
        Action::ReplyAndClose(reply(500, "5.5.6 line too long; closing"))
    }

    /// The idle or session time limit ran out.
    pub fn timed_out(&mut self) -> Action {
        self.phase = Phase::Closed;
        Action::ReplyAndClose(reply(421, "4.4.2 timeout; closing"))
    }

    /// One line as received, terminator included (the last line may lack it at EOF).
    pub fn line(&mut self, raw: &[u8]) -> Action {
        if raw.len() > self.limits.max_line_bytes {
            return self.overlong_line();
        }
        match self.phase {
            Phase::Data => self.data_line(raw),
            Phase::Closed => Action::Nothing,
            Phase::Waiting => {
                // The client did not wait for our answer (we do not offer PIPELINING).
                self.phase = Phase::Closed;
                Action::ReplyAndClose(reply(554, "5.5.0 command sent before the previous reply; closing"))
            }
            _ => self.command(raw),
        }
    }

    fn refuse(&mut self, code: u16, text: &str) -> Action {
        self.errors += 1;
        if self.errors >= self.limits.max_errors {
            self.phase = Phase::Closed;
            return Action::ReplyAndClose(reply(421, "4.7.0 too many errors; closing"));
        }
        Action::Reply(reply(code, text))
    }

    fn reset(&mut self) {
        self.mail_from.clear();
        self.recipients.clear();
        self.data.clear();
        self.data_too_big = false;
        if self.phase != Phase::Greeted {
            self.phase = Phase::Ready;
        }
    }

    fn command(&mut self, raw: &[u8]) -> Action {
        let Ok(text) = std::str::from_utf8(raw) else {
            return self.refuse(500, "5.5.2 command is not text");
        };
        let line = text.trim_end_matches(['\r', '\n']);
        if line.contains(['\r', '\n']) || !text.ends_with("\r\n") {
            return self.refuse(500, "5.5.2 commands end with CRLF");
        }
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" | "HELO" => {
                if rest.trim().is_empty() {
                    return self.refuse(501, "5.5.4 EHLO needs a domain");
                }
                self.reset();
                self.phase = Phase::Ready;
                if verb.eq_ignore_ascii_case("HELO") {
                    return Action::Reply(reply(250, &self.hostname));
                }
                let mut lines = vec![
                    self.hostname.clone(),
                    format!("SIZE {}", self.limits.max_message_bytes),
                    "8BITMIME".to_owned(),
                    "ENHANCEDSTATUSCODES".to_owned(),
                ];
                if self.tls_offered && !self.tls_active {
                    lines.push("STARTTLS".to_owned());
                }
                let n = lines.len();
                let out: String = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i + 1 == n { ' ' } else { '-' }))
                    .collect();
                Action::Reply(out)
            }
            "STARTTLS" => {
                if !self.tls_offered || self.tls_active {
                    return self.refuse(502, "5.5.1 STARTTLS not available");
                }
                if !rest.is_empty() {
                    return self.refuse(501, "5.5.4 STARTTLS takes no arguments");
                }
                self.phase = Phase::Waiting;
                Action::StartTls(reply(220, "2.0.0 ready to start TLS"))
            }
            "MAIL" if self.phase == Phase::Greeted => self.refuse(503, "5.5.1 say EHLO first"),
            "MAIL" => {
                if self.phase != Phase::Ready {
                    return self.refuse(503, "5.5.1 nested MAIL command");
                }
                if self.messages >= self.limits.max_messages {
                    self.phase = Phase::Closed;
                    return Action::ReplyAndClose(reply(421, "4.7.0 too many messages in one session; closing"));
                }
                let Some(arg) = strip_prefix_ci(rest, "FROM:") else {
                    return self.refuse(501, "5.5.4 syntax: MAIL FROM:<address>");
                };
                let Some((addr, params)) = path(arg) else {
                    return self.refuse(501, "5.1.7 bad sender address");
                };
                for p in params.split_ascii_whitespace() {
                    if let Some(size) = strip_prefix_ci(p, "SIZE=") {
                        match size.parse::<usize>() {
                            Ok(n) if n > self.limits.max_message_bytes => {
                                return self.refuse(552, "5.3.4 message too big");
                            }
                            Ok(_) => {}
                            Err(_) => return self.refuse(501, "5.5.4 bad SIZE"),
                        }
                    }
                }
                self.mail_from = addr;
                self.phase = Phase::Mail;
                Action::Reply(reply(250, "2.1.0 sender ok"))
            }
            "RCPT" => {
                if self.phase != Phase::Mail {
                    return self.refuse(503, "5.5.1 need MAIL first");
                }
                let Some(arg) = strip_prefix_ci(rest, "TO:") else {
                    return self.refuse(501, "5.5.4 syntax: RCPT TO:<address>");
                };
                let Some((addr, _)) = path(arg).filter(|(a, _)| a.contains('@')) else {
                    return self.refuse(501, "5.1.3 bad recipient address");
                };
                if self.recipients.len() >= self.limits.max_recipients {
                    return self.refuse(452, "4.5.3 too many recipients");
                }
                let addr = addr.to_lowercase();
                self.pending_recipient = Some(addr.clone());
                self.phase = Phase::Waiting;
                Action::CheckRecipient(addr)
            }
            "DATA" => {
                if self.phase != Phase::Mail || self.recipients.is_empty() {
                    return self.refuse(503, "5.5.1 need RCPT first");
                }
                self.phase = Phase::Data;
                self.data.clear();
                self.data_too_big = false;
                Action::Reply(reply(354, "end data with <CR><LF>.<CR><LF>"))
            }
            "RSET" => {
                self.reset();
                Action::Reply(reply(250, "2.0.0 ok"))
            }
            "NOOP" => Action::Reply(reply(250, "2.0.0 ok")),
            "VRFY" => Action::Reply(reply(252, "2.5.0 cannot verify; send mail and see")),
            "HELP" => Action::Reply(reply(214, "2.0.0 EHLO MAIL RCPT DATA RSET NOOP QUIT STARTTLS")),
            "QUIT" => {
                self.phase = Phase::Closed;
                Action::ReplyAndClose(reply(221, "2.0.0 bye"))
            }
            _ => self.refuse(500, "5.5.2 unknown command"),
        }
    }

    /// The answer to [`Action::CheckRecipient`].
    pub fn recipient(&mut self, accepted: bool) -> Action {
        let Some(addr) = self.pending_recipient.take() else {
            return Action::Nothing;
        };
        self.phase = Phase::Mail;
        if accepted {
            if !self.recipients.contains(&addr) {
                self.recipients.push(addr);
            }
            Action::Reply(reply(250, "2.1.5 recipient ok"))
        } else {
            // Not one of ours: we do not relay.
            self.refuse(550, "5.1.1 no such mailbox here (relaying denied)")
        }
    }

    /// The recipient could not be checked now (storage unavailable): the client may retry.
    pub fn recipient_later(&mut self) -> Action {
        self.pending_recipient = None;
        self.phase = Phase::Mail;
        Action::Reply(reply(451, "4.3.0 cannot check the recipient now; try again later"))
    }

    fn data_line(&mut self, raw: &[u8]) -> Action {
        let Some(content) = raw.strip_suffix(b"\r\n") else {
            return self.smuggling();
        };
        if content.contains(&b'\r') || content.contains(&b'\n') {
            return self.smuggling();
        }
        if content == b"." {
            let envelope = Envelope {
                mail_from: std::mem::take(&mut self.mail_from),
                recipients: std::mem::take(&mut self.recipients),
                data: std::mem::take(&mut self.data),
            };
            if self.data_too_big {
                self.reset();
                return self.refuse(552, "5.3.4 message too big");
            }
            self.phase = Phase::Waiting;
            return Action::Deliver(envelope);
        }
        // Dot-unstuffing (RFC 5321 4.5.2).
        let content = content.strip_prefix(b".").unwrap_or(content);
        if self.data.len() + content.len() + 2 > self.limits.max_message_bytes {
            // Keep reading to the end of the message, then refuse it as a whole.
            self.data_too_big = true;
            self.data.clear();
        } else if !self.data_too_big {
            self.data.extend_from_slice(content);
            self.data.extend_from_slice(b"\r\n");
        }
        Action::Nothing
    }

    fn smuggling(&mut self) -> Action {
        self.data.clear();
        self.phase = Phase::Closed;
        Action::ReplyAndClose(reply(554, "5.5.2 bare CR or LF in message content refused; closing"))
    }

    /// The answer to [`Action::Deliver`]: `Ok` once the message is stored; `Err(true)` when the
    /// content was refused for good (malformed), `Err(false)` when storing failed (try later).
    pub fn stored(&mut self, outcome: Result<(), (bool, String)>) -> Action {
        self.reset();
        self.phase = Phase::Ready;
        match outcome {
            Ok(()) => {
                self.messages += 1;
                Action::Reply(reply(250, "2.0.0 message accepted"))
            }
            Err((true, why)) => self.refuse(550, &format!("5.6.0 {why}")),
            Err((false, _)) => Action::Reply(reply(451, "4.3.0 could not store the message; try again later")),
        }
    }

    /// The TLS handshake finished; the client must greet again (RFC 3207).
    pub fn tls_started(&mut self) {
        self.tls_active = true;
        self.reset();
        self.phase = Phase::Greeted;
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls_active
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

/// `<address> params` → (address, params). The address may be empty (`<>`, bounces).
fn path(arg: &str) -> Option<(String, &str)> {
    let arg = arg.trim_start();
    let rest = arg.strip_prefix('<')?;
    let (addr, params) = rest.split_once('>')?;
    if addr.len() > 254 || addr.chars().any(|c| c.is_whitespace() || c.is_control() || c == '<') {
        return None;
    }
    Some((addr.to_owned(), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new("mx.test", Limits { max_message_bytes: 100, ..Limits::default() }, true)
    }

    fn reply_of(a: Action) -> String {
        match a {
            Action::Reply(r) | Action::ReplyAndClose(r) | Action::StartTls(r) => r,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    fn ready(s: &mut Session) {
        assert!(reply_of(s.line(b"EHLO client.test\r\n")).starts_with("250-mx.test\r\n250-SIZE 100\r\n"));
        assert_eq!(reply_of(s.line(b"MAIL FROM:<a@b.test> SIZE=20\r\n")), "250 2.1.0 sender ok\r\n");
        assert_eq!(s.line(b"RCPT TO:<Help@Acme.test>\r\n"), Action::CheckRecipient("help@acme.test".into()));
        assert!(reply_of(s.recipient(true)).starts_with("250"));
        assert!(reply_of(s.line(b"DATA\r\n")).starts_with("354"));
    }

    #[test]
    fn a_message_is_delivered_dot_unstuffed() {
        let mut s = session();
        ready(&mut s);
        for l in [&b"Subject: hi\r\n"[..], b"\r\n", b"..dot\r\n", b"body\r\n"] {
            assert_eq!(s.line(l), Action::Nothing);
        }
        let Action::Deliver(env) = s.line(b".\r\n") else { panic!("deliver") };
        assert_eq!(env.data, b"Subject: hi\r\n\r\n.dot\r\nbody\r\n");
        assert_eq!(env.recipients, ["help@acme.test"]);
        assert_eq!(env.mail_from, "a@b.test");
        assert!(reply_of(s.stored(Ok(()))).starts_with("250"));
        // A second message in the same session works.
        assert!(reply_of(s.line(b"MAIL FROM:<>\r\n")).starts_with("250"));
    }

    #[test]
    fn bare_lf_or_cr_in_data_refuses_the_message_and_closes() {
        for bad in [&b"smuggled\n"[..], b"a\rb\r\n", b".\n", b"x\n.\r\n"] {
            let mut s = session();
            ready(&mut s);
            let a = s.line(bad);
            assert!(matches!(&a, Action::ReplyAndClose(r) if r.starts_with("554")), "{bad:?}: {a:?}");
            assert!(s.is_closed());
            assert_eq!(s.line(b"MAIL FROM:<x@y.test>\r\n"), Action::Nothing, "nothing after the refusal is read");
        }
    }

    #[test]
    fn unknown_recipients_are_not_relayed_and_too_many_errors_close() {
        let mut s = session();
        s.line(b"EHLO c\r\n");
        s.line(b"MAIL FROM:<a@b.test>\r\n");
        s.line(b"RCPT TO:<x@elsewhere.test>\r\n");
        assert!(reply_of(s.recipient(false)).starts_with("550 5.1.1"));
        assert!(reply_of(s.line(b"DATA\r\n")).starts_with("503"), "no accepted recipient");
        // Two errors so far; the tenth closes the session.
        for _ in 0..7 {
            assert!(reply_of(s.line(b"BOGUS\r\n")).starts_with("500"));
        }
        assert!(matches!(s.line(b"BOGUS\r\n"), Action::ReplyAndClose(r) if r.starts_with("421")));
        assert!(s.is_closed());
    }

    #[test]
    fn size_limits_are_enforced_before_and_during_data() {
        let mut s = session();
        s.line(b"EHLO c\r\n");
        assert!(reply_of(s.line(b"MAIL FROM:<a@b.test> SIZE=1000\r\n")).starts_with("552"));
        let mut s = session();
        ready(&mut s);
        for _ in 0..20 {
            assert_eq!(s.line(b"0123456789\r\n"), Action::Nothing);
        }
        assert!(reply_of(s.line(b".\r\n")).starts_with("552"));
        assert!(reply_of(s.line(b"MAIL FROM:<a@b.test>\r\n")).starts_with("250"), "session goes on");
        let long = vec![b'a'; 1001];
        assert!(matches!(s.line(&long), Action::ReplyAndClose(r) if r.starts_with("500")));
    }

    #[test]
    fn commands_in_the_wrong_order_or_form_are_refused() {
        let mut s = session();
        assert!(reply_of(s.line(b"MAIL FROM:<a@b.test>\r\n")).starts_with("503"));
        assert!(reply_of(s.line(b"EHLO\r\n")).starts_with("501"));
        assert!(reply_of(s.line(b"EHLO c\n")).starts_with("500"), "bare LF command");
        s.line(b"EHLO c\r\n");
        assert!(reply_of(s.line(b"RCPT TO:<a@b.test>\r\n")).starts_with("503"));
        assert!(reply_of(s.line(b"MAIL FROM:a@b.test\r\n")).starts_with("501"));
        assert!(reply_of(s.line(b"VRFY x\r\n")).starts_with("252"));
        assert!(matches!(s.line(b"QUIT\r\n"), Action::ReplyAndClose(r) if r.starts_with("221")));
    }

    #[test]
    fn starttls_is_offered_once_and_requires_a_new_greeting() {
        let mut s = session();
        assert!(reply_of(s.line(b"EHLO c\r\n")).ends_with("250 STARTTLS\r\n"));
        assert!(matches!(s.line(b"STARTTLS\r\n"), Action::StartTls(r) if r.starts_with("220")));
        s.tls_started();
        assert!(reply_of(s.line(b"MAIL FROM:<a@b.test>\r\n")).starts_with("503"), "greet again after TLS");
        assert!(!reply_of(s.line(b"EHLO c\r\n")).contains("STARTTLS"));
        assert!(reply_of(s.line(b"STARTTLS\r\n")).starts_with("502"));
        let mut plain = Session::new("mx", Limits::default(), false);
        assert!(!reply_of(plain.line(b"EHLO c\r\n")).contains("STARTTLS"));
    }

    #[test]
    fn a_client_that_does_not_wait_for_the_recipient_answer_is_closed() {
        let mut s = session();
        s.line(b"EHLO c\r\n");
        s.line(b"MAIL FROM:<a@b.test>\r\n");
        assert!(matches!(s.line(b"RCPT TO:<a@acme.test>\r\n"), Action::CheckRecipient(_)));
        assert!(matches!(s.line(b"DATA\r\n"), Action::ReplyAndClose(r) if r.starts_with("554")));
    }
}
