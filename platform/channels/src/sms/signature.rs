//! Twilio-compatible webhook signatures (`X-Twilio-Signature`): base64 of HMAC-SHA1, keyed with
//! the account's auth token, over the full request URL followed by every POST parameter sorted
//! by name, each as name then value.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// The signature a provider sends for `url` and form `params`.
pub fn sign(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(auth_token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is the provider's for this request (compared in constant time).
pub fn verify(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let expected = sign(auth_token, url, params);
    !expected.is_empty() && expected.as_bytes().ct_eq(signature.trim().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio_example() -> Vec<(String, String)> {
        [
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
    }

    #[test]
    fn matches_the_providers_published_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(sign("12345", url, &twilio_example()), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
        assert!(verify("12345", url, &twilio_example(), "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let good = sign("12345", url, &twilio_example());
        let mut tampered = twilio_example();
        tampered[2].1 = "9999".into();
        assert!(!verify("12345", url, &tampered, &good));
        assert!(!verify("54321", url, &twilio_example(), &good));
        assert!(!verify("12345", "https://evil.example/myapp.php?foo=1&bar=2", &twilio_example(), &good));
        assert!(!verify("12345", url, &twilio_example(), ""));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let url = "https://x.example/sms";
        let mut reversed = twilio_example();
        reversed.reverse();
        assert_eq!(sign("t", url, &twilio_example()), sign("t", url, &reversed));
    }
}
