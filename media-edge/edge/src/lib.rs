//! The edge media node's runtime. Today: SIP signalling over UDP and TCP around the sans-IO
//! layer in `switchboard-sip` — flood limits and scanner drops first, refusals answered with the
//! right status, transactions, and a call core that knows the tenants' numbers and agents' SIP
//! accounts through the [`Directory`] seam (the platform's store in the embedded default, the
//! control link when the edge runs alone). Media (RTP, IVR, bridging, recording) comes next.
//!
//! One task owns all SIP state; sockets and directory look-ups talk to it over a channel, so
//! nothing is locked and a slow look-up never holds up other calls.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use switchboard_sip::digest::{Algorithm, Authenticator, DigestError};
use switchboard_sip::guard::{FloodGuard, Verdict, is_scanner};
use switchboard_sip::message::{Raw, Reply, StartLine, request, uri_user};
use switchboard_sip::transaction::{Incoming, Output, Transactions, TxId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Where a tenant's number leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRoute {
    /// The tenant.
    pub tenant_id: String,
    /// The voice-number endpoint.
    pub endpoint_id: String,
}

/// An agent's SIP account (for a desk phone or softphone that registers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipAccount {
    /// The tenant.
    pub tenant_id: String,
    /// The agent.
    pub user_id: String,
    /// The digest password.
    pub password: String,
}

/// A look-up failed (the platform is unreachable or its store failed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// What the edge asks the platform.
#[async_trait::async_trait]
pub trait Directory: Send + Sync + 'static {
    /// The tenant a dialled number (E.164, `+` included) belongs to.
    async fn number(&self, number: &str) -> Result<Option<NumberRoute>, DirectoryError>;
    /// The SIP account with this user name.
    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>, DirectoryError>;
}

/// Edge settings.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// SIP address for UDP and TCP (`0.0.0.0:5060`; port 0 picks one, the same for both).
    pub sip_addr: SocketAddr,
    /// Digest realm for REGISTER.
    pub realm: String,
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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Peer {
    Udp(SocketAddr),
    Tcp(u64, SocketAddr),
}

impl Peer {
    fn ip(&self) -> IpAddr {
        match self {
            Peer::Udp(a) | Peer::Tcp(_, a) => a.ip(),
        }
    }
}

#[derive(Debug)]
enum Event {
    Bytes { peer: Peer, bytes: Vec<u8> },
    Opened { conn: u64, writer: mpsc::Sender<Vec<u8>> },
    Closed { conn: u64 },
    Decided { tx: TxId, code: u16, reason: Option<String>, headers: Vec<(String, String)> },
    Account { tx: TxId, source: IpAddr, account: Option<SipAccount> },
}

/// Binds UDP and TCP and starts the edge.
pub async fn start(config: EdgeConfig, directory: Arc<dyn Directory>) -> std::io::Result<EdgeHandle> {
    // Same port for both transports: bind TCP first (port 0 picks), then UDP on that port.
    let tcp = TcpListener::bind(config.sip_addr).await?;
    let tcp_addr = tcp.local_addr()?;
    let udp = Arc::new(UdpSocket::bind(SocketAddr::new(config.sip_addr.ip(), tcp_addr.port())).await?);
    let udp_addr = udp.local_addr()?;
    let (events, inbox) = mpsc::channel::<Event>(4096);
    let mut tasks = Vec::new();

    let rx_udp = udp.clone();
    let tx_events = events.clone();
    tasks.push(tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            match rx_udp.recv_from(&mut buf).await {
                Ok((n, from)) => {
                    let ev = Event::Bytes { peer: Peer::Udp(from), bytes: buf[..n].to_vec() };
                    // A full inbox means overload: dropping a datagram is what UDP promises.
                    let _ = tx_events.try_send(ev);
                }
                Err(e) => tracing::debug!(error = %e, "sip udp receive"),
            }
        }
    }));

    let tx_events = events.clone();
    tasks.push(tokio::spawn(accept_tcp(tcp, tx_events)));

    let core = Core::new(config, directory, udp, events);
    tasks.push(tokio::spawn(core.run(inbox)));
    tracing::info!(udp = %udp_addr, tcp = %tcp_addr, "SIP edge listening");
    Ok(EdgeHandle { udp: udp_addr, tcp: tcp_addr, tasks })
}

async fn accept_tcp(listener: TcpListener, events: mpsc::Sender<Event>) {
    let mut next = 0u64;
    loop {
        let Ok((stream, from)) = listener.accept().await else { continue };
        next += 1;
        let conn = next;
        let events = events.clone();
        tokio::spawn(async move {
            let (mut rd, mut wr) = stream.into_split();
            let (writer, mut outbox) = mpsc::channel::<Vec<u8>>(64);
            if events.send(Event::Opened { conn, writer }).await.is_err() {
                return;
            }
            let write = tokio::spawn(async move {
                while let Some(bytes) = outbox.recv().await {
                    if wr.write_all(&bytes).await.is_err() {
                        break;
                    }
                }
            });
            let mut framer = switchboard_sip::frame::StreamFramer::default();
            let mut buf = vec![0u8; 16_384];
            // An idle or trickling connection is closed: it holds memory and a task.
            while let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(120), rd.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
                framer.push(&buf[..n]);
                loop {
                    match framer.next_message() {
                        Ok(Some(bytes)) => {
                            if events.send(Event::Bytes { peer: Peer::Tcp(conn, from), bytes }).await.is_err() {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::debug!(%from, error = %e, "sip tcp stream closed");
                            let _ = events.send(Event::Closed { conn }).await;
                            write.abort();
                            return;
                        }
                    }
                }
            }
            let _ = events.send(Event::Closed { conn }).await;
            write.abort();
        });
    }
}

/// A request waiting for the core's answer: its bytes (to build replies) and our To tag.
#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    tag: String,
}

struct Core {
    config: EdgeConfig,
    directory: Arc<dyn Directory>,
    udp: Arc<UdpSocket>,
    events: mpsc::Sender<Event>,
    started: Instant,
    transactions: Transactions<Peer>,
    guard: FloodGuard<IpAddr>,
    auth: Authenticator<IpAddr>,
    tcp: HashMap<u64, mpsc::Sender<Vec<u8>>>,
    pending: HashMap<TxId, Pending>,
}

fn tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

impl Core {
    fn new(
        config: EdgeConfig,
        directory: Arc<dyn Directory>,
        udp: Arc<UdpSocket>,
        events: mpsc::Sender<Event>,
    ) -> Self {
        let secret: [u8; 32] = rand::random();
        Self {
            config,
            directory,
            udp,
            events,
            started: Instant::now(),
            transactions: Transactions::default(),
            guard: FloodGuard::default(),
            auth: Authenticator::new(&secret),
            tcp: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn run(mut self, mut inbox: mpsc::Receiver<Event>) {
        let mut sweep = tokio::time::interval(Duration::from_secs(30));
        loop {
            let deadline = self.transactions.next_deadline().map(|ms| self.started + Duration::from_millis(ms));
            tokio::select! {
                ev = inbox.recv() => match ev {
                    Some(ev) => self.on_event(ev),
                    None => return,
                },
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                    let now = self.now();
                    self.transactions.on_tick(now);
                }
                _ = sweep.tick() => {
                    let now = self.now();
                    self.guard.sweep(now);
                    self.auth.sweep(now);
                }
            }
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        for out in self.transactions.take_output() {
            match out {
                Output::Send { to: Peer::Udp(addr), bytes } => {
                    if let Err(e) = self.udp.send_to(&bytes, addr).await {
                        tracing::debug!(%addr, error = %e, "sip udp send");
                    }
                }
                Output::Send { to: Peer::Tcp(conn, _), bytes } => {
                    if let Some(w) = self.tcp.get(&conn) {
                        let _ = w.try_send(bytes);
                    }
                }
                Output::NoAck(tx) => {
                    self.pending.remove(&tx);
                }
                Output::No2xxAck { call_id } => tracing::info!(%call_id, "2xx never acknowledged"),
                Output::ClientTimeout(tx) => tracing::debug!(?tx, "client transaction timed out"),
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        match ev {
            Event::Bytes { peer, bytes } => self.on_bytes(peer, &bytes),
            Event::Opened { conn, writer } => {
                self.tcp.insert(conn, writer);
            }
            Event::Closed { conn } => {
                self.tcp.remove(&conn);
            }
            Event::Decided { tx, code, reason, headers } => self.answer(tx, code, reason.as_deref(), &headers),
            Event::Account { tx, source, account } => self.check_register(tx, source, account),
        }
    }

    fn on_bytes(&mut self, peer: Peer, bytes: &[u8]) {
        let now = self.now();
        // Keep-alive pings (RFC 5626 CRLF) are not requests.
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        match self.guard.admit(now, &peer.ip()) {
            Verdict::Admit => {}
            Verdict::Flood => {
                tracing::warn!(source = %peer.ip(), "SIP flood: source banned");
                return;
            }
            Verdict::Banned => return,
        }
        let reliable = matches!(peer, Peer::Tcp(..));
        let raw = match Raw::lex(bytes) {
            Ok(raw) => raw,
            Err(e) => {
                tracing::debug!(source = %peer.ip(), error = %e, "unanswerable SIP dropped");
                return;
            }
        };
        if raw.all("User-Agent").any(is_scanner) {
            // No answer at all: a scanner learns nothing, not even that we exist.
            tracing::debug!(source = %peer.ip(), "scanner dropped");
            return;
        }
        if let StartLine::Response { .. } = raw.start {
            let _ = self.transactions.on_response(now, &raw);
            return;
        }
        let inbound = match request(raw, bytes) {
            Ok(i) => i,
            Err((e, Some(raw))) => {
                tracing::debug!(source = %peer.ip(), error = %e, "SIP request refused");
                let reply = Reply::to(&raw, e.status(), &tag()).reason(&e.to_string());
                let reply = if e.status() == 501 {
                    reply.header("Allow", &switchboard_sip::message::METHODS.join(", "))
                } else {
                    reply
                };
                self.send_direct(&peer, reply.encode());
                return;
            }
            Err((e, None)) => {
                tracing::debug!(source = %peer.ip(), error = %e, "unanswerable SIP dropped");
                return;
            }
        };
        let raw = &inbound.raw;
        let our_tag = tag();
        match self.transactions.on_request(now, peer.clone(), reliable, raw, &our_tag) {
            Incoming::New(tx) => {
                self.pending.insert(tx, Pending { bytes: bytes.to_vec(), tag: our_tag });
                self.on_new_request(tx, peer, raw);
            }
            Incoming::Cancel { invite } => self.answer(invite, 487, None, &[]),
            Incoming::Retransmission
            | Incoming::AckAbsorbed
            | Incoming::Ack2xx
            | Incoming::StrayAck
            | Incoming::CancelAnswered => {}
        }
    }

    fn on_new_request(&mut self, tx: TxId, peer: Peer, raw: &Raw<'_>) {
        let method = raw.method().unwrap_or_default();
        match method {
            "OPTIONS" => {
                let allow = switchboard_sip::message::METHODS.join(", ");
                let headers = vec![("Allow".into(), allow), ("Accept".into(), "application/sdp".into())];
                self.answer(tx, 200, None, &headers);
            }
            "INVITE" => {
                let dialled = match &raw.start {
                    StartLine::Request { uri, .. } => uri_user(uri).map(e164),
                    StartLine::Response { .. } => None,
                };
                let Some(number) = dialled else {
                    self.answer(tx, 404, Some("No number in the request URI"), &[]);
                    return;
                };
                let directory = self.directory.clone();
                let events = self.events.clone();
                tokio::spawn(async move {
                    let decided = match directory.number(&number).await {
                        Ok(None) => (404, Some("No such number".to_owned())),
                        // Calls reach a number's tenant once the media path (RTP, IVR, queue
                        // bridging) lands on this edge; until then the caller hears it is not
                        // available, which carriers pass on as a normal failure.
                        Ok(Some(route)) => {
                            tracing::info!(tenant = %route.tenant_id, endpoint = %route.endpoint_id, %number, "call for a tenant number");
                            (480, Some("Voice is not enabled on this edge yet".to_owned()))
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "number look-up failed");
                            (503, None)
                        }
                    };
                    let _ =
                        events.send(Event::Decided { tx, code: decided.0, reason: decided.1, headers: vec![] }).await;
                });
            }
            "REGISTER" => {
                let Some(header) = raw.all("Authorization").next().map(str::to_owned) else {
                    let challenge = self.auth.challenge(self.now(), &self.config.realm, Algorithm::Md5, false);
                    self.answer(tx, 401, None, &[("WWW-Authenticate".into(), challenge)]);
                    return;
                };
                let username = switchboard_sip::digest::Credentials::parse(&header).map(|c| c.username);
                let Ok(username) = username else {
                    self.answer(tx, 400, Some("Malformed Authorization"), &[]);
                    return;
                };
                let directory = self.directory.clone();
                let events = self.events.clone();
                let source = peer.ip();
                tokio::spawn(async move {
                    let account = directory.sip_account(&username).await.ok().flatten();
                    let _ = events.send(Event::Account { tx, source, account }).await;
                });
            }
            // No dialogs exist on this edge yet, so in-dialog requests match nothing.
            "BYE" | "INFO" => self.answer(tx, 481, None, &[]),
            _ => self.answer(tx, 405, None, &[]),
        }
    }

    fn check_register(&mut self, tx: TxId, source: IpAddr, account: Option<SipAccount>) {
        let Some(p) = self.pending.get(&tx) else { return };
        let bytes = p.bytes.clone();
        let Ok(raw) = Raw::lex(&bytes) else { return };
        let header = raw.all("Authorization").next().unwrap_or_default().to_owned();
        let now = self.now();
        let password = account.as_ref().map(|a| a.password.clone());
        match self.auth.verify(now, source, &self.config.realm, "REGISTER", &header, |_| password) {
            Ok(user) => {
                let contact = raw.all("Contact").next().unwrap_or_default().to_owned();
                tracing::info!(%user, tenant = ?account.map(|a| a.tenant_id), "phone registered");
                self.answer(tx, 200, None, &[("Contact".into(), contact), ("Expires".into(), "300".into())]);
            }
            Err(DigestError::Stale) => {
                let challenge = self.auth.challenge(now, &self.config.realm, Algorithm::Md5, true);
                self.answer(tx, 401, None, &[("WWW-Authenticate".into(), challenge)]);
            }
            Err(e) => self.answer(tx, 403, Some(&e.to_string()), &[]),
        }
    }

    /// Answers a pending request (once; later answers, e.g. after a CANCEL, are dropped).
    fn answer(&mut self, tx: TxId, code: u16, reason: Option<&str>, headers: &[(String, String)]) {
        if !self.transactions.is_pending(tx) {
            self.pending.remove(&tx);
            return;
        }
        let Some(p) = self.pending.get(&tx) else { return };
        let Ok(raw) = Raw::lex(&p.bytes) else { return };
        let mut reply = Reply::to(&raw, code, &p.tag);
        if let Some(r) = reason {
            reply = reply.reason(r);
        }
        for (n, v) in headers {
            reply = reply.header(n, v);
        }
        let call =
            format!("{} {}", raw.one("Call-ID").unwrap_or_default(), raw.cseq().map(|(n, _)| n).unwrap_or_default());
        let now = self.now();
        self.transactions.respond(now, tx, reply.encode(), code, &call);
        if code >= 200 {
            self.pending.remove(&tx);
        }
    }

    /// A reply outside any transaction (to a request refused before one could start).
    fn send_direct(&mut self, peer: &Peer, bytes: Vec<u8>) {
        match peer {
            Peer::Udp(addr) => {
                let _ = self.udp.try_send_to(&bytes, *addr);
            }
            Peer::Tcp(conn, _) => {
                if let Some(w) = self.tcp.get(conn) {
                    let _ = w.try_send(bytes);
                }
            }
        }
    }
}

/// Carriers send numbers with or without `+`; the platform keeps E.164 with it.
fn e164(user: &str) -> String {
    let user = user.trim();
    if user.starts_with('+') || !user.bytes().all(|b| b.is_ascii_digit()) {
        user.to_owned()
    } else {
        format!("+{user}")
    }
}
