//! Splitting a stream transport (TCP) into SIP messages: headers up to the blank line, then
//! exactly Content-Length bytes of body (mandatory on streams, RFC 3261 §18.3). Keep-alive CRLFs
//! between messages are skipped (RFC 5626 §3.5.1).

use crate::message::{MAX_MESSAGE_BYTES, find};

/// Why a stream must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Headers or body past the size limit.
    #[error("message over the size limit")]
    TooLarge,
    /// No usable Content-Length on a stream.
    #[error("missing or malformed Content-Length on a stream transport")]
    Length,
}

/// Buffers bytes from one stream and yields whole messages.
#[derive(Debug, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

impl StreamFramer {
    /// Adds bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, `Ok(None)` until one is complete. After an error the stream
    /// cannot be resynchronised and should be closed.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let skip = self.buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
        self.buf.drain(..skip);
        let Some(end) = find(&self.buf, b"\r\n\r\n") else {
            return if self.buf.len() > MAX_MESSAGE_BYTES { Err(FrameError::TooLarge) } else { Ok(None) };
        };
        let head = &self.buf[..end];
        let length = content_length(head).ok_or(FrameError::Length)?;
        let total = end + 4 + length;
        if total > MAX_MESSAGE_BYTES {
            return Err(FrameError::TooLarge);
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        Ok(Some(std::mem::replace(&mut self.buf, rest)))
    }
}

fn content_length(head: &[u8]) -> Option<usize> {
    let text = std::str::from_utf8(head).ok()?;
    text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l"))
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a SIP/2.0\r\nl: 3\r\n\r\nabc";

    #[test]
    fn messages_come_out_whole_however_the_bytes_arrive() {
        let mut stream = b"\r\n\r\n".to_vec();
        stream.extend_from_slice(MSG);
        stream.extend_from_slice(MSG);
        for chunk in [1, 2, 7, 1000] {
            let mut f = StreamFramer::default();
            let mut out = Vec::new();
            for part in stream.chunks(chunk) {
                f.push(part);
                while let Some(m) = f.next_message().expect("frames") {
                    out.push(m);
                }
            }
            assert_eq!(out, vec![MSG.to_vec(), MSG.to_vec()], "chunks of {chunk}");
        }
    }

    #[test]
    fn streams_without_length_or_too_big_are_refused() {
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_message(), Err(FrameError::Length));
        let mut f = StreamFramer::default();
        f.push(b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999999\r\n\r\n");
        assert_eq!(f.next_message(), Err(FrameError::TooLarge));
        let mut f = StreamFramer::default();
        f.push(&vec![b'a'; MAX_MESSAGE_BYTES + 1]);
        assert_eq!(f.next_message(), Err(FrameError::TooLarge));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(parts in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..64), 0..20)) {
            let mut f = StreamFramer::default();
            for p in parts {
                f.push(&p);
                while let Ok(Some(_)) = f.next_message() {}
            }
        }
    }
}
