//! What the caller asks for and the trait every provider implements.

use crate::{RtcError, RtcJoin};

/// Vendors that bound a token's lifetime (Alibaba Cloud, Agora) accept at
/// most 24 hours.
pub(crate) const MAX_VENDOR_TTL_SECONDS: u32 = 24 * 60 * 60;

/// One device's request to join the media channel of a call.
///
/// Time and randomness come from the caller, so minting is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinRequest<'a> {
    /// The media channel; Switchboard uses the call ID.
    pub channel: &'a str,
    /// The user the token is for (Agora user account, LiveKit identity).
    pub user_id: &'a str,
    /// The current time, Unix seconds.
    pub now_unix: u64,
    /// How long the token should stay valid (`rtc_token_ttl_seconds`);
    /// providers with a shorter maximum cap it.
    pub ttl_seconds: u32,
    /// A fresh random value per token (some vendors mix it into the
    /// signing key so two tokens for the same user differ).
    pub salt: i32,
}

impl JoinRequest<'_> {
    /// The token lifetime, refusing zero and capping it at `max_seconds`.
    pub(crate) fn ttl_capped_at(&self, max_seconds: u32) -> Result<u32, RtcError> {
        if self.ttl_seconds == 0 {
            return Err(RtcError::InvalidInput(
                "ttl_seconds must be positive".to_owned(),
            ));
        }
        Ok(self.ttl_seconds.min(max_seconds))
    }

    /// The absolute expiry in Unix seconds for a lifetime of `ttl_seconds`.
    pub(crate) fn expiry_unix(&self, ttl_seconds: u32) -> Result<u64, RtcError> {
        self.now_unix
            .checked_add(u64::from(ttl_seconds))
            .filter(|expiry| expiry.checked_mul(1000).is_some())
            .ok_or_else(|| RtcError::InvalidInput("now_unix is out of range".to_owned()))
    }
}

/// Milliseconds since the epoch, the unit of every timestamp in the contract.
/// [`JoinRequest::expiry_unix`] guarantees the product does not overflow.
pub(crate) fn unix_millis(unix_seconds: u64) -> u64 {
    unix_seconds.saturating_mul(1000)
}

/// Mints join parameters for one RTC vendor.
pub trait TokenProvider: Send + Sync {
    /// The join parameters (with a fresh token) for one device.
    fn mint(&self, req: &JoinRequest<'_>) -> Result<RtcJoin, RtcError>;

    /// The provider's name as written in `rtc.provider`.
    fn provider(&self) -> &'static str;
}

/// Refuses an identifier that the vendor does not allow.
///
/// `what` names the field in the error; `allowed` describes `is_allowed` for
/// humans.
pub(crate) fn check_identifier(
    what: &str,
    value: &str,
    max_len: usize,
    allowed: &str,
    is_allowed: impl Fn(char) -> bool,
) -> Result<(), RtcError> {
    if value.is_empty() || value.len() > max_len || !value.chars().all(is_allowed) {
        return Err(RtcError::InvalidInput(format!(
            "{what} must be 1 to {max_len} bytes of {allowed}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(now_unix: u64, ttl_seconds: u32) -> JoinRequest<'static> {
        JoinRequest {
            channel: "c-1",
            user_id: "alice",
            now_unix,
            ttl_seconds,
            salt: 7,
        }
    }

    #[test]
    fn ttl_is_capped_and_must_be_positive() {
        assert_eq!(request(0, 3600).ttl_capped_at(86_400), Ok(3600));
        assert_eq!(request(0, 100_000).ttl_capped_at(86_400), Ok(86_400));
        assert!(request(0, 0).ttl_capped_at(86_400).is_err());
    }

    #[test]
    fn expiry_refuses_times_whose_millis_overflow() {
        assert_eq!(
            request(1_700_000_000, 60).expiry_unix(60),
            Ok(1_700_000_060)
        );
        assert!(request(u64::MAX, 60).expiry_unix(60).is_err());
        assert!(request(u64::MAX / 1000, 60).expiry_unix(60).is_err());
        assert_eq!(unix_millis(1_700_000_060), 1_700_000_060_000);
    }

    #[test]
    fn identifiers_are_checked_for_length_and_characters() {
        let digits = |c: char| c.is_ascii_digit();
        assert!(check_identifier("uid", "123", 3, "digits", digits).is_ok());
        assert!(check_identifier("uid", "", 3, "digits", digits).is_err());
        assert!(check_identifier("uid", "1234", 3, "digits", digits).is_err());
        let err = check_identifier("uid", "12a", 3, "digits", digits);
        assert_eq!(
            err,
            Err(RtcError::InvalidInput(
                "uid must be 1 to 3 bytes of digits".to_owned()
            ))
        );
    }
}
