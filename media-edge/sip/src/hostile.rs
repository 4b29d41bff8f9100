//! Entry points for fuzzing (`fuzz/`, libFuzzer) that the property tests also drive: every
//! path a stranger's bytes take through this crate. None may panic.

use crate::digest::Authenticator;
use crate::frame::StreamFramer;
use crate::message::{Raw, Reply, parse_request};
use crate::transaction::Transactions;

/// A datagram: parse it, answer it if it is refused, feed it to a transaction layer.
pub fn datagram(bytes: &[u8]) {
    let mut tx: Transactions<u8> = Transactions::default();
    match parse_request(bytes) {
        Ok(inbound) => {
            let _ = tx.on_request(0, 1, false, &inbound.raw, "t");
            tx.on_tick(64_000);
        }
        Err((e, Some(raw))) => {
            let _ = Reply::to(&raw, e.status(), "t").encode();
        }
        Err((_, None)) => {
            if let Ok(raw) = Raw::lex(bytes) {
                let _ = tx.on_response(0, &raw);
            }
        }
    }
}

/// A TCP stream cut at `split`: framed, then each message as a datagram.
pub fn stream(bytes: &[u8], split: usize) {
    let mut f = StreamFramer::default();
    let (a, b) = bytes.split_at(split.min(bytes.len()));
    for part in [a, b] {
        f.push(part);
        while let Ok(Some(m)) = f.next_message() {
            datagram(&m);
        }
    }
}

/// An Authorization header value.
pub fn authorization(header: &str) {
    let mut a: Authenticator<u8> = Authenticator::new(b"fuzz");
    let _ = a.verify(0, 1, "realm", "REGISTER", header, |u, alg| Some(crate::digest::ha1(alg, u, "realm", "pw")));
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn datagrams(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            datagram(&bytes);
        }

        #[test]
        fn sip_shaped_noise(
            method in "(INVITE|ACK|BYE|CANCEL|OPTIONS|REGISTER|INFO|[A-Z]{1,8})",
            headers in proptest::collection::vec("(Via|v|From|f|To|t|Call-ID|i|CSeq|Content-Length|l|Max-Forwards|X)[ ]?:[ -~]{0,40}", 0..12),
            body in "[ -~]{0,40}",
            split in 0usize..300,
        ) {
            let msg = format!("{method} sip:x@y SIP/2.0\r\n{}\r\n\r\n{body}", headers.join("\r\n"));
            datagram(msg.as_bytes());
            stream(msg.as_bytes(), split);
        }

        #[test]
        fn authorizations(h in "Digest [ -~]{0,200}") {
            authorization(&h);
        }
    }
}
