//! RTP port pairs: an even port for RTP and the next one for RTCP (RFC 3550 §11), taken from
//! the configured range in turn so a port just freed is not reused at once (late packets of the
//! old call would land in the new one).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;

/// The media port range of one edge.
#[derive(Debug)]
pub(crate) struct MediaPorts {
    ip: IpAddr,
    low: u16,
    high: u16,
    next: Mutex<u16>,
}

impl MediaPorts {
    pub(crate) fn new(ip: IpAddr, low: u16, high: u16) -> Self {
        let low = low.max(1024) & !1;
        MediaPorts { ip, low, high: high.max(low + 1), next: Mutex::new(low) }
    }

    /// Binds a free RTP/RTCP pair (non-blocking sockets, ready for tokio).
    pub(crate) fn bind_pair(&self) -> std::io::Result<(UdpSocket, UdpSocket)> {
        let span = u32::from(self.high - self.low) / 2 + 1;
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        for _ in 0..span {
            let port = *next;
            *next = if port + 3 > self.high { self.low } else { port + 2 };
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(self.ip, port)) else { continue };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(self.ip, port + 1)) else { continue };
            rtp.set_nonblocking(true)?;
            rtcp.set_nonblocking(true)?;
            return Ok((rtp, rtcp));
        }
        Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "no free RTP port pair in the range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_and_odd_and_rotate_through_the_range() {
        let ports = MediaPorts::new("127.0.0.1".parse().expect("ip"), 41000, 41005);
        let (a, a_rtcp) = ports.bind_pair().expect("first");
        let a_port = a.local_addr().expect("addr").port();
        assert_eq!(a_port % 2, 0);
        assert_eq!(a_rtcp.local_addr().expect("addr").port(), a_port + 1);
        let (b, _) = ports.bind_pair().expect("second");
        assert_ne!(b.local_addr().expect("addr").port(), a_port);
        let (_c, _) = ports.bind_pair().expect("third");
        assert!(ports.bind_pair().is_err(), "three pairs fit in 41000-41005");
        drop(a);
        drop(a_rtcp);
        assert!(ports.bind_pair().is_ok(), "a freed pair is used again");
    }
}
