//! Entry points for fuzzing the parsers of hostile input (`fuzz/` drives them with libFuzzer; the
//! property tests below run them on random input in every test run). Each must return, never
//! panic, whatever the bytes.

use crate::email::smtp::{Action, Limits, Session};

/// MIME parsing of a received message.
pub fn mime(data: &[u8]) {
    let _ = crate::email::mime::parse(data);
}

/// A chat frame.
pub fn chat_frame(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::chat::parse(text);
    }
}

/// An SMTP session fed arbitrary lines: whatever it delivers has CRLF-only line endings.
pub fn smtp_session(data: &[u8]) {
    let mut s = Session::new("fuzz", Limits { max_message_bytes: 4096, ..Limits::default() }, true);
    for line in data.split_inclusive(|b| *b == b'\n') {
        let action = match s.line(line) {
            Action::CheckRecipient(a) => s.recipient(a.len() % 2 == 0),
            Action::StartTls(_) => {
                s.tls_started();
                Action::Nothing
            }
            other => other,
        };
        if let Action::Deliver(envelope) = action {
            let bare = envelope.data.windows(2).enumerate().any(|(i, w)| {
                (w[1] == b'\n' && w[0] != b'\r') || (w[0] == b'\r' && w[1] != b'\n') || (i == 0 && w[0] == b'\n')
            });
            assert!(!bare, "a bare CR or LF was accepted");
            let _ = s.stored(Ok(()));
        }
        if s.is_closed() {
            return;
        }
    }
}

/// An SMS provider webhook: the form body parsed as the server parses it, then the signature check.
pub fn sms_form(data: &[u8]) {
    let (sig, body) = data.split_at(data.len().min(28));
    if let Ok(params) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) {
        let url = "https://example.com/webhooks/sms/twilio";
        let _ = crate::sms::verify("token", url, &params, &String::from_utf8_lossy(sig));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn mime_never_panics(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            super::mime(&data);
        }

        #[test]
        fn mime_like_input_never_panics(
            headers in proptest::collection::vec("[A-Za-z-]{1,12}: [ -~]{0,60}", 0..8),
            body in "[ -~\r\n]{0,400}",
            boundary in "[a-z0-9]{1,10}",
        ) {
            let mut m = headers.join("\r\n");
            m.push_str(&format!("\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n{body}\r\n--{boundary}--"));
            super::mime(m.as_bytes());
        }

        #[test]
        fn chat_frames_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            super::chat_frame(&data);
        }

        #[test]
        fn chat_json_like_frames_never_panic(
            kind in "(message|typing|read|resume|end|ping|x)",
            a in "[ -~]{0,40}",
            n in any::<i64>(),
        ) {
            let f = format!("{{\"type\":\"{kind}\",\"client_id\":\"{a}\",\"body\":\"{a}\",\"seq\":{n},\"last_seq\":{n},\"active\":{}}}", n % 2 == 0);
            super::chat_frame(f.as_bytes());
        }

        #[test]
        fn smtp_sessions_never_panic_nor_accept_bare_line_ends(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("EHLO x\r\n".to_owned()),
                    Just("MAIL FROM:<a@b.test>\r\n".to_owned()),
                    Just("RCPT TO:<ab@c.test>\r\n".to_owned()),
                    Just("DATA\r\n".to_owned()),
                    Just(".\r\n".to_owned()),
                    Just("STARTTLS\r\n".to_owned()),
                    "[ -~]{0,30}(\r\n|\n|\r|)",
                ],
                0..40,
            )
        ) {
            super::smtp_session(lines.concat().as_bytes());
        }

        #[test]
        fn sms_forms_never_panic(data in proptest::collection::vec(any::<u8>(), 0..1024)) {
            super::sms_form(&data);
        }
    }
}
