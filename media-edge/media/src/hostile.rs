//! Entry points for hostile media input, driven by the libFuzzer targets in `fuzz/` and by the
//! property tests below on every test run. None may panic on any input.

use crate::{dtmf, jitter, rtcp, rtp, sdp};

/// A datagram arriving on an RTP port: RTP (then DTMF and the jitter buffer) or RTCP.
pub fn media_datagram(data: &[u8]) {
    match rtp::RtpPacket::parse(data) {
        Ok(packet) => {
            let mut receiver = dtmf::DtmfReceiver::new();
            let _ = receiver.on_packet(packet.ssrc, packet.timestamp, packet.payload);
            let mut jb = jitter::JitterBuffer::new(crate::g711::Codec::Pcma, 1);
            jb.push(packet.ssrc, packet.timestamp, packet.payload, 0);
            jb.push(packet.ssrc, packet.timestamp.wrapping_add(u32::from(packet.sequence)), packet.payload, 1);
            let _ = jb.pop();
            let _ = jb.pop();
        }
        Err(_) => {
            let _ = rtcp::parse_compound(data);
        }
    }
}

/// An SDP body from an INVITE, re-INVITE or answer.
pub fn sdp_body(data: &[u8]) {
    if let Ok(session) = sdp::Session::parse(data) {
        let local = sdp::LocalMedia { address: sdp::NO_ADDRESS, port: 1, session_id: 1, version: 1 };
        if let Ok((_, text)) = sdp::answer(&session, &local, false) {
            // Our own answer must always read back.
            assert!(sdp::Session::parse(text.as_bytes()).is_ok());
        }
    }
}

/// A SIP INFO body carrying DTMF.
pub fn dtmf_info(content_type: &str, body: &[u8]) {
    let _ = dtmf::key_from_info(content_type, body);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn media_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            media_datagram(&data);
        }

        #[test]
        fn rtp_shaped_datagrams_never_panic(head in 0x80u8..0xC0, pt in any::<u8>(), rest in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut data = vec![head, pt];
            data.extend(rest);
            media_datagram(&data);
        }

        #[test]
        fn sdp_bodies_never_panic(lines in proptest::collection::vec("[vocmat]=[ -~]{0,60}", 0..30)) {
            sdp_body(lines.join("\r\n").as_bytes());
        }

        #[test]
        fn sdp_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            sdp_body(&data);
        }

        #[test]
        fn dtmf_info_never_panics(ct in "[ -~]{0,40}", body in proptest::collection::vec(any::<u8>(), 0..80)) {
            dtmf_info(&ct, &body);
            dtmf_info("application/dtmf-relay", &body);
            dtmf_info("application/dtmf", &body);
        }
    }
}
