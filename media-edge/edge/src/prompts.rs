//! What calls hear: system prompts (compiled in), tenants' uploaded prompts (fetched from the
//! platform once, converted to 8 kHz, cached for a minute so a re-upload is heard soon), hold
//! music and the voicemail beep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard_media::audio::{Clip, hold_music, load_wav, tone};

use crate::platform::Platform;

const TENANT_PROMPT_TTL: Duration = Duration::from_secs(60);
const TENANT_CACHE_MAX: usize = 512;

/// A tenant prompt as fetched (None: missing or unreadable), and when.
type Cached = (Instant, Option<Clip>);

/// The prompt library of one edge.
pub(crate) struct Prompts {
    system: HashMap<&'static str, Clip>,
    tenant: Mutex<HashMap<(String, String), Cached>>,
    platform: Arc<dyn Platform>,
    /// Built-in hold music.
    pub music: Clip,
    /// The tone before a voicemail.
    pub beep: Clip,
}

impl std::fmt::Debug for Prompts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompts").field("system", &self.system.len()).finish_non_exhaustive()
    }
}

impl Prompts {
    pub(crate) fn new(platform: Arc<dyn Platform>) -> Self {
        let mut system = HashMap::new();
        for (name, bytes) in crate::system_prompts::SYSTEM {
            match load_wav(bytes) {
                Ok(clip) => {
                    system.insert(*name, clip);
                }
                Err(e) => tracing::error!(prompt = name, error = %e, "system prompt unreadable"),
            }
        }
        Prompts {
            system,
            tenant: Mutex::new(HashMap::new()),
            platform,
            music: hold_music(),
            beep: tone(1000.0, 400, 8000),
        }
    }

    /// The clips for prompt names (`sys:…` or the tenant's); unknown names are skipped (logged).
    pub(crate) async fn resolve(&self, tenant: &str, names: &[String]) -> Vec<Clip> {
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            if let Some(sys) = name.strip_prefix("sys:") {
                match self.system.get(sys) {
                    Some(clip) => out.push(clip.clone()),
                    None => tracing::warn!(prompt = %name, "no such system prompt"),
                }
                continue;
            }
            if let Some(clip) = self.tenant_prompt(tenant, name).await {
                out.push(clip);
            }
        }
        out
    }

    async fn tenant_prompt(&self, tenant: &str, name: &str) -> Option<Clip> {
        let key = (tenant.to_owned(), name.to_owned());
        if let Some((at, clip)) = self.tenant.lock().unwrap_or_else(|e| e.into_inner()).get(&key)
            && at.elapsed() < TENANT_PROMPT_TTL
        {
            return clip.clone();
        }
        let clip = match self.platform.prompt(tenant, name).await {
            Ok(Some(bytes)) => match load_wav(&bytes) {
                Ok(clip) => Some(clip),
                Err(e) => {
                    tracing::warn!(%tenant, prompt = %name, error = %e, "tenant prompt unreadable");
                    None
                }
            },
            Ok(None) => {
                tracing::warn!(%tenant, prompt = %name, "tenant prompt missing");
                None
            }
            // Not cached: the next call tries again.
            Err(e) => {
                tracing::warn!(%tenant, prompt = %name, error = %e, "tenant prompt not fetched");
                return None;
            }
        };
        let mut cache = self.tenant.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= TENANT_CACHE_MAX {
            cache.retain(|_, (at, _)| at.elapsed() < TENANT_PROMPT_TTL);
        }
        if cache.len() < TENANT_CACHE_MAX {
            cache.insert(key, (Instant::now(), clip.clone()));
        }
        clip
    }

    #[cfg(test)]
    pub(crate) fn system_names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.system.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;

    #[async_trait::async_trait]
    impl Platform for Nothing {
        async fn number(&self, _: &str, _: &str) -> Result<Option<crate::NumberRoute>, crate::PlatformError> {
            Ok(None)
        }
        async fn sip_account(&self, _: &str) -> Result<Option<crate::SipAccount>, crate::PlatformError> {
            Ok(None)
        }
        async fn prompt(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, crate::PlatformError> {
            Ok(None)
        }
        async fn enqueue(&self, _: &crate::CallIntake) -> Result<crate::Admission, crate::PlatformError> {
            Ok(crate::Admission::Queued(String::new()))
        }
        async fn position(&self, _: &str, _: &str) -> Result<Option<crate::QueuePosition>, crate::PlatformError> {
            Ok(None)
        }
        async fn abandoned(&self, _: &str, _: &str) -> Result<(), crate::PlatformError> {
            Ok(())
        }
        async fn voicemail(&self, _: crate::Voicemail) -> Result<String, crate::PlatformError> {
            Ok(String::new())
        }
        async fn call_event(&self, _: crate::CallEvent) -> Result<(), crate::PlatformError> {
            Ok(())
        }
        async fn recording(&self, _: crate::Recording) -> Result<(), crate::PlatformError> {
            Ok(())
        }
        async fn recording_failed(&self, _: &str, _: &str, _: &str) -> Result<(), crate::PlatformError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn every_system_prompt_a_flow_may_name_is_compiled_in_and_audible() {
        let prompts = Prompts::new(Arc::new(Nothing));
        let mut expected: Vec<&str> = switchboard_ivr::SYSTEM_PROMPTS.to_vec();
        expected.sort_unstable();
        assert_eq!(prompts.system_names(), expected);
        for name in expected {
            let clip = &prompts.resolve("t", &[format!("sys:{name}")]).await[0];
            let loud = clip.iter().filter(|s| s.unsigned_abs() > 2000).count();
            assert!(clip.len() > 1600 && loud > 100, "sys:{name} is {} samples, {loud} loud", clip.len());
        }
        assert!(prompts.resolve("t", &["missing".into(), "sys:nope".into()]).await.is_empty());
    }
}
