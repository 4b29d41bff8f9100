//! Routing throughput of a running deployment (`infra/cluster.sh start`, or one `switchboard`).
//!
//! `switchboard-cluster-bench <base URL>... [--tenants N] [--agents N] [--contacts N]`
//!
//! Signs up `tenants` businesses (spread over the routing shards), each with a queue and `agents`
//! agents whose console sockets connect round-robin to the given replicas and accept and complete
//! every offer at once. Then creates `contacts` voice contacts per tenant through the API, again
//! round-robin, 32 requests in flight, and reports contacts routed per second: from the first
//! creation to the last completion, each contact created, offered, accepted and completed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

struct Options {
    bases: Vec<String>,
    tenants: usize,
    agents: usize,
    contacts: usize,
}

fn options() -> anyhow::Result<Options> {
    let mut o = Options { bases: Vec::new(), tenants: 8, agents: 4, contacts: 250 };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> anyhow::Result<usize> {
            args.next().with_context(|| format!("{what} needs a number"))?.parse().with_context(|| what.to_owned())
        };
        match a.as_str() {
            "--tenants" => o.tenants = number("--tenants")?,
            "--agents" => o.agents = number("--agents")?,
            "--contacts" => o.contacts = number("--contacts")?,
            url if url.starts_with("http") => o.bases.push(url.trim_end_matches('/').to_owned()),
            other => bail!("unknown argument {other:?}"),
        }
    }
    if o.bases.is_empty() {
        bail!("usage: switchboard-cluster-bench <base URL>... [--tenants N] [--agents N] [--contacts N]");
    }
    Ok(o)
}

async fn post(client: &reqwest::Client, url: String, token: Option<&str>, body: Value) -> anyhow::Result<Value> {
    let mut req = client.post(&url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.with_context(|| url.clone())?;
    let status = res.status();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: {status} {body}");
    }
    Ok(body)
}

/// A tenant ready for load: the owner's token, its queue and its agents' tokens.
async fn tenant(client: &reqwest::Client, base: &str, agents: usize) -> anyhow::Result<(String, Value, Vec<String>)> {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let password = "correct horse battery staple";
    let signup = post(
        client,
        format!("{base}/api/v1/signup"),
        None,
        json!({"business_name": format!("Bench {tag}"), "email": format!("owner-{tag}@bench.example"), "password": password}),
    )
    .await?;
    let owner = signup["tokens"]["access_token"].as_str().context("token")?.to_owned();
    let queue = post(client, format!("{base}/api/v1/queues"), Some(&owner), json!({"name": "bench"})).await?;
    let mut tokens = Vec::new();
    for i in 0..agents {
        let user = post(
            client,
            format!("{base}/api/v1/users"),
            Some(&owner),
            json!({"email": format!("agent{i}-{tag}@bench.example"), "name": format!("Agent {i}"), "role": "agent"}),
        )
        .await?;
        let invite = user["invite_token"].as_str().context("invite")?;
        let accepted = post(
            client,
            format!("{base}/api/v1/auth/accept-invite"),
            None,
            json!({"invite_token": invite, "password": password}),
        )
        .await?;
        tokens.push(accepted["access_token"].as_str().context("token")?.to_owned());
    }
    Ok((owner, queue["id"].clone(), tokens))
}

/// An agent: available, then every offer accepted and completed; counts completions.
async fn agent(base: String, token: String, done: Arc<AtomicUsize>) -> anyhow::Result<()> {
    let ws = base.replacen("http", "ws", 1);
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{ws}/api/v1/agent/ws?access_token={token}")).await?;
    let send = |v: Value| Message::Text(v.to_string().into());
    socket.send(send(json!({"type": "presence", "status": "available", "ref": "p"}))).await?;
    let mut accepting = std::collections::HashSet::new();
    while let Some(frame) = socket.next().await {
        let Message::Text(text) = frame? else { continue };
        let v: Value = serde_json::from_str(&text)?;
        if v["type"] == "contact" && v["event"] == "offered" {
            let id = v["contact_id"].as_str().unwrap_or_default().to_owned();
            accepting.insert(id.clone());
            socket.send(send(json!({"type": "accept", "contact_id": id, "ref": format!("a{id}")}))).await?;
        } else if v["type"] == "ack"
            && let Some(id) = v["ref"].as_str().and_then(|r| r.strip_prefix('a'))
            && accepting.remove(id)
        {
            let complete = json!({"type": "complete", "contact_id": id, "wrap_up_secs": 0, "ref": format!("c{id}")});
            socket.send(send(complete)).await?;
        } else if v["type"] == "ack" && v["ref"].as_str().is_some_and(|r| r.starts_with('c')) {
            done.fetch_add(1, Ordering::SeqCst);
        }
    }
    Ok(())
}

#[tokio::main]
#[allow(clippy::print_stdout)] // the report is the program's output
async fn main() -> anyhow::Result<()> {
    let o = options()?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let done = Arc::new(AtomicUsize::new(0));
    let mut work = Vec::new();
    for t in 0..o.tenants {
        let base = &o.bases[t % o.bases.len()];
        let (owner, queue, agents) = tenant(&client, base, o.agents).await?;
        for (i, token) in agents.into_iter().enumerate() {
            let base = o.bases[(t + i) % o.bases.len()].clone();
            tokio::spawn(agent(base, token, done.clone()));
        }
        work.push((owner, queue));
    }
    // Let the consoles connect and the agents become available.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let total = o.tenants * o.contacts;
    let started = Instant::now();
    let requests = (0..total).map(|n| {
        let (owner, queue) = &work[n % work.len()];
        let url = format!("{}/api/v1/contacts", o.bases[n % o.bases.len()]);
        post(&client, url, Some(owner), json!({"channel": "voice", "queue_id": queue}))
    });
    let created: Vec<anyhow::Result<Value>> = futures::stream::iter(requests).buffer_unordered(32).collect().await;
    let refused = created.iter().filter(|r| r.is_err()).count();
    let created_in = started.elapsed();
    let wanted = total - refused;
    let deadline = Instant::now() + Duration::from_secs(600);
    while done.load(Ordering::SeqCst) < wanted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    let served = done.load(Ordering::SeqCst);
    println!(
        "replicas {}, tenants {}, agents {}: {total} contacts created in {:.2} s ({refused} refused); {served} served in {:.2} s = {:.0} contacts routed per second",
        o.bases.len(),
        o.tenants,
        o.tenants * o.agents,
        created_in.as_secs_f64(),
        took.as_secs_f64(),
        served as f64 / took.as_secs_f64()
    );
    if served < wanted {
        bail!("only {served} of {wanted} contacts were served within 600 s");
    }
    Ok(())
}
