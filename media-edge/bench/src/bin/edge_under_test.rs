#![allow(clippy::print_stdout)] // a benchmark program: its report is its output
//! The edge under test: the real edge runtime (SIP, calls, media, IVR, recording) behind a
//! synthetic platform that answers at once from memory, so the benchmark measures the edge and
//! not a database. Modes:
//! - `relay`: every call to any number waits in a queue and is connected at once to the phone
//!   registered as `agent` (password `bench-password`): a bridged call, recorded with `--record`.
//! - `ivr`: every call is answered into an IVR that plays the welcome prompt and waits for keys
//!   (the caller hangs up).
//!
//! `edge_under_test relay|ivr <sip addr> <rtp min>-<rtp max> [--record]`; prints `ready` when
//! it listens, and on SIGTERM/SIGINT how many recordings (and bytes) it handed over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use switchboard_edge::{
    Admission, Algorithm, CallCommand, CallEvent, CallIntake, CommandError, EdgeConfig, EdgeControl, NumberRoute,
    Platform, PlatformError, QueuePosition, Recording, SipAccount, Voicemail, ha1,
};
use switchboard_edge_bench::{AGENT, AGENT_PASSWORD, REALM};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Relay,
    Ivr,
}

#[derive(Debug)]
struct Synthetic {
    mode: Mode,
    record: bool,
    flow: Option<switchboard_ivr::Flow>,
    control: OnceLock<EdgeControl>,
    recordings: AtomicU64,
    recorded_bytes: AtomicU64,
    failed: AtomicU64,
}

#[async_trait::async_trait]
impl Platform for Synthetic {
    async fn number(&self, _number: &str, _caller: &str) -> Result<Option<NumberRoute>, PlatformError> {
        Ok(Some(NumberRoute {
            tenant_id: "bench".into(),
            endpoint_id: "bench".into(),
            queue_id: Some("queue".into()),
            flow: self.flow.clone(),
            hours: Default::default(),
            max_concurrent_calls: 1_000_000,
            unavailable: None,
            redirect: None,
        }))
    }

    async fn sip_account(&self, username: &str) -> Result<Option<SipAccount>, PlatformError> {
        Ok((username == AGENT).then(|| SipAccount {
            tenant_id: "bench".into(),
            user_id: "agent-user".into(),
            username: AGENT.into(),
            ha1_md5: ha1(Algorithm::Md5, AGENT, REALM, AGENT_PASSWORD),
            ha1_sha256: ha1(Algorithm::Sha256, AGENT, REALM, AGENT_PASSWORD),
        }))
    }

    async fn prompt(&self, _tenant_id: &str, _name: &str) -> Result<Option<Vec<u8>>, PlatformError> {
        Ok(None)
    }

    async fn enqueue(&self, call: &CallIntake) -> Result<Admission, PlatformError> {
        if self.mode == Mode::Relay
            && let Some(control) = self.control.get().cloned()
        {
            // As routing would: offer it to the agent, who accepts; the edge rings their phone.
            let (call_id, record) = (call.call_id.clone(), self.record);
            tokio::spawn(async move {
                for _ in 0..50 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let connect = CallCommand::Connect {
                        contact_id: call_id.clone(),
                        agent_id: "agent-user".into(),
                        username: AGENT.into(),
                        record,
                    };
                    match control.command(&call_id, connect).await {
                        Err(CommandError::NotNow(_) | CommandError::NoSuchCall) => continue,
                        _ => return,
                    }
                }
            });
        }
        Ok(Admission::Queued(call.call_id.clone()))
    }

    async fn position(&self, _tenant_id: &str, _contact_id: &str) -> Result<Option<QueuePosition>, PlatformError> {
        Ok(Some(QueuePosition { position: 1, estimated_wait_secs: None }))
    }

    async fn abandoned(&self, _tenant_id: &str, _contact_id: &str) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn voicemail(&self, _voicemail: Voicemail) -> Result<String, PlatformError> {
        Ok("voicemail".into())
    }

    async fn call_event(&self, _event: CallEvent) -> Result<(), PlatformError> {
        Ok(())
    }

    async fn recording(&self, recording: Recording) -> Result<(), PlatformError> {
        self.recordings.fetch_add(1, Ordering::Relaxed);
        self.recorded_bytes.fetch_add(recording.wav.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn recording_failed(&self, _tenant_id: &str, _contact_id: &str, _reason: &str) -> Result<(), PlatformError> {
        self.failed.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: edge_under_test relay|ivr <sip addr> <rtp min>-<rtp max> [--record] [--threads N]";
    let mode = match args.first().map(String::as_str) {
        Some("relay") => Mode::Relay,
        Some("ivr") => Mode::Ivr,
        _ => anyhow::bail!(usage),
    };
    let sip: std::net::SocketAddr = args.get(1).context(usage)?.parse().context("sip address")?;
    let (min, max) = args.get(2).and_then(|r| r.split_once('-')).context(usage)?;
    let record = args.iter().any(|a| a == "--record");
    let threads = args.iter().position(|a| a == "--threads").and_then(|i| args.get(i + 1)?.parse().ok()).unwrap_or(1);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    runtime.block_on(async move {
        let flow = match mode {
            Mode::Ivr => Some(switchboard_ivr::Flow::from_json(&serde_json::json!({
                "start": "menu",
                "steps": {"menu": {"type": "gather", "prompt": [{"file": "sys:welcome"}], "timeout_ms": 30000,
                                   "branches": {"1": "bye"}},
                          "bye": {"type": "hangup"}}
            }))?),
            Mode::Relay => None,
        };
        let platform = Arc::new(Synthetic {
            mode,
            record,
            flow,
            control: OnceLock::new(),
            recordings: AtomicU64::new(0),
            recorded_bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        let mut config = EdgeConfig::new(sip, REALM);
        config.rtp_ports = (min.parse()?, max.parse()?);
        config.max_calls = 1_000_000;
        // The generator is a carrier trunk.
        config.trusted_peers = vec!["127.0.0.0/8".parse().map_err(|e: String| anyhow::anyhow!(e))?];
        config.recordings_dir = std::env::temp_dir().join(format!("sb-bench-recordings-{}", std::process::id()));
        let edge = switchboard_edge::start(config, platform.clone()).await?;
        let _ = platform.control.set(edge.control.clone());
        println!("ready udp={}", edge.udp);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        println!(
            "recordings={} recorded_bytes={} recordings_failed={}",
            platform.recordings.load(Ordering::Relaxed),
            platform.recorded_bytes.load(Ordering::Relaxed),
            platform.failed.load(Ordering::Relaxed)
        );
        drop(edge);
        anyhow::Ok(())
    })
}
