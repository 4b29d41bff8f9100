//! The `Bus` seam: how platform parts tell each other what happened.
//!
//! Semantics every implementation keeps (the shared suite in [`conformance`] checks them):
//! - `publish` returns only once the bus has taken responsibility for the message (RabbitMQ:
//!   publisher confirm). Messages go to every queue whose binding pattern matches the topic
//!   (AMQP topic rules: words split by `.`, `*` matches one word, `#` zero or more).
//! - A *durable* subscription names a queue shared by competing consumers; a message is handed
//!   to one of them and stays owned by the bus until acked. A consumer that goes away (dropped,
//!   crashed, connection lost) gives its unacked messages back, flagged `redelivered`.
//! - A *transient* subscription gets its own queue that lives as long as the consumer: fan-out
//!   for live views.
//! - Delivery is at least once. Every message carries an id; consumers that must act once use
//!   [`Deduplicate`] (or the store's processed-message record) keyed by it.

mod inprocess;
mod topic;

pub mod conformance;

use std::collections::HashSet;
use std::fmt;
use std::sync::Mutex;

use bytes::Bytes;

pub use inprocess::InProcessBus;
pub use topic::{TopicError, topic_matches, validate_pattern, validate_topic};

/// A message's identity: the same id means the same message, however often it is delivered.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub String);

impl MessageId {
    /// A fresh random id.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.0)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What travels on the bus.
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    /// Identity for deduplication.
    pub id: MessageId,
    /// Dot-separated routing topic, e.g. `tenant.<id>.contact.queued`.
    pub topic: String,
    /// The body (JSON by convention).
    pub payload: Bytes,
}

impl Message {
    /// A message with a fresh id.
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self { id: MessageId::generate(), topic: topic.into(), payload: payload.into() }
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Payloads may hold personal data: log only their size.
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("topic", &self.topic)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// What to subscribe to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// `Some(name)`: a durable queue shared by competing consumers. `None`: a private transient
    /// queue that disappears with the consumer.
    pub queue: Option<String>,
    /// Topic patterns bound to the queue.
    pub patterns: Vec<String>,
    /// Most unacked messages in flight to this consumer at once.
    pub prefetch: u16,
}

impl Subscription {
    /// A durable work queue shared by competing consumers.
    pub fn durable(queue: impl Into<String>, patterns: &[&str]) -> Self {
        Self { queue: Some(queue.into()), patterns: patterns.iter().map(|p| (*p).to_owned()).collect(), prefetch: 32 }
    }
    /// A private fan-out subscription that lives as long as its consumer.
    pub fn transient(patterns: &[&str]) -> Self {
        Self { queue: None, patterns: patterns.iter().map(|p| (*p).to_owned()).collect(), prefetch: 256 }
    }
}

/// Why a bus operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A topic or pattern is malformed.
    #[error(transparent)]
    Topic(#[from] TopicError),
    /// The broker refused or did not confirm a publish.
    #[error("publish not confirmed: {0}")]
    NotConfirmed(String),
    /// The broker cannot be reached (after retries).
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    /// The bus has shut down.
    #[error("bus closed")]
    Closed,
}

/// Settles a delivery; implemented per backend.
#[async_trait::async_trait]
pub trait Settle: Send + Sync {
    /// The message was handled; forget it.
    async fn ack(&self) -> Result<(), BusError>;
    /// The message was not handled; give it back for redelivery.
    async fn requeue(&self) -> Result<(), BusError>;
}

/// A message handed to a consumer, owned by the bus until settled. Dropping it unsettled leaves
/// it in flight until the consumer goes away, when it is redelivered.
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// Whether the bus delivered it before (to this or another consumer).
    pub redelivered: bool,
    settle: Box<dyn Settle>,
}

impl Delivery {
    /// A delivery with its settler; for bus implementations.
    pub fn new(message: Message, redelivered: bool, settle: Box<dyn Settle>) -> Self {
        Self { message, redelivered, settle }
    }
    /// Acknowledges: the message is done.
    pub async fn ack(self) -> Result<(), BusError> {
        self.settle.ack().await
    }
    /// Gives the message back for redelivery.
    pub async fn requeue(self) -> Result<(), BusError> {
        self.settle.requeue().await
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery").field("message", &self.message).field("redelivered", &self.redelivered).finish()
    }
}

/// A stream of deliveries for one subscription.
#[async_trait::async_trait]
pub trait Consumer: Send {
    /// The next delivery; `None` once the bus is closed for good.
    async fn next(&mut self) -> Option<Delivery>;
}

/// The bus seam. Implementations: [`InProcessBus`] and RabbitMQ (`switchboard-bus-amqp`).
#[async_trait::async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes a message; returns once the bus has taken responsibility for it.
    async fn publish(&self, message: Message) -> Result<(), BusError>;
    /// Starts consuming. Bindings exist once this returns, so later publishes reach it.
    async fn subscribe(&self, subscription: Subscription) -> Result<Box<dyn Consumer>, BusError>;
    /// Whether the bus can take messages right now (for `/readyz`).
    async fn check(&self) -> Result<(), BusError>;
    /// A short name for logs and metrics: `inprocess` or `amqp`.
    fn backend(&self) -> &'static str;
}

/// Remembers message ids already handled, in memory; for consumers whose effects are themselves
/// in memory. Durable effects record processed ids in the store, in the same transaction.
#[derive(Debug, Default)]
pub struct Deduplicate {
    seen: Mutex<HashSet<MessageId>>,
}

impl Deduplicate {
    /// Returns true the first time an id is seen, false after.
    pub fn first_time(&self, id: &MessageId) -> bool {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone())
    }
}
