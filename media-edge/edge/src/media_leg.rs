//! One leg's media: its RTP/RTCP port pair, who may send to it (the signalled peer, latched
//! once), the stream in (jitter buffer, DTMF) and the stream out (20 ms G.711 frames, RTCP
//! reports). A call has the caller's leg and, once an agent answers, the agent's.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use switchboard_media::dtmf::DtmfReceiver;
use switchboard_media::jitter::JitterBuffer;
use switchboard_media::rtp::{RtpPacket, RtpSender};
use switchboard_media::sdp::Negotiated;
use switchboard_media::{FRAME_SAMPLES, rtcp};
use tokio::net::UdpSocket;

/// How long media may come from an unexpected port of the signalled host before we stop
/// latching (RFC 7362-style symmetric RTP, once, at call start).
const LATCH_WINDOW: Duration = Duration::from_secs(10);
/// Frames the jitter buffer holds back.
const JITTER_DEPTH: u64 = 3;

/// A leg's media state.
pub(crate) struct MediaLeg {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
    /// Where its RTP goes and is accepted from.
    remote: SocketAddr,
    latched: bool,
    signalling_ip: IpAddr,
    pub negotiated: Negotiated,
    sender: RtpSender,
    pub jitter: JitterBuffer,
    dtmf: DtmfReceiver,
    pub packets_refused: u64,
    started: Instant,
    last_rtcp: Instant,
    /// When the peer was last heard (RTP or RTCP from it).
    last_heard: Instant,
    /// Reused per frame: the encoded payload and the packet.
    payload: Vec<u8>,
    out: Vec<u8>,
}

impl MediaLeg {
    pub(crate) fn new(rtp: UdpSocket, rtcp: UdpSocket, negotiated: Negotiated, signalling_ip: IpAddr) -> Self {
        MediaLeg {
            rtp,
            rtcp,
            remote: negotiated.remote,
            latched: false,
            signalling_ip,
            negotiated,
            sender: RtpSender::new(rand::random(), rand::random(), rand::random()),
            jitter: JitterBuffer::new(negotiated.codec, JITTER_DEPTH),
            dtmf: DtmfReceiver::new(),
            packets_refused: 0,
            started: Instant::now(),
            last_rtcp: Instant::now(),
            last_heard: Instant::now(),
            payload: Vec::with_capacity(FRAME_SAMPLES),
            out: Vec::with_capacity(200),
        }
    }

    /// RTP is taken only from the signalled peer. Before anything arrived from it, and only in
    /// the first seconds, a different port on the signalled host (or on the host that signalled)
    /// may be latched onto, once: NATs rewrite ports. Anything else is dropped.
    fn admit(&mut self, from: SocketAddr) -> bool {
        if from == self.remote {
            self.latched = true;
            return true;
        }
        let same_host = from.ip() == self.remote.ip() || from.ip() == self.signalling_ip;
        if !self.latched && same_host && self.started.elapsed() < LATCH_WINDOW {
            tracing::info!(%from, signalled = %self.remote, "RTP latched");
            self.remote = from;
            self.latched = true;
            return true;
        }
        self.packets_refused += 1;
        false
    }

    /// Takes a datagram from the RTP port: audio into the jitter buffer; a key press returned.
    pub(crate) fn on_rtp(&mut self, data: &[u8], from: SocketAddr) -> Option<char> {
        if !self.admit(from) {
            return None;
        }
        let packet = RtpPacket::parse(data).ok()?;
        self.last_heard = Instant::now();
        if Some(packet.payload_type) == self.negotiated.dtmf_payload_type {
            return self.dtmf.on_packet(packet.ssrc, packet.timestamp, packet.payload);
        }
        if packet.payload_type == self.negotiated.payload_type {
            let now = self.started.elapsed().as_millis() as u64;
            self.jitter.push(packet.ssrc, packet.timestamp, packet.payload, now);
        }
        None
    }

    /// Takes a datagram from the RTCP port (reports are logged; only the peer's host counts).
    pub(crate) fn on_rtcp(&mut self, data: &[u8], from: SocketAddr) {
        if from.ip() != self.remote.ip() {
            return;
        }
        if let Ok(packets) = rtcp::parse_compound(data) {
            self.last_heard = Instant::now();
            for p in packets {
                if let rtcp::RtcpPacket::ReceiverReport { reports, .. } | rtcp::RtcpPacket::SenderReport { reports, .. } =
                    &p
                    && let Some(r) = reports.iter().find(|r| r.ssrc == self.sender.ssrc)
                {
                    tracing::debug!(lost = r.cumulative_lost, jitter = r.jitter, "peer's report");
                }
            }
        }
    }

    /// Sends one 20 ms frame (silence for `None`), unless the peer holds us; RTCP every 5 s.
    pub(crate) async fn send(&mut self, samples: Option<&[i16; FRAME_SAMPLES]>) {
        if self.negotiated.remote_direction.receives() && !self.remote.ip().is_unspecified() {
            self.payload.clear();
            self.negotiated.codec.encode(samples.unwrap_or(&[0; FRAME_SAMPLES]), &mut self.payload);
            self.sender.audio(self.negotiated.payload_type, &self.payload, &mut self.out);
            let _ = self.rtp.send_to(&self.out, self.remote).await;
        } else {
            self.sender.skip(FRAME_SAMPLES as u32);
        }
        if self.last_rtcp.elapsed() >= Duration::from_secs(5) {
            self.send_report().await;
        }
    }

    /// How long a peer that should be sending has sent nothing (zero while it holds us or says
    /// it will not send): a peer gone without BYE (crash, lost network) shows up here.
    pub(crate) fn silent_for(&self) -> Duration {
        if self.negotiated.remote_direction.sends() { self.last_heard.elapsed() } else { Duration::ZERO }
    }

    /// A re-INVITE changed the media.
    pub(crate) fn renegotiated(&mut self, n: Negotiated) {
        if !n.remote.ip().is_unspecified() && n.remote != self.negotiated.remote {
            // A new address from signalling is the new expected source.
            self.remote = n.remote;
            self.latched = false;
        }
        if n.codec != self.negotiated.codec {
            self.jitter.set_codec(n.codec);
        }
        tracing::info!(direction = ?n.remote_direction, "media renegotiated");
        self.last_heard = Instant::now();
        self.negotiated = n;
    }

    /// Starts the incoming stream afresh (what came before is not wanted).
    pub(crate) fn reset_incoming(&mut self) {
        self.jitter = JitterBuffer::new(self.negotiated.codec, JITTER_DEPTH);
    }

    fn rtcp_peer(&self) -> SocketAddr {
        SocketAddr::new(self.remote.ip(), self.remote.port().wrapping_add(1))
    }

    async fn send_report(&mut self) {
        self.last_rtcp = Instant::now();
        if self.remote.ip().is_unspecified() {
            return;
        }
        let sent = Some((ntp_now(), self.sender.timestamp(), self.sender.packets, self.sender.octets));
        let stats = self.jitter.stats();
        let block = (stats.received > 0).then(|| rtcp::ReportBlock {
            ssrc: 0,
            fraction_lost: 0,
            cumulative_lost: stats.concealed.min(0x7F_FFFF) as i32,
            highest_sequence: 0,
            jitter: self.jitter.jitter(),
            last_sr: 0,
            delay_since_last_sr: 0,
        });
        let mut out = Vec::new();
        rtcp::write_report(self.sender.ssrc, sent, block, "switchboard", &mut out);
        let _ = self.rtcp.send_to(&out, self.rtcp_peer()).await;
    }

    /// RTCP BYE: our stream ends.
    pub(crate) async fn bye(&mut self) {
        let mut bye = Vec::new();
        rtcp::write_bye(self.sender.ssrc, "switchboard", &mut bye);
        let _ = self.rtcp.send_to(&bye, self.rtcp_peer()).await;
    }
}

fn ntp_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() + 2_208_988_800;
    let frac = (u64::from(now.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}
