//! The web chat visitor protocol: the frames a chat widget sends over its WebSocket, parsed and
//! checked here so the socket handler only ever sees valid commands. Server frames are listed in
//! `docs/chat-protocol.md`.

use serde::Deserialize;

/// Largest frame a visitor may send, in bytes.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Longest message text, in characters.
pub const MAX_BODY_CHARS: usize = 4000;

/// What a visitor's widget can say.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// First frame after (re)connecting: send me everything after `last_seq` (0: from the start).
    Resume {
        /// The last sequence number the widget has shown.
        last_seq: u64,
    },
    /// A message. `client_id` makes a resend after a dropped connection harmless.
    Message {
        /// The widget's id for this message (1 to 64 of `A-Z a-z 0-9 - _`).
        client_id: String,
        /// The text.
        body: String,
    },
    /// The visitor started or stopped typing.
    Typing {
        /// Typing now.
        active: bool,
    },
    /// The visitor has seen everything up to `seq`.
    Read {
        /// Last message seen.
        seq: u64,
    },
    /// The visitor closed the chat.
    End,
    /// Keep-alive; answered with `pong`.
    Ping,
}

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Larger than [`MAX_FRAME_BYTES`].
    #[error("frame larger than {MAX_FRAME_BYTES} bytes")]
    TooLarge,
    /// Not JSON, or not one of the frames.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A field is out of bounds.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        message: &'static str,
    },
}

impl FrameError {
    /// The stable code sent back in the error frame.
    pub fn code(&self) -> &'static str {
        match self {
            FrameError::TooLarge => "frame_too_large",
            FrameError::Malformed(_) => "malformed_frame",
            FrameError::Invalid { .. } => "invalid_frame",
        }
    }
}

/// Checks message text: trimmed, 1 to [`MAX_BODY_CHARS`] characters, no control characters
/// other than line breaks and tabs. The text to store.
pub fn check_body(body: &str) -> Result<String, FrameError> {
    let body = body.trim();
    if body.is_empty() {
        return Err(FrameError::Invalid { field: "body", message: "must not be empty" });
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return Err(FrameError::Invalid { field: "body", message: "too long" });
    }
    if body.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(FrameError::Invalid { field: "body", message: "control characters are not allowed" });
    }
    Ok(body.to_owned())
}

/// Parses and checks one text frame.
pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError::TooLarge);
    }
    let frame: ClientFrame = serde_json::from_str(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
    if let ClientFrame::Message { client_id, body } = &frame {
        let id_ok = (1..=64).contains(&client_id.len())
            && client_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(FrameError::Invalid { field: "client_id", message: "1 to 64 of A-Z a-z 0-9 - _" });
        }
        check_body(body)?;
    }
    Ok(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_frames() {
        assert_eq!(parse(r#"{"type":"resume","last_seq":7}"#), Ok(ClientFrame::Resume { last_seq: 7 }));
        assert_eq!(
            parse(r#"{"type":"message","client_id":"a-1","body":" hi\nthere "}"#),
            Ok(ClientFrame::Message { client_id: "a-1".into(), body: " hi\nthere ".into() })
        );
        assert_eq!(parse(r#"{"type":"typing","active":true}"#), Ok(ClientFrame::Typing { active: true }));
        assert_eq!(parse(r#"{"type":"end"}"#), Ok(ClientFrame::End));
    }

    #[test]
    fn broken_frames_are_refused_with_a_reason() {
        assert!(matches!(parse("not json"), Err(FrameError::Malformed(_))));
        assert!(matches!(parse(r#"{"type":"shout"}"#), Err(FrameError::Malformed(_))));
        assert!(matches!(parse(r#"{"type":"resume","last_seq":-1}"#), Err(FrameError::Malformed(_))));
        assert!(matches!(
            parse(r#"{"type":"message","client_id":"","body":"x"}"#),
            Err(FrameError::Invalid { field: "client_id", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"message","client_id":"a b","body":"x"}"#),
            Err(FrameError::Invalid { field: "client_id", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"message","client_id":"a","body":"   "}"#),
            Err(FrameError::Invalid { field: "body", .. })
        ));
        assert!(matches!(
            parse(r#"{"type":"message","client_id":"a","body":"\u0007"}"#),
            Err(FrameError::Invalid { field: "body", .. })
        ));
        assert_eq!(parse(&"x".repeat(MAX_FRAME_BYTES + 1)), Err(FrameError::TooLarge));
    }
}
