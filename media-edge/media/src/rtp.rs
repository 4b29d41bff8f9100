//! RTP packets (RFC 3550 §5.1) read in place and written into a caller's buffer. Written by hand
//! rather than taken from a crate: this is the relay's hot path (no allocation per packet) and a
//! fuzz target whose every branch we want to own.

use thiserror::Error;

/// Why a datagram is not an RTP packet we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    /// Shorter than the fixed header or than what its header claims.
    #[error("packet truncated")]
    Truncated,
    /// Not RTP version 2.
    #[error("not RTP version 2")]
    Version,
    /// Padding count of zero or longer than the packet.
    #[error("bad padding")]
    Padding,
    /// An RTCP packet on a multiplexed port (RFC 5761 §4).
    #[error("RTCP, not RTP")]
    Rtcp,
}

/// A borrowed view of one RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    /// Marker bit (start of a talk spurt; start of a DTMF event).
    pub marker: bool,
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// Media timestamp (8 kHz clock for G.711 and telephone-event).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// The payload, without CSRCs, extension or padding.
    pub payload: &'a [u8],
}

/// Size of the fixed header we write (no CSRC, no extension).
pub const HEADER_LEN: usize = 12;

impl<'a> RtpPacket<'a> {
    /// Reads a datagram.
    pub fn parse(data: &'a [u8]) -> Result<Self, RtpError> {
        if data.len() < HEADER_LEN {
            return Err(RtpError::Truncated);
        }
        if data[0] >> 6 != 2 {
            return Err(RtpError::Version);
        }
        // RFC 5761: payload types 64-95 on a muxed port are RTCP packet types 192-223.
        if (64..96).contains(&(data[1] & 0x7F)) {
            return Err(RtpError::Rtcp);
        }
        let csrc_count = usize::from(data[0] & 0x0F);
        let mut offset = HEADER_LEN + 4 * csrc_count;
        if data[0] & 0x10 != 0 {
            let words = data.get(offset + 2..offset + 4).ok_or(RtpError::Truncated)?;
            offset += 4 + 4 * usize::from(u16::from_be_bytes([words[0], words[1]]));
        }
        if offset > data.len() {
            return Err(RtpError::Truncated);
        }
        let mut end = data.len();
        if data[0] & 0x20 != 0 {
            let padding = usize::from(data[end - 1]);
            if padding == 0 || padding > end - offset {
                return Err(RtpError::Padding);
            }
            end -= padding;
        }
        Ok(RtpPacket {
            marker: data[1] & 0x80 != 0,
            payload_type: data[1] & 0x7F,
            sequence: u16::from_be_bytes([data[2], data[3]]),
            timestamp: u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
            ssrc: u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
            payload: &data[offset..end],
        })
    }

    /// Writes the packet (fixed header and payload) to `out`, replacing its contents.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(HEADER_LEN + self.payload.len());
        out.push(0x80);
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        out.extend_from_slice(self.payload);
    }
}

/// What the sending side of a stream keeps: SSRC, next sequence number and timestamp, and the
/// counts a sender report needs.
#[derive(Debug, Clone)]
pub struct RtpSender {
    /// Our synchronisation source.
    pub ssrc: u32,
    sequence: u16,
    timestamp: u32,
    /// Packets sent.
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
    marker_next: bool,
}

impl RtpSender {
    /// A sender; SSRC and the first sequence number and timestamp should be random (RFC 3550).
    pub fn new(ssrc: u32, first_sequence: u16, first_timestamp: u32) -> Self {
        RtpSender {
            ssrc,
            sequence: first_sequence,
            timestamp: first_timestamp,
            packets: 0,
            octets: 0,
            marker_next: true,
        }
    }

    /// The timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.timestamp
    }

    /// Writes the next audio packet of `samples` samples and advances the clock.
    pub fn audio(&mut self, payload_type: u8, payload: &[u8], out: &mut Vec<u8>) {
        let packet = RtpPacket {
            marker: std::mem::take(&mut self.marker_next),
            payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            payload,
        };
        packet.write(out);
        self.sequence = self.sequence.wrapping_add(1);
        // G.711: one byte per sample.
        self.timestamp = self.timestamp.wrapping_add(payload.len() as u32);
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload.len() as u32);
    }

    /// Skips `samples` of media time without sending (silence suppressed, or on hold); the
    /// next packet starts a talk spurt.
    pub fn skip(&mut self, samples: u32) {
        self.timestamp = self.timestamp.wrapping_add(samples);
        self.marker_next = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_packets_read_back() {
        let mut sender = RtpSender::new(0xDEAD_BEEF, 65535, 4_294_967_200);
        let mut out = Vec::new();
        sender.audio(0, &[0xFF; 160], &mut out);
        let first = RtpPacket::parse(&out).expect("parses");
        assert!(first.marker);
        assert_eq!((first.sequence, first.timestamp, first.ssrc), (65535, 4_294_967_200, 0xDEAD_BEEF));
        assert_eq!(first.payload.len(), 160);
        sender.audio(0, &[0xFF; 160], &mut out);
        let second = RtpPacket::parse(&out).expect("parses");
        assert!(!second.marker);
        assert_eq!((second.sequence, second.timestamp), (0, 4_294_967_200u32.wrapping_add(160)));
    }

    #[test]
    fn csrcs_extension_and_padding_are_skipped() {
        let mut data = vec![0x80 | 0x20 | 0x10 | 2, 8, 0, 1, 0, 0, 0, 160, 1, 2, 3, 4];
        data.extend_from_slice(&[0; 8]); // two CSRCs
        data.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // one extension word
        data.extend_from_slice(&[7, 7, 7]);
        data.extend_from_slice(&[0, 0, 3]); // three bytes of padding
        let packet = RtpPacket::parse(&data).expect("parses");
        assert_eq!(packet.payload, &[7, 7, 7]);
        assert_eq!(packet.payload_type, 8);
    }

    #[test]
    fn malformed_packets_are_refused() {
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::Truncated));
        assert_eq!(RtpPacket::parse(&[0x40; 12]), Err(RtpError::Version));
        let mut rtcp = vec![0x80, 200, 0, 6];
        rtcp.extend_from_slice(&[0; 24]);
        assert_eq!(RtpPacket::parse(&rtcp), Err(RtpError::Rtcp));
        let mut too_many_csrcs = vec![0x8F, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        too_many_csrcs.extend_from_slice(&[0; 8]);
        assert_eq!(RtpPacket::parse(&too_many_csrcs), Err(RtpError::Truncated));
        let mut zero_padding = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0];
        assert_eq!(RtpPacket::parse(&zero_padding), Err(RtpError::Padding));
        zero_padding[13] = 9;
        assert_eq!(RtpPacket::parse(&zero_padding), Err(RtpError::Padding));
        let extension_past_end = [0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0, 4];
        assert_eq!(RtpPacket::parse(&extension_past_end), Err(RtpError::Truncated));
    }
}
