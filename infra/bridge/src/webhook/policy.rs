//! Which webhook answers are final, and how long to wait before a retry.
//!
//! Mirrors the EMQX HTTP connector: 2xx is success, a few statuses and all
//! transport failures are recoverable, anything else is "unrecoverable". Unlike
//! EMQX the bridge never gives up on a recoverable failure: the message stays
//! unacknowledged at the broker until the webhook takes it.

use std::time::Duration;

/// First retry delay.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
/// Longest computed retry delay.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Longest wait a `Retry-After` header can ask for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How one webhook answer ends (or does not end) a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// 2xx: the service has the message.
    Delivered,
    /// The service will never take this message; retrying cannot help.
    Refused,
    /// A temporary failure: try again later.
    Retry,
}

/// Classifies an HTTP status the way EMQX's connector does, also retrying
/// the gateway-style 500/502/504.
pub fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        429 | 500 | 502 | 503 | 504 => Verdict::Retry,
        _ => Verdict::Refused,
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is
/// ignored: the service only sends seconds).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The wait before retry number `retry` (0 for the first retry).
///
/// Exponential from [`INITIAL_BACKOFF`] up to [`MAX_BACKOFF`], with "equal
/// jitter": half the step is fixed, the other half scaled by `jitter`
/// (`0.0..=1.0`), so many failing senders do not retry in lockstep. A
/// longer `Retry-After` from the server is honoured, up to
/// [`MAX_RETRY_AFTER`]; a shorter one cannot make the bridge spin.
pub fn backoff(retry: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
    let step = INITIAL_BACKOFF
        .saturating_mul(2u32.saturating_pow(retry.min(16)))
        .min(MAX_BACKOFF);
    let half = step / 2;
    let computed = half + half.mul_f64(jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(requested) => requested.min(MAX_RETRY_AFTER).max(computed),
        None => computed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_emqx_connector() {
        for status in [200, 201, 204, 299] {
            assert_eq!(classify(status), Verdict::Delivered, "{status}");
        }
        for status in [429, 500, 502, 503, 504] {
            assert_eq!(classify(status), Verdict::Retry, "{status}");
        }
        for status in [100, 301, 400, 401, 403, 404, 409, 413, 415, 422, 501] {
            assert_eq!(classify(status), Verdict::Refused, "{status}");
        }
    }

    #[test]
    fn backoff_doubles_from_100ms_up_to_5s() {
        let full = |retry| backoff(retry, None, 1.0);
        assert_eq!(full(0), Duration::from_millis(100));
        assert_eq!(full(1), Duration::from_millis(200));
        assert_eq!(full(5), Duration::from_millis(3200));
        assert_eq!(full(6), MAX_BACKOFF);
        assert_eq!(full(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn jitter_keeps_at_least_half_the_step() {
        assert_eq!(backoff(0, None, 0.0), Duration::from_millis(50));
        assert_eq!(backoff(3, None, 0.5), Duration::from_millis(600));
        assert_eq!(backoff(0, None, 7.0), Duration::from_millis(100));
    }

    #[test]
    fn longer_retry_after_wins_but_is_capped() {
        assert_eq!(
            backoff(0, Some(Duration::from_secs(2)), 0.3),
            Duration::from_secs(2)
        );
        assert_eq!(
            backoff(9, Some(Duration::from_secs(3600)), 0.3),
            MAX_RETRY_AFTER
        );
        assert_eq!(backoff(6, Some(Duration::ZERO), 1.0), MAX_BACKOFF);
    }

    #[test]
    fn retry_after_accepts_only_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }
}
