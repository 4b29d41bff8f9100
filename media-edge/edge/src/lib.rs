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
pub mod link;
mod media_leg;
mod platform;
mod ports;
mod prompts;
mod recordings;
mod sip_core;
mod system_prompts;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::time::Duration;

pub use platform::{
    Admission, CallEnded, CallEvent, CallIntake, CallState, IvrAsk, IvrChoice, NumberRoute, Platform, PlatformError,
    QueuePosition, Recording, SipAccount, Voicemail,
};
pub use switchboard_control_link::{CallCommand, CommandError};
pub use switchboard_sip::digest::{Algorithm, ha1};
use tokio::sync::{mpsc, oneshot};

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
    /// How long an agent's phone may ring before the caller goes back to the queue.
    pub agent_ring_timeout: Duration,
    /// Where recordings are written while a call lasts (so they survive the call's task).
    pub recordings_dir: std::path::PathBuf,
    /// Digest algorithms REGISTER is challenged with, preferred first. MD5 alone by default:
    /// phones in the field (baresip 1.0 among them) give up when any challenge names an
    /// algorithm they lack, so offering SHA-256 too is for fleets known to speak it. Answers
    /// in either algorithm are verified.
    pub digest_algorithms: Vec<Algorithm>,
    /// A leg whose peer sends no media for this long is taken as gone (a phone that crashed or
    /// lost its network never sends BYE).
    pub media_timeout: Duration,
    /// Most calls this edge takes at once (all tenants); more are answered 503 with Retry-After,
    /// so a carrier tries another edge.
    pub max_calls: u32,
    /// Carriers' trunk addresses (`203.0.113.0/24`): exempt from the per-source flood limit, since
    /// a trunk carries many callers' requests from one address.
    pub trusted_peers: Vec<TrustedNet>,
    /// Take new calls (INVITE) only from `trusted_peers`, or from carriers that authenticate as
    /// one of `trunk_accounts`, and answer others 403; phones still register from anywhere. Off
    /// by default, so a carrier can be pointed at a fresh install.
    pub calls_from_trusted_only: bool,
    /// Carriers' trunk accounts: with `calls_from_trusted_only`, a call from outside
    /// `trusted_peers` is challenged (407) and taken when it proves one of these.
    pub trunk_accounts: Vec<TrunkAccount>,
}

/// A carrier's trunk account (digest user name and password, in the edge's realm).
#[derive(Clone, PartialEq, Eq)]
pub struct TrunkAccount {
    /// The user name the carrier authenticates as.
    pub username: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for TrunkAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkAccount").field("username", &self.username).finish_non_exhaustive()
    }
}

impl std::str::FromStr for TrunkAccount {
    type Err = String;

    /// `user:password` (the password at least 12 characters).
    fn from_str(s: &str) -> Result<Self, String> {
        let (username, password) = s.trim().split_once(':').ok_or("a trunk account is user:password")?;
        if username.is_empty() || username.contains(char::is_whitespace) {
            return Err("a trunk account needs a user name without spaces".into());
        }
        if password.chars().count() < 12 {
            return Err(format!("the password of trunk account {username} is shorter than 12 characters"));
        }
        Ok(TrunkAccount { username: username.to_owned(), password: password.to_owned() })
    }
}

/// An address block (`ip/prefix`) whose SIP traffic is not flood-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedNet {
    addr: IpAddr,
    prefix: u8,
}

impl TrustedNet {
    /// Whether `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for TrustedNet {
    type Err = String;

    /// `203.0.113.5`, `203.0.113.0/24`, `2001:db8::/32`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (ip, prefix) = s.trim().split_once('/').unwrap_or((s.trim(), ""));
        let addr: IpAddr =
            ip.parse().map_err(|_| format!("{s:?} is not an address or block such as 203.0.113.0/24"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            "" => max,
            p => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix must be 0..={max}"))?,
        };
        Ok(TrustedNet { addr, prefix })
    }
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
            agent_ring_timeout: Duration::from_secs(30),
            recordings_dir: std::env::temp_dir().join("switchboard-recordings"),
            digest_algorithms: vec![Algorithm::Md5],
            media_timeout: Duration::from_secs(60),
            max_calls: 1_000,
            trusted_peers: Vec::new(),
            calls_from_trusted_only: false,
            trunk_accounts: Vec::new(),
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

/// Sends commands to the calls of a running edge.
#[derive(Debug, Clone)]
pub struct EdgeControl {
    core: mpsc::Sender<sip_core::Event>,
}

impl EdgeControl {
    /// Carries out `command` on the call with this (caller leg) Call-ID.
    pub async fn command(&self, call_id: &str, command: CallCommand) -> Result<(), CommandError> {
        let (reply, answer) = oneshot::channel();
        self.core
            .send(sip_core::Event::Control { call_id: call_id.to_owned(), command, reply })
            .await
            .map_err(|_| CommandError::Stopped)?;
        answer.await.map_err(|_| CommandError::Stopped)?
    }

    /// The SIP user names registered on this edge now.
    pub async fn registered(&self) -> Vec<String> {
        self.status().await.registered
    }

    /// Calls in progress and phones registered (what a heartbeat reports).
    pub async fn status(&self) -> EdgeStatus {
        let (reply, answer) = oneshot::channel();
        if self.core.send(sip_core::Event::Status { reply }).await.is_err() {
            return EdgeStatus::default();
        }
        answer.await.unwrap_or_default()
    }
}

/// What an edge is doing now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EdgeStatus {
    /// Calls in progress (callers' legs).
    pub active_calls: u32,
    /// SIP users with a phone registered here, sorted.
    pub registered: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::TrustedNet;

    #[test]
    fn trusted_blocks_match_their_addresses_only() {
        let net: TrustedNet = "203.0.113.0/24".parse().expect("block");
        assert!(net.contains("203.0.113.77".parse().expect("ip")));
        assert!(!net.contains("203.0.114.1".parse().expect("ip")));
        assert!(!net.contains("::1".parse().expect("ip")));
        let one: TrustedNet = "198.51.100.7".parse().expect("address");
        assert!(
            one.contains("198.51.100.7".parse().expect("ip")) && !one.contains("198.51.100.8".parse().expect("ip"))
        );
        let v6: TrustedNet = "2001:db8::/32".parse().expect("v6");
        assert!(v6.contains("2001:db8:1::5".parse().expect("ip")));
        let all: TrustedNet = "0.0.0.0/0".parse().expect("all");
        assert!(all.contains("192.0.2.1".parse().expect("ip")));
        for bad in ["", "host", "10.0.0.0/33", "::/129", "10.0.0.0/x"] {
            assert!(bad.parse::<TrustedNet>().is_err(), "{bad}");
        }
    }
}

/// A running edge; dropping it stops it.
#[derive(Debug)]
pub struct EdgeHandle {
    /// Bound UDP address.
    pub udp: SocketAddr,
    /// Bound TCP address.
    pub tcp: SocketAddr,
    /// Commands to its calls.
    pub control: EdgeControl,
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
    let sweep = tokio::spawn(recordings::sweep(config.recordings_dir.clone(), platform.clone()));
    let (udp, tcp, core, mut tasks) = sip_core::start(config, platform).await?;
    tasks.push(sweep);
    Ok(EdgeHandle { udp, tcp, control: EdgeControl { core }, tasks })
}
