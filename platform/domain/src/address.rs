//! Parsed addresses: E.164 phone numbers and e-mail addresses.

use std::fmt;
use std::str::FromStr;

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not `+` followed by 2 to 15 digits, the first not zero.
    #[error("must be an E.164 number such as +14155550100")]
    NotE164,
    /// Not a plausible `local@domain` address.
    #[error("must be an e-mail address such as support@example.com")]
    NotEmail,
}

/// A phone number in E.164 form (`+` and up to 15 digits).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// The number as text, `+` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneNumber {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('+').ok_or(AddressError::NotE164)?;
        let ok =
            (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        if ok { Ok(Self(s.to_owned())) } else { Err(AddressError::NotE164) }
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> Self {
        p.0
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Phone numbers are personal data: show the country prefix only.
        write!(f, "PhoneNumber({}…)", self.0.get(..3).unwrap_or(""))
    }
}

/// An e-mail address, domain folded to lower case.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    /// The address as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The part after `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl FromStr for EmailAddress {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (local, domain) = s.rsplit_once('@').ok_or(AddressError::NotEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local.chars().all(|c| c.is_ascii_graphic() && c != '@' && c != '<' && c != '>');
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = domain.len() <= 253
            && labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
        } else {
            Err(AddressError::NotEmail)
        }
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<EmailAddress> for String {
    fn from(e: EmailAddress) -> Self {
        e.0
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress(…@{})", self.domain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_parse() {
        assert!("+14155550100".parse::<PhoneNumber>().is_ok());
        assert!("+49301234567".parse::<PhoneNumber>().is_ok());
    }

    #[test]
    fn non_e164_numbers_are_refused() {
        for bad in ["14155550100", "+0123", "+1", "+1234567890123456", "+1 415 555", "", "+"] {
            assert_eq!(bad.parse::<PhoneNumber>(), Err(AddressError::NotE164), "{bad}");
        }
    }

    #[test]
    fn email_domains_are_folded_to_lower_case() {
        let e: EmailAddress = "Ann@Example.COM".parse().expect("valid");
        assert_eq!(e.as_str(), "Ann@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in ["", "a", "a@", "@b.c", "a@b", "a@-b.com", "a b@c.com", "a@b..com"] {
            assert!(bad.parse::<EmailAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn debug_does_not_leak_addresses() {
        let e: EmailAddress = "secret.person@example.com".parse().expect("valid");
        assert!(!format!("{e:?}").contains("secret"));
        let p: PhoneNumber = "+14155550100".parse().expect("valid");
        assert!(!format!("{p:?}").contains("5550100"));
    }
}
