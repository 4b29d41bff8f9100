//! Reading a received e-mail (MIME, RFC 5322/2045) with mail-parser into what a conversation
//! needs: who wrote, the threading ids, the text and HTML parts and the attachments.

use mail_parser::{MessageParser, MimeHeaders, PartType};
use sha2::{Digest, Sha256};

/// A received e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundMail {
    /// Its Message-ID without angle brackets (derived from the content when the sender gave none).
    pub message_id: String,
    /// In-Reply-To ids.
    pub in_reply_to: Vec<String>,
    /// References ids, oldest first.
    pub references: Vec<String>,
    /// The sender's address, lower-cased.
    pub from: String,
    /// The sender's display name.
    pub from_name: Option<String>,
    /// Subject (empty if none).
    pub subject: String,
    /// The plain-text body (converted from HTML when only HTML was sent).
    pub text: String,
    /// The HTML body, if one was sent.
    pub html: Option<String>,
    /// Attached files.
    pub attachments: Vec<MailAttachment>,
}

/// An attached file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailAttachment {
    /// File name (path parts and control characters removed).
    pub name: String,
    /// MIME type.
    pub content_type: String,
    /// Decoded bytes.
    pub bytes: Vec<u8>,
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// The header block is not RFC 5322 header lines.
    #[error("malformed header block: {0}")]
    Headers(String),
    /// The content could not be parsed as a message.
    #[error("not a MIME message")]
    Unparsable,
    /// No From address.
    #[error("the message has no sender (From)")]
    NoSender,
}

/// Checks that everything before the first empty line is header lines: `Name: value` with a
/// printable name, or continuations starting with white space.
fn check_headers(data: &[u8]) -> Result<(), MimeError> {
    let head_end = data.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(data.len());
    let head = &data[..head_end];
    if head.is_empty() {
        return Err(MimeError::Headers("no headers".into()));
    }
    for (i, line) in head.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if i == 0 {
                return Err(MimeError::Headers("starts with a continuation line".into()));
            }
            continue;
        }
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            return Err(MimeError::Headers(format!("line {} is not a header", i + 1)));
        };
        if colon == 0 || !line[..colon].iter().all(|b| (33..=126).contains(b)) {
            return Err(MimeError::Headers(format!("line {} has an invalid header name", i + 1)));
        }
    }
    Ok(())
}

/// A file name safe to store and show: no path parts or control characters.
pub fn safe_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let cleaned: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    let cleaned = cleaned.trim().trim_start_matches('.').to_owned();
    if cleaned.is_empty() { "attachment".into() } else { cleaned }
}

/// Parses a received message.
pub fn parse(data: &[u8]) -> Result<InboundMail, MimeError> {
    check_headers(data)?;
    let msg = MessageParser::default().parse(data).ok_or(MimeError::Unparsable)?;
    let from = msg.from().and_then(|a| a.first()).ok_or(MimeError::NoSender)?;
    let address = from.address().filter(|a| a.contains('@')).ok_or(MimeError::NoSender)?.to_lowercase();
    let message_id = match msg.message_id() {
        Some(id) if !id.trim().is_empty() => id.trim().to_owned(),
        // Same content, same id: a resent copy is recorded once.
        _ => format!("{}@generated.switchboard.invalid", hex::encode(&Sha256::digest(data)[..16])),
    };
    let ids = |v: &mail_parser::HeaderValue<'_>| -> Vec<String> {
        v.as_text_list().map(|l| l.iter().map(|s| s.trim().to_owned()).collect()).unwrap_or_default()
    };
    // mail-parser also renders plain parts as HTML; only a real HTML part counts.
    let has_html =
        msg.html_body.iter().any(|&i| matches!(msg.parts.get(i as usize).map(|p| &p.body), Some(PartType::Html(_))));
    let html = if has_html { msg.body_html(0).map(|h| h.into_owned()) } else { None };
    let text = msg.body_text(0).map(|t| t.into_owned()).unwrap_or_default();
    let attachments = msg
        .attachments()
        .map(|part| MailAttachment {
            name: safe_name(part.attachment_name().unwrap_or("attachment")),
            content_type: part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".into())
                .to_lowercase(),
            bytes: part.contents().to_vec(),
        })
        .collect();
    Ok(InboundMail {
        message_id,
        in_reply_to: ids(msg.in_reply_to()),
        references: ids(msg.references()),
        from: address,
        from_name: from.name().map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
        subject: msg.subject().unwrap_or_default().trim().to_owned(),
        text,
        html,
        attachments,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &[u8] = b"From: \"Cara Customer\" <Cara@Example.COM>\r\n\
To: help@acme.test\r\n\
Subject: Re: Your order\r\n\
Message-ID: <r2@example.com>\r\n\
In-Reply-To: <m1@acme.test>\r\n\
References: <m0@acme.test> <m1@acme.test>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Thanks, it works.\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p>Thanks, it <b>works</b>.</p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"../../invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"../../invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";

    #[test]
    fn a_reply_with_alternatives_and_an_attachment() {
        let m = parse(REPLY).expect("parse");
        assert_eq!(m.message_id, "r2@example.com");
        assert_eq!(m.in_reply_to, ["m1@acme.test"]);
        assert_eq!(m.references, ["m0@acme.test", "m1@acme.test"]);
        assert_eq!((m.from.as_str(), m.from_name.as_deref()), ("cara@example.com", Some("Cara Customer")));
        assert_eq!(m.subject, "Re: Your order");
        assert_eq!(m.text.trim(), "Thanks, it works.");
        assert!(m.html.as_deref().is_some_and(|h| h.contains("<b>works</b>")));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].name, "invoice.pdf", "no path parts");
        assert_eq!(m.attachments[0].content_type, "application/pdf");
        assert_eq!(m.attachments[0].bytes, b"%PDF-1.4\n");
    }

    #[test]
    fn plain_text_has_no_html_and_a_missing_message_id_is_derived() {
        let data = b"From: a@b.test\r\nSubject: hi\r\n\r\nhello\r\n";
        let m = parse(data).expect("parse");
        assert_eq!(m.html, None);
        assert_eq!(m.text.trim(), "hello");
        assert!(m.message_id.ends_with("@generated.switchboard.invalid"));
        assert_eq!(parse(data).expect("again").message_id, m.message_id, "stable");
    }

    #[test]
    fn malformed_messages_are_refused() {
        assert!(matches!(parse(b""), Err(MimeError::Headers(_))));
        assert!(matches!(parse(b"this is not a header\r\n\r\nbody\r\n"), Err(MimeError::Headers(_))));
        assert!(matches!(parse(b" folded: first\r\n\r\n"), Err(MimeError::Headers(_))));
        assert!(matches!(parse(b"Subject: no sender\r\n\r\nbody\r\n"), Err(MimeError::NoSender)));
        assert!(matches!(parse(b"From: not-an-address\r\n\r\nbody\r\n"), Err(MimeError::NoSender)));
    }
}
