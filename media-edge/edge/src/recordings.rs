//! Recordings on disk while calls last: each WAV has a `.meta` file beside it naming its
//! tenant, contact and call, so a recording left behind by a process that died mid-call (its
//! WAV header counts the frames flushed each second), or one the platform could not take, is
//! handed over by a sweep that runs every minute. Live recordings are written every second, so
//! only files untouched for a while are taken. Nothing accepted is lost to a crash.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::platform::{Platform, Recording};

/// The metadata file of a recording.
pub(crate) fn meta_path(wav: &Path) -> PathBuf {
    wav.with_extension("meta")
}

/// Writes the metadata beside a recording about to start.
pub(crate) fn write_meta(wav: &Path, tenant: &str, contact: &str, call: &str) -> std::io::Result<()> {
    std::fs::write(meta_path(wav), format!("{tenant}\n{contact}\n{call}\n"))
}

/// Removes a recording the platform has taken.
pub(crate) async fn forget(wav: &Path) {
    let _ = tokio::fs::remove_file(wav).await;
    let _ = tokio::fs::remove_file(meta_path(wav)).await;
}

/// How long a recording must be untouched to count as left over (live ones are flushed every
/// second).
const LEFT_OVER_AFTER: Duration = Duration::from_secs(30);

/// Sweeps `dir` now and every minute.
pub(crate) async fn sweep(dir: PathBuf, platform: Arc<dyn Platform>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        resend_left_over(&dir, &platform).await;
    }
}

/// Hands the platform every left-over recording in `dir`.
async fn resend_left_over(dir: &Path, platform: &Arc<dyn Platform>) {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let wav = entry.path();
        if wav.extension().is_none_or(|e| e != "wav") {
            continue;
        }
        let idle = entry.metadata().await.ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if idle.is_none_or(|idle| idle < LEFT_OVER_AFTER) {
            continue;
        }
        let Ok(meta) = tokio::fs::read_to_string(meta_path(&wav)).await else {
            tracing::warn!(path = %wav.display(), "recording without its metadata left alone");
            continue;
        };
        let mut lines = meta.lines();
        let (Some(tenant), Some(contact), Some(call)) = (lines.next(), lines.next(), lines.next()) else {
            tracing::warn!(path = %wav.display(), "recording metadata unreadable; left alone");
            continue;
        };
        let Ok(bytes) = tokio::fs::read(&wav).await else { continue };
        let summary = match switchboard_media::recording::summarize(&bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(path = %wav.display(), error = %e, "left-over recording unreadable");
                let _ = platform.recording_failed(tenant, contact, &format!("the recording was damaged: {e}")).await;
                continue;
            }
        };
        let frame_ms = switchboard_media::FRAME_MS;
        let recording = Recording {
            tenant_id: tenant.to_owned(),
            contact_id: contact.to_owned(),
            call_id: call.to_owned(),
            wav: bytes,
            duration_ms: summary.duration_ms(),
            caller_sound_ms: summary.caller_frames_with_sound * frame_ms,
            agent_sound_ms: summary.agent_frames_with_sound * frame_ms,
        };
        match platform.recording(recording).await {
            Ok(()) => {
                tracing::info!(path = %wav.display(), %contact, "left-over recording handed over");
                forget(&wav).await;
            }
            Err(e) => tracing::warn!(path = %wav.display(), error = %e, "left-over recording kept for the next start"),
        }
    }
}
