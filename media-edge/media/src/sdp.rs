//! SDP (RFC 4566) offer/answer (RFC 3264) for one audio stream: PCMU, PCMA and
//! telephone-event, hold and resume by direction attributes (or the old `c=0.0.0.0`).
//! Hand-written because what we need is small, the input is hostile (fuzzed), and the crates
//! available parse strictly what phones send loosely.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use thiserror::Error;

use crate::g711::Codec;

/// Why an offer or answer cannot be used; the call is refused with 488.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SdpError {
    /// Not text.
    #[error("SDP is not UTF-8")]
    NotText,
    /// Too long or too many lines.
    #[error("SDP too large")]
    TooLarge,
    /// A line we need could not be read.
    #[error("malformed SDP line: {0}")]
    Malformed(String),
    /// No audio stream with a port.
    #[error("no audio stream offered")]
    NoAudio,
    /// No connection address for the audio stream.
    #[error("no connection address")]
    NoAddress,
    /// Neither PCMU nor PCMA at 8 kHz.
    #[error("no common codec (we take PCMU and PCMA)")]
    NoCommonCodec,
}

/// Which way media flows, from the describing side's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Both ways.
    SendRecv,
    /// It only sends (it holds the other side).
    SendOnly,
    /// It only receives.
    RecvOnly,
    /// Neither (held both ways).
    Inactive,
}

impl Direction {
    fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes to this one (RFC 3264 §6.1).
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether the describing side will send media.
    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the describing side wants to receive media.
    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }
}

/// One payload format of a media line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name, upper case ("PCMU", "TELEPHONE-EVENT").
    pub name: String,
    /// Clock rate.
    pub rate: u32,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// "audio", "video", ...
    pub kind: String,
    /// Port (0: rejected or disabled).
    pub port: u16,
    /// "RTP/AVP", ...
    pub protocol: String,
    /// Formats in preference order.
    pub formats: Vec<Format>,
    /// Connection address for this section, if it has its own.
    pub address: Option<IpAddr>,
    /// Direction attribute, if any.
    pub direction: Option<Direction>,
    /// Packet time in milliseconds.
    pub ptime: Option<u32>,
}

/// A session description, as far as calls need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `o=` session id.
    pub session_id: String,
    /// `o=` version.
    pub version: u64,
    /// Session-level connection address.
    pub address: Option<IpAddr>,
    /// Session-level direction.
    pub direction: Option<Direction>,
    /// The media sections in order.
    pub media: Vec<Media>,
}

const MAX_SDP_BYTES: usize = 8 * 1024;
const MAX_LINES: usize = 200;

fn static_format(payload_type: u8) -> Option<Format> {
    let (name, rate) = match payload_type {
        0 => ("PCMU", 8000),
        8 => ("PCMA", 8000),
        3 => ("GSM", 8000),
        9 => ("G722", 8000),
        18 => ("G729", 8000),
        _ => return None,
    };
    Some(Format { payload_type, name: name.to_owned(), rate })
}

fn parse_address(value: &str) -> Result<IpAddr, SdpError> {
    // c=IN IP4 192.0.2.1[/ttl]
    let mut parts = value.split_whitespace();
    let (Some(_net), Some(_kind), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SdpError::Malformed(format!("c={value}")));
    };
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse().map_err(|_| SdpError::Malformed(format!("c={value}")))
}

fn parse_direction(attribute: &str) -> Option<Direction> {
    Some(match attribute {
        "sendrecv" => Direction::SendRecv,
        "sendonly" => Direction::SendOnly,
        "recvonly" => Direction::RecvOnly,
        "inactive" => Direction::Inactive,
        _ => return None,
    })
}

impl Session {
    /// Reads a session description. Unknown lines and attributes are ignored, as RFC 4566 asks.
    pub fn parse(data: &[u8]) -> Result<Session, SdpError> {
        if data.len() > MAX_SDP_BYTES {
            return Err(SdpError::TooLarge);
        }
        let text = std::str::from_utf8(data).map_err(|_| SdpError::NotText)?;
        let mut session =
            Session { session_id: String::new(), version: 0, address: None, direction: None, media: Vec::new() };
        for (n, line) in text.lines().enumerate() {
            if n >= MAX_LINES {
                return Err(SdpError::TooLarge);
            }
            let line = line.trim_end();
            let Some((key, value)) = line.split_once('=') else { continue };
            match (key, session.media.last_mut()) {
                ("o", _) => {
                    let fields: Vec<&str> = value.split_whitespace().collect();
                    if fields.len() >= 3 {
                        session.session_id = fields[1].to_owned();
                        session.version = fields[2].parse().unwrap_or(0);
                    }
                }
                ("c", None) => session.address = Some(parse_address(value)?),
                ("c", Some(media)) => media.address = Some(parse_address(value)?),
                ("m", _) => {
                    let mut parts = value.split_whitespace();
                    let malformed = || SdpError::Malformed(format!("m={value}"));
                    let kind = parts.next().ok_or_else(malformed)?.to_ascii_lowercase();
                    let port = parts.next().ok_or_else(malformed)?;
                    let port: u16 = port.split('/').next().unwrap_or(port).parse().map_err(|_| malformed())?;
                    let protocol = parts.next().ok_or_else(malformed)?.to_owned();
                    let formats = parts
                        .filter_map(|pt| pt.parse::<u8>().ok().filter(|pt| *pt < 128))
                        .take(32)
                        .map(|pt| {
                            static_format(pt).unwrap_or(Format { payload_type: pt, name: String::new(), rate: 0 })
                        })
                        .collect();
                    session.media.push(Media {
                        kind,
                        port,
                        protocol,
                        formats,
                        address: None,
                        direction: None,
                        ptime: None,
                    });
                }
                ("a", media) => {
                    let (name, arg) = value.split_once(':').unwrap_or((value, ""));
                    match (name, media) {
                        (dir, None) => session.direction = parse_direction(dir).or(session.direction),
                        ("rtpmap", Some(media)) => {
                            // a=rtpmap:101 telephone-event/8000[/channels]
                            let Some((pt, encoding)) = arg.split_once(' ') else { continue };
                            let Ok(pt) = pt.trim().parse::<u8>() else { continue };
                            let mut enc = encoding.trim().split('/');
                            let name = enc.next().unwrap_or("").to_ascii_uppercase();
                            let rate = enc.next().and_then(|r| r.parse().ok()).unwrap_or(0);
                            if let Some(format) = media.formats.iter_mut().find(|f| f.payload_type == pt) {
                                format.name = name;
                                format.rate = rate;
                            }
                        }
                        ("ptime", Some(media)) => media.ptime = arg.trim().parse().ok(),
                        (dir, Some(media)) => media.direction = parse_direction(dir).or(media.direction),
                    }
                }
                _ => {}
            }
        }
        Ok(session)
    }

    /// The first audio section with a port, and its index.
    pub fn audio(&self) -> Option<(usize, &Media)> {
        self.media.iter().enumerate().find(|(_, m)| m.kind == "audio" && m.port != 0 && m.protocol.starts_with("RTP/"))
    }

    /// The effective direction of a media section.
    pub fn direction_of(&self, media: &Media) -> Direction {
        let address = media.address.or(self.address);
        if address.is_some_and(|a| a.is_unspecified()) {
            // RFC 2543 hold: c=0.0.0.0.
            return Direction::Inactive;
        }
        media.direction.or(self.direction).unwrap_or(Direction::SendRecv)
    }
}

/// What both sides agreed for the audio stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    /// The voice codec.
    pub codec: Codec,
    /// Its payload type in this call (static, so the codec's).
    pub payload_type: u8,
    /// The telephone-event payload type, if both sides do RFC 4733.
    pub dtmf_payload_type: Option<u8>,
    /// Where the peer wants our RTP (unspecified when it holds).
    pub remote: SocketAddr,
    /// The peer's direction.
    pub remote_direction: Direction,
}

impl Negotiated {
    /// Before a late offer's answer arrives: PCMU, nowhere to send yet.
    pub fn awaiting_answer() -> Negotiated {
        Negotiated {
            codec: Codec::Pcmu,
            payload_type: Codec::Pcmu.payload_type(),
            dtmf_payload_type: None,
            remote: SocketAddr::new(NO_ADDRESS, 0),
            remote_direction: Direction::SendRecv,
        }
    }
}

/// Our side of the media: where we receive and the `o=` line's numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    /// The address peers send RTP to.
    pub address: IpAddr,
    /// The RTP port (RTCP is the next one).
    pub port: u16,
    /// `o=` session id.
    pub session_id: u64,
    /// `o=` version; raised whenever our description changes.
    pub version: u64,
}

fn pick(session: &Session) -> Result<(usize, Negotiated), SdpError> {
    let (index, media) = session.audio().ok_or(SdpError::NoAudio)?;
    let address = media.address.or(session.address).ok_or(SdpError::NoAddress)?;
    let codec = media
        .formats
        .iter()
        .find_map(|f| match (f.name.as_str(), f.rate) {
            ("PCMU", 8000) => Some(Codec::Pcmu),
            ("PCMA", 8000) => Some(Codec::Pcma),
            _ => None,
        })
        .ok_or(SdpError::NoCommonCodec)?;
    let dtmf_payload_type =
        media.formats.iter().find(|f| f.name == "TELEPHONE-EVENT" && f.rate == 8000).map(|f| f.payload_type);
    Ok((
        index,
        Negotiated {
            codec,
            payload_type: codec.payload_type(),
            dtmf_payload_type,
            remote: SocketAddr::new(address, media.port),
            remote_direction: session.direction_of(media),
        },
    ))
}

fn write_session(local: &LocalMedia, out: &mut String) {
    let family = if local.address.is_ipv4() { "IP4" } else { "IP6" };
    let _ = write!(
        out,
        "v=0\r\no=switchboard {id} {version} IN {family} {addr}\r\ns=switchboard\r\nc=IN {family} {addr}\r\nt=0 0\r\n",
        id = local.session_id,
        version = local.version,
        addr = local.address,
    );
}

fn write_audio(local: &LocalMedia, codecs: &[(Codec, u8)], dtmf: Option<u8>, direction: Direction, out: &mut String) {
    let _ = write!(out, "m=audio {} RTP/AVP", local.port);
    for (_, pt) in codecs {
        let _ = write!(out, " {pt}");
    }
    if let Some(pt) = dtmf {
        let _ = write!(out, " {pt}");
    }
    out.push_str("\r\n");
    for (codec, pt) in codecs {
        let _ = write!(out, "a=rtpmap:{pt} {}/8000\r\n", codec.name());
    }
    if let Some(pt) = dtmf {
        let _ = write!(out, "a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-16\r\n");
    }
    let _ = write!(out, "a=ptime:20\r\na={}\r\n", direction.attribute());
}

/// Answers an offer: the first of PCMU/PCMA in the offerer's order, telephone-event if offered,
/// the direction mirrored (`we_hold` answers a sendrecv offer with sendonly), every other
/// section rejected with port 0.
pub fn answer(offer: &Session, local: &LocalMedia, we_hold: bool) -> Result<(Negotiated, String), SdpError> {
    let (index, negotiated) = pick(offer)?;
    let mut out = String::with_capacity(400);
    write_session(local, &mut out);
    for (i, media) in offer.media.iter().enumerate() {
        if i == index {
            let mut direction = negotiated.remote_direction.answer();
            if we_hold {
                direction = match direction {
                    Direction::SendRecv | Direction::SendOnly => Direction::SendOnly,
                    _ => Direction::Inactive,
                };
            }
            write_audio(
                local,
                &[(negotiated.codec, negotiated.payload_type)],
                negotiated.dtmf_payload_type,
                direction,
                &mut out,
            );
        } else {
            let pts: Vec<String> = media.formats.iter().map(|f| f.payload_type.to_string()).collect();
            let pts = if pts.is_empty() { "0".to_owned() } else { pts.join(" ") };
            let _ = write!(out, "m={} 0 {} {pts}\r\n", media.kind, media.protocol);
        }
    }
    Ok((negotiated, out))
}

/// The telephone-event payload type we offer.
pub const OFFERED_DTMF_PAYLOAD_TYPE: u8 = 101;

/// Writes our offer (PCMU, PCMA, telephone-event) with the given direction.
pub fn offer(local: &LocalMedia, direction: Direction) -> String {
    let mut out = String::with_capacity(400);
    write_session(local, &mut out);
    write_audio(
        local,
        &[(Codec::Pcmu, Codec::Pcmu.payload_type()), (Codec::Pcma, Codec::Pcma.payload_type())],
        Some(OFFERED_DTMF_PAYLOAD_TYPE),
        direction,
        &mut out,
    );
    out
}

/// Reads the answer to our offer.
pub fn accept_answer(answer: &Session) -> Result<Negotiated, SdpError> {
    pick(answer).map(|(_, negotiated)| negotiated)
}

/// The unspecified address, for "no media address yet".
pub const NO_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP_OFFER: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    fn local() -> LocalMedia {
        LocalMedia { address: "192.0.2.10".parse().expect("ip"), port: 20000, session_id: 42, version: 1 }
    }

    #[test]
    fn answers_sipps_offer_with_pcma_and_dtmf() {
        let offer = Session::parse(SIPP_OFFER.as_bytes()).expect("parses");
        let (negotiated, sdp) = answer(&offer, &local(), false).expect("answers");
        assert_eq!(negotiated.codec, Codec::Pcma);
        assert_eq!(negotiated.dtmf_payload_type, Some(101));
        assert_eq!(negotiated.remote, "127.0.0.1:6000".parse().expect("addr"));
        assert_eq!(negotiated.remote_direction, Direction::SendRecv);
        assert!(sdp.contains("m=audio 20000 RTP/AVP 8 101\r\n"), "{sdp}");
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(sdp.contains("c=IN IP4 192.0.2.10\r\n"));
        assert!(sdp.contains("a=sendrecv"));
        // Our answer is itself valid SDP that reads back to the same choice.
        let back = accept_answer(&Session::parse(sdp.as_bytes()).expect("parses")).expect("usable");
        assert_eq!(back.codec, Codec::Pcma);
    }

    #[test]
    fn offerers_preference_wins_and_static_types_need_no_rtpmap() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18 0 8\r\n";
        let (negotiated, _) = answer(&Session::parse(offer.as_bytes()).expect("parses"), &local(), false).expect("ok");
        assert_eq!(negotiated.codec, Codec::Pcmu);
        assert_eq!(negotiated.dtmf_payload_type, None);
    }

    #[test]
    fn hold_and_resume_by_direction_and_old_style() {
        let held = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
        let (negotiated, sdp) = answer(&Session::parse(held.as_bytes()).expect("parses"), &local(), false).expect("ok");
        assert_eq!(negotiated.remote_direction, Direction::SendOnly);
        assert!(sdp.contains("a=recvonly"));
        let old_style = "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 4000 RTP/AVP 0\r\n";
        let session = Session::parse(old_style.as_bytes()).expect("parses");
        let (_, media) = session.audio().expect("audio");
        assert_eq!(session.direction_of(media), Direction::Inactive);
        let ours = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n";
        let (_, sdp) = answer(&Session::parse(ours.as_bytes()).expect("parses"), &local(), true).expect("ok");
        assert!(sdp.contains("a=sendonly"));
    }

    #[test]
    fn other_sections_are_rejected_and_useless_offers_refused() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 5000 RTP/AVP 96\r\nm=audio 4000 RTP/AVP 0\r\n";
        let (_, sdp) = answer(&Session::parse(offer.as_bytes()).expect("parses"), &local(), false).expect("ok");
        assert!(sdp.contains("m=video 0 RTP/AVP 96\r\n"));
        let only_g729 = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 18\r\n";
        assert_eq!(
            answer(&Session::parse(only_g729.as_bytes()).expect("p"), &local(), false).err(),
            Some(SdpError::NoCommonCodec)
        );
        let no_address = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
        assert_eq!(
            answer(&Session::parse(no_address.as_bytes()).expect("p"), &local(), false).err(),
            Some(SdpError::NoAddress)
        );
        let no_audio = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n";
        assert_eq!(
            answer(&Session::parse(no_audio.as_bytes()).expect("p"), &local(), false).err(),
            Some(SdpError::NoAudio)
        );
        assert!(matches!(Session::parse(b"c=IN IP4 nonsense\r\n"), Err(SdpError::Malformed(_))));
        assert!(matches!(Session::parse(b"m=audio port RTP/AVP 0\r\n"), Err(SdpError::Malformed(_))));
        assert_eq!(Session::parse(&[0xFF, 0xFE]), Err(SdpError::NotText));
    }

    #[test]
    fn our_offer_is_answered_by_our_own_rules() {
        let text = offer(&local(), Direction::SendRecv);
        let session = Session::parse(text.as_bytes()).expect("parses");
        let (negotiated, _) = answer(&session, &local(), false).expect("answers");
        assert_eq!((negotiated.codec, negotiated.dtmf_payload_type), (Codec::Pcmu, Some(OFFERED_DTMF_PAYLOAD_TYPE)));
    }
}
