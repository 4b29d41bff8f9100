//! DTMF: RFC 4733 telephone-events in RTP and the SIP INFO bodies phones send
//! (`application/dtmf-relay`, `application/dtmf`). Each key press is reported once, however
//! many times the sender repeats its packets.

use thiserror::Error;

/// Why a telephone-event payload is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// Fewer than the four bytes of an event.
    #[error("telephone-event payload truncated")]
    Truncated,
    /// An event code that is not a DTMF key (0-15).
    #[error("event {0} is not a DTMF key")]
    NotDtmf(u8),
}

/// One RFC 4733 event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// The key.
    pub key: char,
    /// Whether this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0-63).
    pub volume: u8,
    /// Duration so far in timestamp units.
    pub duration: u16,
}

/// The keys in event-code order (RFC 4733 §3.2).
const KEYS: [char; 16] = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'];

/// The event code of a key, if it is one.
pub fn event_code(key: char) -> Option<u8> {
    KEYS.iter().position(|&k| k == key.to_ascii_uppercase()).map(|i| i as u8)
}

impl TelephoneEvent {
    /// Reads a payload (only its first event: redundant blocks are not used by RFC 4733 senders
    /// we meet).
    pub fn parse(payload: &[u8]) -> Result<Self, DtmfError> {
        let [event, flags, d0, d1, ..] = *payload else {
            return Err(DtmfError::Truncated);
        };
        let key = *KEYS.get(usize::from(event)).ok_or(DtmfError::NotDtmf(event))?;
        Ok(TelephoneEvent { key, end: flags & 0x80 != 0, volume: flags & 0x3F, duration: u16::from_be_bytes([d0, d1]) })
    }

    /// Writes the four-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let code = event_code(self.key).unwrap_or(0);
        let d = self.duration.to_be_bytes();
        [code, (u8::from(self.end) << 7) | (self.volume & 0x3F), d[0], d[1]]
    }
}

/// Turns a stream of telephone-event packets into key presses. An event is identified by its
/// RTP timestamp (RFC 4733 §2.5.1.3: every packet of one event carries its start time), so
/// retransmitted end packets and repeated updates count once; a key is reported at its first
/// packet, which is when a caller expects the menu to react.
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    last: Option<(u32, u32)>,
}

impl DtmfReceiver {
    /// A receiver that has heard nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet; returns the key if it starts a new press.
    pub fn on_packet(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Option<char> {
        let event = TelephoneEvent::parse(payload).ok()?;
        if self.last == Some((ssrc, timestamp)) {
            return None;
        }
        self.last = Some((ssrc, timestamp));
        Some(event.key)
    }
}

/// Reads the key from a SIP INFO body, by its content type.
pub fn key_from_info(content_type: &str, body: &[u8]) -> Option<char> {
    let text = std::str::from_utf8(body).ok()?;
    let media = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let value = match media.as_str() {
        // "Signal=5\r\nDuration=160" (the de facto format; no RFC).
        "application/dtmf-relay" => text.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            name.trim().eq_ignore_ascii_case("signal").then(|| value.trim())
        })?,
        // RFC 2976 examples: the bare key.
        "application/dtmf" => text.trim(),
        _ => return None,
    };
    let mut chars = value.chars();
    let key = chars.next()?;
    // Some phones send the event code ("10" for "*").
    if let Some(rest) = chars.next() {
        let code: u8 = format!("{key}{rest}").parse().ok()?;
        return KEYS.get(usize::from(code)).copied().filter(|_| chars.next().is_none());
    }
    let key = key.to_ascii_uppercase();
    KEYS.contains(&key).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_refuse_non_dtmf() {
        let event = TelephoneEvent { key: '#', end: true, volume: 10, duration: 800 };
        assert_eq!(TelephoneEvent::parse(&event.to_bytes()), Ok(event));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(DtmfError::Truncated));
        assert_eq!(TelephoneEvent::parse(&[16, 0, 0, 0]), Err(DtmfError::NotDtmf(16)));
    }

    #[test]
    fn repeated_packets_of_one_press_count_once() {
        let mut receiver = DtmfReceiver::new();
        let press = |key, end, duration| TelephoneEvent { key, end, volume: 10, duration }.to_bytes();
        assert_eq!(receiver.on_packet(1, 1000, &press('5', false, 160)), Some('5'));
        assert_eq!(receiver.on_packet(1, 1000, &press('5', false, 320)), None);
        for _ in 0..3 {
            assert_eq!(receiver.on_packet(1, 1000, &press('5', true, 640)), None);
        }
        // The same key again is a new event: a new timestamp.
        assert_eq!(receiver.on_packet(1, 2000, &press('5', false, 160)), Some('5'));
        assert_eq!(receiver.on_packet(1, 3000, &press('#', true, 160)), Some('#'));
        assert_eq!(receiver.on_packet(1, 4000, &[99, 0, 0, 0]), None);
    }

    #[test]
    fn info_bodies_in_the_formats_phones_use() {
        assert_eq!(key_from_info("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(key_from_info("Application/DTMF-Relay; charset=x", b"signal= #\nDuration=100"), Some('#'));
        assert_eq!(key_from_info("application/dtmf-relay", b"Signal=11\r\n"), Some('#'));
        assert_eq!(key_from_info("application/dtmf", b"7"), Some('7'));
        assert_eq!(key_from_info("application/dtmf", b"x"), None);
        assert_eq!(key_from_info("application/dtmf", b"99"), None);
        assert_eq!(key_from_info("text/plain", b"5"), None);
        assert_eq!(key_from_info("application/dtmf-relay", b"Duration=160"), None);
    }
}
