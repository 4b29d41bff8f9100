//! Dialogs (RFC 3261 §12): what the two ends of a call remember so either can send requests
//! inside it (BYE, re-INVITE, INFO) and recognise the other's.

use std::fmt::Write as _;

use crate::message::{Raw, StartLine, header_uri};

/// One dialog, from our side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    /// Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// Theirs.
    pub remote_tag: String,
    /// Our From/To header value (with our tag) as we put it in requests.
    pub local: String,
    /// Theirs (with their tag).
    pub remote: String,
    /// Where requests go: their Contact URI.
    pub remote_target: String,
    /// Record-Route, in the order our requests use it.
    pub route_set: Vec<String>,
    /// Our last CSeq number.
    pub local_seq: u32,
    /// Their last CSeq number (requests with a lower one are stale).
    pub remote_seq: u32,
}

fn with_tag(header: &str, tag: &str) -> String {
    let mut v = header.to_owned();
    let _ = write!(v, ";tag={tag}");
    v
}

impl Dialog {
    /// The dialog a 2xx to this INVITE creates on the answering side. None when the INVITE
    /// lacks what a dialog needs (From tag, Contact).
    pub fn uas(invite: &Raw<'_>, local_tag: &str) -> Option<Dialog> {
        let remote_tag = invite.tag("From")?.to_owned();
        let (seq, _) = invite.cseq().ok()?;
        let contact = invite.all("Contact").next()?;
        Some(Dialog {
            call_id: invite.one("Call-ID").ok()?.to_owned(),
            local_tag: local_tag.to_owned(),
            remote_tag,
            local: with_tag(invite.one("To").ok()?, local_tag),
            remote: invite.one("From").ok()?.to_owned(),
            remote_target: header_uri(contact).to_owned(),
            route_set: invite.all("Record-Route").flat_map(crate::message::split_commas).map(str::to_owned).collect(),
            local_seq: 0,
            remote_seq: seq,
        })
    }

    /// The dialog our INVITE's 2xx creates on the calling side.
    pub fn uac(invite: &Raw<'_>, response: &Raw<'_>) -> Option<Dialog> {
        let (seq, _) = invite.cseq().ok()?;
        let contact = response.all("Contact").next()?;
        Some(Dialog {
            call_id: invite.one("Call-ID").ok()?.to_owned(),
            local_tag: invite.tag("From")?.to_owned(),
            remote_tag: response.tag("To")?.to_owned(),
            local: invite.one("From").ok()?.to_owned(),
            remote: response.one("To").ok()?.to_owned(),
            remote_target: header_uri(contact).to_owned(),
            route_set: {
                let mut r: Vec<String> =
                    response.all("Record-Route").flat_map(crate::message::split_commas).map(str::to_owned).collect();
                r.reverse();
                r
            },
            local_seq: seq,
            remote_seq: 0,
        })
    }

    /// Whether a request or response belongs to this dialog (Call-ID and both tags).
    pub fn matches(&self, raw: &Raw<'_>) -> bool {
        let Ok(call_id) = raw.one("Call-ID") else { return false };
        if call_id != self.call_id {
            return false;
        }
        let (ours, theirs) = match raw.start {
            StartLine::Request { .. } => (raw.tag("To"), raw.tag("From")),
            StartLine::Response { .. } => (raw.tag("From"), raw.tag("To")),
        };
        ours == Some(self.local_tag.as_str()) && theirs == Some(self.remote_tag.as_str())
    }

    /// Takes an in-dialog request's CSeq: false for a stale or repeated one (§12.2.2).
    pub fn accept_remote_seq(&mut self, seq: u32) -> bool {
        if seq <= self.remote_seq {
            return false;
        }
        self.remote_seq = seq;
        true
    }

    /// A new request inside the dialog. `via` is our Via value without the branch
    /// (`SIP/2.0/UDP 192.0.2.1:5060`); `headers` are extra headers.
    pub fn request(
        &mut self,
        method: &str,
        via: &str,
        branch: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        self.local_seq += 1;
        let seq = self.local_seq;
        self.build(method, seq, via, branch, headers, body)
    }

    /// The ACK for our INVITE's 2xx (same CSeq number as the INVITE, a new branch).
    pub fn ack(&self, via: &str, branch: &str, body: Option<(&str, &[u8])>) -> Vec<u8> {
        self.build("ACK", self.local_seq, via, branch, &[], body)
    }

    fn build(
        &self,
        method: &str,
        seq: u32,
        via: &str,
        branch: &str,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Vec<u8> {
        let clean = |s: &str| s.chars().filter(|c| *c != '\r' && *c != '\n').collect::<String>();
        let mut out = format!("{method} {} SIP/2.0\r\n", clean(&self.remote_target));
        let _ = write!(out, "Via: {};branch={}\r\n", clean(via), clean(branch));
        for route in &self.route_set {
            let _ = write!(out, "Route: {}\r\n", clean(route));
        }
        let _ = write!(out, "Max-Forwards: 70\r\n");
        let _ = write!(out, "From: {}\r\nTo: {}\r\n", clean(&self.local), clean(&self.remote));
        let _ = write!(out, "Call-ID: {}\r\nCSeq: {seq} {method}\r\n", clean(&self.call_id));
        for (n, v) in headers {
            let _ = write!(out, "{}: {}\r\n", clean(n), clean(v));
        }
        let body = body.unwrap_or(("", b""));
        if !body.0.is_empty() {
            let _ = write!(out, "Content-Type: {}\r\n", clean(body.0));
        }
        let _ = write!(out, "User-Agent: Switchboard\r\nContent-Length: {}\r\n\r\n", body.1.len());
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body.1);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:+15550100@edge.example SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n\
Record-Route: <sip:p1.example;lr>, <sip:p2.example;lr>\r\n\
From: \"Alice\" <sip:+4930123@carrier.example>;tag=1928301774\r\n\
To: <sip:+15550100@edge.example>\r\n\
Call-ID: a84b4c76e66710@pc33\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@10.0.0.1:5060;transport=udp>\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn the_answering_side_builds_a_bye_the_caller_recognises() {
        let raw = Raw::lex(INVITE.as_bytes()).expect("lexes");
        let mut dialog = Dialog::uas(&raw, "ourtag").expect("dialog");
        assert_eq!(dialog.remote_target, "sip:alice@10.0.0.1:5060;transport=udp");
        assert_eq!(dialog.route_set, vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]);
        let bye = dialog.request("BYE", "SIP/2.0/UDP 192.0.2.1:5060", "z9hG4bKbye1", &[], None);
        let bye = Raw::lex(&bye).expect("lexes");
        assert!(bye.check_request().is_ok());
        assert_eq!(bye.method(), Some("BYE"));
        assert_eq!(bye.tag("From"), Some("ourtag"));
        assert_eq!(bye.tag("To"), Some("1928301774"));
        assert_eq!(bye.cseq().expect("cseq"), (1, "BYE"));
        assert_eq!(bye.all("Route").count(), 2);
        // Our BYE, seen from the caller's side, is "in the dialog" by its own rules.
        let mut theirs = dialog.clone();
        std::mem::swap(&mut theirs.local_tag, &mut theirs.remote_tag);
        assert!(!dialog.matches(&bye), "a request carries their tag in To only when they sent it");
        assert!(theirs.matches(&bye));
    }

    #[test]
    fn in_dialog_requests_match_and_stale_sequence_numbers_are_refused() {
        let raw = Raw::lex(INVITE.as_bytes()).expect("lexes");
        let mut dialog = Dialog::uas(&raw, "ourtag").expect("dialog");
        let bye = INVITE
            .replace("INVITE sip:+15550100@edge.example", "BYE sip:edge@192.0.2.1")
            .replace("To: <sip:+15550100@edge.example>", "To: <sip:+15550100@edge.example>;tag=ourtag")
            .replace("314159 INVITE", "314160 BYE");
        let bye = Raw::lex(bye.as_bytes()).expect("lexes");
        assert!(dialog.matches(&bye));
        assert!(dialog.accept_remote_seq(314_160));
        assert!(!dialog.accept_remote_seq(314_160));
        let other = INVITE.replace("a84b4c76e66710@pc33", "other");
        assert!(!dialog.matches(&Raw::lex(other.as_bytes()).expect("lexes")));
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let raw = Raw::lex(INVITE.as_bytes()).expect("lexes");
        let mut dialog = Dialog::uas(&raw, "ourtag").expect("dialog");
        dialog.remote_target = "sip:x\r\nEvil: yes".into();
        let bye = dialog.request("BYE", "SIP/2.0/UDP h", "z9hG4bKx", &[("Reason", "a\r\nb")], None);
        let text = String::from_utf8(bye).expect("text");
        assert!(!text.contains("\r\nEvil") && !text.contains("\r\nb"), "{text}");
    }
}
