//! Voice in the embedded default: the edge runs inside `switchboard` and reaches tenants,
//! queues and contacts through [`StorePlatform`] (the edge's `Platform` seam over this process's
//! store, routing and object store). [`control`] turns routing's decisions and the agent's
//! buttons into commands to the edge's calls; [`accounts`] holds agents' SIP phone logins.
//! (A stand-alone edge reaches the same behaviour through the control link.)

pub mod accounts;
pub mod control;
mod platform;
pub mod prompts;

use std::sync::{Arc, OnceLock};

pub use platform::StorePlatform;
use switchboard_edge::EdgeControl;

use crate::app::AppState;

/// This process's voice: the edge's command handle once it runs, and the digest realm.
#[derive(Debug, Clone)]
pub struct Voice {
    edge: Arc<OnceLock<EdgeControl>>,
    /// The digest realm phones authenticate in.
    pub realm: String,
}

impl Voice {
    /// Voice before the edge starts (or without one).
    pub fn new(realm: &str) -> Self {
        Voice { edge: Arc::default(), realm: realm.to_owned() }
    }

    /// The running edge, if this process has one.
    pub fn edge(&self) -> Option<&EdgeControl> {
        self.edge.get()
    }
}

/// Starts the edge inside this process when `sip_addr` is set.
pub async fn start(
    state: &AppState,
    config: &crate::config::Config,
) -> anyhow::Result<Option<switchboard_edge::EdgeHandle>> {
    let Some(addr) = config.sip_addr else { return Ok(None) };
    let mut edge = switchboard_edge::EdgeConfig::new(addr, &config.sip_realm);
    if let Some(ip) = config.sip_public_ip {
        edge.public_ip = ip;
    }
    edge.rtp_ports = (config.rtp_port_min, config.rtp_port_max);
    edge.recordings_dir = config.data_dir.join("recordings");
    let platform = Arc::new(StorePlatform::new(state.clone(), config.voice_max_calls_per_tenant));
    let handle = switchboard_edge::start(edge, platform)
        .await
        .map_err(|e| anyhow::anyhow!("starting the SIP edge on {addr}: {e}"))?;
    let _ = state.voice.edge.set(handle.control.clone());
    control::follow_routing(state.clone()).await?;
    Ok(Some(handle))
}
