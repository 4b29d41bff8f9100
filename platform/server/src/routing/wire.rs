//! Shard commands as they travel between replicas: a [`Command`] without its reply channel, and
//! the answer that goes back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use switchboard_domain::{ContactId, Presence, QueueId, TenantId, UserId};
use switchboard_routing::{QueueStats, RoutingError, TransferTarget};
use tokio::sync::oneshot;

use super::{AgentStatus, Command, Completion, Routing, ShardError};

/// A command for the replica driving the tenant's shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start the tenant's actor (a contact was announced on its intake).
    Wake,
    /// [`Command::Cancel`].
    Cancel { contact: ContactId },
    /// [`Command::Presence`].
    Presence { agent: UserId, presence: Presence },
    /// [`Command::Accept`].
    Accept { contact: ContactId, agent: UserId },
    /// [`Command::Reject`].
    Reject { contact: ContactId, agent: UserId },
    /// [`Command::Complete`].
    Complete {
        contact: ContactId,
        agent: UserId,
        disposition: Option<String>,
        notes: Option<String>,
        wrap_up_secs: Option<u32>,
    },
    /// [`Command::Responded`].
    Responded { contact: ContactId },
    /// [`Command::Transfer`].
    Transfer { contact: ContactId, agent: UserId, to: TransferTarget },
    /// [`Command::Move`].
    Move { contact: ContactId, queue: QueueId },
    /// [`Command::Annotate`].
    Annotate { contact: ContactId, attributes: BTreeMap<String, String>, by: String },
    /// [`Command::Stats`].
    Stats,
    /// [`Command::Agents`].
    Agents,
    /// [`Command::Position`].
    Position { contact: ContactId },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", content = "value", rename_all = "snake_case")]
pub enum Reply {
    /// The engine's verdict.
    Done(Result<(), WireError>),
    /// Queue statistics.
    Stats(Vec<(QueueId, QueueStats)>),
    /// Agents.
    Agents(Vec<AgentStatus>),
    /// A position and estimated wait.
    Position(Option<(u32, Option<u32>)>),
    /// The shard is not driven there (any more).
    Gone,
    /// One replica's answer to a broadcast question.
    Broadcast(serde_json::Value),
}

/// A [`RoutingError`] on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// Which error.
    pub kind: String,
    /// For `invalid`: why.
    pub message: String,
}

/// The reasons the engine and the shard give for `RoutingError::Invalid`: it carries a static
/// string, so a forwarded one is matched back to the same text.
const INVALID_REASONS: &[&str] = &[
    "capacity must be positive",
    "priority 0..=100 and a positive offer timeout",
    "priority 0..=100, skill levels 1..=10",
    "the contact is already with this agent",
    "that agent cannot take this contact now",
    "only a waiting contact can move to another queue",
    "the contact could not be stored",
];

impl From<&RoutingError> for WireError {
    fn from(e: &RoutingError) -> Self {
        let kind = match e {
            RoutingError::UnknownQueue => "unknown_queue",
            RoutingError::UnknownAgent => "unknown_agent",
            RoutingError::UnknownContact => "unknown_contact",
            RoutingError::DuplicateContact => "duplicate_contact",
            RoutingError::NotOffered => "not_offered",
            RoutingError::NotConnected => "not_connected",
            RoutingError::NotInWrapUp => "not_in_wrap_up",
            RoutingError::Invalid(_) => "invalid",
        };
        let message = match e {
            RoutingError::Invalid(m) => (*m).to_owned(),
            _ => String::new(),
        };
        Self { kind: kind.into(), message }
    }
}

impl WireError {
    /// Back to the engine's error.
    pub fn into_error(self) -> RoutingError {
        match self.kind.as_str() {
            "unknown_queue" => RoutingError::UnknownQueue,
            "unknown_agent" => RoutingError::UnknownAgent,
            "unknown_contact" => RoutingError::UnknownContact,
            "duplicate_contact" => RoutingError::DuplicateContact,
            "not_offered" => RoutingError::NotOffered,
            "not_connected" => RoutingError::NotConnected,
            "not_in_wrap_up" => RoutingError::NotInWrapUp,
            _ => RoutingError::Invalid(
                INVALID_REASONS.iter().find(|r| **r == self.message).copied().unwrap_or("refused by routing"),
            ),
        }
    }
}

/// Where a forwarded command's answer goes, once it is back.
#[derive(Debug)]
pub enum Responder {
    /// A verdict.
    Done(oneshot::Sender<Result<(), RoutingError>>),
    /// Queue statistics.
    Stats(oneshot::Sender<Vec<(QueueId, QueueStats)>>),
    /// Agents.
    Agents(oneshot::Sender<Vec<AgentStatus>>),
    /// A position.
    Position(oneshot::Sender<Option<(u32, Option<u32>)>>),
    /// The whole reply, as it came.
    Relay(oneshot::Sender<Reply>),
}

impl Responder {
    /// Hands the answer over; a `Gone` (or mismatched) answer drops the channel, which the
    /// waiting caller sees as [`ShardError::Gone`].
    pub fn answer(self, reply: Reply) {
        match (self, reply) {
            (Responder::Relay(tx), reply) => {
                let _ = tx.send(reply);
            }
            (Responder::Done(tx), Reply::Done(r)) => {
                let _ = tx.send(r.map_err(WireError::into_error));
            }
            (Responder::Stats(tx), Reply::Stats(s)) => {
                let _ = tx.send(s);
            }
            (Responder::Agents(tx), Reply::Agents(a)) => {
                let _ = tx.send(a);
            }
            (Responder::Position(tx), Reply::Position(p)) => {
                let _ = tx.send(p);
            }
            _ => {}
        }
    }
}

impl Command {
    /// The command as a request, and where its answer goes.
    pub fn into_wire(self) -> (Request, Responder) {
        match self {
            Command::Cancel(contact, r) => (Request::Cancel { contact }, Responder::Done(r)),
            Command::Presence(agent, presence, r) => (Request::Presence { agent, presence }, Responder::Done(r)),
            Command::Accept(contact, agent, r) => (Request::Accept { contact, agent }, Responder::Done(r)),
            Command::Reject(contact, agent, r) => (Request::Reject { contact, agent }, Responder::Done(r)),
            Command::Complete(c, r) => (
                Request::Complete {
                    contact: c.contact,
                    agent: c.agent,
                    disposition: c.disposition,
                    notes: c.notes,
                    wrap_up_secs: c.wrap_up_secs,
                },
                Responder::Done(r),
            ),
            Command::Responded(contact, r) => (Request::Responded { contact }, Responder::Done(r)),
            Command::Transfer(contact, agent, to, r) => (Request::Transfer { contact, agent, to }, Responder::Done(r)),
            Command::Move(contact, queue, r) => (Request::Move { contact, queue }, Responder::Done(r)),
            Command::Annotate { contact, attributes, by, reply } => {
                (Request::Annotate { contact, attributes, by }, Responder::Done(reply))
            }
            Command::Stats(r) => (Request::Stats, Responder::Stats(r)),
            Command::Agents(r) => (Request::Agents, Responder::Agents(r)),
            Command::Position(contact, r) => (Request::Position { contact }, Responder::Position(r)),
        }
    }
}

fn done(r: Result<(), ShardError>) -> Reply {
    match r {
        Ok(()) => Reply::Done(Ok(())),
        Err(ShardError::Routing(e)) => Reply::Done(Err(WireError::from(&e))),
        Err(ShardError::Gone) => Reply::Gone,
    }
}

/// Serves a forwarded request with the shard actor in this process (never forwarding again).
pub async fn serve(routing: &Routing, tenant: TenantId, request: Request) -> Reply {
    let verdict = |r: Result<Result<(), RoutingError>, ShardError>| done(r.and_then(|r| r.map_err(ShardError::from)));
    // Only tenants of this deployment get an actor (a bus shared by mistake must not start one).
    if !routing.running(tenant) && !matches!(routing.store.tenant(tenant).await, Ok(Some(_))) {
        return Reply::Gone;
    }
    match request {
        Request::Wake => match routing.local(tenant) {
            Some(_) => Reply::Done(Ok(())),
            None => Reply::Gone,
        },
        Request::Stats => match routing.ask_here(tenant, Command::Stats).await {
            Ok(s) => Reply::Stats(s),
            Err(_) => Reply::Gone,
        },
        Request::Agents => match routing.ask_here(tenant, Command::Agents).await {
            Ok(a) => Reply::Agents(a),
            Err(_) => Reply::Gone,
        },
        Request::Position { contact } => match routing.ask_here(tenant, |r| Command::Position(contact, r)).await {
            Ok(p) => Reply::Position(p),
            Err(_) => Reply::Gone,
        },
        Request::Cancel { contact } => verdict(routing.ask_here(tenant, |r| Command::Cancel(contact, r)).await),
        Request::Presence { agent, presence } => {
            verdict(routing.ask_here(tenant, |r| Command::Presence(agent, presence, r)).await)
        }
        Request::Accept { contact, agent } => {
            verdict(routing.ask_here(tenant, |r| Command::Accept(contact, agent, r)).await)
        }
        Request::Reject { contact, agent } => {
            verdict(routing.ask_here(tenant, |r| Command::Reject(contact, agent, r)).await)
        }
        Request::Complete { contact, agent, disposition, notes, wrap_up_secs } => {
            let done = Completion { contact, agent, disposition, notes, wrap_up_secs };
            verdict(routing.ask_here(tenant, |r| Command::Complete(done, r)).await)
        }
        Request::Responded { contact } => verdict(routing.ask_here(tenant, |r| Command::Responded(contact, r)).await),
        Request::Transfer { contact, agent, to } => {
            verdict(routing.ask_here(tenant, |r| Command::Transfer(contact, agent, to, r)).await)
        }
        Request::Move { contact, queue } => {
            verdict(routing.ask_here(tenant, |r| Command::Move(contact, queue, r)).await)
        }
        Request::Annotate { contact, attributes, by } => {
            verdict(routing.ask_here(tenant, |reply| Command::Annotate { contact, attributes, by, reply }).await)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_routing_error_survives_the_trip() {
        let mut errors = vec![
            RoutingError::UnknownQueue,
            RoutingError::UnknownAgent,
            RoutingError::UnknownContact,
            RoutingError::DuplicateContact,
            RoutingError::NotOffered,
            RoutingError::NotConnected,
            RoutingError::NotInWrapUp,
        ];
        errors.extend(INVALID_REASONS.iter().map(|r| RoutingError::Invalid(r)));
        for e in errors {
            let json = serde_json::to_string(&Reply::Done(Err(WireError::from(&e)))).expect("json");
            let Reply::Done(Err(back)) = serde_json::from_str(&json).expect("parse") else { panic!("{json}") };
            assert_eq!(back.into_error(), e);
        }
        let unknown = WireError { kind: "invalid".into(), message: "something new".into() };
        assert_eq!(unknown.into_error(), RoutingError::Invalid("refused by routing"));
    }

    #[test]
    fn a_command_becomes_a_request_and_its_answer_finds_the_caller() {
        let (tx, rx) = oneshot::channel();
        let agent = UserId::generate();
        let contact = ContactId::generate();
        let (request, responder) = Command::Accept(contact, agent, tx).into_wire();
        let json = serde_json::to_string(&request).expect("json");
        assert_eq!(serde_json::from_str::<Request>(&json).expect("parse"), Request::Accept { contact, agent });
        responder.answer(Reply::Done(Err(WireError::from(&RoutingError::NotOffered))));
        assert_eq!(rx.blocking_recv().expect("answered"), Err(RoutingError::NotOffered));

        let (tx, rx) = oneshot::channel::<Vec<AgentStatus>>();
        let (_, responder) = Command::Agents(tx).into_wire();
        responder.answer(Reply::Gone);
        assert!(rx.blocking_recv().is_err(), "gone drops the channel: the caller sees ShardError::Gone");
    }
}
