//! The unified-queue routing engine.
//!
//! One [`Engine`] per tenant shard. **Drive rule**: call [`Engine::handle`] with each input and
//! the current time, then drain [`Engine::poll_output`] until it returns `None`; call it with
//! [`Input::Tick`] no later than [`Engine::next_deadline`]. The engine never reads the clock,
//! never makes ids and does no IO, so the same inputs at the same times give the same outputs
//! and a shard can be rebuilt anywhere from its persisted inputs.
//!
//! ```
//! use switchboard_domain::{Channel, ContactId, Presence, QueueId, UserId};
//! use switchboard_routing::{Engine, Input, NewContact, Output, QueueRouting, AgentProfile};
//!
//! let mut engine = Engine::default();
//! let queue = QueueRouting::open(QueueId::generate());
//! let agent = UserId::generate();
//! let now = 1_000;
//! engine.handle(Input::ConfigureQueue(queue.clone()), now).unwrap();
//! engine.handle(Input::Agent(AgentProfile::new(agent)), now).unwrap();
//! engine.handle(Input::Presence { agent, presence: Presence::Available }, now).unwrap();
//! let contact = ContactId::generate();
//! engine.handle(Input::Enqueue(NewContact::new(contact, Channel::Chat, queue.id)), now).unwrap();
//! let mut offered = false;
//! while let Some(out) = engine.poll_output() {
//!     offered |= matches!(out, Output::Offered { agent: a, .. } if a == agent);
//! }
//! assert!(offered);
//! ```
//!
//! How it stays fast with tens of thousands of agents and hundreds of thousands of waiting
//! contacts: waiting contacts sit in ordered sets per (queue, channel), keyed by a *virtual
//! arrival time* (arrival minus priority × ageing), so the head is always the contact to serve
//! next and ageing needs no re-sorting; agents who can take one more contact of a channel sit in
//! ordered sets per (queue, channel), keyed by the queue's selection rule; timers sit in one
//! ordered set. Every input touches a handful of these sets: O(log n), no scans of the tenant.

mod engine;
mod model;

pub use engine::Engine;
pub use model::{
    AgentProfile, EndReason, Input, NewContact, Output, QueueRouting, QueueStats, RestoredContact, RoutingError,
    TransferTarget, WithdrawReason,
};
