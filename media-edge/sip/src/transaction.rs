//! RFC 3261 §17 transactions, sans IO. The caller feeds requests and responses with the time
//! (milliseconds on any monotonic scale), sends what [`Transactions::take_output`] returns and
//! calls [`Transactions::on_tick`] at [`Transactions::next_deadline`].
//!
//! Server side: retransmitted requests are answered with the last response and never reach the
//! core twice; an INVITE gets 100 Trying at once; a final error to an INVITE is retransmitted
//! (Timer G) until its ACK (absorbed here) or Timer H; CANCEL is answered here (200, or 481
//! when nothing matches) and told to the core; a 2xx to an INVITE is retransmitted by the UAS
//! core part here until the ACK arrives (§13.3.1.4), and its absence reported.
//! Client side: requests retransmitted (Timers A/E), timed out (B/F), an error to an INVITE
//! acknowledged here, retransmitted finals absorbed.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::message::{Raw, Reply, StartLine};

/// Milliseconds on the caller's monotonic clock.
pub type Millis = u64;

/// The protocol timers (RFC 3261 §17.1.1.1 defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// Round-trip estimate.
    pub t1: Millis,
    /// Longest retransmission interval for non-INVITE requests and INVITE responses.
    pub t2: Millis,
    /// How long a message may stay in the network.
    pub t4: Millis,
}

impl Default for Timers {
    fn default() -> Self {
        Self { t1: 500, t2: 4_000, t4: 5_000 }
    }
}

/// A transaction's handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(u64);

/// What the IO around the layer must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<A> {
    /// Send these bytes to that peer (over the transport the transaction uses).
    Send {
        /// Destination.
        to: A,
        /// A whole message.
        bytes: Vec<u8>,
    },
    /// A final error to an INVITE was never acknowledged (Timer H).
    NoAck(TxId),
    /// A 2xx to an INVITE was never acknowledged: the core should end the dialog with BYE.
    No2xxAck {
        /// The dialog's Call-ID.
        call_id: String,
    },
    /// A client transaction got no final response in time (Timer B or F); as a 408.
    ClientTimeout(TxId),
}

/// How an incoming request was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// New: the core must answer it with [`Transactions::respond`].
    New(TxId),
    /// A retransmission, answered with the last response (if any): nothing for the core.
    Retransmission,
    /// The ACK for a final error: absorbed.
    AckAbsorbed,
    /// The ACK for a 2xx: the dialog is confirmed (the core's to see).
    Ack2xx,
    /// An ACK matching nothing (late or stray): dropped.
    StrayAck,
    /// A CANCEL for a pending INVITE: answered 200 here; the core should answer the INVITE
    /// with 487.
    Cancel {
        /// The INVITE's transaction.
        invite: TxId,
    },
    /// A CANCEL for an INVITE already answered, or for nothing (answered 200 or 481 here).
    CancelAnswered,
}

/// How an incoming response was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseFor {
    /// For a client transaction: the core sees each provisional and the first final.
    Tx {
        /// The transaction.
        tx: TxId,
        /// Status code.
        code: u16,
    },
    /// A retransmitted final (re-acknowledged here for errors to INVITE): nothing for the core.
    Absorbed,
    /// A 2xx to an INVITE whose transaction has ended (retransmitted by the far end because
    /// our ACK was lost): the core re-sends its ACK.
    Late2xx,
    /// Matches nothing.
    Unmatched,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    branch: String,
    sent_by: String,
    method: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
}

#[derive(Debug)]
struct Server<A> {
    id: TxId,
    invite: bool,
    peer: A,
    reliable: bool,
    state: State,
    last: Option<Vec<u8>>,
    retransmit_at: Option<Millis>,
    interval: Millis,
    end_at: Option<Millis>,
}

#[derive(Debug)]
struct Accepted<A> {
    peer: A,
    bytes: Vec<u8>,
    reliable: bool,
    next_at: Millis,
    interval: Millis,
    give_up_at: Millis,
}

#[derive(Debug)]
struct Client<A> {
    invite: bool,
    peer: A,
    reliable: bool,
    state: State,
    request: Vec<u8>,
    ack: Option<Vec<u8>>,
    retransmit_at: Option<Millis>,
    interval: Millis,
    end_at: Millis,
}

/// Every transaction of one edge.
#[derive(Debug)]
pub struct Transactions<A> {
    timers: Timers,
    next_id: u64,
    servers: HashMap<Key, Server<A>>,
    by_id: HashMap<TxId, Key>,
    accepted: HashMap<(String, u32), Accepted<A>>,
    clients: HashMap<(String, String), (TxId, Client<A>)>,
    out: Vec<Output<A>>,
}

impl<A: Clone + std::fmt::Debug> Default for Transactions<A> {
    fn default() -> Self {
        Self::new(Timers::default())
    }
}

fn key(raw: &Raw<'_>, method: &str) -> Option<Key> {
    Some(Key { branch: raw.transaction_key()?, sent_by: raw.sent_by()?.to_ascii_lowercase(), method: method.into() })
}

impl<A: Clone + std::fmt::Debug> Transactions<A> {
    /// An empty layer with these timers.
    pub fn new(timers: Timers) -> Self {
        Self {
            timers,
            next_id: 0,
            servers: HashMap::new(),
            by_id: HashMap::new(),
            accepted: HashMap::new(),
            clients: HashMap::new(),
            out: Vec::new(),
        }
    }

    fn id(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }

    /// What to send or tell the core, in order.
    pub fn take_output(&mut self) -> Vec<Output<A>> {
        std::mem::take(&mut self.out)
    }

    /// Open server and client transactions and unacknowledged 2xx responses.
    pub fn len(&self) -> usize {
        self.servers.len() + self.clients.len() + self.accepted.len()
    }

    /// Whether nothing is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes a request that passed [`Raw::check_request`]. `local_tag` is the To tag for the
    /// replies the layer makes itself (CANCEL).
    pub fn on_request(&mut self, now: Millis, from: A, reliable: bool, raw: &Raw<'_>, local_tag: &str) -> Incoming {
        let Some(method) = raw.method() else { return Incoming::StrayAck };
        match method {
            "ACK" => self.on_ack(now, raw, reliable),
            "CANCEL" => self.on_cancel(now, from, reliable, raw, local_tag),
            _ => {
                let Some(k) = key(raw, method) else { return Incoming::StrayAck };
                if let Some(tx) = self.servers.get(&k) {
                    if let Some(last) = &tx.last {
                        self.out.push(Output::Send { to: tx.peer.clone(), bytes: last.clone() });
                    }
                    return Incoming::Retransmission;
                }
                let id = self.id();
                let invite = method == "INVITE";
                let mut tx = Server {
                    id,
                    invite,
                    peer: from,
                    reliable,
                    state: if invite { State::Proceeding } else { State::Trying },
                    last: None,
                    retransmit_at: None,
                    interval: self.timers.t1,
                    end_at: None,
                };
                if invite {
                    // The core may take longer than 200 ms (a platform round trip): say so now.
                    let trying = Reply::to(raw, 100, "").encode();
                    self.out.push(Output::Send { to: tx.peer.clone(), bytes: trying.clone() });
                    tx.last = Some(trying);
                }
                self.by_id.insert(id, k.clone());
                self.servers.insert(k, tx);
                let _ = now;
                Incoming::New(id)
            }
        }
    }

    fn on_ack(&mut self, now: Millis, raw: &Raw<'_>, reliable: bool) -> Incoming {
        if let Some(k) = key(raw, "INVITE")
            && let Some(tx) = self.servers.get_mut(&k)
        {
            match tx.state {
                State::Completed => {
                    tx.state = State::Confirmed;
                    tx.retransmit_at = None;
                    tx.end_at = Some(now + if reliable { 0 } else { self.timers.t4 });
                    return Incoming::AckAbsorbed;
                }
                State::Confirmed => return Incoming::AckAbsorbed,
                _ => {}
            }
        }
        let call_id = raw.one("Call-ID").unwrap_or_default().to_owned();
        let seq = raw.cseq().map(|(n, _)| n).unwrap_or(0);
        if self.accepted.remove(&(call_id, seq)).is_some() { Incoming::Ack2xx } else { Incoming::StrayAck }
    }

    fn on_cancel(&mut self, now: Millis, from: A, reliable: bool, raw: &Raw<'_>, local_tag: &str) -> Incoming {
        let (Some(k), Some(invite_key)) = (key(raw, "CANCEL"), key(raw, "INVITE")) else {
            return Incoming::StrayAck;
        };
        if let Some(tx) = self.servers.get(&k) {
            if let Some(last) = &tx.last {
                self.out.push(Output::Send { to: tx.peer.clone(), bytes: last.clone() });
            }
            return Incoming::Retransmission;
        }
        let pending = self.servers.get(&invite_key).filter(|t| t.state == State::Proceeding).map(|t| t.id);
        let known = self.servers.contains_key(&invite_key);
        let id = self.id();
        self.by_id.insert(id, k.clone());
        self.servers.insert(
            k,
            Server {
                id,
                invite: false,
                peer: from,
                reliable,
                state: State::Trying,
                last: None,
                retransmit_at: None,
                interval: self.timers.t1,
                end_at: None,
            },
        );
        let code = if known { 200 } else { 481 };
        self.respond(now, id, Reply::to(raw, code, local_tag).encode(), code, "");
        match pending {
            Some(invite) => Incoming::Cancel { invite },
            None => Incoming::CancelAnswered,
        }
    }

    /// Sends the core's response on a server transaction. `call_id` and the CSeq number are
    /// needed only for a 2xx to an INVITE (its retransmission until the ACK): pass the
    /// request's Call-ID as `call_id_and_seq` ("call-id seq"), else "".
    pub fn respond(&mut self, now: Millis, tx: TxId, bytes: Vec<u8>, code: u16, call_id_and_seq: &str) -> bool {
        let Some(k) = self.by_id.get(&tx).cloned() else { return false };
        let t1 = self.timers.t1;
        let Some(s) = self.servers.get_mut(&k) else { return false };
        if matches!(s.state, State::Completed | State::Confirmed) {
            return false;
        }
        self.out.push(Output::Send { to: s.peer.clone(), bytes: bytes.clone() });
        if code < 200 {
            s.state = State::Proceeding;
            s.last = Some(bytes);
            return true;
        }
        if s.invite && code < 300 {
            // The transaction ends; the UAS core retransmits the 2xx until the ACK.
            let (call_id, seq) = call_id_and_seq.rsplit_once(' ').unwrap_or((call_id_and_seq, "0"));
            self.accepted.insert(
                (call_id.to_owned(), seq.parse().unwrap_or(0)),
                Accepted {
                    peer: s.peer.clone(),
                    bytes,
                    reliable: s.reliable,
                    next_at: now + t1,
                    interval: t1,
                    give_up_at: now + 64 * t1,
                },
            );
            self.servers.remove(&k);
            self.by_id.remove(&tx);
            return true;
        }
        s.state = State::Completed;
        s.last = Some(bytes);
        if s.invite {
            s.retransmit_at = (!s.reliable).then_some(now + t1);
            s.interval = t1;
            s.end_at = Some(now + 64 * t1);
        } else {
            s.end_at = Some(now + if s.reliable { 0 } else { 64 * t1 });
        }
        true
    }

    /// Whether a server transaction is still waiting for the core's final response.
    pub fn is_pending(&self, tx: TxId) -> bool {
        self.by_id
            .get(&tx)
            .and_then(|k| self.servers.get(k))
            .is_some_and(|s| matches!(s.state, State::Trying | State::Proceeding))
    }

    /// Starts a client transaction for a request we send (its top Via carries `branch`).
    pub fn send_request(&mut self, now: Millis, to: A, reliable: bool, bytes: Vec<u8>) -> Option<TxId> {
        let raw = Raw::lex(&bytes).ok()?;
        let method = raw.method()?.to_owned();
        let branch = raw.branch()?.to_owned();
        let invite = method == "INVITE";
        let id = self.id();
        let t1 = self.timers.t1;
        self.out.push(Output::Send { to: to.clone(), bytes: bytes.clone() });
        let client = Client {
            invite,
            peer: to,
            reliable,
            state: if invite { State::Proceeding } else { State::Trying },
            request: bytes,
            ack: None,
            retransmit_at: (!reliable).then_some(now + t1),
            interval: t1,
            end_at: now + 64 * t1,
        };
        self.clients.insert((branch, method), (id, client));
        Some(id)
    }

    /// Takes a response (matched to our client transactions by branch and CSeq method).
    pub fn on_response(&mut self, now: Millis, raw: &Raw<'_>) -> ResponseFor {
        let StartLine::Response { code } = raw.start else { return ResponseFor::Unmatched };
        let (Some(branch), Ok((_, method))) = (raw.branch(), raw.cseq()) else { return ResponseFor::Unmatched };
        let k = (branch.to_owned(), method.to_owned());
        let Some((id, c)) = self.clients.get_mut(&k) else {
            return if method == "INVITE" && (200..300).contains(&code) {
                ResponseFor::Late2xx
            } else {
                ResponseFor::Unmatched
            };
        };
        let id = *id;
        if c.state == State::Completed {
            if let Some(ack) = &c.ack {
                self.out.push(Output::Send { to: c.peer.clone(), bytes: ack.clone() });
            }
            return ResponseFor::Absorbed;
        }
        if code < 200 {
            if c.invite {
                // Ringing may last: no Timer B once the far end answered (the core cancels).
                c.retransmit_at = None;
                c.end_at = now + 180_000;
            } else if c.retransmit_at.is_some() {
                c.interval = self.timers.t2;
            }
            c.state = State::Proceeding;
            return ResponseFor::Tx { tx: id, code };
        }
        if c.invite && code < 300 {
            // The 2xx ends the transaction; the core acknowledges it within the dialog.
            self.clients.remove(&k);
            return ResponseFor::Tx { tx: id, code };
        }
        c.state = State::Completed;
        c.retransmit_at = None;
        if c.invite {
            let ack = ack_for(&c.request, raw);
            if let Some(ack) = &ack {
                self.out.push(Output::Send { to: c.peer.clone(), bytes: ack.clone() });
            }
            c.ack = ack;
            c.end_at = now + if c.reliable { 0 } else { 32_000 };
        } else {
            c.end_at = now + if c.reliable { 0 } else { self.timers.t4 };
        }
        ResponseFor::Tx { tx: id, code }
    }

    /// Runs the timers due at `now`.
    pub fn on_tick(&mut self, now: Millis) {
        let t2 = self.timers.t2;
        let mut ended = Vec::new();
        for (k, s) in &mut self.servers {
            if let Some(at) = s.retransmit_at
                && at <= now
                && s.state == State::Completed
            {
                if let Some(last) = &s.last {
                    self.out.push(Output::Send { to: s.peer.clone(), bytes: last.clone() });
                }
                s.interval = (s.interval * 2).min(t2);
                s.retransmit_at = Some(now + s.interval);
            }
            if s.end_at.is_some_and(|at| at <= now) {
                if s.invite && s.state == State::Completed {
                    self.out.push(Output::NoAck(s.id));
                }
                ended.push((k.clone(), s.id));
            }
        }
        for (k, id) in ended {
            self.servers.remove(&k);
            self.by_id.remove(&id);
        }
        let mut gave_up = Vec::new();
        for (k, a) in &mut self.accepted {
            if a.give_up_at <= now {
                gave_up.push(k.clone());
                continue;
            }
            if !a.reliable && a.next_at <= now {
                self.out.push(Output::Send { to: a.peer.clone(), bytes: a.bytes.clone() });
                a.interval = (a.interval * 2).min(t2);
                a.next_at = now + a.interval;
            }
        }
        for k in gave_up {
            self.accepted.remove(&k);
            self.out.push(Output::No2xxAck { call_id: k.0 });
        }
        let mut done = Vec::new();
        for (k, (id, c)) in &mut self.clients {
            if c.end_at <= now {
                if c.state != State::Completed {
                    self.out.push(Output::ClientTimeout(*id));
                }
                done.push(k.clone());
                continue;
            }
            if let Some(at) = c.retransmit_at
                && at <= now
            {
                self.out.push(Output::Send { to: c.peer.clone(), bytes: c.request.clone() });
                c.interval = if c.invite { c.interval * 2 } else { (c.interval * 2).min(t2) };
                c.retransmit_at = Some(now + c.interval);
            }
        }
        for k in done {
            self.clients.remove(&k);
        }
    }

    /// The earliest time [`Self::on_tick`] has work.
    pub fn next_deadline(&self) -> Option<Millis> {
        let servers = self.servers.values().flat_map(|s| [s.retransmit_at, s.end_at]).flatten();
        let accepted =
            self.accepted.values().flat_map(|a| [(!a.reliable).then_some(a.next_at), Some(a.give_up_at)]).flatten();
        let clients = self.clients.values().flat_map(|(_, c)| [c.retransmit_at, Some(c.end_at)]).flatten();
        servers.chain(accepted).chain(clients).min()
    }
}

/// The CANCEL for our pending INVITE (§9.1): the INVITE's Request-URI, top Via (so the same
/// branch), Route, From, To, Call-ID and CSeq number; sent as its own client transaction.
pub fn cancel_for(invite: &[u8]) -> Option<Vec<u8>> {
    let req = Raw::lex(invite).ok()?;
    let StartLine::Request { uri, .. } = req.start else { return None };
    let (seq, method) = req.cseq().ok()?;
    if method != "INVITE" {
        return None;
    }
    let mut out = format!("CANCEL {uri} SIP/2.0\r\n");
    let _ = write!(out, "Via: {}\r\n", req.vias().first()?);
    for r in req.all("Route") {
        let _ = write!(out, "Route: {r}\r\n");
    }
    let _ = write!(out, "From: {}\r\nTo: {}\r\n", req.one("From").ok()?, req.one("To").ok()?);
    let _ = write!(out, "Call-ID: {}\r\n", req.one("Call-ID").ok()?);
    let _ = write!(out, "CSeq: {seq} CANCEL\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

/// The ACK for an error response to our INVITE (§17.1.1.3): the request's Request-URI, top
/// Via, From, Call-ID and CSeq number, with the response's To.
fn ack_for(request: &[u8], response: &Raw<'_>) -> Option<Vec<u8>> {
    let req = Raw::lex(request).ok()?;
    let StartLine::Request { uri, .. } = req.start else { return None };
    let (seq, _) = req.cseq().ok()?;
    let mut out = format!("ACK {uri} SIP/2.0\r\n");
    let _ = write!(out, "Via: {}\r\n", req.vias().first()?);
    for r in req.all("Route") {
        let _ = write!(out, "Route: {r}\r\n");
    }
    let _ = write!(out, "From: {}\r\n", req.one("From").ok()?);
    let _ = write!(out, "To: {}\r\n", response.one("To").ok()?);
    let _ = write!(out, "Call-ID: {}\r\n", req.one("Call-ID").ok()?);
    let _ = write!(out, "CSeq: {seq} ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, branch: &str, cseq: &str) -> Vec<u8> {
        format!(
            "{method} sip:+15550100@edge SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch={branch}\r\n\
From: <sip:a@carrier>;tag=f1\r\nTo: <sip:+15550100@edge>\r\nCall-ID: call-1\r\nCSeq: {cseq}\r\n\
Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn sends(out: &[Output<u8>]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Send { bytes, .. } => {
                    Some(String::from_utf8_lossy(bytes).lines().next().unwrap_or("").to_owned())
                }
                _ => None,
            })
            .collect()
    }

    fn incoming(t: &mut Transactions<u8>, now: Millis, bytes: &[u8]) -> Incoming {
        let raw = Raw::lex(bytes).expect("lex");
        t.on_request(now, 1, false, &raw, "ours")
    }

    #[test]
    fn a_cancel_matches_its_invite_and_is_refused_for_other_requests() {
        let invite = req("INVITE", "z9hG4bK77", "4 INVITE");
        let cancel = cancel_for(&invite).expect("cancel");
        let c = Raw::lex(&cancel).expect("lex");
        let i = Raw::lex(&invite).expect("lex");
        assert_eq!(c.method(), Some("CANCEL"));
        assert_eq!(c.branch(), i.branch(), "same branch: the far end matches it to the INVITE");
        assert_eq!(c.cseq().expect("cseq"), (4, "CANCEL"));
        assert_eq!(c.one("To").expect("to"), i.one("To").expect("to"));
        assert!(cancel_for(&req("BYE", "z9hG4bK78", "5 BYE")).is_none());
        assert!(cancel_for(b"garbage").is_none());
    }

    #[test]
    fn an_invite_gets_trying_and_its_retransmission_never_reaches_the_core_twice() {
        let mut t = Transactions::default();
        let invite = req("INVITE", "z9hG4bK1", "1 INVITE");
        let Incoming::New(tx) = incoming(&mut t, 0, &invite) else { panic!("new") };
        assert_eq!(sends(&t.take_output()), ["SIP/2.0 100 Trying"]);
        assert_eq!(incoming(&mut t, 500, &invite), Incoming::Retransmission);
        assert_eq!(sends(&t.take_output()), ["SIP/2.0 100 Trying"]);
        let raw = Raw::lex(&invite).expect("lex");
        t.respond(600, tx, Reply::to(&raw, 180, "ours").encode(), 180, "");
        assert_eq!(incoming(&mut t, 700, &invite), Incoming::Retransmission);
        assert_eq!(sends(&t.take_output()), ["SIP/2.0 180 Ringing", "SIP/2.0 180 Ringing"]);
    }

    #[test]
    fn an_error_is_retransmitted_until_the_ack_which_is_absorbed() {
        let mut t = Transactions::default();
        let invite = req("INVITE", "z9hG4bK2", "1 INVITE");
        let Incoming::New(tx) = incoming(&mut t, 0, &invite) else { panic!("new") };
        let raw = Raw::lex(&invite).expect("lex");
        t.respond(0, tx, Reply::to(&raw, 486, "ours").encode(), 486, "");
        t.take_output();
        // Timer G: 500, then 1000 (at 1500), then 2000 (at 3500).
        for now in [500, 1500, 3500] {
            assert_eq!(t.next_deadline(), Some(now));
            t.on_tick(now);
            assert_eq!(sends(&t.take_output()), ["SIP/2.0 486 Busy Here"], "at {now}");
        }
        assert_eq!(incoming(&mut t, 3600, &req("ACK", "z9hG4bK2", "1 ACK")), Incoming::AckAbsorbed);
        t.on_tick(20_000);
        assert!(t.take_output().is_empty(), "no more retransmissions, no NoAck");
        assert!(t.is_empty());
    }

    #[test]
    fn a_lost_ack_ends_with_timer_h() {
        let mut t = Transactions::default();
        let invite = req("INVITE", "z9hG4bK3", "1 INVITE");
        let Incoming::New(tx) = incoming(&mut t, 0, &invite) else { panic!("new") };
        let raw = Raw::lex(&invite).expect("lex");
        t.respond(0, tx, Reply::to(&raw, 404, "ours").encode(), 404, "");
        let mut now = 0;
        while let Some(d) = t.next_deadline() {
            now = d;
            t.on_tick(now);
        }
        assert_eq!(now, 32_000);
        assert!(t.take_output().contains(&Output::NoAck(tx)));
    }

    #[test]
    fn a_2xx_is_retransmitted_until_its_ack_or_reported() {
        let mut t = Transactions::default();
        let invite = req("INVITE", "z9hG4bK4", "7 INVITE");
        let Incoming::New(tx) = incoming(&mut t, 0, &invite) else { panic!("new") };
        let raw = Raw::lex(&invite).expect("lex");
        t.respond(0, tx, Reply::to(&raw, 200, "ours").encode(), 200, "call-1 7");
        t.take_output();
        t.on_tick(500);
        assert_eq!(sends(&t.take_output()), ["SIP/2.0 200 OK"]);
        // The ACK for a 2xx has a new branch: it matches by Call-ID and CSeq.
        assert_eq!(incoming(&mut t, 600, &req("ACK", "z9hG4bKnew", "7 ACK")), Incoming::Ack2xx);
        t.on_tick(5_000);
        assert!(t.take_output().is_empty());

        let invite = req("INVITE", "z9hG4bK5", "8 INVITE");
        let Incoming::New(tx) = incoming(&mut t, 0, &invite) else { panic!("new") };
        t.respond(0, tx, Reply::to(&raw, 200, "ours").encode(), 200, "call-1 8");
        t.on_tick(32_000);
        assert!(t.take_output().contains(&Output::No2xxAck { call_id: "call-1".into() }));
    }

    #[test]
    fn cancel_is_answered_here_and_told_to_the_core_once() {
        let mut t = Transactions::default();
        let invite = req("INVITE", "z9hG4bK6", "1 INVITE");
        let Incoming::New(tx) = incoming(&mut t, 0, &invite) else { panic!("new") };
        t.take_output();
        let cancel = req("CANCEL", "z9hG4bK6", "1 CANCEL");
        assert_eq!(incoming(&mut t, 10, &cancel), Incoming::Cancel { invite: tx });
        assert_eq!(sends(&t.take_output()), ["SIP/2.0 200 OK"]);
        assert_eq!(incoming(&mut t, 20, &cancel), Incoming::Retransmission);
        assert!(t.is_pending(tx));
        // A CANCEL racing the 200 OK: once the INVITE is answered, CANCEL changes nothing.
        let invite2 = req("INVITE", "z9hG4bK7", "2 INVITE");
        let Incoming::New(tx2) = incoming(&mut t, 0, &invite2) else { panic!("new") };
        let raw2 = Raw::lex(&invite2).expect("lex");
        t.respond(30, tx2, Reply::to(&raw2, 200, "ours").encode(), 200, "call-1 2");
        assert_eq!(incoming(&mut t, 31, &req("CANCEL", "z9hG4bK7", "2 CANCEL")), Incoming::CancelAnswered);
        // And a CANCEL for nothing gets 481.
        t.take_output();
        assert_eq!(incoming(&mut t, 40, &req("CANCEL", "z9hG4bKnone", "1 CANCEL")), Incoming::CancelAnswered);
        assert_eq!(sends(&t.take_output()), ["SIP/2.0 481 Call/Transaction Does Not Exist"]);
    }

    #[test]
    fn client_invites_retransmit_time_out_and_acknowledge_errors() {
        let mut t: Transactions<u8> = Transactions::default();
        let tx = t.send_request(0, 2, false, req("INVITE", "z9hG4bKc1", "1 INVITE")).expect("tx");
        t.take_output();
        t.on_tick(500);
        t.on_tick(1_500);
        assert_eq!(sends(&t.take_output()).len(), 2, "Timer A doubles");
        let busy = b"SIP/2.0 486 Busy Here\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKc1\r\n\
From: <sip:a@carrier>;tag=f1\r\nTo: <sip:+15550100@edge>;tag=t9\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        let raw = Raw::lex(busy).expect("lex");
        assert_eq!(t.on_response(1_600, &raw), ResponseFor::Tx { tx, code: 486 });
        let out = t.take_output();
        let Some(Output::Send { bytes, .. }) = out.first() else { panic!("ack") };
        let ack = String::from_utf8_lossy(bytes);
        assert!(
            ack.starts_with("ACK sip:+15550100@edge SIP/2.0\r\n")
                && ack.contains(";tag=t9")
                && ack.contains("CSeq: 1 ACK"),
            "{ack}"
        );
        assert_eq!(
            t.on_response(1_700, &raw),
            ResponseFor::Absorbed,
            "a retransmitted final is re-acknowledged, once for the core"
        );
        assert_eq!(sends(&t.take_output()), ["ACK sip:+15550100@edge SIP/2.0"]);

        let tx = t.send_request(0, 2, false, req("BYE", "z9hG4bKc2", "2 BYE")).expect("tx");
        while let Some(d) = t.next_deadline() {
            t.on_tick(d);
        }
        assert!(t.take_output().contains(&Output::ClientTimeout(tx)), "Timer F");
    }
}
