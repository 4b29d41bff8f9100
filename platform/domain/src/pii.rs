//! Personal data that must not reach logs.

use std::fmt;

/// Wraps personal data (phone numbers, e-mail addresses, message bodies) so that `Debug` and
/// `Display` redact it; the value is reached only through [`Pii::expose`].
#[derive(Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Pii<T>(T);

impl<T> Pii<T> {
    /// Wraps a value.
    pub const fn new(value: T) -> Self {
        Self(value)
    }
    /// The real value, for code that must use it (never for logging).
    pub fn expose(&self) -> &T {
        &self.0
    }
    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Pii<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let p = Pii::new("+4930123456".to_string());
        assert_eq!(format!("{p}"), "[redacted]");
        assert_eq!(format!("{p:?}"), "[redacted]");
        assert!(!format!("{:#?}", vec![p.clone()]).contains("4930"));
        assert_eq!(p.expose(), "+4930123456");
    }
}
