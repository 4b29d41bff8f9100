//! RTCP (RFC 3550 §6): compound packets checked as the RFC's validity rules say, sender and
//! receiver reports and BYE read, and the receiver report plus CNAME we send back.

use thiserror::Error;

/// Why a datagram is not a valid RTCP compound packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// Shorter than a header, or a length field pointing past the end.
    #[error("packet truncated")]
    Truncated,
    /// Not version 2.
    #[error("not RTCP version 2")]
    Version,
    /// A compound packet must start with SR or RR (RFC 3550 §6.1).
    #[error("compound packet does not start with a report")]
    FirstNotReport,
    /// Padding on a packet other than the last, or a bad count.
    #[error("bad padding")]
    Padding,
}

/// One reception report block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source reported on.
    pub ssrc: u32,
    /// Fraction lost since the last report, out of 256.
    pub fraction_lost: u8,
    /// Packets lost in total (24-bit signed).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP time.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// One packet of a compound packet, as far as we use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// Sender report.
    SenderReport {
        /// Sender.
        ssrc: u32,
        /// NTP timestamp (64 bits).
        ntp: u64,
        /// RTP timestamp at that instant.
        rtp_timestamp: u32,
        /// Packets sent.
        packets: u32,
        /// Octets sent.
        octets: u32,
        /// Reports on what the sender received.
        reports: Vec<ReportBlock>,
    },
    /// Receiver report.
    ReceiverReport {
        /// Reporter.
        ssrc: u32,
        /// Its report blocks.
        reports: Vec<ReportBlock>,
    },
    /// The sources leave.
    Bye {
        /// Who leaves.
        ssrcs: Vec<u32>,
    },
    /// SDES, APP, feedback: valid, not used.
    Other {
        /// Packet type.
        packet_type: u8,
    },
}

const SR: u8 = 200;
const RR: u8 = 201;
const SDES: u8 = 202;
const BYE: u8 = 203;

fn be32(data: &[u8], at: usize) -> Result<u32, RtcpError> {
    let bytes = data.get(at..at + 4).ok_or(RtcpError::Truncated)?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn report_blocks(body: &[u8], count: usize) -> Result<Vec<ReportBlock>, RtcpError> {
    (0..count)
        .map(|i| {
            let at = i * 24;
            let lost = be32(body, at + 4)?;
            // 24-bit two's complement.
            let cumulative = ((lost & 0x00FF_FFFF) << 8) as i32 >> 8;
            Ok(ReportBlock {
                ssrc: be32(body, at)?,
                fraction_lost: (lost >> 24) as u8,
                cumulative_lost: cumulative,
                highest_sequence: be32(body, at + 8)?,
                jitter: be32(body, at + 12)?,
                last_sr: be32(body, at + 16)?,
                delay_since_last_sr: be32(body, at + 20)?,
            })
        })
        .collect()
}

/// Reads a compound RTCP packet.
pub fn parse_compound(data: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    let mut packets = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        if rest[0] >> 6 != 2 {
            return Err(RtcpError::Version);
        }
        let count = usize::from(rest[0] & 0x1F);
        let packet_type = rest[1];
        let len = 4 * (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1);
        if len > rest.len() {
            return Err(RtcpError::Truncated);
        }
        let mut body = &rest[4..len];
        if rest[0] & 0x20 != 0 {
            // Only the last packet of a compound may be padded.
            if len != rest.len() {
                return Err(RtcpError::Padding);
            }
            let padding = usize::from(*body.last().ok_or(RtcpError::Padding)?);
            if padding == 0 || padding > body.len() {
                return Err(RtcpError::Padding);
            }
            body = &body[..body.len() - padding];
        }
        if packets.is_empty() && packet_type != SR && packet_type != RR {
            return Err(RtcpError::FirstNotReport);
        }
        packets.push(match packet_type {
            SR => {
                if body.len() < 24 + 24 * count {
                    return Err(RtcpError::Truncated);
                }
                RtcpPacket::SenderReport {
                    ssrc: be32(body, 0)?,
                    ntp: (u64::from(be32(body, 4)?) << 32) | u64::from(be32(body, 8)?),
                    rtp_timestamp: be32(body, 12)?,
                    packets: be32(body, 16)?,
                    octets: be32(body, 20)?,
                    reports: report_blocks(&body[24..], count)?,
                }
            }
            RR => {
                if body.len() < 4 + 24 * count {
                    return Err(RtcpError::Truncated);
                }
                RtcpPacket::ReceiverReport { ssrc: be32(body, 0)?, reports: report_blocks(&body[4..], count)? }
            }
            BYE => {
                if body.len() < 4 * count {
                    return Err(RtcpError::Truncated);
                }
                RtcpPacket::Bye { ssrcs: (0..count).map(|i| be32(body, 4 * i)).collect::<Result<_, _>>()? }
            }
            other => RtcpPacket::Other { packet_type: other },
        });
        rest = &rest[len..];
    }
    if packets.is_empty() {
        return Err(RtcpError::Truncated);
    }
    Ok(packets)
}

/// Writes a compound packet: a sender report (when we have sent) or a receiver report, one report
/// block for the peer when we have heard it, and the SDES CNAME every compound must carry.
pub fn write_report(
    ssrc: u32,
    sent: Option<(u64, u32, u32, u32)>,
    block: Option<ReportBlock>,
    cname: &str,
    out: &mut Vec<u8>,
) {
    out.clear();
    let count = u8::from(block.is_some());
    let words = if sent.is_some() { 6 } else { 1 } + 6 * usize::from(count);
    out.push(0x80 | count);
    out.push(if sent.is_some() { SR } else { RR });
    out.extend_from_slice(&(words as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some((ntp, rtp_timestamp, packets, octets)) = sent {
        out.extend_from_slice(&ntp.to_be_bytes());
        out.extend_from_slice(&rtp_timestamp.to_be_bytes());
        out.extend_from_slice(&packets.to_be_bytes());
        out.extend_from_slice(&octets.to_be_bytes());
    }
    if let Some(b) = block {
        out.extend_from_slice(&b.ssrc.to_be_bytes());
        let lost = (u32::from(b.fraction_lost) << 24) | ((b.cumulative_lost as u32) & 0x00FF_FFFF);
        out.extend_from_slice(&lost.to_be_bytes());
        out.extend_from_slice(&b.highest_sequence.to_be_bytes());
        out.extend_from_slice(&b.jitter.to_be_bytes());
        out.extend_from_slice(&b.last_sr.to_be_bytes());
        out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
    }
    // SDES: one chunk, CNAME item, null terminator, padded to a word.
    let cname = &cname.as_bytes()[..cname.len().min(255)];
    let chunk = 4 + 2 + cname.len() + 1;
    let padded = chunk.div_ceil(4) * 4;
    out.push(0x81);
    out.push(SDES);
    out.extend_from_slice(&((padded / 4) as u16).to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(1);
    out.push(cname.len() as u8);
    out.extend_from_slice(cname);
    out.resize(out.len() + (padded - chunk) + 1, 0);
}

/// Writes a BYE for `ssrc`, preceded by the receiver report a compound must start with.
pub fn write_bye(ssrc: u32, cname: &str, out: &mut Vec<u8>) {
    write_report(ssrc, None, None, cname, out);
    out.extend_from_slice(&[0x81, BYE, 0, 1]);
    out.extend_from_slice(&ssrc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_reports_read_back() {
        let block = ReportBlock {
            ssrc: 7,
            fraction_lost: 12,
            cumulative_lost: -3,
            highest_sequence: 70_000,
            jitter: 44,
            last_sr: 0x1234_5678,
            delay_since_last_sr: 65536,
        };
        let mut out = Vec::new();
        write_report(1, Some((0x0102_0304_0506_0708, 160, 50, 8000)), Some(block), "edge@switchboard", &mut out);
        assert_eq!(out.len() % 4, 0);
        let packets = parse_compound(&out).expect("valid");
        assert_eq!(
            packets[0],
            RtcpPacket::SenderReport {
                ssrc: 1,
                ntp: 0x0102_0304_0506_0708,
                rtp_timestamp: 160,
                packets: 50,
                octets: 8000,
                reports: vec![block]
            }
        );
        assert_eq!(packets[1], RtcpPacket::Other { packet_type: SDES });

        write_bye(9, "x", &mut out);
        let packets = parse_compound(&out).expect("valid");
        assert_eq!(packets[0], RtcpPacket::ReceiverReport { ssrc: 9, reports: vec![] });
        assert_eq!(packets[2], RtcpPacket::Bye { ssrcs: vec![9] });
    }

    #[test]
    fn invalid_compounds_are_refused() {
        assert_eq!(parse_compound(&[]), Err(RtcpError::Truncated));
        assert_eq!(parse_compound(&[0x81, SDES, 0, 0]), Err(RtcpError::FirstNotReport));
        assert_eq!(parse_compound(&[0x80, RR, 0, 5, 0, 0, 0, 0]), Err(RtcpError::Truncated));
        assert_eq!(parse_compound(&[0x81, RR, 0, 1, 0, 0, 0, 0]), Err(RtcpError::Truncated));
        assert_eq!(parse_compound(&[0x40, RR, 0, 1, 0, 0, 0, 0]), Err(RtcpError::Version));
        assert_eq!(parse_compound(&[0xA0, RR, 0, 1, 0, 0, 0, 0]), Err(RtcpError::Padding));
    }
}
