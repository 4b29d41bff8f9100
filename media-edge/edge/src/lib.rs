//! The edge media node's runtime: SIP over UDP and TCP around the sans-IO layer in
//! `switchboard-sip`, calls with their media (RTP, DTMF, IVR, queue music, voicemail) around
//! `switchboard-media` and `switchboard-ivr`, and the [`Platform`] seam to tenants, queues and
//! contacts (the platform's store and routing in the embedded default, the control link when the
//! edge runs alone).
//!
//! One task owns all SIP state (`sip_core`); sockets, platform look-ups and calls talk to it over
//! a channel, so nothing is locked and a slow look-up never holds up other calls. Each call runs
//! in its own task (`call`) with its own RTP port pair.

mod call;
mod platform;
mod ports;
mod prompts;
mod sip_core;
mod system_prompts;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

pub use platform::{CallIntake, NumberRoute, Platform, PlatformError, QueuePosition, SipAccount, Voicemail};

/// Edge settings.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// SIP address for UDP and TCP (`0.0.0.0:5060`; port 0 picks one, the same for both).
    /// RTP ports are bound on the same IP.
    pub sip_addr: SocketAddr,
    /// The address peers reach us at, put in Via, Contact and SDP.
    pub public_ip: IpAddr,
    /// Digest realm for REGISTER.
    pub realm: String,
    /// RTP port range (even ports for RTP, the next odd one for RTCP).
    pub rtp_ports: (u16, u16),
    /// How often a waiting caller hears their position.
    pub announce_every: Duration,
}

impl EdgeConfig {
    /// Settings with defaults: the public address is the SIP address when it is specific, else
    /// the address this host would use to reach the outside; RTP on 20000-29999; position
    /// announcements every 30 s.
    pub fn new(sip_addr: SocketAddr, realm: &str) -> Self {
        let public_ip = if sip_addr.ip().is_unspecified() { outbound_ip() } else { sip_addr.ip() };
        EdgeConfig {
            sip_addr,
            public_ip,
            realm: realm.to_owned(),
            rtp_ports: (20_000, 29_999),
            announce_every: Duration::from_secs(30),
        }
    }
}

/// The local address of the default route (no packet is sent: connecting a UDP socket only picks
/// a route); loopback when there is none.
fn outbound_ip() -> IpAddr {
    let probe = || -> std::io::Result<IpAddr> {
        let s = StdUdpSocket::bind("0.0.0.0:0")?;
        s.connect("192.0.2.1:9")?;
        Ok(s.local_addr()?.ip())
    };
    probe().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

/// A running edge; dropping it stops it.
#[derive(Debug)]
pub struct EdgeHandle {
    /// Bound UDP address.
    pub udp: SocketAddr,
    /// Bound TCP address.
    pub tcp: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for EdgeHandle {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Binds UDP and TCP and starts the edge.
pub async fn start(config: EdgeConfig, platform: Arc<dyn Platform>) -> std::io::Result<EdgeHandle> {
    let (udp, tcp, tasks) = sip_core::start(config, platform).await?;
    Ok(EdgeHandle { udp, tcp, tasks })
}
