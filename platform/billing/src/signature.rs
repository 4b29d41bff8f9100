//! The `Stripe-Signature` scheme: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`, possibly
//! with several `v1` entries while a secret is being rolled. A signature is good only within a
//! tolerance of the current time, so a captured request cannot be replayed later; replays inside
//! the window are caught by the caller recording event ids.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The longest header looked at; Stripe's are far shorter.
const MAX_HEADER: usize = 2048;
/// The most `v1` entries tried.
const MAX_SIGNATURES: usize = 8;

/// Why a webhook signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not `t=...,v1=...`.
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    /// Signed longer ago (or further ahead) than the tolerance.
    #[error("the signature's timestamp is {age_secs} s from now, outside the tolerance")]
    Stale {
        /// Seconds between the timestamp and now (negative: in the future).
        age_secs: i64,
    },
    /// No `v1` entry matches the body with our secret.
    #[error("no signature matches the body")]
    Mismatch,
}

/// Checks `header` against `payload` with `secret`; returns the signed timestamp.
pub fn verify(
    payload: &[u8],
    header: &str,
    secret: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> Result<i64, SignatureError> {
    if header.len() > MAX_HEADER {
        return Err(SignatureError::Malformed);
    }
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(SignatureError::Malformed)?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(SignatureError::Malformed);
                }
                timestamp = Some(value.parse::<i64>().map_err(|_| SignatureError::Malformed)?);
            }
            // A wrong-length or non-hex entry can never match; skipping it keeps the others usable.
            "v1" => {
                if let Ok(bytes) = hex::decode(value)
                    && bytes.len() == 32
                    && signatures.len() < MAX_SIGNATURES
                {
                    signatures.push(bytes);
                }
            }
            _ => {} // v0 (test mode's legacy scheme) and future schemes are ignored, as Stripe's libraries do.
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Mismatch);
    }
    let age = now_secs.saturating_sub(t);
    if age.abs() > tolerance_secs {
        return Err(SignatureError::Stale { age_secs: age });
    }
    for candidate in &signatures {
        // verify_slice compares in constant time.
        if mac(secret, t, payload).verify_slice(candidate).is_ok() {
            return Ok(t);
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header Stripe would send for `payload` at `t` (for tests and local Stripe stand-ins).
pub fn sign(payload: &[u8], secret: &str, t: i64) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, payload).finalize().into_bytes()))
}

fn mac(secret: &str, t: i64, payload: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &str = "whsec_test";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    #[test]
    fn a_good_signature_within_the_tolerance_passes() {
        let h = sign(BODY, SECRET, 1_000);
        assert_eq!(verify(BODY, &h, SECRET, 1_200, 300), Ok(1_000));
    }

    #[test]
    fn stripes_documented_example_header_shape_parses() {
        // Several v1 entries (secret roll) and a v0 entry: any matching v1 passes.
        let good = sign(BODY, SECRET, 50);
        let v1 = good.split_once("v1=").map(|(_, s)| s).unwrap_or_default();
        let h = format!(
            "t=50,v1={},v1={v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39",
            "0".repeat(64)
        );
        assert_eq!(verify(BODY, &h, SECRET, 60, 300), Ok(50));
    }

    #[test]
    fn forged_stale_and_malformed_signatures_are_refused() {
        let h = sign(BODY, "whsec_other", 1_000);
        assert_eq!(verify(BODY, &h, SECRET, 1_000, 300), Err(SignatureError::Mismatch));
        let h = sign(BODY, SECRET, 1_000);
        assert_eq!(verify(br#"{"id":"evt_2"}"#, &h, SECRET, 1_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(BODY, &h, SECRET, 1_301, 300), Err(SignatureError::Stale { age_secs: 301 }));
        assert_eq!(verify(BODY, &h, SECRET, 600, 300), Err(SignatureError::Stale { age_secs: -400 }));
        // A replay that swaps in a new timestamp breaks the MAC.
        let forged = h.replace("t=1000", "t=2000");
        assert_eq!(verify(BODY, &forged, SECRET, 2_000, 300), Err(SignatureError::Mismatch));
        for bad in ["", "v1=abc", "t=abc,v1=00", "t=1,t=2,v1=00", "garbage", &"t=1,".repeat(1000)] {
            assert_eq!(verify(BODY, bad, SECRET, 1, 300), Err(SignatureError::Malformed), "{bad}");
        }
        assert_eq!(verify(BODY, "t=1000", SECRET, 1_000, 300), Err(SignatureError::Mismatch));
        assert_eq!(verify(BODY, "t=1000,v1=zz", SECRET, 1_000, 300), Err(SignatureError::Mismatch));
    }

    proptest! {
        #[test]
        fn any_header_is_answered_without_panicking(header in ".{0,300}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = verify(&body, &header, SECRET, 1_000, 300);
        }

        #[test]
        fn only_the_exact_body_verifies(body in proptest::collection::vec(any::<u8>(), 1..64), flip in 0usize..64) {
            let h = sign(&body, SECRET, 10);
            prop_assert_eq!(verify(&body, &h, SECRET, 10, 300), Ok(10));
            let mut other = body.clone();
            let i = flip % other.len();
            other[i] ^= 1;
            prop_assert_eq!(verify(&other, &h, SECRET, 10, 300), Err(SignatureError::Mismatch));
        }
    }
}
