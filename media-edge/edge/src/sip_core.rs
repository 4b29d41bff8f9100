//! The SIP core: one task that owns every transaction and dialog of the edge.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use switchboard_media::sdp::{self, LocalMedia, Session};
use switchboard_sip::dialog::Dialog;
use switchboard_sip::digest::{Algorithm, Authenticator, DigestError};
use switchboard_sip::guard::{FloodGuard, Verdict, is_scanner};
use switchboard_sip::message::{Raw, Reply, StartLine, header_uri, request, uri_user};
use switchboard_sip::transaction::{Incoming, Output, ResponseFor, Transactions, TxId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::EdgeConfig;
use crate::call::{self, CallInput, CallSetup};
use crate::platform::{NumberRoute, Platform, PlatformError, SipAccount};
use crate::ports::MediaPorts;
use crate::prompts::Prompts;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Peer {
    Udp(SocketAddr),
    Tcp(u64, SocketAddr),
}

impl Peer {
    fn ip(&self) -> IpAddr {
        match self {
            Peer::Udp(a) | Peer::Tcp(_, a) => a.ip(),
        }
    }

    fn reliable(&self) -> bool {
        matches!(self, Peer::Tcp(..))
    }

    fn transport(&self) -> &'static str {
        if self.reliable() { "TCP" } else { "UDP" }
    }
}

/// What reaches the core.
#[derive(Debug)]
pub(crate) enum Event {
    Bytes {
        peer: Peer,
        bytes: Vec<u8>,
    },
    Opened {
        conn: u64,
        writer: mpsc::Sender<Vec<u8>>,
    },
    Closed {
        conn: u64,
    },
    Routed {
        tx: TxId,
        route: Result<Option<NumberRoute>, PlatformError>,
    },
    Account {
        tx: TxId,
        source: IpAddr,
        account: Option<SipAccount>,
    },
    /// A call wants to end: send BYE.
    CallHangup {
        call_id: String,
    },
    /// A call sends the caller elsewhere: send REFER.
    CallRefer {
        call_id: String,
        target: String,
    },
    /// A call's task has ended.
    CallEnded {
        call_id: String,
    },
}

pub(crate) async fn start(
    config: EdgeConfig,
    platform: Arc<dyn Platform>,
) -> std::io::Result<(SocketAddr, SocketAddr, Vec<tokio::task::JoinHandle<()>>)> {
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

    let core = Core::new(config, platform, udp, events, udp_addr.port());
    tasks.push(tokio::spawn(core.run(inbox)));
    tracing::info!(udp = %udp_addr, tcp = %tcp_addr, "SIP edge listening");
    Ok((udp_addr, tcp_addr, tasks))
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
            // An idle or trickling connection is closed: it holds memory and a task. Calls
            // over TCP keep it busy with their own requests; phones send keep-alives.
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

/// A request waiting for the core's answer: its bytes (to build replies), our To tag, its peer.
#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    tag: String,
    peer: Peer,
}

/// A call the core knows: its dialog and the way to its task.
#[derive(Debug)]
struct CallEntry {
    tenant: String,
    dialog: Dialog,
    peer: Peer,
    input: mpsc::Sender<CallInput>,
    local: LocalMedia,
    /// BYE sent or received.
    ending: bool,
}

struct Core {
    config: EdgeConfig,
    platform: Arc<dyn Platform>,
    udp: Arc<UdpSocket>,
    events: mpsc::Sender<Event>,
    sip_port: u16,
    started: Instant,
    transactions: Transactions<Peer>,
    guard: FloodGuard<IpAddr>,
    auth: Authenticator<IpAddr>,
    tcp: HashMap<u64, mpsc::Sender<Vec<u8>>>,
    pending: HashMap<TxId, Pending>,
    calls: HashMap<String, CallEntry>,
    tenant_calls: HashMap<String, u32>,
    ports: MediaPorts,
    prompts: Arc<Prompts>,
}

fn tag() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn branch() -> String {
    format!("z9hG4bK{:016x}", rand::random::<u64>())
}

impl Core {
    fn new(
        config: EdgeConfig,
        platform: Arc<dyn Platform>,
        udp: Arc<UdpSocket>,
        events: mpsc::Sender<Event>,
        sip_port: u16,
    ) -> Self {
        let secret: [u8; 32] = rand::random();
        let ports = MediaPorts::new(config.sip_addr.ip(), config.rtp_ports.0, config.rtp_ports.1);
        let prompts = Arc::new(Prompts::new(platform.clone()));
        Self {
            config,
            platform,
            udp,
            events,
            sip_port,
            started: Instant::now(),
            transactions: Transactions::default(),
            guard: FloodGuard::default(),
            auth: Authenticator::new(&secret),
            tcp: HashMap::new(),
            pending: HashMap::new(),
            calls: HashMap::new(),
            tenant_calls: HashMap::new(),
            ports,
            prompts,
        }
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn via(&self, peer: &Peer) -> String {
        format!("SIP/2.0/{} {}:{}", peer.transport(), self.config.public_ip, self.sip_port)
    }

    fn contact(&self, peer: &Peer) -> String {
        let transport = if peer.reliable() { ";transport=tcp" } else { "" };
        format!("<sip:switchboard@{}:{}{transport}>", self.config.public_ip, self.sip_port)
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
                Output::No2xxAck { call_id } => {
                    tracing::info!(%call_id, "2xx never acknowledged: ending the call");
                    if let Some(entry) = self.calls.get(&call_id) {
                        let _ = entry.input.try_send(CallInput::Gone);
                    }
                    self.send_bye(&call_id);
                }
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
            Event::Routed { tx, route } => self.on_routed(tx, route),
            Event::Account { tx, source, account } => self.check_register(tx, source, account),
            Event::CallHangup { call_id } => self.send_bye(&call_id),
            Event::CallRefer { call_id, target } => self.send_refer(&call_id, &target),
            Event::CallEnded { call_id } => {
                let ending = self.calls.get(&call_id).is_some_and(|c| c.ending);
                if !ending {
                    self.send_bye(&call_id);
                }
                if let Some(entry) = self.calls.remove(&call_id)
                    && let Some(n) = self.tenant_calls.get_mut(&entry.tenant)
                {
                    *n = n.saturating_sub(1);
                }
            }
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
            match self.transactions.on_response(now, &raw) {
                ResponseFor::Tx { code, .. } if code >= 300 => {
                    tracing::info!(code, method = ?raw.cseq().map(|(_, m)| m.to_owned()).ok(), "request refused by the peer");
                }
                _ => {}
            }
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
        match self.transactions.on_request(now, peer.clone(), peer.reliable(), raw, &our_tag) {
            Incoming::New(tx) => {
                self.pending.insert(tx, Pending { bytes: bytes.to_vec(), tag: our_tag, peer: peer.clone() });
                if raw.tag("To").is_some() {
                    self.in_dialog(tx, raw);
                } else {
                    self.on_new_request(tx, peer, raw);
                }
            }
            Incoming::Cancel { invite } => self.answer(invite, 487, None, &[], None),
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
                self.answer(tx, 200, None, &headers, None);
            }
            "INVITE" => {
                let dialled = match &raw.start {
                    StartLine::Request { uri, .. } => uri_user(uri).map(e164),
                    StartLine::Response { .. } => None,
                };
                let Some(number) = dialled else {
                    self.answer(tx, 404, Some("No number in the request URI"), &[], None);
                    return;
                };
                let platform = self.platform.clone();
                let events = self.events.clone();
                tokio::spawn(async move {
                    let route = platform.number(&number).await;
                    let _ = events.send(Event::Routed { tx, route }).await;
                });
            }
            "REGISTER" => {
                let Some(header) = raw.all("Authorization").next().map(str::to_owned) else {
                    let challenge = self.auth.challenge(self.now(), &self.config.realm, Algorithm::Md5, false);
                    self.answer(tx, 401, None, &[("WWW-Authenticate".into(), challenge)], None);
                    return;
                };
                let username = switchboard_sip::digest::Credentials::parse(&header).map(|c| c.username);
                let Ok(username) = username else {
                    self.answer(tx, 400, Some("Malformed Authorization"), &[], None);
                    return;
                };
                let platform = self.platform.clone();
                let events = self.events.clone();
                let source = peer.ip();
                tokio::spawn(async move {
                    let account = platform.sip_account(&username).await.ok().flatten();
                    let _ = events.send(Event::Account { tx, source, account }).await;
                });
            }
            // Requests that belong in a dialog but name none.
            "BYE" | "INFO" => self.answer(tx, 481, None, &[], None),
            _ => self.answer(tx, 405, None, &[("Allow".into(), switchboard_sip::message::METHODS.join(", "))], None),
        }
    }

    /// A request inside one of our dialogs (it carries our To tag).
    fn in_dialog(&mut self, tx: TxId, raw: &Raw<'_>) {
        let method = raw.method().unwrap_or_default().to_owned();
        let call_id = raw.one("Call-ID").unwrap_or_default().to_owned();
        let seq = raw.cseq().map(|(n, _)| n).unwrap_or(0);
        let Some(entry) = self.calls.get_mut(&call_id).filter(|c| c.dialog.matches(raw)) else {
            self.answer(tx, 481, None, &[], None);
            return;
        };
        if !entry.dialog.accept_remote_seq(seq) {
            // §12.2.2: a lower CSeq than the last one is out of order.
            self.answer(tx, 500, Some("CSeq out of order"), &[], None);
            return;
        }
        let body = raw.body_by_length().unwrap_or_default();
        match method.as_str() {
            "BYE" => {
                entry.ending = true;
                let _ = entry.input.try_send(CallInput::Gone);
                self.answer(tx, 200, None, &[], None);
            }
            "INFO" => {
                let content_type = raw.all("Content-Type").next().unwrap_or_default();
                if let Some(key) = switchboard_media::dtmf::key_from_info(content_type, body) {
                    let _ = entry.input.try_send(CallInput::Key(key));
                }
                self.answer(tx, 200, None, &[], None);
            }
            "INVITE" => {
                // Re-INVITE: hold, resume, a new address. Same port, a new version.
                let offer = match Session::parse(body) {
                    Ok(o) => o,
                    Err(e) => return self.answer(tx, 488, Some(&e.to_string()), &[], None),
                };
                entry.local.version += 1;
                match sdp::answer(&offer, &entry.local, false) {
                    Ok((negotiated, answer)) => {
                        let _ = entry.input.try_send(CallInput::Renegotiated(negotiated));
                        let peer = entry.peer.clone();
                        let contact = self.contact(&peer);
                        self.answer(
                            tx,
                            200,
                            None,
                            &[("Contact".into(), contact)],
                            Some(("application/sdp", answer.into_bytes())),
                        );
                    }
                    Err(e) => self.answer(tx, 488, Some(&e.to_string()), &[], None),
                }
            }
            "OPTIONS" => self.answer(tx, 200, None, &[], None),
            _ => self.answer(tx, 405, None, &[("Allow".into(), switchboard_sip::message::METHODS.join(", "))], None),
        }
    }

    fn on_routed(&mut self, tx: TxId, route: Result<Option<NumberRoute>, PlatformError>) {
        if !self.transactions.is_pending(tx) {
            // CANCELled while we looked: nothing was started, nothing to undo.
            self.pending.remove(&tx);
            return;
        }
        let route = match route {
            Ok(Some(route)) => route,
            Ok(None) => return self.answer(tx, 404, Some("No such number"), &[], None),
            Err(e) => {
                tracing::warn!(error = %e, "number look-up failed");
                return self.answer(tx, 503, None, &[("Retry-After".into(), "5".into())], None);
            }
        };
        if let Some(reason) = &route.unavailable {
            tracing::info!(tenant = %route.tenant_id, %reason, "call refused: the tenant takes no calls");
            return self.answer(tx, 480, Some(reason), &[], None);
        }
        if route.flow.is_none() && route.queue_id.is_none() {
            return self.answer(tx, 480, Some("The number has no flow or queue"), &[], None);
        }
        let busy = self.tenant_calls.get(&route.tenant_id).copied().unwrap_or(0);
        if busy >= route.max_concurrent_calls {
            tracing::warn!(tenant = %route.tenant_id, busy, "tenant at its call limit");
            return self.answer(tx, 486, Some("Too many calls for this account"), &[], None);
        }
        let Some(pending) = self.pending.get(&tx) else { return };
        let bytes = pending.bytes.clone();
        let (our_tag, peer) = (pending.tag.clone(), pending.peer.clone());
        let Ok(raw) = Raw::lex(&bytes) else { return };
        let body = raw.body_by_length().unwrap_or_default();
        if body.is_empty() {
            // Late offer (SDP in the ACK) is not supported: carriers fall back to an early
            // offer on 488.
            return self.answer(tx, 488, Some("SDP offer required"), &[], None);
        }
        let offer = match Session::parse(body) {
            Ok(o) => o,
            Err(e) => return self.answer(tx, 488, Some(&e.to_string()), &[], None),
        };
        let (rtp, rtcp) = match self.ports.bind_pair() {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(error = %e, "no RTP port");
                return self.answer(tx, 503, Some("No media port free"), &[], None);
            }
        };
        let port = rtp.local_addr().map(|a| a.port()).unwrap_or(0);
        let local = LocalMedia {
            address: self.config.public_ip,
            port,
            session_id: u64::from(rand::random::<u32>()),
            version: 1,
        };
        let (negotiated, answer) = match sdp::answer(&offer, &local, false) {
            Ok(a) => a,
            Err(e) => return self.answer(tx, 488, Some(&e.to_string()), &[], None),
        };
        let Some(dialog) = Dialog::uas(&raw, &our_tag) else {
            return self.answer(tx, 400, Some("INVITE without From tag or Contact"), &[], None);
        };
        let (Ok(rtp), Ok(rtcp)) = (UdpSocket::from_std(rtp), UdpSocket::from_std(rtcp)) else {
            return self.answer(tx, 503, None, &[], None);
        };
        let caller = raw.one("From").ok().and_then(|f| uri_user(header_uri(f)).map(e164));
        let StartLine::Request { uri, .. } = &raw.start else { return };
        let dialled = uri_user(uri).map(e164).unwrap_or_default();
        let (input, inbox) = mpsc::channel(64);
        let call_id = dialog.call_id.clone();
        tracing::info!(tenant = %route.tenant_id, call = %call_id, %dialled, "call answered");
        let tenant = route.tenant_id.clone();
        tokio::spawn(call::run(CallSetup {
            call_id: call_id.clone(),
            route,
            caller: caller.unwrap_or_else(|| "anonymous".into()),
            dialled,
            rtp,
            rtcp,
            negotiated,
            signalling_ip: peer.ip(),
            platform: self.platform.clone(),
            prompts: self.prompts.clone(),
            core: self.events.clone(),
            inbox,
            announce_every: self.config.announce_every,
        }));
        *self.tenant_calls.entry(tenant.clone()).or_default() += 1;
        self.calls.insert(call_id, CallEntry { tenant, dialog, peer: peer.clone(), input, local, ending: false });
        let contact = self.contact(&peer);
        self.answer(tx, 200, None, &[("Contact".into(), contact)], Some(("application/sdp", answer.into_bytes())));
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
                self.answer(tx, 200, None, &[("Contact".into(), contact), ("Expires".into(), "300".into())], None);
            }
            Err(DigestError::Stale) => {
                let challenge = self.auth.challenge(now, &self.config.realm, Algorithm::Md5, true);
                self.answer(tx, 401, None, &[("WWW-Authenticate".into(), challenge)], None);
            }
            Err(e) => self.answer(tx, 403, Some(&e.to_string()), &[], None),
        }
    }

    /// Ends a call from our side (once).
    fn send_bye(&mut self, call_id: &str) {
        let Some(entry) = self.calls.get_mut(call_id) else { return };
        if entry.ending {
            return;
        }
        entry.ending = true;
        let peer = entry.peer.clone();
        let via = self.via(&peer);
        let Some(entry) = self.calls.get_mut(call_id) else { return };
        let bye = entry.dialog.request("BYE", &via, &branch(), &[], None);
        let now = self.now();
        self.transactions.send_request(now, peer.clone(), peer.reliable(), bye);
    }

    /// Asks the caller's side to call `target` instead (RFC 3515 blind transfer).
    fn send_refer(&mut self, call_id: &str, target: &str) {
        let Some(peer) = self.calls.get(call_id).map(|c| c.peer.clone()) else { return };
        let host = match &peer {
            Peer::Udp(a) | Peer::Tcp(_, a) => a.to_string(),
        };
        let refer_to = format!("<sip:{target}@{host}>");
        let referred_by = format!("<sip:switchboard@{}:{}>", self.config.public_ip, self.sip_port);
        let via = self.via(&peer);
        let contact = self.contact(&peer);
        let Some(entry) = self.calls.get_mut(call_id) else { return };
        let refer = entry.dialog.request(
            "REFER",
            &via,
            &branch(),
            &[("Refer-To", &refer_to), ("Referred-By", &referred_by), ("Contact", &contact)],
            None,
        );
        let now = self.now();
        self.transactions.send_request(now, peer.clone(), peer.reliable(), refer);
    }

    /// Answers a pending request (once; later answers, e.g. after a CANCEL, are dropped).
    fn answer(
        &mut self,
        tx: TxId,
        code: u16,
        reason: Option<&str>,
        headers: &[(String, String)],
        body: Option<(&str, Vec<u8>)>,
    ) {
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
        if let Some((content_type, body)) = body {
            reply = reply.body(content_type, body);
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
