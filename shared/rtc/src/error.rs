//! The one error type of the crate.

/// Why a provider could not be configured, a token not minted, or a token not
/// verified.
///
/// Messages never contain a secret or a token: they name the offending
/// setting or field only, so they are safe to log and to return to callers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcError {
    /// A `rtc_*` setting is missing or malformed.
    #[error("invalid RTC configuration: {0}")]
    InvalidConfig(String),
    /// The join request cannot be turned into a token for this provider
    /// (identifier not allowed by the vendor, time out of the vendor's range).
    #[error("invalid RTC join request: {0}")]
    InvalidInput(String),
    /// A token failed to decode or its signature does not match.
    #[error("invalid RTC token: {0}")]
    InvalidToken(&'static str),
}

impl RtcError {
    /// A stable, machine-readable code for the variant.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidConfig(_) => "invalid_rtc_config",
            Self::InvalidInput(_) => "invalid_rtc_request",
            Self::InvalidToken(_) => "invalid_rtc_token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_and_distinct() {
        let codes = [
            RtcError::InvalidConfig(String::new()).code(),
            RtcError::InvalidInput(String::new()).code(),
            RtcError::InvalidToken("").code(),
        ];
        assert_eq!(
            codes,
            [
                "invalid_rtc_config",
                "invalid_rtc_request",
                "invalid_rtc_token"
            ]
        );
    }
}
