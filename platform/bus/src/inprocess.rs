//! The embedded bus: tokio primitives in one process, with RabbitMQ's queue semantics.
//!
//! It is as durable as the process: in embedded mode durable state lives in the store, and the
//! bus carries notifications between parts of one process.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::{
    Bus, BusError, Consumer, Delivery, Message, Settle, Subscription, topic_matches, validate_pattern, validate_topic,
};

/// The in-process bus. Cheap to clone; clones share the same queues.
#[derive(Debug, Clone, Default)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    queues: HashMap<String, QueueState>,
    next_id: u64,
    closed: bool,
}

#[derive(Debug)]
struct QueueState {
    patterns: Vec<String>,
    durable: bool,
    ready: VecDeque<(Message, bool)>,
    /// delivery tag -> (message, consumer id)
    unacked: HashMap<u64, (Message, u64)>,
    consumers: usize,
    notify: Arc<Notify>,
}

impl InProcessBus {
    /// A new, empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Closes the bus: consumers end, publishes fail.
    pub fn close(&self) {
        let mut st = self.inner.lock();
        st.closed = true;
        for q in st.queues.values() {
            q.notify.notify_waiters();
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent data (every update is one step).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait::async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, message: Message) -> Result<(), BusError> {
        validate_topic(&message.topic)?;
        let mut st = self.inner.lock();
        if st.closed {
            return Err(BusError::Closed);
        }
        for q in st.queues.values_mut() {
            if q.patterns.iter().any(|p| topic_matches(p, &message.topic)) {
                q.ready.push_back((message.clone(), false));
                q.notify.notify_waiters();
            }
        }
        Ok(())
    }

    async fn subscribe(&self, sub: Subscription) -> Result<Box<dyn Consumer>, BusError> {
        for p in &sub.patterns {
            validate_pattern(p)?;
        }
        let mut st = self.inner.lock();
        if st.closed {
            return Err(BusError::Closed);
        }
        st.next_id += 1;
        let consumer_id = st.next_id;
        let (name, durable) = match sub.queue {
            Some(name) => (name, true),
            None => (format!("transient.{consumer_id}"), false),
        };
        let queue = st.queues.entry(name.clone()).or_insert_with(|| QueueState {
            patterns: Vec::new(),
            durable,
            ready: VecDeque::new(),
            unacked: HashMap::new(),
            consumers: 0,
            notify: Arc::new(Notify::new()),
        });
        for p in sub.patterns {
            if !queue.patterns.contains(&p) {
                queue.patterns.push(p);
            }
        }
        queue.consumers += 1;
        let notify = queue.notify.clone();
        Ok(Box::new(InProcessConsumer {
            inner: self.inner.clone(),
            queue: name,
            consumer_id,
            prefetch: usize::from(sub.prefetch.max(1)),
            notify,
        }))
    }

    async fn check(&self) -> Result<(), BusError> {
        if self.inner.lock().closed { Err(BusError::Closed) } else { Ok(()) }
    }

    fn backend(&self) -> &'static str {
        "inprocess"
    }
}

struct InProcessConsumer {
    inner: Arc<Inner>,
    queue: String,
    consumer_id: u64,
    prefetch: usize,
    notify: Arc<Notify>,
}

#[async_trait::async_trait]
impl Consumer for InProcessConsumer {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.inner.lock();
                if st.closed {
                    return None;
                }
                st.next_id += 1;
                let tag = st.next_id;
                let q = st.queues.get_mut(&self.queue)?;
                let in_flight = q.unacked.values().filter(|(_, c)| *c == self.consumer_id).count();
                if in_flight < self.prefetch
                    && let Some((message, redelivered)) = q.ready.pop_front()
                {
                    q.unacked.insert(tag, (message.clone(), self.consumer_id));
                    let settle = InProcessSettle { inner: self.inner.clone(), queue: self.queue.clone(), tag };
                    return Some(Delivery::new(message, redelivered, Box::new(settle)));
                }
            }
            notified.await;
        }
    }
}

impl Drop for InProcessConsumer {
    fn drop(&mut self) {
        let mut st = self.inner.lock();
        let Some(q) = st.queues.get_mut(&self.queue) else { return };
        // Like a closed AMQP channel: whatever this consumer had not acked goes back, first in line.
        let mut returned: Vec<(u64, Message)> = q
            .unacked
            .iter()
            .filter(|(_, (_, c))| *c == self.consumer_id)
            .map(|(tag, (m, _))| (*tag, m.clone()))
            .collect();
        returned.sort_by_key(|(tag, _)| std::cmp::Reverse(*tag));
        for (tag, message) in returned {
            q.unacked.remove(&tag);
            q.ready.push_front((message, true));
        }
        q.consumers = q.consumers.saturating_sub(1);
        q.notify.notify_waiters();
        if !q.durable && q.consumers == 0 {
            st.queues.remove(&self.queue);
        }
    }
}

struct InProcessSettle {
    inner: Arc<Inner>,
    queue: String,
    tag: u64,
}

#[async_trait::async_trait]
impl Settle for InProcessSettle {
    async fn ack(&self) -> Result<(), BusError> {
        let mut st = self.inner.lock();
        let q = st.queues.get_mut(&self.queue).ok_or(BusError::Closed)?;
        // A tag that is gone was returned when its consumer went away (as with AMQP).
        q.unacked.remove(&self.tag).map(|_| ()).ok_or(BusError::Closed)
    }

    async fn requeue(&self) -> Result<(), BusError> {
        let mut st = self.inner.lock();
        let q = st.queues.get_mut(&self.queue).ok_or(BusError::Closed)?;
        let (message, _) = q.unacked.remove(&self.tag).ok_or(BusError::Closed)?;
        q.ready.push_front((message, true));
        q.notify.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conformance;

    #[tokio::test]
    async fn conformance_suite_passes() {
        // Every "client" is a handle on the same bus, as every process shares one broker.
        let bus = InProcessBus::new();
        conformance::run_all(&|| {
            let bus = bus.clone();
            async move { Ok::<_, BusError>(Box::new(bus) as Box<dyn Bus>) }
        })
        .await
        .expect("in-process bus conforms");
    }

    #[tokio::test]
    async fn closing_ends_consumers() {
        let bus = InProcessBus::new();
        let mut c = bus.subscribe(Subscription::transient(&["a.#"])).await.expect("subscribe");
        bus.close();
        assert!(c.next().await.is_none());
        assert!(matches!(bus.publish(Message::new("a.b", "x")).await, Err(BusError::Closed)));
    }
}
