//! SIP digest authentication (RFC 3261 §22, RFC 8760 for SHA-256) for agent phones and trunks.
//!
//! Nonces are stateless to issue (a timestamp and an HMAC under the edge's secret) and expire;
//! each is good for one use per nonce-count, so a captured Authorization cannot be replayed.
//! Repeated failures for one user from one source lock that pair out for a while.

use std::collections::HashMap;

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::transaction::Millis;

/// Digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (what most phones speak).
    Md5,
    /// SHA-256 (RFC 8760).
    Sha256,
}

impl Algorithm {
    /// The token in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    fn hash(self, input: &str) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(input.as_bytes())),
            Algorithm::Sha256 => hex::encode(Sha256::digest(input.as_bytes())),
        }
    }
}

/// Why credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The header is not a digest response we can read.
    #[error("malformed Authorization header")]
    Malformed,
    /// A nonce we did not issue.
    #[error("unknown nonce")]
    BadNonce,
    /// Our nonce, but too old: challenge again with `stale=true`.
    #[error("nonce expired")]
    Stale,
    /// A nonce (and count) already used.
    #[error("nonce replayed")]
    Replay,
    /// Unknown user or wrong password.
    #[error("wrong credentials")]
    Wrong,
    /// Too many failures for this user from this source.
    #[error("locked out after repeated failures")]
    LockedOut,
}

/// The fields of an Authorization header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`.
    pub response: String,
    /// `algorithm` (MD5 when absent).
    pub algorithm: String,
    /// `qop`, when used.
    pub qop: Option<String>,
    /// `nc`, with qop.
    pub nc: Option<String>,
    /// `cnonce`, with qop.
    pub cnonce: Option<String>,
}

impl Credentials {
    /// Reads `Digest username="..", realm="..", ...`.
    pub fn parse(header: &str) -> Result<Self, DigestError> {
        let rest = header.trim();
        let rest = rest
            .get(..6)
            .filter(|s| s.eq_ignore_ascii_case("digest"))
            .map(|_| &rest[6..])
            .ok_or(DigestError::Malformed)?;
        let mut c = Credentials::default();
        for (k, v) in params(rest)? {
            let slot = match k.to_ascii_lowercase().as_str() {
                "username" => &mut c.username,
                "realm" => &mut c.realm,
                "nonce" => &mut c.nonce,
                "uri" => &mut c.uri,
                "response" => &mut c.response,
                "algorithm" => &mut c.algorithm,
                "qop" => c.qop.insert(String::new()),
                "nc" => c.nc.insert(String::new()),
                "cnonce" => c.cnonce.insert(String::new()),
                _ => continue,
            };
            *slot = v;
        }
        if c.username.is_empty() || c.nonce.is_empty() || c.response.is_empty() || c.uri.is_empty() {
            return Err(DigestError::Malformed);
        }
        Ok(c)
    }

    fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match self.algorithm.to_ascii_uppercase().as_str() {
            "" | "MD5" => Ok(Algorithm::Md5),
            "SHA-256" => Ok(Algorithm::Sha256),
            _ => Err(DigestError::Malformed),
        }
    }
}

/// `k=v, k="v, with commas"` pairs; at most 32.
fn params(s: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(out);
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_owned();
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let value = if chars.peek() == Some(&'"') {
            chars.next();
            let mut v = String::new();
            loop {
                match chars.next() {
                    None => return Err(DigestError::Malformed),
                    Some('\\') => v.extend(chars.next()),
                    Some('"') => break,
                    Some(c) => v.push(c),
                }
            }
            v
        } else {
            chars.by_ref().take_while(|c| *c != ',').collect::<String>().trim().to_owned()
        };
        if key.is_empty() || out.len() >= 32 || value.len() > 512 {
            return Err(DigestError::Malformed);
        }
        out.push((key, value));
    }
}

/// HA1 = H(user:realm:password): what an account store keeps instead of the password (a
/// password database leak then gives nothing usable at another realm).
pub fn ha1(alg: Algorithm, user: &str, realm: &str, password: &str) -> String {
    alg.hash(&format!("{user}:{realm}:{password}"))
}

/// The digest response for a password (RFC 2617 §3.2.2, with or without `qop=auth`).
pub fn response(alg: Algorithm, user: &str, realm: &str, password: &str, method: &str, c: &Credentials) -> String {
    response_from_ha1(alg, &ha1(alg, user, realm, password), method, c)
}

/// The digest response from a stored HA1.
pub fn response_from_ha1(alg: Algorithm, ha1: &str, method: &str, c: &Credentials) -> String {
    let ha2 = alg.hash(&format!("{method}:{}", c.uri));
    match (&c.qop, &c.nc, &c.cnonce) {
        (Some(qop), Some(nc), Some(cnonce)) => alg.hash(&format!("{ha1}:{}:{nc}:{cnonce}:{qop}:{ha2}", c.nonce)),
        _ => alg.hash(&format!("{ha1}:{}:{ha2}", c.nonce)),
    }
}

/// Issues challenges and checks answers for one realm.
#[derive(Debug)]
pub struct Authenticator<A> {
    secret: Vec<u8>,
    /// How long a nonce is good for.
    pub nonce_ttl: Millis,
    /// Failures before a lock-out.
    pub max_failures: u32,
    /// How long a lock-out lasts.
    pub lockout: Millis,
    used: HashMap<String, (Millis, u32)>,
    failures: HashMap<(A, String), (Millis, u32)>,
}

impl<A: Clone + Eq + std::hash::Hash> Authenticator<A> {
    /// A new authenticator; `secret` keys the nonces (random per edge process is fine: a restart
    /// only makes phones answer a fresh challenge).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            secret: secret.to_vec(),
            nonce_ttl: 60_000,
            max_failures: 5,
            lockout: 300_000,
            used: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    fn mac(&self, stamp: &str) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        m.update(stamp.as_bytes());
        hex::encode(&m.finalize().into_bytes()[..16])
    }

    /// A `WWW-Authenticate` value (`stale` after an expired nonce, so phones retry silently).
    pub fn challenge(&self, now: Millis, realm: &str, alg: Algorithm, stale: bool) -> String {
        let stamp = format!("{now:x}");
        let nonce = format!("{stamp}.{}", self.mac(&stamp));
        let realm: String = realm.chars().filter(|c| *c != '"' && *c != '\\' && !c.is_control()).collect();
        let stale = if stale { ", stale=true" } else { "" };
        format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm={}, qop=\"auth\"{stale}", alg.as_str())
    }

    /// Checks an Authorization header for `method`; `ha1` looks up a user's HA1 for the
    /// algorithm the answer uses ([`ha1`]). Returns the authenticated user name.
    pub fn verify(
        &mut self,
        now: Millis,
        source: A,
        realm: &str,
        method: &str,
        header: &str,
        ha1: impl FnOnce(&str, Algorithm) -> Option<String>,
    ) -> Result<String, DigestError> {
        let c = Credentials::parse(header)?;
        let key = (source, c.username.clone());
        if let Some((until, n)) = self.failures.get(&key)
            && *n >= self.max_failures
            && now < *until
        {
            return Err(DigestError::LockedOut);
        }
        let alg = c.algorithm()?;
        let (stamp, mac) = c.nonce.split_once('.').ok_or(DigestError::BadNonce)?;
        if !bool::from(self.mac(stamp).as_bytes().ct_eq(mac.as_bytes())) {
            return Err(DigestError::BadNonce);
        }
        let issued = Millis::from_str_radix(stamp, 16).map_err(|_| DigestError::BadNonce)?;
        if now.saturating_sub(issued) > self.nonce_ttl || issued > now + 1_000 {
            return Err(DigestError::Stale);
        }
        let nc = match &c.nc {
            Some(nc) => u32::from_str_radix(nc, 16).map_err(|_| DigestError::Malformed)?,
            None => 1,
        };
        if c.realm != realm {
            return Err(self.fail(now, key));
        }
        let expected = ha1(&c.username, alg).map(|h| response_from_ha1(alg, &h, method, &c));
        let good = expected.is_some_and(|e| bool::from(e.as_bytes().ct_eq(c.response.to_ascii_lowercase().as_bytes())));
        if !good {
            return Err(self.fail(now, key));
        }
        // Only a correct answer spends its nonce-count, so a forged one cannot burn it.
        match self.used.get(&c.nonce) {
            Some((_, last)) if nc <= *last => return Err(DigestError::Replay),
            _ => {}
        }
        self.used.insert(c.nonce.clone(), (issued, nc));
        self.failures.remove(&key);
        Ok(c.username)
    }

    fn fail(&mut self, now: Millis, key: (A, String)) -> DigestError {
        let e = self.failures.entry(key).or_insert((now, 0));
        if now >= e.0 && e.1 >= self.max_failures {
            *e = (now, 0);
        }
        e.1 += 1;
        e.0 = now + self.lockout;
        if e.1 >= self.max_failures { DigestError::LockedOut } else { DigestError::Wrong }
    }

    /// Forgets spent nonces and lock-outs that have expired (call now and then).
    pub fn sweep(&mut self, now: Millis) {
        let ttl = self.nonce_ttl;
        self.used.retain(|_, (issued, _)| now.saturating_sub(*issued) <= ttl);
        self.failures.retain(|_, (until, _)| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(challenge: &str, alg: Algorithm, password: &str, nc: &str) -> String {
        let nonce = challenge.split("nonce=\"").nth(1).and_then(|s| s.split('"').next()).expect("nonce");
        let c = Credentials {
            username: "agent7".into(),
            realm: "acme".into(),
            nonce: nonce.into(),
            uri: "sip:edge.example".into(),
            qop: Some("auth".into()),
            nc: Some(nc.into()),
            cnonce: Some("0a4f113b".into()),
            ..Default::default()
        };
        let r = response(alg, "agent7", "acme", password, "REGISTER", &c);
        format!(
            "Digest username=\"agent7\", realm=\"acme\", nonce=\"{nonce}\", uri=\"sip:edge.example\", response=\"{r}\", algorithm={}, qop=auth, nc={nc}, cnonce=\"0a4f113b\"",
            alg.as_str()
        )
    }

    const PW: fn(&str, Algorithm) -> Option<String> = |u, alg| (u == "agent7").then(|| ha1(alg, u, "acme", "s3cret"));

    #[test]
    fn the_rfc_2617_example_computes() {
        let c = Credentials::parse(r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#).expect("parse");
        let r = response(Algorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life", "GET", &c);
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn good_answers_pass_once_in_both_algorithms() {
        for alg in [Algorithm::Md5, Algorithm::Sha256] {
            let mut a = Authenticator::new(b"k");
            let ch = a.challenge(1_000, "acme", alg, false);
            assert!(ch.contains(&format!("algorithm={}", alg.as_str())));
            let h = answer(&ch, alg, "s3cret", "00000001");
            assert_eq!(a.verify(2_000, 1u8, "acme", "REGISTER", &h, PW), Ok("agent7".into()));
            assert_eq!(a.verify(2_100, 1u8, "acme", "REGISTER", &h, PW), Err(DigestError::Replay));
            let next = answer(&ch, alg, "s3cret", "00000002");
            assert_eq!(a.verify(2_200, 1u8, "acme", "REGISTER", &next, PW), Ok("agent7".into()), "a higher nc is fine");
        }
    }

    #[test]
    fn forged_old_and_wrong_answers_are_refused_and_brute_force_locks_out() {
        let mut a = Authenticator::new(b"k");
        let ch = a.challenge(0, "acme", Algorithm::Md5, false);
        let other = Authenticator::<u8>::new(b"other").challenge(0, "acme", Algorithm::Md5, false);
        assert_eq!(
            a.verify(10, 1u8, "acme", "REGISTER", &answer(&other, Algorithm::Md5, "s3cret", "1"), PW),
            Err(DigestError::BadNonce)
        );
        assert_eq!(
            a.verify(61_000, 1u8, "acme", "REGISTER", &answer(&ch, Algorithm::Md5, "s3cret", "1"), PW),
            Err(DigestError::Stale)
        );
        assert!(a.challenge(0, "acme", Algorithm::Md5, true).ends_with("stale=true"));
        for i in 1..5 {
            let h = answer(&ch, Algorithm::Md5, &format!("guess{i}"), "1");
            assert_eq!(a.verify(100, 1u8, "acme", "REGISTER", &h, PW), Err(DigestError::Wrong));
        }
        let h = answer(&ch, Algorithm::Md5, "guess5", "1");
        assert_eq!(a.verify(100, 1u8, "acme", "REGISTER", &h, PW), Err(DigestError::LockedOut));
        let good = answer(&ch, Algorithm::Md5, "s3cret", "1");
        assert_eq!(
            a.verify(200, 1u8, "acme", "REGISTER", &good, PW),
            Err(DigestError::LockedOut),
            "even the right password"
        );
        assert_eq!(
            a.verify(200, 2u8, "acme", "REGISTER", &good, PW),
            Ok("agent7".into()),
            "another source is not locked"
        );
        let fresh = a.challenge(400_000, "acme", Algorithm::Md5, false);
        assert_eq!(
            a.verify(400_001, 1u8, "acme", "REGISTER", &answer(&fresh, Algorithm::Md5, "s3cret", "1"), PW),
            Ok("agent7".into()),
            "the lock-out ends"
        );
    }

    proptest::proptest! {
        #[test]
        fn no_header_panics(h in "\\PC{0,200}") {
            let mut a = Authenticator::new(b"k");
            let _ = a.verify(0, 1u8, "acme", "REGISTER", &h, PW);
            let _ = Credentials::parse(&format!("Digest {h}"));
        }
    }
}
