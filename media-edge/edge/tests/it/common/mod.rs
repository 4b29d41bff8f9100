//! What the call tests share: a platform held in memory (numbers with flows, and a record of
//! every contact the edge makes) and a minimal SIP phone on raw sockets, which does exactly what
//! a test tells it (including what real phones never do).

#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_edge::{
    Admission, CallEvent, CallIntake, EdgeConfig, EdgeHandle, NumberRoute, Platform, PlatformError, QueuePosition,
    Recording, SipAccount, Voicemail,
};
use switchboard_media::g711::Codec;
use switchboard_media::rtp::RtpPacket;
use switchboard_sip::digest::{Algorithm, ha1};
use tokio::net::UdpSocket;

#[derive(Debug, Default)]
pub struct Recorded {
    pub enqueued: Vec<(String, CallIntake)>,
    pub abandoned: Vec<String>,
    pub voicemails: Vec<Voicemail>,
    pub call_events: Vec<CallEvent>,
    pub recordings: Vec<Recording>,
    pub recordings_failed: Vec<(String, String)>,
}

/// The realm the test edges use.
pub const REALM: &str = "switchboard";

/// The SIP accounts the memory platform knows: (user name, password, agent id).
pub const ACCOUNTS: &[(&str, &str, &str)] = &[("agent7", "s3cret-pass", "u7"), ("agent8", "phone-pass-8", "u8")];

#[derive(Debug)]
pub struct Memory {
    pub numbers: HashMap<String, NumberRoute>,
    pub slow: Vec<String>,
    pub recorded: Mutex<Recorded>,
}

impl Memory {
    pub fn recorded<T>(&self, f: impl FnOnce(&Recorded) -> T) -> T {
        f(&self.recorded.lock().expect("lock"))
    }
}

#[async_trait::async_trait]
impl Platform for Memory {
    async fn number(&self, number: &str, _caller: &str) -> Result<Option<NumberRoute>, PlatformError> {
        if self.slow.iter().any(|n| n == number) {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
        }
        Ok(self.numbers.get(number).cloned())
    }

    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>, PlatformError> {
        Ok(ACCOUNTS.iter().find(|(u, _, _)| *u == username).map(|(u, password, agent)| SipAccount {
            tenant_id: "t1".into(),
            user_id: (*agent).into(),
            username: (*u).into(),
            ha1_md5: ha1(Algorithm::Md5, u, REALM, password),
            ha1_sha256: ha1(Algorithm::Sha256, u, REALM, password),
        }))
    }

    async fn prompt(&self, _tenant: &str, _name: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(None)
    }

    async fn enqueue(&self, call: &CallIntake) -> Result<Admission, PlatformError> {
        let mut r = self.recorded.lock().expect("lock");
        let id = format!("contact-{}", r.enqueued.len() + 1);
        r.enqueued.push((id.clone(), call.clone()));
        Ok(Admission::Queued(id))
    }

    async fn position(&self, _tenant: &str, _contact: &str) -> Result<Option<QueuePosition>, PlatformError> {
        Ok(Some(QueuePosition { position: 2, estimated_wait_secs: Some(150) }))
    }

    async fn abandoned(&self, _tenant: &str, contact: &str) -> Result<(), PlatformError> {
        self.recorded.lock().expect("lock").abandoned.push(contact.to_owned());
        Ok(())
    }

    async fn voicemail(&self, voicemail: Voicemail) -> Result<String, PlatformError> {
        self.recorded.lock().expect("lock").voicemails.push(voicemail);
        Ok("voicemail-1".into())
    }

    async fn call_event(&self, event: CallEvent) -> Result<(), PlatformError> {
        self.recorded.lock().expect("lock").call_events.push(event);
        Ok(())
    }

    async fn recording(&self, recording: Recording) -> Result<(), PlatformError> {
        self.recorded.lock().expect("lock").recordings.push(recording);
        Ok(())
    }

    async fn recording_failed(&self, _tenant: &str, contact: &str, reason: &str) -> Result<(), PlatformError> {
        self.recorded.lock().expect("lock").recordings_failed.push((contact.to_owned(), reason.to_owned()));
        Ok(())
    }
}

pub fn route(flow: Option<serde_json::Value>, queue: Option<&str>, max_calls: u32) -> NumberRoute {
    NumberRoute {
        tenant_id: "t1".into(),
        endpoint_id: "e1".into(),
        queue_id: queue.map(str::to_owned),
        flow: flow.map(|f| {
            let flow = switchboard_ivr::Flow::from_json(&f).expect("flow shape");
            assert_eq!(flow.problems(), vec![], "test flows are valid");
            flow
        }),
        hours: BTreeMap::new(),
        max_concurrent_calls: max_calls,
        unavailable: None,
        redirect: None,
    }
}

pub async fn edge_with(numbers: HashMap<String, NumberRoute>, slow: Vec<String>) -> (EdgeHandle, Arc<Memory>) {
    edge_configured(numbers, slow, |_| {}).await
}

/// An edge with settings changed by `tweak`.
pub async fn edge_configured(
    numbers: HashMap<String, NumberRoute>,
    slow: Vec<String>,
    tweak: impl FnOnce(&mut EdgeConfig),
) -> (EdgeHandle, Arc<Memory>) {
    let platform = Arc::new(Memory { numbers, slow, recorded: Mutex::default() });
    let mut config = EdgeConfig::new("127.0.0.1:0".parse().expect("addr"), REALM);
    config.recordings_dir = std::env::temp_dir().join(format!("sb-edge-rec-{}-{}", std::process::id(), rand_suffix()));
    config.announce_every = Duration::from_secs(2);
    // Each test binary picks its own part of 20000-31999 (below the ephemeral ports sipp and the
    // test sockets get) so parallel runs do not collide.
    let base = 20_000 + (std::process::id() % 300) as u16 * 40;
    config.rtp_ports = (base, base + 39);
    tweak(&mut config);
    let edge = switchboard_edge::start(config, platform.clone()).await.expect("edge starts");
    (edge, platform)
}

/// Waits until `check` holds (polling), or fails with `what`.
pub async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// A SIP phone on raw sockets.
#[derive(Debug)]
pub struct Phone {
    pub sip: UdpSocket,
    pub rtp: UdpSocket,
    pub edge: SocketAddr,
    pub call_id: String,
    pub to_tag: Option<String>,
    pub to: String,
    pub cseq: u32,
    pub edge_media: Option<SocketAddr>,
    pub rtp_seq: u16,
    /// Samples sent so far (the RTP clock runs on across talk spurts, as a phone's does).
    pub rtp_ts: u32,
}

pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub fn status(msg: &str) -> u16 {
    msg.strip_prefix("SIP/2.0 ").and_then(|r| r.get(..3)).and_then(|c| c.parse().ok()).unwrap_or(0)
}

fn media_of(msg: &str) -> Option<SocketAddr> {
    let body = msg.split("\r\n\r\n").nth(1)?;
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 "))?.trim();
    let port = body.lines().find_map(|l| l.strip_prefix("m=audio "))?.split_whitespace().next()?;
    format!("{ip}:{port}").parse().ok()
}

impl Phone {
    pub async fn new(edge: SocketAddr) -> Phone {
        Phone {
            sip: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
            rtp: UdpSocket::bind("127.0.0.1:0").await.expect("bind"),
            edge,
            call_id: format!("{:x}@phone", rand::random::<u64>()),
            to_tag: None,
            to: String::new(),
            cseq: 1,
            edge_media: None,
            rtp_seq: 1,
            rtp_ts: 0,
        }
    }

    fn sdp(&self, direction: &str) -> String {
        let port = self.rtp.local_addr().expect("addr").port();
        format!(
            "v=0\r\no=phone 1 {} IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na={direction}\r\n",
            self.cseq
        )
    }

    fn request(&self, method: &str, uri: &str, extra: &str, body: &str) -> String {
        let local = self.sip.local_addr().expect("addr");
        let to_tag = self.to_tag.as_ref().map(|t| format!(";tag={t}")).unwrap_or_default();
        let ct = if body.is_empty() { String::new() } else { "Content-Type: application/sdp\r\n".into() };
        format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{:x}\r\nMax-Forwards: 70\r\n\
From: <sip:+4930555000@127.0.0.1>;tag=phone1\r\nTo: {}{to_tag}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\n\
Contact: <sip:phone@{local}>\r\n{extra}{ct}Content-Length: {}\r\n\r\n{body}",
            rand::random::<u64>(),
            self.to,
            self.call_id,
            self.cseq,
            body.len()
        )
    }

    pub async fn send(&self, msg: &str) {
        self.sip.send_to(msg.as_bytes(), self.edge).await.expect("send");
    }

    /// The next SIP message within `ms`.
    pub async fn recv(&self, ms: u64) -> Option<String> {
        let mut buf = vec![0u8; 65_536];
        match tokio::time::timeout(Duration::from_millis(ms), self.sip.recv_from(&mut buf)).await {
            Ok(Ok((n, _))) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            _ => None,
        }
    }

    /// The next final response (provisional ones skipped).
    pub async fn final_response(&self) -> String {
        loop {
            let msg = self.recv(5000).await.expect("a response");
            if msg.starts_with("SIP/2.0 1") {
                continue;
            }
            if msg.starts_with("SIP/2.0") {
                return msg;
            }
        }
    }

    /// INVITE to `number`; returns the final response's status. A 200 is acknowledged.
    pub async fn call(&mut self, number: &str) -> u16 {
        let uri = format!("sip:{number}@{}", self.edge);
        self.to = format!("<{uri}>");
        let invite = self.request("INVITE", &uri, "", &self.sdp("sendrecv"));
        self.send(&invite).await;
        let response = self.final_response().await;
        let code = status(&response);
        if code == 200 {
            self.to_tag = header(&response, "To").and_then(|t| t.split(";tag=").nth(1)).map(str::to_owned);
            self.edge_media = media_of(&response);
            self.ack().await;
        }
        code
    }

    /// INVITE without SDP (a late offer); the edge's offer comes in the 200 and our answer (or
    /// nothing, if `answer` is false) goes in the ACK. Returns the 200.
    pub async fn call_late_offer(&mut self, number: &str, answer: bool) -> String {
        let uri = format!("sip:{number}@{}", self.edge);
        self.to = format!("<{uri}>");
        let invite = self.request("INVITE", &uri, "", "");
        self.send(&invite).await;
        let response = self.final_response().await;
        assert_eq!(status(&response), 200, "{response}");
        self.to_tag = header(&response, "To").and_then(|t| t.split(";tag=").nth(1)).map(str::to_owned);
        self.edge_media = media_of(&response);
        let body = if answer { self.sdp("sendrecv") } else { String::new() };
        let ack = self.request("ACK", &format!("sip:{}", self.edge), "", &body);
        self.send(&ack).await;
        response
    }

    pub async fn ack(&self) {
        let uri = format!("sip:{}", self.edge);
        let ack = self.request("ACK", &uri, "", "");
        self.send(&ack).await;
    }

    /// A re-INVITE with this direction; returns the response.
    pub async fn reinvite(&mut self, direction: &str) -> String {
        self.cseq += 1;
        let uri = format!("sip:{}", self.edge);
        let msg = self.request("INVITE", &uri, "", &self.sdp(direction));
        self.send(&msg).await;
        let response = self.final_response().await;
        self.ack().await;
        response
    }

    pub async fn info_dtmf(&mut self, key: char) -> u16 {
        self.cseq += 1;
        let uri = format!("sip:{}", self.edge);
        let body = format!("Signal={key}\r\nDuration=160\r\n");
        let msg = self
            .request("INFO", &uri, "", &body)
            .replace("Content-Type: application/sdp", "Content-Type: application/dtmf-relay");
        self.send(&msg).await;
        status(&self.final_response().await)
    }

    pub async fn bye(&mut self) -> u16 {
        self.cseq += 1;
        let uri = format!("sip:{}", self.edge);
        let msg = self.request("BYE", &uri, "", "");
        self.send(&msg).await;
        status(&self.final_response().await)
    }

    /// Waits for a request from the edge (e.g. its BYE) and answers it 200.
    pub async fn answer_request(&self, ms: u64) -> Option<String> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while tokio::time::Instant::now() < deadline {
            let Some(msg) = self.recv(200).await else { continue };
            if msg.starts_with("SIP/2.0") {
                continue;
            }
            let mut reply = String::from("SIP/2.0 200 OK\r\n");
            for name in ["Via", "From", "To", "Call-ID", "CSeq"] {
                if let Some(v) = header(&msg, name) {
                    reply.push_str(&format!("{name}: {v}\r\n"));
                }
            }
            reply.push_str("Content-Length: 0\r\n\r\n");
            self.send(&reply).await;
            return Some(msg);
        }
        None
    }

    /// Sends an RFC 4733 key press from the phone's media socket.
    pub async fn key(&self, key: char) {
        send_key(&self.rtp, self.edge_media.expect("call up"), key).await;
    }

    /// Sends `frames` of a 440 Hz tone as PCMU from the phone's media socket.
    pub async fn talk(&mut self, frames: usize) {
        let to = self.edge_media.expect("call up");
        for f in 0..frames {
            let samples: Vec<i16> = (0..160)
                .map(|i| (((f * 160 + i) as f32 * 2.0 * std::f32::consts::PI * 440.0 / 8000.0).sin() * 8000.0) as i16)
                .collect();
            let mut payload = Vec::new();
            Codec::Pcmu.encode(&samples, &mut payload);
            let packet = RtpPacket {
                marker: f == 0,
                payload_type: 0,
                sequence: self.rtp_seq,
                timestamp: self.rtp_ts,
                ssrc: 78,
                payload: &payload,
            };
            self.rtp_seq = self.rtp_seq.wrapping_add(1);
            self.rtp_ts = self.rtp_ts.wrapping_add(160);
            let mut out = Vec::new();
            packet.write(&mut out);
            self.rtp.send_to(&out, to).await.expect("send rtp");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Listens for `ms` and returns the decoded audio received (PCMU) and the packet count.
    pub async fn listen(&self, ms: u64) -> (Vec<i16>, usize) {
        let mut buf = vec![0u8; 2048];
        let mut audio = Vec::new();
        let mut packets = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, self.rtp.recv_from(&mut buf)).await {
            if let Ok(p) = RtpPacket::parse(&buf[..n]) {
                packets += 1;
                Codec::Pcmu.decode(p.payload, &mut audio);
            }
        }
        (audio, packets)
    }
}

/// Root mean square level.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    (samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt()
}

/// Sends an RFC 4733 key press (three packets, the last one the end, as phones do).
pub async fn send_key(from: &UdpSocket, to: SocketAddr, key: char) {
    let ts: u32 = rand::random();
    let seq: u16 = rand::random();
    for i in 0..3u16 {
        let event = switchboard_media::dtmf::TelephoneEvent { key, end: i == 2, volume: 10, duration: 160 * (i + 1) };
        let payload = event.to_bytes();
        let packet = RtpPacket {
            marker: i == 0,
            payload_type: 101,
            sequence: seq.wrapping_add(i),
            timestamp: ts,
            ssrc: 77,
            payload: &payload,
        };
        let mut out = Vec::new();
        packet.write(&mut out);
        from.send_to(&out, to).await.expect("send rtp");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn sipp_path() -> Option<&'static str> {
    if std::process::Command::new("sipp").arg("-v").output().is_ok() {
        return Some("sipp");
    }
    if switchboard_testkit::in_ci() {
        panic!("sipp is mandatory in CI (infra/services.sh installs sip-tester)");
    }
    eprintln!("\n*** SKIPPED SIP peer tests: sipp is not installed (infra/services.sh tools) ***\n");
    None
}

#[derive(Debug)]
pub struct Run {
    pub ok: bool,
    pub log: String,
}

/// Runs one sipp call of `scenario` against the edge; returns its exit and message log.
pub async fn sipp(edge: SocketAddr, scenario: &str, service: &str, transport: &str, extra: &[&str]) -> Run {
    let dir = std::env::temp_dir().join(format!("sb-sipp-{}-{}", std::process::id(), rand_suffix()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sipp").join(scenario);
    let log = dir.join("messages.log");
    let out = tokio::process::Command::new("sipp")
        .current_dir(&dir)
        .args(["-sf", file.to_str().expect("path"), "-s", service, "-m", "1", "-l", "1", "-t", transport])
        .args(["-i", "127.0.0.1", "-p", &free_port().to_string(), "-timeout", "20s", "-timeout_error"])
        .args(["-nostdin", "-trace_msg", "-message_file"])
        .arg(&log)
        .args(extra)
        .arg(edge.to_string())
        .output()
        .await
        .expect("sipp runs");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    if !out.status.success() {
        eprintln!(
            "sipp {scenario} failed: {}\n{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Run { ok: out.status.success(), log: text }
}

/// A port free for both UDP and TCP on loopback (sipp's own; its default 5060 would collide).
pub fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Status lines the peer received (sipp logs each message it got under "received").
pub fn received(log: &str, status: &str) -> usize {
    log.split("received")
        .skip(1)
        .filter(|m| {
            m.lines()
                .skip(1)
                .find(|l| !l.trim().is_empty())
                .is_some_and(|l| l.trim().starts_with(&format!("SIP/2.0 {status}")))
        })
        .count()
}
