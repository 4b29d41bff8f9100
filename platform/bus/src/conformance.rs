//! The behaviour every `Bus` implementation must show, as reusable async checks.
//!
//! Each backend's tests call [`run_all`] with a factory that connects a fresh client to the same
//! broker (clients stand for processes: dropping one is a crash). Queue names carry a random
//! suffix so runs against a shared broker do not meet.

use std::future::Future;
use std::time::Duration;

use crate::{Bus, BusError, Consumer, Deduplicate, Delivery, Message, Subscription};

/// A failed expectation, with what was seen.
#[derive(Debug, thiserror::Error)]
#[error("{check}: {what}")]
pub struct Violation {
    /// The check that failed.
    pub check: &'static str,
    /// What went wrong.
    pub what: String,
}

fn fail(check: &'static str, what: impl Into<String>) -> Violation {
    Violation { check, what: what.into() }
}

const WAIT: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_millis(300);

async fn recv(check: &'static str, c: &mut Box<dyn Consumer>) -> Result<Delivery, Violation> {
    tokio::time::timeout(WAIT, c.next())
        .await
        .map_err(|_| fail(check, "no delivery within 10 s"))?
        .ok_or_else(|| fail(check, "consumer ended"))
}

async fn nothing_more(check: &'static str, c: &mut Box<dyn Consumer>) -> Result<(), Violation> {
    match tokio::time::timeout(QUIET, c.next()).await {
        Err(_) => Ok(()),
        Ok(None) => Ok(()),
        Ok(Some(d)) => Err(fail(check, format!("unexpected delivery {:?}", d.message))),
    }
}

fn unique(prefix: &str) -> String {
    format!("test.{prefix}.{}", uuid::Uuid::new_v4().simple())
}

async fn connect<F, Fut>(check: &'static str, make: &F) -> Result<Box<dyn Bus>, Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    make().await.map_err(|e| fail(check, format!("connect: {e}")))
}

async fn publish(check: &'static str, bus: &dyn Bus, m: Message) -> Result<(), Violation> {
    bus.publish(m).await.map_err(|e| fail(check, format!("publish: {e}")))
}

async fn subscribe(check: &'static str, bus: &dyn Bus, s: Subscription) -> Result<Box<dyn Consumer>, Violation> {
    bus.subscribe(s).await.map_err(|e| fail(check, format!("subscribe: {e}")))
}

async fn ack(check: &'static str, d: Delivery) -> Result<(), Violation> {
    d.ack().await.map_err(|e| fail(check, format!("ack: {e}")))
}

/// Runs every check in turn; the first violation is returned.
pub async fn run_all<F, Fut>(make: &F) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    routes_by_topic_pattern(make).await?;
    competing_consumers_share_work(make).await?;
    messages_wait_in_durable_queue_for_a_consumer(make).await?;
    unacked_message_is_redelivered_after_consumer_crash_and_handled_once(make).await?;
    requeued_message_comes_back_flagged(make).await?;
    transient_subscriptions_each_get_a_copy(make).await?;
    malformed_topics_are_refused(make).await?;
    Ok(())
}

/// A message reaches queues whose patterns match its topic, and no others.
pub async fn routes_by_topic_pattern<F, Fut>(make: &F) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    const C: &str = "routes_by_topic_pattern";
    let bus = connect(C, make).await?;
    let ns = unique("route").replace('.', "_");
    let mut contacts =
        subscribe(C, &*bus, Subscription::durable(unique("contacts"), &[&format!("{ns}.*.contact.#")])).await?;
    let mut agents =
        subscribe(C, &*bus, Subscription::durable(unique("agents"), &[&format!("{ns}.*.agent.#")])).await?;
    publish(C, &*bus, Message::new(format!("{ns}.t1.contact.queued"), "c1")).await?;
    publish(C, &*bus, Message::new(format!("{ns}.t1.agent.presence"), "a1")).await?;
    let d = recv(C, &mut contacts).await?;
    if d.message.payload != "c1" {
        return Err(fail(C, format!("contacts queue got {:?}", d.message)));
    }
    ack(C, d).await?;
    let d = recv(C, &mut agents).await?;
    if d.message.payload != "a1" {
        return Err(fail(C, format!("agents queue got {:?}", d.message)));
    }
    ack(C, d).await?;
    nothing_more(C, &mut contacts).await?;
    nothing_more(C, &mut agents).await
}

/// Two consumers of one durable queue: every message is handled by exactly one of them.
pub async fn competing_consumers_share_work<F, Fut>(make: &F) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    const C: &str = "competing_consumers_share_work";
    let bus = connect(C, make).await?;
    let topic = unique("work");
    let queue = unique("workers");
    let mut a = subscribe(C, &*bus, Subscription { prefetch: 1, ..Subscription::durable(&queue, &[&topic]) }).await?;
    let mut b = subscribe(C, &*bus, Subscription { prefetch: 1, ..Subscription::durable(&queue, &[&topic]) }).await?;
    let n = 20;
    for i in 0..n {
        publish(C, &*bus, Message::new(&topic, format!("{i}"))).await?;
    }
    let mut seen = Vec::new();
    let mut turn = 0;
    while seen.len() < n {
        let c = if turn % 2 == 0 { &mut a } else { &mut b };
        turn += 1;
        match tokio::time::timeout(Duration::from_millis(200), c.next()).await {
            Ok(Some(d)) => {
                seen.push(String::from_utf8_lossy(&d.message.payload).into_owned());
                ack(C, d).await?;
            }
            Ok(None) => return Err(fail(C, "consumer ended")),
            Err(_) if turn > 400 => return Err(fail(C, format!("only {} of {n} delivered", seen.len()))),
            Err(_) => {}
        }
    }
    seen.sort_by_key(|s| s.parse::<u32>().unwrap_or(u32::MAX));
    let expected: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    if seen != expected {
        return Err(fail(C, format!("delivered {seen:?}")));
    }
    nothing_more(C, &mut a).await?;
    nothing_more(C, &mut b).await
}

/// A message published to a durable queue with no consumer attached waits for one.
pub async fn messages_wait_in_durable_queue_for_a_consumer<F, Fut>(make: &F) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    const C: &str = "messages_wait_in_durable_queue_for_a_consumer";
    let bus = connect(C, make).await?;
    let topic = unique("later");
    let queue = unique("later");
    // Declaring (subscribing once) creates the queue and its binding; then the consumer leaves.
    drop(subscribe(C, &*bus, Subscription::durable(&queue, &[&topic])).await?);
    publish(C, &*bus, Message::new(&topic, "waiting")).await?;
    let other = connect(C, make).await?;
    let mut c = subscribe(C, &*other, Subscription::durable(&queue, &[&topic])).await?;
    let d = recv(C, &mut c).await?;
    if d.message.payload != "waiting" {
        return Err(fail(C, format!("got {:?}", d.message)));
    }
    ack(C, d).await
}

/// A consumer takes a message and dies before acking: another consumer gets it again, flagged
/// as redelivered, and the deduplicator makes sure its effect happens once even when the first
/// one had already acted.
pub async fn unacked_message_is_redelivered_after_consumer_crash_and_handled_once<F, Fut>(
    make: &F,
) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    const C: &str = "unacked_message_is_redelivered_after_consumer_crash_and_handled_once";
    let publisher = connect(C, make).await?;
    let topic = unique("crash");
    let queue = unique("crash");
    let dedup = Deduplicate::default();
    let mut effects = 0;

    let crashing = connect(C, make).await?;
    let mut first = subscribe(C, &*crashing, Subscription::durable(&queue, &[&topic])).await?;
    let msg = Message::new(&topic, "charge-once");
    let id = msg.id.clone();
    publish(C, &*publisher, msg).await?;
    let d = recv(C, &mut first).await?;
    if d.message.id != id {
        return Err(fail(C, "wrong message"));
    }
    if dedup.first_time(&d.message.id) {
        effects += 1; // it acted, then crashed before the ack
    }
    drop(d);
    drop(first);
    drop(crashing);

    let survivor = connect(C, make).await?;
    let mut second = subscribe(C, &*survivor, Subscription::durable(&queue, &[&topic])).await?;
    let d = recv(C, &mut second).await?;
    if d.message.id != id || !d.redelivered {
        return Err(fail(
            C,
            format!("expected redelivery of {id}, got {:?} redelivered={}", d.message.id, d.redelivered),
        ));
    }
    if dedup.first_time(&d.message.id) {
        effects += 1;
    }
    ack(C, d).await?;
    if effects != 1 {
        return Err(fail(C, format!("handled {effects} times")));
    }
    nothing_more(C, &mut second).await
}

/// An explicit requeue gives the message back, flagged.
pub async fn requeued_message_comes_back_flagged<F, Fut>(make: &F) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    const C: &str = "requeued_message_comes_back_flagged";
    let bus = connect(C, make).await?;
    let topic = unique("requeue");
    let mut c = subscribe(C, &*bus, Subscription::durable(unique("requeue"), &[&topic])).await?;
    publish(C, &*bus, Message::new(&topic, "again")).await?;
    let d = recv(C, &mut c).await?;
    if d.redelivered {
        return Err(fail(C, "first delivery flagged as redelivered"));
    }
    d.requeue().await.map_err(|e| fail(C, format!("requeue: {e}")))?;
    let d = recv(C, &mut c).await?;
    if !d.redelivered || d.message.payload != "again" {
        return Err(fail(C, format!("got {:?} redelivered={}", d.message, d.redelivered)));
    }
    ack(C, d).await
}

/// Each transient subscriber gets its own copy (fan-out); the queue vanishes with it.
pub async fn transient_subscriptions_each_get_a_copy<F, Fut>(make: &F) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    const C: &str = "transient_subscriptions_each_get_a_copy";
    let one = connect(C, make).await?;
    let two = connect(C, make).await?;
    let topic = unique("fanout");
    let mut a = subscribe(C, &*one, Subscription::transient(&[&topic])).await?;
    let mut b = subscribe(C, &*two, Subscription::transient(&[&topic])).await?;
    publish(C, &*one, Message::new(&topic, "hello")).await?;
    for c in [&mut a, &mut b] {
        let d = recv(C, c).await?;
        if d.message.payload != "hello" {
            return Err(fail(C, format!("got {:?}", d.message)));
        }
        ack(C, d).await?;
    }
    Ok(())
}

/// Publishing to a malformed topic is an error and delivers nothing.
pub async fn malformed_topics_are_refused<F, Fut>(make: &F) -> Result<(), Violation>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Box<dyn Bus>, BusError>>,
{
    const C: &str = "malformed_topics_are_refused";
    let bus = connect(C, make).await?;
    for bad in ["", "a..b", "a.*.b"] {
        match bus.publish(Message::new(bad, "x")).await {
            Err(BusError::Topic(_)) => {}
            other => return Err(fail(C, format!("{bad:?} gave {other:?}"))),
        }
    }
    Ok(())
}
