//! Shared parts of the edge benchmarks: the bench agent's login, the marker every generated
//! RTP frame carries (so loss is counted end to end, through a relay that re-times and re-encodes
//! frames), RTP packets, a minimal bencode for rtpengine's control protocol, and process CPU and
//! memory read from `/proc`.

use std::collections::BTreeMap;

/// The digest realm of the edge under test.
pub const REALM: &str = "bench";
/// The agent's SIP user the generator registers as.
pub const AGENT: &str = "agent";
/// Its password.
pub const AGENT_PASSWORD: &str = "bench-password";

/// Bytes of a G.711 frame of 20 ms.
pub const FRAME: usize = 160;

/// Two bytes that open every marker (music that happens to look like digits is not a marker).
const MAGIC: [u8; 2] = [0x2A, 0x55];

/// Seven payload bytes saying which stream sent a frame and its number: [`MAGIC`], then five
/// digits, each one of 64 µ-law codes (0x20..=0x5F) that decode and re-encode to themselves, so
/// the marker survives an edge that decodes, bridges and encodes again; the rest of the frame is
/// silence (0xFF).
pub fn mark(stream: u32, counter: u32) -> [u8; FRAME] {
    let mut frame = [0xFF; FRAME];
    frame[..2].copy_from_slice(&MAGIC);
    let digits = [stream >> 6, stream, counter >> 12, counter >> 6, counter];
    for (slot, d) in frame[2..].iter_mut().zip(digits) {
        *slot = 0x20 + (d & 0x3F) as u8;
    }
    frame
}

/// Reads a marker back (None: a frame we did not make, such as music or silence).
pub fn read_mark(payload: &[u8]) -> Option<(u32, u32)> {
    if payload.get(..2)? != MAGIC {
        return None;
    }
    let digits: Vec<u32> = payload.get(2..7)?.iter().map(|b| u32::from(b.wrapping_sub(0x20))).collect();
    if digits.iter().any(|d| *d > 0x3F) {
        return None;
    }
    Some(((digits[0] << 6) | digits[1], (digits[2] << 12) | (digits[3] << 6) | digits[4]))
}

/// An RTP packet (version 2, PCMU) around a frame.
pub fn rtp(seq: u16, timestamp: u32, ssrc: u32, frame: &[u8; FRAME]) -> [u8; 12 + FRAME] {
    let mut packet = [0u8; 12 + FRAME];
    packet[0] = 0x80;
    packet[1] = 0; // PCMU
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet[4..8].copy_from_slice(&timestamp.to_be_bytes());
    packet[8..12].copy_from_slice(&ssrc.to_be_bytes());
    packet[12..].copy_from_slice(frame);
    packet
}

/// A bencode value (rtpengine's "ng" control protocol).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bencode {
    /// A byte string.
    Bytes(Vec<u8>),
    /// An integer.
    Int(i64),
    /// A list.
    List(Vec<Bencode>),
    /// A dictionary.
    Dict(BTreeMap<Vec<u8>, Bencode>),
}

impl Bencode {
    /// Writes it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Bencode::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Bencode::List(l) => {
                out.push(b'l');
                l.iter().for_each(|v| v.encode(out));
                out.push(b'e');
            }
            Bencode::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Bencode::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Reads one value from the start of `input`; returns it and the rest.
    pub fn decode(input: &[u8]) -> Option<(Bencode, &[u8])> {
        match *input.first()? {
            b'i' => {
                let end = input.iter().position(|b| *b == b'e')?;
                let n = std::str::from_utf8(&input[1..end]).ok()?.parse().ok()?;
                Some((Bencode::Int(n), &input[end + 1..]))
            }
            b'l' => {
                let (mut rest, mut items) = (&input[1..], Vec::new());
                while *rest.first()? != b'e' {
                    let (v, r) = Bencode::decode(rest)?;
                    items.push(v);
                    rest = r;
                }
                Some((Bencode::List(items), &rest[1..]))
            }
            b'd' => {
                let (mut rest, mut map) = (&input[1..], BTreeMap::new());
                while *rest.first()? != b'e' {
                    let (Bencode::Bytes(k), r) = Bencode::decode(rest)? else { return None };
                    let (v, r) = Bencode::decode(r)?;
                    map.insert(k, v);
                    rest = r;
                }
                Some((Bencode::Dict(map), &rest[1..]))
            }
            b'0'..=b'9' => {
                let colon = input.iter().position(|b| *b == b':')?;
                let len: usize = std::str::from_utf8(&input[..colon]).ok()?.parse().ok()?;
                let bytes = input.get(colon + 1..colon + 1 + len)?.to_vec();
                Some((Bencode::Bytes(bytes), &input[colon + 1 + len..]))
            }
            _ => None,
        }
    }

    /// A dictionary of strings.
    pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Bencode {
        Bencode::Dict(
            pairs.into_iter().map(|(k, v)| (k.as_bytes().to_vec(), Bencode::Bytes(v.as_bytes().to_vec()))).collect(),
        )
    }

    /// A string entry of a dictionary.
    pub fn get_str(&self, key: &str) -> Option<String> {
        match self {
            Bencode::Dict(d) => match d.get(key.as_bytes())? {
                Bencode::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            },
            _ => None,
        }
    }
}

/// CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// A process's resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM`).
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        status.lines().find_map(|l| l.strip_prefix(name))?.split_whitespace().next()?.parse().ok()
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The audio address in an SDP body (`c=` and `m=audio`).
pub fn sdp_audio(sdp: &str) -> Option<std::net::SocketAddr> {
    let ip = sdp.lines().find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?.trim();
    let port = sdp.lines().find_map(|l| l.trim().strip_prefix("m=audio "))?.split_whitespace().next()?;
    format!("{ip}:{port}").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_read_back_and_ignore_other_audio() {
        for (s, c) in [(0, 0), (1999, 2999), (4095, 262_143)] {
            assert_eq!(read_mark(&mark(s, c)), Some((s, c)));
        }
        assert_eq!(read_mark(&[0xFF; FRAME]), None, "silence is not a marker");
        // The marker's codes survive µ-law decode and encode (checked against the edge's codec).
        let ulaw = switchboard_media::g711::Codec::Pcmu;
        for code in 0x20u8..=0x5F {
            assert_eq!(ulaw.encode_sample(ulaw.decode_sample(code)), code);
        }
    }

    #[test]
    fn bencode_round_trips() {
        let d = Bencode::dict([("command", "offer"), ("call-id", "c1")]);
        let mut out = Vec::new();
        d.encode(&mut out);
        assert_eq!(out, b"d7:call-id2:c17:command5:offere");
        let (back, rest) = Bencode::decode(&out).expect("decodes");
        assert!(rest.is_empty());
        assert_eq!(back.get_str("command").as_deref(), Some("offer"));
        let (v, _) = Bencode::decode(b"d6:result2:ok8:warningsl3:abci3eee").expect("list");
        assert_eq!(v.get_str("result").as_deref(), Some("ok"));
    }
}
