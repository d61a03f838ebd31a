//! The one error type of the harness.

use std::fmt;
use std::time::Duration;

use switchboard_dev::stack::StackError;
use switchboard_rtc::RtcError;

/// Why a harness step failed. Every variant says what was expected and
/// what happened instead, so a failing test reads as a diagnosis.
///
/// `Debug` prints the same text as `Display`: a test that returns
/// `Err(HarnessError)` then fails with a readable message.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The stack (broker, runtime, bridge...) did not start.
    #[error("the stack did not start: {0}")]
    Stack(#[from] StackError),

    /// An MQTT operation failed or was not acknowledged in time.
    #[error("MQTT client {client_id}: {reason}")]
    Mqtt {
        /// The device's client ID.
        client_id: String,
        /// What went wrong.
        reason: String,
    },

    /// An expected downstream message did not arrive in time.
    #[error(
        "{client_id} expected {wanted} within {within:?}, but it did not arrive; \
         unread: [{unread}]"
    )]
    Missing {
        /// The device's client ID.
        client_id: String,
        /// What was expected.
        wanted: String,
        /// How long the device waited.
        within: Duration,
        /// Summaries of the messages received meanwhile and not consumed.
        unread: String,
    },

    /// A device received messages it should not have.
    #[error("{client_id} received unexpected messages: [{received}]")]
    Unexpected {
        /// The device's client ID.
        client_id: String,
        /// Summaries of the unexpected messages.
        received: String,
    },

    /// A downstream payload is not a JSON object with a string `id` and
    /// `event`.
    #[error("{client_id} received an unreadable downstream message on {topic}: {reason}")]
    Unreadable {
        /// The device's client ID.
        client_id: String,
        /// Where it arrived.
        topic: String,
        /// Why it could not be read.
        reason: String,
    },

    /// An HTTP request could not be made or its answer not read.
    #[error("{method} {url}: {reason}")]
    Http {
        /// The request method.
        method: &'static str,
        /// The request URL (never carries credentials).
        url: String,
        /// What went wrong.
        reason: String,
    },

    /// An HTTP request was answered with an unexpected status.
    #[error("{method} {url} answered {status}, expected {expected}: {body}")]
    Status {
        /// The request method.
        method: &'static str,
        /// The request URL.
        url: String,
        /// The status received.
        status: u16,
        /// The statuses that were acceptable.
        expected: String,
        /// The response body.
        body: String,
    },

    /// An RTC join object is malformed, for the wrong call or user, or its
    /// token does not verify.
    #[error("RTC join parameters: {0}")]
    Rtc(String),

    /// A token failed the vendor verifier.
    #[error("RTC token does not verify: {0}")]
    Token(#[from] RtcError),

    /// A condition the test waited for did not come true in time.
    #[error("timed out after {within:?} waiting for {what}; last seen: {last}")]
    Timeout {
        /// The condition.
        what: String,
        /// How long the test waited.
        within: Duration,
        /// The last observed state.
        last: String,
    },

    /// A checked fact about the system is false.
    #[error("{0}")]
    Check(String),
}

impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The harness's result type.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Fails with [`HarnessError::Check`] unless `condition` holds.
///
/// ```
/// use switchboard_e2e::{check, HarnessError};
/// assert!(check(1 + 1 == 2, || "arithmetic".to_owned()).is_ok());
/// assert!(matches!(check(false, || "nope".to_owned()), Err(HarnessError::Check(_))));
/// ```
pub fn check(condition: bool, message: impl FnOnce() -> String) -> Result<()> {
    if condition {
        Ok(())
    } else {
        Err(HarnessError::Check(message()))
    }
}
