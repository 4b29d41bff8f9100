//! The bus suite against a real RabbitMQ, plus what only a real broker can show: surviving its
//! restart without losing a confirmed message.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use switchboard_bus::{Bus, Message, Subscription, conformance};
use switchboard_bus_amqp::AmqpBus;
use switchboard_testkit::service_url;

fn url() -> Option<String> {
    service_url("SWITCHBOARD_TEST_AMQP_URL", "RabbitMQ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_passes_on_rabbitmq() {
    let Some(url) = url() else { return };
    conformance::run_all(&|| {
        let url = url.clone();
        async move { AmqpBus::connect(&url).await.map(|b| Box::new(b) as Box<dyn Bus>) }
    })
    .await
    .expect("RabbitMQ bus conforms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_url_fails_fast_with_a_clear_error() {
    if url().is_none() {
        return;
    }
    let err = AmqpBus::connect("amqp://nobody:wrong@127.0.0.1:5672/%2f").await.expect_err("bad credentials");
    assert!(err.to_string().contains("unavailable"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_restart_during_publishing_loses_no_confirmed_message() {
    let Some(url) = url() else { return };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let publisher = AmqpBus::connect(&url).await.expect("connect");
    let consumer_bus = AmqpBus::connect(&url).await.expect("connect");
    let topic = format!("test.restart.{}", uuid::Uuid::new_v4().simple());
    let queue = format!("test.restart.{}", uuid::Uuid::new_v4().simple());
    let mut consumer = consumer_bus.subscribe(Subscription::durable(&queue, &[&topic])).await.expect("subscribe");

    let total = 300;
    let publishing = tokio::spawn({
        let topic = topic.clone();
        async move {
            let mut confirmed = Vec::new();
            for i in 0..total {
                let m = Message::new(&topic, format!("{i}"));
                let id = m.id.clone();
                if publisher.publish(m).await.is_ok() {
                    confirmed.push(id);
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (publisher, confirmed)
        }
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    let restart = std::process::Command::new(root.join("infra/services.sh"))
        .arg("restart-rabbitmq")
        .status()
        .expect("run infra/services.sh");
    assert!(restart.success(), "broker restart failed");

    let (_publisher, confirmed) = publishing.await.expect("publisher task");
    assert!(confirmed.len() > total / 2, "only {} of {total} publishes confirmed", confirmed.len());

    let mut received = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let wanted: HashSet<_> = confirmed.iter().cloned().collect();
    while !wanted.is_subset(&received) && Instant::now() < deadline {
        if let Ok(Some(d)) = tokio::time::timeout(Duration::from_secs(5), consumer.next()).await {
            received.insert(d.message.id.clone());
            let _ = d.ack().await;
        }
    }
    let lost: Vec<_> = wanted.difference(&received).collect();
    assert!(
        lost.is_empty(),
        "{} confirmed messages lost after the restart: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );
    assert!(consumer_bus.check().await.is_ok(), "consumer side reconnected by itself");
}
