//! `infra/cluster.sh`, the local distributed deployment, run as a user runs it (with this build's
//! binary): it starts two replicas and two edges in two regions; the replicas split the shards and
//! both list both edges as live; a replica killed with the script takes its edge's link with it,
//! and that edge links to the other replica at once; the script restarts it and stops them all.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::{eventually, wait_until};

/// The edge token `infra/cluster.sh` gives its processes.
const TOKEN: &str = "local-cluster-edge-token-of-32-bytes-or-more";

fn script(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    Command::new(root.join("infra/cluster.sh"))
        .args(args)
        .env("SWITCHBOARD_BIN", env!("CARGO_BIN_EXE_switchboard"))
        .env("CLUSTER_DIR", dir)
        .env("SWITCHBOARD_LOG", "warn")
        .output()
        .expect("infra/cluster.sh runs")
}

async fn edges(client: &reqwest::Client, base: &str) -> Vec<Value> {
    let r = client.get(format!("{base}/api/v1/edge/edges")).bearer_auth(TOKEN).send().await;
    match r {
        Ok(r) => r.json::<Value>().await.unwrap_or_default()["items"].as_array().cloned().unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// The replica holding `edge`'s link and whether it is live, as `base` lists it.
async fn edge_on(client: &reqwest::Client, base: &str, edge: &str) -> Option<(String, bool)> {
    edges(client, base)
        .await
        .into_iter()
        .find(|e| e["edge_id"] == edge)
        .map(|e| (e["replica"].as_str().unwrap_or_default().to_owned(), e["live"] == true))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cluster_script_runs_replicas_and_regional_edges_that_fail_over() {
    if switchboard_testkit::service_url("SWITCHBOARD_TEST_AMQP_URL", "RabbitMQ").is_none() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sb-cluster-script-{}", uuid::Uuid::new_v4().simple()));
    let started = script(&dir, &["start"]);
    let stderr = String::from_utf8_lossy(&started.stderr).into_owned();
    // Whatever happens next, the processes go.
    struct Stop(PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = script(&self.0, &["stop"]);
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _stop = Stop(dir.clone());
    assert!(started.status.success(), "cluster.sh start: {stderr}");
    let status = String::from_utf8_lossy(&started.stdout).into_owned();
    for name in ["replica-1", "replica-2", "edge-eu", "edge-us"] {
        assert!(status.lines().any(|l| l.starts_with(name) && l.contains("health 200")), "{name} healthy: {status}");
    }

    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("client");
    let (one, two) = ("http://127.0.0.1:8081", "http://127.0.0.1:8082");
    let split = wait_until("the replicas split the shards", Duration::from_secs(20), || async {
        let out = script(&dir, &["status"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let count = |n: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("replica-{n} drives shards: ")))
                .map_or(0, |s| s.split_whitespace().filter(|w| w.parse::<u32>().is_ok()).count())
        };
        count("1") == 8 && count("2") == 8
    })
    .await;
    eprintln!("cluster script: the shards were split {split:?} after start");
    // Each edge is linked to its region's replica; both replicas list both as live.
    let node_two = eventually("both edges live, each on its own replica", || async {
        let (eu, us) = (edge_on(&client, two, "edge-eu").await, edge_on(&client, one, "edge-us").await);
        let both = edge_on(&client, one, "edge-eu").await.is_some_and(|(_, live)| live)
            && edge_on(&client, two, "edge-us").await.is_some_and(|(_, live)| live);
        match (eu, us) {
            (Some((eu, true)), Some((us, true))) if both && eu != us => Some(us),
            _ => None,
        }
    })
    .await;

    // Replica 1 dies: edge-eu links to replica 2 at once and stays live.
    let killed = script(&dir, &["kill", "replica-1"]);
    assert!(killed.status.success(), "{}", String::from_utf8_lossy(&killed.stderr));
    let moved = wait_until("edge-eu linked to replica 2", Duration::from_secs(15), || async {
        edge_on(&client, two, "edge-eu").await == Some((node_two.clone(), true))
    })
    .await;
    eprintln!("cluster script: edge-eu was on replica 2 {moved:?} after replica 1 died");
    let restarted = script(&dir, &["restart", "replica-1"]);
    assert!(restarted.status.success(), "{}", String::from_utf8_lossy(&restarted.stderr));
    let stopped = script(&dir, &["stop"]);
    assert!(stopped.status.success(), "{}", String::from_utf8_lossy(&stopped.stderr));
    let after = script(&dir, &["status"]);
    let text = String::from_utf8_lossy(&after.stdout).into_owned();
    assert_eq!(text.lines().filter(|l| l.ends_with("stopped")).count(), 4, "{text}");
}
