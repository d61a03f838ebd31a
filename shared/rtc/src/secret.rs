//! A string that must never be printed.

use std::fmt;

/// A secret key (app key, app certificate, API secret).
///
/// `Debug` and `Display` are deliberately absent or redacted so the value
/// cannot end up in a log line by accident; it is not comparable either, so
/// nobody compares it in variable time.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw bytes, for use as key material only.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The value as text, for algorithms that concatenate it into a string.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("hunter2");
        let printed = format!("{secret:?} {:?}", Some(&secret));
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(format!("{secret:?}"), "\"<redacted>\"");
    }
}
