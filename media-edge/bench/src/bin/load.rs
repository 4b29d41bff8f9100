#![allow(clippy::print_stdout)] // a benchmark program: its report is its output
//! The load generator: `calls` bridged G.711 calls through a media relay, every leg sending a
//! marked 20 ms frame (see `mark`), and a report of the end-to-end loss and of the relay's CPU and
//! memory over a steady window.
//!
//! - `load edge <edge sip addr> <edge pid> [options]`: the generator is the carrier (an INVITE per
//!   call) and the agent's phone (it registers as `agent` with digest, and answers the INVITEs
//!   the edge sends when it bridges each call).
//! - `load rtpengine <ng addr> <rtpengine pid> [options]`: the same calls through rtpengine, set up
//!   with its ng protocol (offer, answer, delete).
//!
//! Options: `--calls N` (1000), `--rate R` calls per second (100), `--hold S` seconds measured
//! (30), `--warmup S` (3), `--record` (rtpengine records each call; the edge under test records
//! when started with `--record`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use switchboard_edge_bench::{
    AGENT, AGENT_PASSWORD, Bencode, FRAME, REALM, cpu_seconds, mark, memory_kib, read_mark, rtp, sdp_audio,
};
use switchboard_sip::digest::{self, Algorithm, Credentials};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const TICK: Duration = Duration::from_millis(20);
/// Sender groups, each on its own 20 ms clock offset by 2 ms, so frames leave in ten small bursts.
const GROUPS: usize = 10;

struct Options {
    calls: usize,
    rate: f64,
    hold: Duration,
    warmup: Duration,
    /// rtpengine: ask it to record each call.
    record: bool,
}

/// One leg the generator sends on and listens to.
struct Leg {
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    stream: u32,
    seq: u16,
    /// Frames this leg has sent: the marker's number, one more per frame (a late tick is made up
    /// by a burst, never skipped, so only the relay can lose a frame).
    counter: u32,
}

/// The measured window's phases.
const BEFORE: u8 = 0;
const OPEN: u8 = 1;
const CLOSED: u8 = 2;
const UNSET: u32 = u32::MAX;

/// Which frames arrived, per stream, inside the measured window: each stream's window is
/// [its counter when the window opened, its counter when it closed).
struct Tally {
    phase: std::sync::atomic::AtomicU8,
    open: Vec<std::sync::atomic::AtomicU32>,
    close: Vec<std::sync::atomic::AtomicU32>,
    seen: Vec<Vec<AtomicU64>>,
    words: usize,
    stray: AtomicU64,
}

impl Tally {
    fn new(streams: usize, max_ticks: usize) -> Self {
        let words = max_ticks.div_ceil(64);
        let unset = || (0..streams).map(|_| std::sync::atomic::AtomicU32::new(UNSET)).collect();
        Tally {
            phase: std::sync::atomic::AtomicU8::new(BEFORE),
            open: unset(),
            close: unset(),
            seen: (0..streams).map(|_| (0..words).map(|_| AtomicU64::new(0)).collect()).collect(),
            words,
            stray: AtomicU64::new(0),
        }
    }

    /// A leg is about to send frame `counter`: mark where its window opens and closes.
    fn sending(&self, stream: u32, counter: u32) {
        let s = stream as usize;
        let phase = self.phase.load(Ordering::Relaxed);
        if phase >= OPEN && self.open[s].load(Ordering::Relaxed) == UNSET {
            self.open[s].store(counter, Ordering::Relaxed);
        }
        if phase == CLOSED && self.close[s].load(Ordering::Relaxed) == UNSET {
            self.close[s].store(counter, Ordering::Relaxed);
        }
    }

    fn arrived(&self, payload: &[u8]) {
        let Some((stream, counter)) = read_mark(payload) else { return };
        let Some(bits) = self.seen.get(stream as usize) else {
            self.stray.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let open = self.open[stream as usize].load(Ordering::Relaxed);
        if open == UNSET || counter < open {
            return;
        }
        let offset = (counter - open) as usize;
        if offset / 64 < self.words {
            bits[offset / 64].fetch_or(1 << (offset % 64), Ordering::Relaxed);
        }
    }

    /// Frames expected and frames that arrived in the window, over `streams` streams; and how
    /// many streams got nothing at all.
    fn count(&self, streams: usize) -> (u64, u64, usize) {
        let (mut expected, mut got, mut silent) = (0u64, 0u64, 0);
        for (s, bits) in self.seen.iter().enumerate().take(streams) {
            let (open, close) = (self.open[s].load(Ordering::Relaxed), self.close[s].load(Ordering::Relaxed));
            if open == UNSET || close == UNSET {
                // A leg that never sent in the window (its call never came up).
                silent += 1;
                continue;
            }
            let span = u64::from(close - open);
            expected += span;
            let before = got;
            for (w, word) in bits.iter().enumerate() {
                let mut v = word.load(Ordering::Relaxed);
                let lo = (w as u64) * 64;
                if lo >= span {
                    break;
                }
                if lo + 64 > span {
                    v &= (1u64 << (span - lo)) - 1;
                }
                got += u64::from(v.count_ones());
            }
            silent += usize::from(got == before && span > 0);
        }
        (expected, got, silent)
    }
}

/// The senders: every group sends one frame per leg per tick.
struct Senders {
    groups: Vec<Mutex<Vec<Leg>>>,
    next: AtomicUsize,
    dropped: AtomicU64,
}

impl Senders {
    fn add(&self, tally: &Arc<Tally>, leg: Leg) {
        let socket = leg.socket.clone();
        let tally = tally.clone();
        // Listen on the leg: every marked frame that arrives is ticked off.
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok(n) = socket.recv(&mut buf).await {
                if n > 12 {
                    tally.arrived(&buf[12..n]);
                }
            }
        });
        let g = self.next.fetch_add(1, Ordering::Relaxed) % GROUPS;
        self.groups[g].lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(leg);
    }

    fn start(self: &Arc<Self>, tally: &Arc<Tally>) {
        for g in 0..GROUPS {
            let (me, tally) = (self.clone(), tally.clone());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(2 * g as u64)).await;
                let mut clock = tokio::time::interval(TICK);
                loop {
                    clock.tick().await;
                    let mut legs = me.groups[g].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    for leg in legs.iter_mut() {
                        tally.sending(leg.stream, leg.counter);
                        let packet = rtp(
                            leg.seq,
                            leg.counter.wrapping_mul(FRAME as u32),
                            leg.stream + 1,
                            &mark(leg.stream, leg.counter),
                        );
                        leg.seq = leg.seq.wrapping_add(1);
                        leg.counter += 1;
                        if leg.socket.try_send_to(&packet, leg.peer).is_err() {
                            me.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    }
}

/// The tally for two streams per call and the senders, already ticking.
fn start_senders(o: &Options) -> (Arc<Tally>, Arc<Senders>) {
    let tally = Arc::new(Tally::new(o.calls * 2, (o.hold.as_millis() / TICK.as_millis()) as usize + 64));
    let senders = Arc::new(Senders {
        groups: (0..GROUPS).map(|_| Mutex::default()).collect(),
        next: AtomicUsize::new(0),
        dropped: AtomicU64::new(0),
    });
    senders.start(&tally);
    (tally, senders)
}

fn sdp(port: u16, id: usize) -> String {
    format!(
        "v=0\r\no=- {id} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
    )
}

// ---- SIP, just enough to be a carrier and a phone -------------------------------------------

fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n\r\n").next()?.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn headers_named<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n\r\n")
        .next()
        .map(|h| {
            h.lines().filter(|l| l.split_once(':').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(name))).collect()
        })
        .unwrap_or_default()
}

fn body(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn tag_of(value: &str) -> Option<&str> {
    value.split(';').find_map(|p| p.trim().strip_prefix("tag="))
}

/// Routes SIP datagrams: responses to the call waiting for them (by Call-ID), requests answered
/// here (the edge's INVITEs to the agent's phone become legs).
struct Sip {
    socket: Arc<UdpSocket>,
    edge: SocketAddr,
    local: SocketAddr,
    waiting: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
}

impl Sip {
    fn expect(&self, call_id: &str) -> mpsc::UnboundedReceiver<String> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(call_id.to_owned(), tx);
        rx
    }

    async fn send(&self, msg: &str) {
        let _ = self.socket.send_to(msg.as_bytes(), self.edge).await;
    }

    /// Sends `request` until a final response comes (every 500 ms, 8 times).
    async fn transact(&self, rx: &mut mpsc::UnboundedReceiver<String>, request: &str) -> Option<String> {
        for _ in 0..8 {
            self.send(request).await;
            let until = tokio::time::Instant::now() + Duration::from_millis(500);
            while let Ok(Some(msg)) = tokio::time::timeout_at(until, rx.recv()).await {
                let code: u16 = msg.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                if code >= 200 {
                    return Some(msg);
                }
            }
        }
        None
    }

    fn reply(&self, request: &str, status: &str, to_tag: Option<&str>, extra: &str, body: &str) -> String {
        let mut out = format!("SIP/2.0 {status}\r\n");
        for via in headers_named(request, "Via") {
            out.push_str(via);
            out.push_str("\r\n");
        }
        let to = header(request, "To").unwrap_or_default();
        let to = match to_tag {
            Some(tag) if tag_of(to).is_none() => format!("{to};tag={tag}"),
            _ => to.to_owned(),
        };
        out.push_str(&format!(
            "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            header(request, "From").unwrap_or_default(),
            header(request, "Call-ID").unwrap_or_default(),
            header(request, "CSeq").unwrap_or_default(),
            body.len()
        ));
        out
    }
}

async fn run_edge(edge: SocketAddr, pid: u32, o: &Options) -> anyhow::Result<()> {
    let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let local = socket.local_addr()?;
    let sip = Arc::new(Sip { socket: socket.clone(), edge, local, waiting: Mutex::default() });
    let (tally, senders) = start_senders(o);
    let agent_legs = Arc::new(AtomicUsize::new(0));
    {
        // The dispatcher: responses to their callers, the edge's requests answered.
        let (sip, senders, tally, agent_legs) = (sip.clone(), senders.clone(), tally.clone(), agent_legs.clone());
        let calls = o.calls;
        tokio::spawn(async move {
            let mut answered: HashMap<String, String> = HashMap::new();
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, _)) = sip.socket.recv_from(&mut buf).await {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let call_id = header(&msg, "Call-ID").unwrap_or_default().to_owned();
                if msg.starts_with("SIP/2.0") {
                    let waiting =
                        sip.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&call_id).cloned();
                    if let Some(tx) = waiting {
                        let _ = tx.send(msg);
                    }
                    continue;
                }
                let method = msg.split_whitespace().next().unwrap_or_default();
                match method {
                    "INVITE" => {
                        // The edge rings the agent's phone: answer (once per call; again on retransmission).
                        if let Some(answer) = answered.get(&call_id) {
                            sip.send(answer).await;
                            continue;
                        }
                        let Some(edge_media) = sdp_audio(body(&msg)) else { continue };
                        let Ok(rtp_socket) = UdpSocket::bind("127.0.0.1:0").await else { continue };
                        let Ok(port) = rtp_socket.local_addr().map(|a| a.port()) else { continue };
                        let n = agent_legs.fetch_add(1, Ordering::Relaxed);
                        let contact =
                            format!("Contact: <sip:{AGENT}@{}>\r\nContent-Type: application/sdp\r\n", sip.local);
                        let answer = sip.reply(&msg, "200 OK", Some(&format!("a{n}")), &contact, &sdp(port, n));
                        sip.send(&answer).await;
                        answered.insert(call_id, answer);
                        let leg = Leg {
                            socket: Arc::new(rtp_socket),
                            peer: edge_media,
                            stream: (calls + n) as u32,
                            seq: 0,
                            counter: 0,
                        };
                        senders.add(&tally, leg);
                    }
                    "BYE" | "OPTIONS" | "INFO" | "NOTIFY" => {
                        let ok = sip.reply(&msg, "200 OK", None, "", "");
                        sip.send(&ok).await;
                    }
                    _ => {}
                }
            }
        });
    }

    register(&sip).await?;
    println!("registered as {AGENT}");
    let established = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let gap = Duration::from_secs_f64(1.0 / o.rate);
    let setup = Instant::now();
    let mut dialogs = Vec::new();
    for i in 0..o.calls {
        let (sip, senders, tally, established) = (sip.clone(), senders.clone(), tally.clone(), established.clone());
        tasks.push(tokio::spawn(async move {
            let placed = place_call(&sip, &senders, &tally, i).await;
            match &placed {
                Ok(_) => {
                    established.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => println!("call {i}: {e:#}"),
            }
            placed
        }));
        tokio::time::sleep(gap).await;
    }
    for t in tasks {
        if let Ok(Ok(dialog)) = t.await {
            dialogs.push(dialog);
        }
    }
    let up = established.load(Ordering::Relaxed);
    println!(
        "calls established: {up}/{} in {:.1} s; agent legs {}",
        o.calls,
        setup.elapsed().as_secs_f64(),
        agent_legs.load(Ordering::Relaxed)
    );
    measure(pid, o, &tally, &senders, up * 2).await;

    // Tear down: the caller hangs up; the edge releases the agent's phone.
    for (call_id, invite_to) in &dialogs {
        let bye = format!(
            "BYE sip:+15550000000@{edge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-bye-{call_id}\r\nFrom: <sip:+15551230000@127.0.0.1>;tag=f-{call_id}\r\nTo: {invite_to}\r\nCall-ID: {call_id}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        );
        sip.send(&bye).await;
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

async fn register(sip: &Sip) -> anyhow::Result<()> {
    let call_id = "bench-register";
    let mut rx = sip.expect(call_id);
    let make = |cseq: u32, auth: &str| {
        format!(
            "REGISTER sip:{edge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-reg-{cseq}\r\nFrom: <sip:{AGENT}@{edge}>;tag=reg\r\nTo: <sip:{AGENT}@{edge}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{AGENT}@{local}>\r\nExpires: 3600\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            edge = sip.edge,
            local = sip.local
        )
    };
    let challenge = sip.transact(&mut rx, &make(1, "")).await.context("no answer to REGISTER")?;
    let www = header(&challenge, "WWW-Authenticate").context("no challenge")?;
    let mut c = Credentials {
        realm: challenge_param(www, "realm").context("no realm")?,
        nonce: challenge_param(www, "nonce").context("no nonce")?,
        algorithm: challenge_param(www, "algorithm").unwrap_or_else(|| "MD5".into()),
        qop: challenge_param(www, "qop"),
        ..Credentials::default()
    };
    c.username = AGENT.into();
    c.uri = format!("sip:{}", sip.edge);
    let alg = if c.algorithm.eq_ignore_ascii_case("SHA-256") { Algorithm::Sha256 } else { Algorithm::Md5 };
    let qop = c.qop.is_some().then(|| ("auth".to_owned(), "00000001".to_owned(), "benchcnonce".to_owned()));
    if let Some((q, nc, cnonce)) = &qop {
        (c.qop, c.nc, c.cnonce) = (Some(q.clone()), Some(nc.clone()), Some(cnonce.clone()));
    }
    let response = digest::response(alg, AGENT, REALM, AGENT_PASSWORD, "REGISTER", &c);
    let mut auth = format!(
        "Authorization: Digest username=\"{AGENT}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        c.realm,
        c.nonce,
        c.uri,
        alg.as_str()
    );
    if let Some((q, nc, cnonce)) = qop {
        auth.push_str(&format!(", qop={q}, nc={nc}, cnonce=\"{cnonce}\""));
    }
    auth.push_str("\r\n");
    let ok = sip.transact(&mut rx, &make(2, &auth)).await.context("no answer to the authenticated REGISTER")?;
    if !ok.starts_with("SIP/2.0 200") {
        bail!("REGISTER refused: {}", ok.lines().next().unwrap_or_default());
    }
    Ok(())
}

/// A parameter of a `WWW-Authenticate: Digest ...` challenge.
fn challenge_param(www: &str, name: &str) -> Option<String> {
    www.trim_start_matches("Digest").split(',').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// One caller: INVITE, 200, ACK; its leg starts sending. Returns (Call-ID, To with tag).
async fn place_call(sip: &Sip, senders: &Senders, tally: &Arc<Tally>, i: usize) -> anyhow::Result<(String, String)> {
    let call_id = format!("bench-{i}-{}", std::process::id());
    let mut rx = sip.expect(&call_id);
    let rtp_socket = UdpSocket::bind("127.0.0.1:0").await?;
    let body = sdp(rtp_socket.local_addr()?.port(), i);
    let (edge, local) = (sip.edge, sip.local);
    let invite = format!(
        "INVITE sip:+15550000000@{edge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-inv-{call_id}\r\nFrom: <sip:+15551230000@127.0.0.1>;tag=f-{call_id}\r\nTo: <sip:+15550000000@{edge}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{local}>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let ok = sip.transact(&mut rx, &invite).await.context("no final answer to INVITE")?;
    if !ok.starts_with("SIP/2.0 200") {
        bail!("INVITE refused: {}", ok.lines().next().unwrap_or_default());
    }
    let to = header(&ok, "To").context("no To")?.to_owned();
    let ack = format!(
        "ACK sip:+15550000000@{edge} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-ack-{call_id}\r\nFrom: <sip:+15551230000@127.0.0.1>;tag=f-{call_id}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    sip.send(&ack).await;
    let peer = sdp_audio(body_of(&ok)).context("no SDP in the 200")?;
    senders.add(tally, Leg { socket: Arc::new(rtp_socket), peer, stream: i as u32, seq: 0, counter: 0 });
    Ok((call_id, to))
}

fn body_of(msg: &str) -> &str {
    body(msg)
}

// ---- rtpengine ------------------------------------------------------------------------------

async fn ng(addr: SocketAddr, request: Bencode) -> anyhow::Result<Bencode> {
    let socket = UdpSocket::bind("127.0.0.1:0").await?;
    let cookie = format!("c{}", socket.local_addr()?.port());
    let mut out = format!("{cookie} ").into_bytes();
    request.encode(&mut out);
    let mut buf = vec![0u8; 65_536];
    for _ in 0..5 {
        socket.send_to(&out, addr).await?;
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buf)).await {
            let reply = &buf[..n];
            let start = reply.iter().position(|b| *b == b' ').context("no cookie")? + 1;
            let (value, _) = Bencode::decode(&reply[start..]).context("unreadable ng reply")?;
            if value.get_str("result").as_deref() != Some("ok") {
                bail!("rtpengine: {:?} {:?}", value.get_str("result"), value.get_str("error-reason"));
            }
            return Ok(value);
        }
    }
    bail!("rtpengine did not answer")
}

async fn run_rtpengine(ng_addr: SocketAddr, pid: u32, o: &Options) -> anyhow::Result<()> {
    let (tally, senders) = start_senders(o);
    let gap = Duration::from_secs_f64(1.0 / o.rate);
    let setup = Instant::now();
    let mut up = 0;
    for i in 0..o.calls {
        let call = async {
            let a = UdpSocket::bind("127.0.0.1:0").await?;
            let b = UdpSocket::bind("127.0.0.1:0").await?;
            let call_id = format!("bench-{i}-{}", std::process::id());
            let (from, to) = (format!("f{i}"), format!("t{i}"));
            let sdp_a = sdp(a.local_addr()?.port(), i);
            let record = if o.record { "yes" } else { "no" };
            let offer = ng(
                ng_addr,
                Bencode::dict([
                    ("command", "offer"),
                    ("call-id", &call_id),
                    ("from-tag", &from),
                    ("sdp", &sdp_a),
                    ("record call", record),
                ]),
            )
            .await?;
            let to_b = sdp_audio(&offer.get_str("sdp").context("offer without SDP")?).context("offer SDP")?;
            let sdp_b = sdp(b.local_addr()?.port(), i);
            let answer = ng(
                ng_addr,
                Bencode::dict([
                    ("command", "answer"),
                    ("call-id", &call_id),
                    ("from-tag", &from),
                    ("to-tag", &to),
                    ("sdp", &sdp_b),
                ]),
            )
            .await?;
            let to_a = sdp_audio(&answer.get_str("sdp").context("answer without SDP")?).context("answer SDP")?;
            senders.add(&tally, Leg { socket: Arc::new(a), peer: to_a, stream: i as u32, seq: 0, counter: 0 });
            senders
                .add(&tally, Leg { socket: Arc::new(b), peer: to_b, stream: (o.calls + i) as u32, seq: 0, counter: 0 });
            anyhow::Ok(())
        };
        match call.await {
            Ok(()) => up += 1,
            Err(e) => println!("call {i}: {e:#}"),
        }
        tokio::time::sleep(gap).await;
    }
    println!("calls established: {up}/{} in {:.1} s", o.calls, setup.elapsed().as_secs_f64());
    measure(pid, o, &tally, &senders, up * 2).await;
    for i in 0..o.calls {
        let call_id = format!("bench-{i}-{}", std::process::id());
        let _ =
            ng(ng_addr, Bencode::dict([("command", "delete"), ("call-id", &call_id), ("from-tag", &format!("f{i}"))]))
                .await;
    }
    Ok(())
}

/// Waits for the warm-up, then measures loss and the target's CPU and memory over `hold`.
async fn measure(pid: u32, o: &Options, tally: &Tally, senders: &Senders, streams: usize) {
    tokio::time::sleep(o.warmup).await;
    let me = std::process::id();
    let (cpu0, mine0, t0) = (cpu_seconds(pid), cpu_seconds(me), Instant::now());
    tally.phase.store(OPEN, Ordering::Relaxed);
    tokio::time::sleep(o.hold).await;
    let (cpu1, mine1, took) = (cpu_seconds(pid), cpu_seconds(me), t0.elapsed().as_secs_f64());
    tally.phase.store(CLOSED, Ordering::Relaxed);
    let memory = memory_kib(pid);
    // Frames sent just before the close are still crossing the relay.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (expected, got, silent) = tally.count(streams);
    let loss = if expected == 0 { 100.0 } else { 100.0 * (expected - got) as f64 / expected as f64 };
    let cpu = match (cpu0, cpu1) {
        (Some(a), Some(b)) => (b - a) / took,
        _ => f64::NAN,
    };
    let mine = match (mine0, mine1) {
        (Some(a), Some(b)) => (b - a) / took,
        _ => f64::NAN,
    };
    let calls = streams / 2;
    println!("window: {took:.1} s, {calls} bridged calls, {streams} streams");
    println!("frames: expected {expected}, arrived {got}, loss {loss:.4} %; streams that got nothing: {silent}");
    println!("target cpu: {cpu:.3} cores ({:.1} µs per call per second)", cpu * 1e6 / calls.max(1) as f64);
    if let Some((rss, peak)) = memory {
        println!(
            "target memory: rss {} KiB, peak {} KiB ({:.1} KiB per call)",
            rss,
            peak,
            rss as f64 / calls.max(1) as f64
        );
    }
    println!(
        "generator cpu: {mine:.3} cores; send failures {}; stray frames {}",
        senders.dropped.load(Ordering::Relaxed),
        tally.stray.load(Ordering::Relaxed)
    );
    println!("RESULT calls={calls} loss_pct={loss:.4} cpu_cores={cpu:.4} rss_kib={}", memory.map_or(0, |m| m.0));
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: load edge|rtpengine <addr> <target pid> [--calls N] [--rate R] [--hold S] [--warmup S]";
    let opt = |name: &str, default: f64| -> f64 {
        args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(default)
    };
    let o = Options {
        calls: opt("--calls", 1000.0) as usize,
        rate: opt("--rate", 100.0).max(1.0),
        hold: Duration::from_secs_f64(opt("--hold", 30.0)),
        warmup: Duration::from_secs_f64(opt("--warmup", 3.0)),
        record: args.iter().any(|a| a == "--record"),
    };
    let addr: SocketAddr = args.get(1).context(usage)?.parse().context("address")?;
    let pid: u32 = args.get(2).context(usage)?.parse().context("pid")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        match args.first().map(String::as_str) {
            Some("edge") => run_edge(addr, pid, &o).await,
            Some("rtpengine") => run_rtpengine(addr, pid, &o).await,
            _ => bail!(usage),
        }
    })
}
