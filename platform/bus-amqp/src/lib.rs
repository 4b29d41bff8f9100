//! The `Bus` on RabbitMQ (lapin).
//!
//! - One durable topic exchange, `switchboard.events`; messages are persistent and carry the
//!   bus message id as the AMQP `message_id`.
//! - `publish` waits for the broker's publisher confirm. If the connection is lost it waits for
//!   the reconnect and publishes again (bounded by [`PUBLISH_DEADLINE`]); delivery is at least
//!   once and consumers deduplicate by message id, so a repeat is harmless.
//! - Durable subscriptions are quorum queues shared by competing consumers; transient ones are
//!   exclusive, server-named, auto-delete queues (what they missed while disconnected is gone, as
//!   befits live views). Acks are manual; a consumer that goes away returns what it had not acked.
//! - The connection is re-established in the background with backoff after a broker restart;
//!   consumers declare their queue and bindings again and carry on.
//!
//! Architecture invariant: the only crate that knows lapin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use switchboard_bus::{
    Bus, BusError, Consumer, Delivery, Message, MessageId, Settle, Subscription, validate_pattern, validate_topic,
};
use tokio::sync::{Mutex, mpsc, watch};

/// The exchange every message goes through.
pub const EXCHANGE: &str = "switchboard.events";
/// How long a publish keeps trying through a connection loss before it fails.
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A live connection with its confirm-mode publishing channel.
#[derive(Clone)]
struct Link {
    connection: Arc<Connection>,
    publisher: Channel,
    generation: u64,
}

struct Shared {
    url: String,
    link: Mutex<Option<Link>>,
    generation: std::sync::atomic::AtomicU64,
    closed: AtomicBool,
    /// Flips to true when the bus is dropped, so consumer tasks end.
    shutdown: watch::Sender<bool>,
}

/// The RabbitMQ bus.
pub struct AmqpBus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpBus").finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

impl AmqpBus {
    /// Connects to `url` (`amqp://user:pass@host:port/vhost`) and declares the exchange.
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            url: url.to_owned(),
            link: Mutex::new(None),
            generation: Default::default(),
            closed: AtomicBool::new(false),
            shutdown,
        });
        // The first connection must work: a wrong URL is a configuration error, not an outage.
        shared.link().await?;
        Ok(Self { shared })
    }
}

impl Shared {
    /// The current link, connecting first if there is none or it broke.
    async fn link(&self) -> Result<Link, BusError> {
        let mut guard = self.link.lock().await;
        if let Some(link) = guard.as_ref()
            && link.connection.status().connected()
            && link.publisher.status().connected()
        {
            return Ok(link.clone());
        }
        if self.closed.load(Ordering::SeqCst) {
            return Err(BusError::Closed);
        }
        let props = ConnectionProperties::default().with_connection_name(LongString::from("switchboard"));
        let connection = Connection::connect(&self.url, props).await.map_err(unavailable)?;
        let publisher = connection.create_channel().await.map_err(unavailable)?;
        publisher.confirm_select(ConfirmSelectOptions::default()).await.map_err(unavailable)?;
        publisher
            .exchange_declare(
                EXCHANGE.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if generation > 1 {
            tracing::info!(generation, "reconnected to RabbitMQ");
        }
        let link = Link { connection: Arc::new(connection), publisher, generation };
        *guard = Some(link.clone());
        Ok(link)
    }

    /// Forgets a link that failed (unless it was already replaced).
    async fn drop_link(&self, generation: u64) {
        let mut guard = self.link.lock().await;
        if guard.as_ref().is_some_and(|l| l.generation == generation) {
            *guard = None;
        }
    }

    /// Keeps trying to get a link until one works, `deadline` passes or the bus closes.
    async fn link_within(&self, deadline: Option<Instant>) -> Result<Link, BusError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.link().await {
                Ok(link) => return Ok(link),
                Err(BusError::Closed) => return Err(BusError::Closed),
                Err(e) => {
                    if deadline.is_some_and(|d| Instant::now() + backoff > d) {
                        return Err(e);
                    }
                    tracing::debug!(error = %e, "RabbitMQ not reachable; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

async fn publish_once(link: &Link, message: &Message) -> Result<(), BusError> {
    let props = BasicProperties::default()
        .with_message_id(message.id.0.as_str().into())
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    let confirm = link
        .publisher
        .basic_publish(
            EXCHANGE.into(),
            message.topic.as_str().into(),
            BasicPublishOptions::default(),
            &message.payload,
            props,
        )
        .await
        .map_err(unavailable)?
        .await
        .map_err(unavailable)?;
    match confirm {
        Confirmation::Ack(_) => Ok(()),
        Confirmation::Nack(_) => Err(BusError::NotConfirmed("broker refused the message".into())),
        Confirmation::NotRequested => Err(BusError::NotConfirmed("confirms not enabled".into())),
    }
}

#[async_trait::async_trait]
impl Bus for AmqpBus {
    async fn publish(&self, message: Message) -> Result<(), BusError> {
        validate_topic(&message.topic)?;
        let deadline = Instant::now() + PUBLISH_DEADLINE;
        loop {
            let link = self.shared.link_within(Some(deadline)).await?;
            match publish_once(&link, &message).await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() < deadline => {
                    tracing::warn!(error = %e, id = %message.id, "publish failed; retrying after reconnect");
                    self.shared.drop_link(link.generation).await;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn subscribe(&self, subscription: Subscription) -> Result<Box<dyn Consumer>, BusError> {
        for p in &subscription.patterns {
            validate_pattern(p)?;
        }
        let link = self.shared.link_within(Some(Instant::now() + PUBLISH_DEADLINE)).await?;
        // Declare before returning, so publishes after `subscribe` reach the queue.
        let (channel, mut consumer) = attach(&link, &subscription).await?;
        let (tx, rx) = mpsc::channel(usize::from(subscription.prefetch.max(1)));
        let shared = self.shared.clone();
        let mut shutdown = self.shared.shutdown.subscribe();
        tokio::spawn(async move {
            let mut channel = channel;
            let mut generation = link.generation;
            loop {
                let lost = tokio::select! {
                    () = tx.closed() => break,
                    _ = shutdown.changed() => break,
                    item = consumer.next() => match item {
                        Some(Ok(d)) => {
                            let message = Message {
                                id: MessageId(d.properties.message_id().as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default()),
                                topic: d.routing_key.as_str().to_owned(),
                                payload: d.data.into(),
                            };
                            let settle = AmqpSettle { acker: d.acker };
                            if tx.send(Delivery::new(message, d.redelivered, Box::new(settle))).await.is_err() {
                                break;
                            }
                            false
                        }
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "consumer lost its channel");
                            true
                        }
                        None => true,
                    },
                };
                if !lost {
                    continue;
                }
                shared.drop_link(generation).await;
                // Reattach on a fresh connection: declare again, bind again, consume again.
                loop {
                    if tx.is_closed() || *shutdown.borrow() {
                        return;
                    }
                    let attached = match shared.link_within(None).await {
                        Ok(link) => attach(&link, &subscription).await.map(|a| (a, link.generation)),
                        Err(e) => Err(e),
                    };
                    match attached {
                        Ok(((c, s), g)) => {
                            (channel, consumer, generation) = (c, s, g);
                            tracing::info!(queue = ?subscription.queue, "consumer reattached");
                            break;
                        }
                        Err(BusError::Closed) => return,
                        Err(e) => {
                            tracing::debug!(error = %e, "reattaching consumer");
                            shared.drop_link(generation).await;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }
            // Closing the channel hands unacked deliveries back to the broker at once.
            let _ = channel.close(200, "consumer gone".into()).await;
        });
        Ok(Box::new(AmqpConsumer { rx }))
    }

    async fn check(&self) -> Result<(), BusError> {
        match self.shared.link.lock().await.as_ref() {
            Some(l) if l.connection.status().connected() => Ok(()),
            _ => Err(BusError::Unavailable("not connected to RabbitMQ".into())),
        }
    }

    fn backend(&self) -> &'static str {
        "amqp"
    }
}

impl Drop for AmqpBus {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        let _ = self.shared.shutdown.send(true);
        // Close the connection now rather than when the last task lets go of it, so the broker
        // redelivers our unacked messages promptly (a dropped client behaves like a crash).
        let shared = self.shared.clone();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(link) = shared.link.lock().await.take() {
                    let _ = link.connection.close(200, "client closed".into()).await;
                }
            });
        }
    }
}

/// Opens a channel, declares the queue and its bindings, and starts consuming.
async fn attach(link: &Link, sub: &Subscription) -> Result<(Channel, lapin::Consumer), BusError> {
    let channel = link.connection.create_channel().await.map_err(unavailable)?;
    channel.basic_qos(sub.prefetch.max(1), BasicQosOptions::default()).await.map_err(unavailable)?;
    let queue = match &sub.queue {
        Some(name) => {
            let mut args = FieldTable::default();
            args.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
            channel
                .queue_declare(
                    name.as_str().into(),
                    QueueDeclareOptions { durable: true, ..QueueDeclareOptions::default() },
                    args,
                )
                .await
                .map_err(unavailable)?;
            name.clone()
        }
        None => {
            let q = channel
                .queue_declare(
                    "".into(),
                    QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() },
                    FieldTable::default(),
                )
                .await
                .map_err(unavailable)?;
            q.name().as_str().to_owned()
        }
    };
    for pattern in &sub.patterns {
        channel
            .queue_bind(
                queue.as_str().into(),
                EXCHANGE.into(),
                pattern.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
    }
    let consumer = channel
        .basic_consume(queue.as_str().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .map_err(unavailable)?;
    Ok((channel, consumer))
}

struct AmqpConsumer {
    rx: mpsc::Receiver<Delivery>,
}

#[async_trait::async_trait]
impl Consumer for AmqpConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }
}

struct AmqpSettle {
    acker: lapin::Acker,
}

#[async_trait::async_trait]
impl Settle for AmqpSettle {
    async fn ack(&self) -> Result<(), BusError> {
        self.acker.ack(BasicAckOptions::default()).await.map(|_| ()).map_err(unavailable)
    }

    async fn requeue(&self) -> Result<(), BusError> {
        self.acker
            .nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
