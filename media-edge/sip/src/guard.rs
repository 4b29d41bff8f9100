//! First line of defence for the SIP port: per-source flood limits with a temporary ban, and
//! scanners recognised by their User-Agent and dropped without an answer (answering tells them
//! a PBX is there).

use std::collections::HashMap;
use std::hash::Hash;

use crate::transaction::Millis;

/// What to do with a message from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Process it.
    Admit,
    /// Drop it: the source is over its limit (and now banned).
    Flood,
    /// Drop it: the source is banned.
    Banned,
}

/// Flood limits: more than `max_requests` in `window` from one source bans it for `ban`.
#[derive(Debug)]
pub struct FloodGuard<A> {
    /// Requests allowed per window.
    pub max_requests: u32,
    /// The window.
    pub window: Millis,
    /// How long a ban lasts.
    pub ban: Millis,
    /// Most sources tracked (a spoofed-source flood must not grow memory without bound).
    pub max_sources: usize,
    seen: HashMap<A, (Millis, u32)>,
    banned: HashMap<A, Millis>,
}

impl<A: Clone + Eq + Hash> Default for FloodGuard<A> {
    fn default() -> Self {
        Self {
            max_requests: 16,
            window: 2_000,
            ban: 60_000,
            max_sources: 100_000,
            seen: HashMap::new(),
            banned: HashMap::new(),
        }
    }
}

impl<A: Clone + Eq + Hash> FloodGuard<A> {
    /// Counts a request from `source` at `now`.
    pub fn admit(&mut self, now: Millis, source: &A) -> Verdict {
        if let Some(until) = self.banned.get(source) {
            if now < *until {
                return Verdict::Banned;
            }
            self.banned.remove(source);
        }
        if self.seen.len() >= self.max_sources && !self.seen.contains_key(source) {
            self.sweep(now);
        }
        let e = self.seen.entry(source.clone()).or_insert((now, 0));
        if now.saturating_sub(e.0) >= self.window {
            *e = (now, 0);
        }
        e.1 += 1;
        if e.1 > self.max_requests {
            self.seen.remove(source);
            self.banned.insert(source.clone(), now + self.ban);
            return Verdict::Flood;
        }
        Verdict::Admit
    }

    /// Whether `source` is banned now.
    pub fn is_banned(&self, now: Millis, source: &A) -> bool {
        self.banned.get(source).is_some_and(|until| now < *until)
    }

    /// Forgets finished windows and bans.
    pub fn sweep(&mut self, now: Millis) {
        let window = self.window;
        self.seen.retain(|_, (start, _)| now.saturating_sub(*start) < window);
        self.banned.retain(|_, until| *until > now);
    }
}

/// User-Agent fragments of SIP scanners and toll-fraud tools.
const SCANNERS: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipsak",
    "sundayddr",
    "iwar",
    "vaxsipuseragent",
    "vaxipuseragent",
    "pplsip",
    "smap",
    "sipptk",
    "sipscan",
    "cafabet",
    "sip scanner",
];

/// Whether a User-Agent is a known scanner.
pub fn is_scanner(user_agent: &str) -> bool {
    let ua = user_agent.to_ascii_lowercase();
    SCANNERS.iter().any(|s| ua.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seventeen_in_two_seconds_bans_for_a_minute() {
        let mut g = FloodGuard::default();
        for i in 0..16 {
            assert_eq!(g.admit(i * 100, &1u8), Verdict::Admit);
        }
        assert_eq!(g.admit(1_700, &1u8), Verdict::Flood);
        assert_eq!(g.admit(1_800, &2u8), Verdict::Admit, "others are not affected");
        assert_eq!(g.admit(30_000, &1u8), Verdict::Banned);
        assert_eq!(g.admit(61_701, &1u8), Verdict::Admit, "the ban ends");
    }

    #[test]
    fn a_steady_phone_is_never_banned() {
        let mut g = FloodGuard::default();
        for i in 0..10_000 {
            assert_eq!(g.admit(i * 200, &1u8), Verdict::Admit);
        }
    }

    #[test]
    fn spoofed_sources_do_not_grow_memory_forever() {
        let mut g = FloodGuard { max_sources: 1_000, ..FloodGuard::default() };
        for i in 0..100_000u32 {
            g.admit(u64::from(i), &i);
        }
        assert!(g.seen.len() <= 3_000, "{}", g.seen.len());
    }

    #[test]
    fn scanners_are_recognised() {
        assert!(is_scanner("friendly-scanner"));
        assert!(is_scanner("sipvicious/0.3.0"));
        assert!(is_scanner("VaxSIPUserAgent/3.1"));
        assert!(!is_scanner("baresip v3.10.0 (x86_64/linux)"));
        assert!(!is_scanner("sipp"));
    }
}
