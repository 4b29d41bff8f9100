//! The SIP core: one task that owns every transaction and dialog of the edge.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use switchboard_media::sdp::Direction;
use switchboard_media::sdp::{self, LocalMedia, Session};
use switchboard_sip::dialog::Dialog;
use switchboard_sip::digest::{Algorithm, Authenticator, DigestError};
use switchboard_sip::guard::{FloodGuard, Verdict, is_scanner};
use switchboard_sip::message::{Raw, Reply, StartLine, header_uri, request, uri_user};
use switchboard_sip::transaction::cancel_for;
use switchboard_sip::transaction::{Incoming, Output, ResponseFor, Transactions, TxId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::call::{self, CallInput, CallSetup};
use crate::platform::{NumberRoute, Platform, PlatformError, SipAccount};
use crate::ports::MediaPorts;
use crate::prompts::Prompts;
use crate::{CallCommand, CommandError, EdgeConfig};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Peer {
    Udp(SocketAddr),
    Tcp(u64, SocketAddr),
}

impl Peer {
    fn addr(&self) -> SocketAddr {
        match self {
            Peer::Udp(a) | Peer::Tcp(_, a) => *a,
        }
    }

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
    /// A command from the platform for the call with this Call-ID.
    Control {
        call_id: String,
        command: CallCommand,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    /// Calls in progress and which SIP users are registered here.
    Status {
        reply: oneshot::Sender<crate::EdgeStatus>,
    },
    /// A call lets its agent's phone go (BYE, or CANCEL while ringing).
    ReleaseAgent {
        call_id: String,
    },
    /// An agent's phone rang too long.
    RingTimeout {
        leg: String,
    },
}

type Started = (SocketAddr, SocketAddr, mpsc::Sender<Event>, Vec<tokio::task::JoinHandle<()>>);

pub(crate) async fn start(config: EdgeConfig, platform: Arc<dyn Platform>) -> std::io::Result<Started> {
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

    let core = Core::new(config, platform, udp, events.clone(), udp_addr.port());
    tasks.push(tokio::spawn(core.run(inbox)));
    tracing::info!(udp = %udp_addr, tcp = %tcp_addr, "SIP edge listening");
    Ok((udp_addr, tcp_addr, events, tasks))
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

/// Which side of a call a dialog is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Side {
    /// The caller's leg (the call's own Call-ID); its agent's leg once one answered.
    Caller { agent_leg: Option<String> },
    /// An agent's phone, bridged to the caller of this call.
    Agent { call: String },
}

/// A dialog the core knows: the caller's, or an agent's phone answered; and the way to the
/// call's task.
#[derive(Debug)]
struct CallEntry {
    side: Side,
    tenant: String,
    dialog: Dialog,
    peer: Peer,
    input: mpsc::Sender<CallInput>,
    local: LocalMedia,
    /// BYE sent or received.
    ending: bool,
    /// Late offer: our offer went in the 200; the answer is due in the ACK.
    awaiting_answer: bool,
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
    /// Registered phones by SIP user name (the location service).
    bindings: HashMap<String, Binding>,
    /// Agents' phones being called, by the leg's Call-ID.
    ringing: HashMap<String, Ringing>,
}

/// Where a registered phone is reached.
#[derive(Debug, Clone)]
struct Binding {
    /// Its Contact URI (the request URI of INVITEs to it).
    contact: String,
    /// Where its REGISTER came from: requests go there (it is the path through the phone's NAT).
    peer: Peer,
    /// When the registration lapses (core milliseconds).
    expires_at: u64,
}

/// An INVITE to an agent's phone, not answered yet.
#[derive(Debug)]
struct Ringing {
    /// The caller's call.
    call: String,
    tx: TxId,
    invite: Vec<u8>,
    peer: Peer,
    local: LocalMedia,
    sockets: Option<(std::net::UdpSocket, std::net::UdpSocket)>,
    /// Told the call it rings.
    rang: bool,
    /// CANCEL sent: a 2xx that crosses it is acknowledged and hung up.
    cancelled: bool,
}

/// Registration lifetimes we grant (seconds): phones asking for less or more get the bound.
const MIN_EXPIRES: u64 = 60;
const MAX_EXPIRES: u64 = 3600;
const DEFAULT_EXPIRES: u64 = 300;

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
            bindings: HashMap::new(),
            ringing: HashMap::new(),
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
                    self.bindings.retain(|_, b| b.expires_at > now);
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
                Output::ClientTimeout(tx) => {
                    tracing::debug!(?tx, "client transaction timed out");
                    self.leg_failed(tx, "the phone did not answer the request");
                }
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
                self.release_agent(&call_id);
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
            Event::Control { call_id, command, reply } => self.on_control(call_id, command, reply),
            Event::Status { reply } => {
                let now = self.now();
                let mut registered: Vec<String> =
                    self.bindings.iter().filter(|(_, b)| b.expires_at > now).map(|(u, _)| u.clone()).collect();
                registered.sort();
                let active_calls = self.tenant_calls.values().sum();
                let _ = reply.send(crate::EdgeStatus { active_calls, registered });
            }
            Event::ReleaseAgent { call_id } => self.release_agent(&call_id),
            Event::RingTimeout { leg } => {
                if self.ringing.get(&leg).is_some_and(|r| !r.cancelled) {
                    self.cancel_leg(&leg, "no answer");
                }
            }
        }
    }

    /// A platform command: `Connect` dials here; the rest are the call's to carry out.
    fn on_control(&mut self, call_id: String, command: CallCommand, reply: oneshot::Sender<Result<(), CommandError>>) {
        let Some(entry) = self.calls.get(&call_id).filter(|e| matches!(e.side, Side::Caller { .. }) && !e.ending)
        else {
            let _ = reply.send(Err(CommandError::NoSuchCall));
            return;
        };
        let input = entry.input.clone();
        match command {
            CallCommand::Connect { contact_id, agent_id, username, record } => {
                let busy = matches!(entry.side, Side::Caller { agent_leg: Some(_) })
                    || self.ringing.values().any(|r| r.call == call_id);
                if busy {
                    let _ = reply.send(Err(CommandError::NotNow("an agent's phone is already connected".into())));
                    return;
                }
                let _ = input.try_send(CallInput::Connecting { contact_id, agent_id, record });
                // Whether the phone is reached is reported through the call, like any outcome.
                if let Err(reason) = self.dial_agent(&call_id, &username) {
                    let _ = input.try_send(CallInput::AgentFailed(reason));
                }
                let _ = reply.send(Ok(()));
            }
            other => {
                if let Err(
                    mpsc::error::TrySendError::Full(CallInput::Command(_, reply))
                    | mpsc::error::TrySendError::Closed(CallInput::Command(_, reply)),
                ) = input.try_send(CallInput::Command(other, reply))
                {
                    let _ = reply.send(Err(CommandError::NotNow("the call is busy; try again".into())));
                }
            }
        }
    }

    /// Our side of a new leg's media, on its RTP socket.
    fn local_media(&self, rtp: &std::net::UdpSocket) -> LocalMedia {
        LocalMedia {
            address: self.config.public_ip,
            port: rtp.local_addr().map(|a| a.port()).unwrap_or(0),
            session_id: u64::from(rand::random::<u32>()),
            version: 1,
        }
    }

    /// Calls an agent's registered phone for `call`, offering our media.
    fn dial_agent(&mut self, call: &str, username: &str) -> Result<(), String> {
        let now = self.now();
        let binding = self
            .bindings
            .get(username)
            .filter(|b| b.expires_at > now)
            .cloned()
            .ok_or_else(|| "the agent's phone is not registered".to_owned())?;
        if let Peer::Tcp(conn, _) = binding.peer
            && !self.tcp.contains_key(&conn)
        {
            return Err("the agent's phone lost its connection".into());
        }
        let (rtp, rtcp) = self.ports.bind_pair().map_err(|e| format!("no media port: {e}"))?;
        let local = self.local_media(&rtp);
        let caller =
            self.calls.get(call).map(|c| uri_user(header_uri(&c.dialog.remote)).unwrap_or("anonymous").to_owned());
        let caller: String =
            caller.unwrap_or_default().chars().filter(|c| c.is_ascii_alphanumeric() || *c == '+').collect();
        let leg = format!("{:032x}@switchboard", rand::random::<u128>());
        let body = sdp::offer(&local, Direction::SendRecv);
        let peer = binding.peer.clone();
        let invite = format!(
            "INVITE {target} SIP/2.0\r\nVia: {via};branch={branch};rport\r\nMax-Forwards: 70\r\n\
From: \"{caller}\" <sip:{caller}@{ip}>;tag={tag}\r\nTo: <sip:{username}@{realm}>\r\nCall-ID: {leg}\r\n\
CSeq: 1 INVITE\r\nContact: {contact}\r\nAllow: {allow}\r\nUser-Agent: switchboard\r\n\
Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{body}",
            target = binding.contact,
            via = self.via(&peer),
            branch = branch(),
            ip = self.config.public_ip,
            tag = tag(),
            realm = self.config.realm,
            contact = self.contact(&peer),
            allow = switchboard_sip::message::METHODS.join(", "),
            len = body.len(),
        )
        .into_bytes();
        let tx = self
            .transactions
            .send_request(now, peer.clone(), peer.reliable(), invite.clone())
            .ok_or_else(|| "the phone's address is not usable".to_owned())?;
        tracing::info!(%call, %username, %leg, "calling the agent's phone");
        self.ringing.insert(
            leg.clone(),
            Ringing {
                call: call.to_owned(),
                tx,
                invite,
                peer,
                local,
                sockets: Some((rtp, rtcp)),
                rang: false,
                cancelled: false,
            },
        );
        let events = self.events.clone();
        let timeout = self.config.agent_ring_timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            let _ = events.send(Event::RingTimeout { leg }).await;
        });
        Ok(())
    }

    /// Lets go of a call's agent phone: CANCEL while it rings, BYE once answered.
    fn release_agent(&mut self, call: &str) {
        let ringing: Vec<String> =
            self.ringing.iter().filter(|(_, r)| r.call == call && !r.cancelled).map(|(k, _)| k.clone()).collect();
        for leg in ringing {
            self.cancel_leg(&leg, "released");
        }
        let answered = match self.calls.get_mut(call) {
            Some(CallEntry { side: Side::Caller { agent_leg }, .. }) => agent_leg.take(),
            _ => None,
        };
        if let Some(leg) = answered {
            self.send_bye(&leg);
            self.calls.remove(&leg);
        }
    }

    fn cancel_leg(&mut self, leg: &str, why: &str) {
        let Some(r) = self.ringing.get_mut(leg) else { return };
        r.cancelled = true;
        let call = r.call.clone();
        let (peer, cancel) = (r.peer.clone(), cancel_for(&r.invite));
        tracing::info!(%call, %leg, why, "cancelling the call to the agent's phone");
        if let Some(cancel) = cancel {
            let now = self.now();
            self.transactions.send_request(now, peer.clone(), peer.reliable(), cancel);
        }
        if why == "no answer"
            && let Some(entry) = self.calls.get(&call)
        {
            let _ = entry.input.try_send(CallInput::AgentFailed("the agent's phone did not answer".into()));
        }
    }

    /// The INVITE to an agent's phone ended without a dialog.
    fn leg_failed(&mut self, tx: TxId, reason: &str) {
        let Some(leg) = self.ringing.iter().find(|(_, r)| r.tx == tx).map(|(k, _)| k.clone()) else { return };
        if let Some(r) = self.ringing.remove(&leg)
            && !r.cancelled
            && let Some(entry) = self.calls.get(&r.call)
        {
            let _ = entry.input.try_send(CallInput::AgentFailed(reason.to_owned()));
        }
    }

    /// A response to one of our requests; those to an INVITE to an agent's phone drive its leg.
    fn on_leg_response(&mut self, tx: TxId, code: u16, raw: &Raw<'_>) {
        let Some(leg) = self.ringing.iter().find(|(_, r)| r.tx == tx).map(|(k, _)| k.clone()) else {
            if code >= 300 {
                tracing::info!(code, method = ?raw.cseq().map(|(_, m)| m.to_owned()).ok(), "request refused by the peer");
            }
            return;
        };
        if code < 200 {
            if let Some(r) = self.ringing.get_mut(&leg)
                && code >= 180
                && !r.rang
                && !r.cancelled
            {
                r.rang = true;
                if let Some(entry) = self.calls.get(&r.call) {
                    let _ = entry.input.try_send(CallInput::AgentRinging);
                }
            }
            return;
        }
        if code >= 300 {
            let reason = match code {
                486 | 600 => format!("the agent's phone is busy ({code})"),
                603 => "the agent declined on the phone (603)".to_owned(),
                480 | 408 => format!("the agent's phone did not answer ({code})"),
                _ => format!("the agent's phone refused the call ({code})"),
            };
            return self.leg_failed(tx, &reason);
        }
        let Some(mut r) = self.ringing.remove(&leg) else { return };
        let Ok(invite) = Raw::lex(&r.invite) else { return };
        let Some(mut dialog) = Dialog::uac(&invite, raw) else {
            tracing::warn!(%leg, "2xx from the agent's phone without To tag or Contact");
            return;
        };
        let via = self.via(&r.peer);
        let ack = dialog.ack(&via, &branch(), None);
        self.send_direct(&r.peer, ack);
        let negotiated = Session::parse(raw.body_by_length().unwrap_or_default())
            .map_err(|e| e.to_string())
            .and_then(|answer| sdp::accept_answer(&answer).map_err(|e| e.to_string()));
        let caller_input = self.calls.get(&r.call).filter(|c| !c.ending).map(|c| (c.input.clone(), c.tenant.clone()));
        let sockets = r.sockets.take();
        let bridge = match (negotiated, caller_input, r.cancelled, sockets) {
            (Ok(n), Some(caller), false, Some((rtp, rtcp))) => {
                match (UdpSocket::from_std(rtp), UdpSocket::from_std(rtcp)) {
                    (Ok(rtp), Ok(rtcp)) => Some((n, caller, rtp, rtcp)),
                    _ => None,
                }
            }
            (Err(e), Some((input, _)), false, _) => {
                let _ = input.try_send(CallInput::AgentFailed(format!("the agent's phone answered badly: {e}")));
                None
            }
            _ => None,
        };
        let Some((negotiated, (input, tenant), rtp, rtcp)) = bridge else {
            // Too late (cancelled, the caller left) or unusable: hang the phone up at once.
            let bye = dialog.request("BYE", &via, &branch(), &[], None);
            let now = self.now();
            self.transactions.send_request(now, r.peer.clone(), r.peer.reliable(), bye);
            return;
        };
        tracing::info!(call = %r.call, %leg, "agent's phone answered");
        let _ = input.try_send(CallInput::AgentAnswered { rtp, rtcp, negotiated, signalling_ip: r.peer.ip() });
        if let Some(CallEntry { side: Side::Caller { agent_leg }, .. }) = self.calls.get_mut(&r.call) {
            *agent_leg = Some(leg.clone());
        }
        self.calls.insert(
            leg,
            CallEntry {
                side: Side::Agent { call: r.call.clone() },
                tenant,
                dialog,
                peer: r.peer,
                input,
                local: r.local,
                ending: false,
                awaiting_answer: false,
            },
        );
    }

    /// A 2xx retransmitted because our ACK was lost: acknowledge it again.
    fn reack(&mut self, raw: &Raw<'_>) {
        let call_id = raw.one("Call-ID").unwrap_or_default();
        let Some(entry) = self.calls.get(call_id).filter(|c| c.dialog.matches(raw)) else { return };
        if !matches!(entry.side, Side::Agent { .. }) {
            return;
        }
        let via = self.via(&entry.peer);
        let (ack, peer) = (entry.dialog.ack(&via, &branch(), None), entry.peer.clone());
        self.send_direct(&peer, ack);
    }

    fn on_bytes(&mut self, peer: Peer, bytes: &[u8]) {
        let now = self.now();
        // Keep-alive pings (RFC 5626 CRLF) are not requests.
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        let trusted = self.trusted(peer.ip());
        match if trusted { Verdict::Admit } else { self.guard.admit(now, &peer.ip()) } {
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
            if let Err(e) = raw.check_response() {
                tracing::debug!(source = %peer.ip(), error = %e, "malformed SIP response dropped");
                return;
            }
            match self.transactions.on_response(now, &raw) {
                ResponseFor::Tx { tx, code } => self.on_leg_response(tx, code, &raw),
                ResponseFor::Late2xx => self.reack(&raw),
                ResponseFor::Absorbed | ResponseFor::Unmatched => {}
            }
            return;
        }
        let inbound = match request(raw, bytes) {
            Ok(i) => i,
            Err((e, Some(raw))) => {
                tracing::debug!(source = %peer.ip(), error = %e, "SIP request refused");
                let mut reply = Reply::to(&raw, e.status(), &tag()).reason(&e.to_string()).received(peer.addr());
                for (name, value) in e.headers() {
                    reply = reply.header(name, &value);
                }
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
            Incoming::Ack2xx => self.on_ack(raw),
            Incoming::Retransmission | Incoming::AckAbsorbed | Incoming::StrayAck | Incoming::CancelAnswered => {}
        }
    }

    /// Whether a source is one of the carriers' trunks.
    fn trusted(&self, ip: IpAddr) -> bool {
        self.config.trusted_peers.iter().any(|net| net.contains(ip))
    }

    fn on_new_request(&mut self, tx: TxId, peer: Peer, raw: &Raw<'_>) {
        let method = raw.method().unwrap_or_default();
        match method {
            "OPTIONS" => {
                let allow = switchboard_sip::message::METHODS.join(", ");
                let headers = vec![("Allow".into(), allow), ("Accept".into(), "application/sdp".into())];
                self.answer(tx, 200, None, &headers, None);
            }
            "INVITE" if self.config.calls_from_trusted_only && !self.trusted(peer.ip()) => {
                if self.trunk_authenticated(tx, peer.ip(), raw) {
                    self.take_invite(tx, raw);
                }
            }
            "INVITE" => self.take_invite(tx, raw),
            "REGISTER" => {
                let Some(header) = raw.all("Authorization").next().map(str::to_owned) else {
                    let challenges = self.challenges(false);
                    self.answer(tx, 401, None, &challenges, None);
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

    /// A new call: ask the platform where its number leads (answered in [`Self::on_routed`]).
    fn take_invite(&mut self, tx: TxId, raw: &Raw<'_>) {
        let dialled = match &raw.start {
            StartLine::Request { uri, .. } => uri_user(uri).map(e164),
            StartLine::Response { .. } => None,
        };
        let Some(number) = dialled else {
            self.answer(tx, 404, Some("No number in the request URI"), &[], None);
            return;
        };
        // Full: say so before asking the platform anything.
        if self.tenant_calls.values().sum::<u32>() >= self.config.max_calls {
            self.answer(tx, 503, Some("Edge at capacity"), &[("Retry-After".into(), "5".into())], None);
            return;
        }
        let caller = raw.one("From").ok().and_then(|f| uri_user(header_uri(f)).map(e164)).unwrap_or_default();
        let platform = self.platform.clone();
        let events = self.events.clone();
        tokio::spawn(async move {
            let route = platform.number(&number, &caller).await;
            let _ = events.send(Event::Routed { tx, route }).await;
        });
    }

    /// A call from outside the carriers' address blocks: taken only from a carrier that proves
    /// one of the trunk accounts with digest (RFC 3261 §22.3: 407 and Proxy-Authorization).
    /// Answers the request itself unless the caller is authenticated.
    fn trunk_authenticated(&mut self, tx: TxId, source: IpAddr, raw: &Raw<'_>) -> bool {
        if self.config.trunk_accounts.is_empty() {
            // Not one of our carriers: no call (toll fraud and spam come this way).
            tracing::info!(%source, "call refused: not from a carrier trunk");
            self.answer(tx, 403, Some("Calls are taken from our carriers only"), &[], None);
            return false;
        }
        let Some(header) = raw.all("Proxy-Authorization").next().map(str::to_owned) else {
            let challenges = self.challenges_in("Proxy-Authenticate", false);
            self.answer(tx, 407, None, &challenges, None);
            return false;
        };
        let now = self.now();
        let realm = self.config.realm.clone();
        let accounts = &self.config.trunk_accounts;
        let ha1 = |user: &str, alg: Algorithm| {
            accounts
                .iter()
                .find(|a| a.username == user)
                .map(|a| switchboard_sip::digest::ha1(alg, &a.username, &realm, &a.password))
        };
        match self.auth.verify(now, source, &realm, "INVITE", &header, ha1) {
            Ok(trunk) => {
                tracing::info!(%source, %trunk, "call from a carrier trunk account");
                true
            }
            Err(DigestError::Stale) => {
                let challenges = self.challenges_in("Proxy-Authenticate", true);
                self.answer(tx, 407, None, &challenges, None);
                false
            }
            Err(e) => {
                tracing::info!(%source, error = %e, "call refused: trunk credentials not accepted");
                self.answer(tx, 403, Some(&e.to_string()), &[], None);
                false
            }
        }
    }

    /// The ACK of our 2xx: for a late offer it carries the caller's answer (§13.2.1); without a
    /// usable one the call cannot have media and is ended.
    fn on_ack(&mut self, raw: &Raw<'_>) {
        let call_id = raw.one("Call-ID").unwrap_or_default().to_owned();
        let Some(entry) = self.calls.get_mut(&call_id).filter(|c| c.awaiting_answer) else { return };
        entry.awaiting_answer = false;
        let answer = Session::parse(raw.body_by_length().unwrap_or_default())
            .map_err(|e| e.to_string())
            .and_then(|s| sdp::accept_answer(&s).map_err(|e| e.to_string()));
        match answer {
            Ok(negotiated) => {
                let _ = entry.input.try_send(CallInput::Renegotiated(negotiated));
            }
            Err(e) => {
                tracing::info!(call = %call_id, error = %e, "late offer without a usable answer in the ACK");
                let _ = entry.input.try_send(CallInput::Gone);
                self.send_bye(&call_id);
            }
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
        let agent_of = match &entry.side {
            Side::Agent { call } => Some(call.clone()),
            Side::Caller { .. } => None,
        };
        match method.as_str() {
            "BYE" => {
                entry.ending = true;
                match &agent_of {
                    Some(call) => {
                        let _ = entry.input.try_send(CallInput::AgentGone);
                        if let Some(CallEntry { side: Side::Caller { agent_leg }, .. }) = self.calls.get_mut(call) {
                            *agent_leg = None;
                        }
                        self.calls.remove(&call_id);
                    }
                    None => {
                        let _ = entry.input.try_send(CallInput::Gone);
                    }
                }
                self.answer(tx, 200, None, &[], None);
            }
            "INFO" => {
                let content_type = raw.all("Content-Type").next().unwrap_or_default();
                if agent_of.is_none()
                    && let Some(key) = switchboard_media::dtmf::key_from_info(content_type, body)
                {
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
                        let changed = if agent_of.is_some() {
                            CallInput::AgentRenegotiated(negotiated)
                        } else {
                            CallInput::Renegotiated(negotiated)
                        };
                        let _ = entry.input.try_send(changed);
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
        if let Some(to) = &route.redirect {
            // An edge in the caller's region takes it (RFC 3261 §21.3.3: the carrier tries there).
            tracing::info!(tenant = %route.tenant_id, %to, "call redirected to the caller's region");
            return self.answer(tx, 302, Some("Moved Temporarily"), &[("Contact".into(), format!("<{to}>"))], None);
        }
        if route.flow.is_none() && route.queue_id.is_none() {
            return self.answer(tx, 480, Some("The number has no flow or queue"), &[], None);
        }
        let total: u32 = self.tenant_calls.values().sum();
        if total >= self.config.max_calls {
            tracing::warn!(calls = total, "edge at its capacity");
            return self.answer(tx, 503, Some("Edge at capacity"), &[("Retry-After".into(), "5".into())], None);
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
        // No SDP: a late offer (RFC 3261 §13.2.1): our offer goes in the 200, the answer comes
        // in the ACK; until then the call sends nothing (no address yet).
        let offer = match body.is_empty() {
            true => None,
            false => match Session::parse(body) {
                Ok(o) => Some(o),
                Err(e) => return self.answer(tx, 488, Some(&e.to_string()), &[], None),
            },
        };
        let (rtp, rtcp) = match self.ports.bind_pair() {
            Ok(pair) => pair,
            Err(e) => {
                tracing::error!(error = %e, "no RTP port");
                return self.answer(tx, 503, Some("No media port free"), &[], None);
            }
        };
        let local = self.local_media(&rtp);
        let (negotiated, answer) = match &offer {
            Some(offer) => match sdp::answer(offer, &local, false) {
                Ok(a) => a,
                Err(e) => return self.answer(tx, 488, Some(&e.to_string()), &[], None),
            },
            None => (sdp::Negotiated::awaiting_answer(), sdp::offer(&local, Direction::SendRecv)),
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
            recordings_dir: self.config.recordings_dir.clone(),
            media_timeout: self.config.media_timeout,
        }));
        *self.tenant_calls.entry(tenant.clone()).or_default() += 1;
        let side = Side::Caller { agent_leg: None };
        let awaiting_answer = offer.is_none();
        let entry =
            CallEntry { side, tenant, dialog, peer: peer.clone(), input, local, ending: false, awaiting_answer };
        self.calls.insert(call_id, entry);
        let contact = self.contact(&peer);
        self.answer(tx, 200, None, &[("Contact".into(), contact)], Some(("application/sdp", answer.into_bytes())));
    }

    /// A digest challenge per configured algorithm (RFC 8760 order: preferred first).
    fn challenges(&self, stale: bool) -> Vec<(String, String)> {
        self.challenges_in("WWW-Authenticate", stale)
    }

    /// Digest challenges in the header `name` (a registrar's or a proxy's), preferred first.
    fn challenges_in(&self, name: &str, stale: bool) -> Vec<(String, String)> {
        let now = self.now();
        self.config
            .digest_algorithms
            .iter()
            .copied()
            .map(|alg| (name.to_owned(), self.auth.challenge(now, &self.config.realm, alg, stale)))
            .collect()
    }

    fn check_register(&mut self, tx: TxId, source: IpAddr, account: Option<SipAccount>) {
        let Some(p) = self.pending.get(&tx) else { return };
        let (bytes, peer) = (p.bytes.clone(), p.peer.clone());
        let Ok(raw) = Raw::lex(&bytes) else { return };
        let header = raw.all("Authorization").next().unwrap_or_default().to_owned();
        let now = self.now();
        let ha1 = |_: &str, alg: Algorithm| {
            account.as_ref().map(|a| match alg {
                Algorithm::Md5 => a.ha1_md5.clone(),
                Algorithm::Sha256 => a.ha1_sha256.clone(),
            })
        };
        match self.auth.verify(now, source, &self.config.realm, "REGISTER", &header, ha1) {
            Ok(user) => {
                let Some(account) = account.filter(|a| a.username == user) else {
                    return self.answer(tx, 403, Some("Unknown account"), &[], None);
                };
                // The address of record is the authenticated user: nobody registers for another.
                let to_user = raw.one("To").ok().and_then(|t| uri_user(header_uri(t)));
                if to_user != Some(user.as_str()) {
                    return self.answer(tx, 403, Some("To must name the authenticated user"), &[], None);
                }
                self.bind(tx, &raw, peer, &account);
            }
            Err(DigestError::Stale) => {
                let challenges = self.challenges(true);
                self.answer(tx, 401, None, &challenges, None);
            }
            Err(e) => self.answer(tx, 403, Some(&e.to_string()), &[], None),
        }
    }

    /// Records (or removes) where an authenticated phone is reached (RFC 3261 §10.3).
    fn bind(&mut self, tx: TxId, raw: &Raw<'_>, peer: Peer, account: &SipAccount) {
        let user = account.username.clone();
        let header_expires = raw.all("Expires").next().and_then(|v| v.trim().parse::<u64>().ok());
        let contacts: Vec<String> = raw.all("Contact").map(str::to_owned).collect();
        if contacts.iter().any(|c| c.trim() == "*") {
            if header_expires != Some(0) || contacts.len() != 1 {
                return self.answer(tx, 400, Some("Contact * needs Expires: 0 and no other contact"), &[], None);
            }
            self.bindings.remove(&user);
            tracing::info!(%user, tenant = %account.tenant_id, "phone unregistered");
            return self.answer(tx, 200, None, &[], None);
        }
        let Some(contact) = contacts.first() else {
            // A query: the current binding.
            let current = self.bindings.get(&user).map(|b| {
                let left = b.expires_at.saturating_sub(self.now()) / 1000;
                vec![("Contact".to_owned(), format!("<{}>;expires={left}", b.contact))]
            });
            return self.answer(tx, 200, None, &current.unwrap_or_default(), None);
        };
        let asked = switchboard_sip::message::param(contact, "expires")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .or(header_expires)
            .unwrap_or(DEFAULT_EXPIRES);
        if asked == 0 {
            self.bindings.remove(&user);
            tracing::info!(%user, tenant = %account.tenant_id, "phone unregistered");
            return self.answer(tx, 200, None, &[], None);
        }
        if asked < MIN_EXPIRES {
            return self.answer(tx, 423, None, &[("Min-Expires".into(), MIN_EXPIRES.to_string())], None);
        }
        let granted = asked.min(MAX_EXPIRES);
        let uri = header_uri(contact).to_owned();
        tracing::info!(%user, tenant = %account.tenant_id, agent = %account.user_id, contact = %uri, "phone registered");
        let expires_at = self.now() + granted * 1000;
        self.bindings.insert(user, Binding { contact: uri.clone(), peer, expires_at });
        self.answer(
            tx,
            200,
            None,
            &[("Contact".into(), format!("<{uri}>;expires={granted}")), ("Expires".into(), granted.to_string())],
            None,
        );
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
        let mut reply = Reply::to(&raw, code, &p.tag).received(p.peer.addr());
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
