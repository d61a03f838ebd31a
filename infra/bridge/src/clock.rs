//! Wall-clock time since the Unix epoch, as the wire formats want it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the epoch (webhook signatures).
pub fn unix_seconds() -> u64 {
    since_epoch().as_secs()
}

/// Milliseconds since the epoch (event timestamps).
pub fn unix_millis() -> u64 {
    u64::try_from(since_epoch().as_millis()).unwrap_or(u64::MAX)
}

/// Microseconds since the epoch (message ids).
pub fn unix_micros() -> u64 {
    u64::try_from(since_epoch().as_micros()).unwrap_or(u64::MAX)
}

/// A clock set before 1970 reads as the epoch rather than failing.
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
}
