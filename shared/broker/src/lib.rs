//! Publishing downstream messages through a broker's REST API.
//!
//! The service hands a batch of [`PublishItem`]s (topic + payload, QoS 1)
//! to a [`Publisher`]; the publisher turns them into an HTTP request, sends
//! it through the small [`HttpClient`] trait (Spin's outbound HTTP in the
//! component, a real client in tests) and maps the broker's answer to a
//! per-message [`ItemOutcome`], so a partial failure can be retried for
//! exactly the messages the broker did not accept.

#![deny(missing_docs)]

mod emqx;
mod http;

pub use emqx::EmqxPublisher;
pub use http::{HttpClient, HttpRequest, HttpResponse, TransportError};

/// One downstream message: QoS 1, not retained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishItem {
    /// The full topic, e.g. `sig-dn/p2p/GID_x@@@dev`.
    pub topic: String,
    /// The UTF-8 JSON payload.
    pub payload: String,
    /// MQTT 5 message expiry, so a broker drops it when the device would.
    pub expiry_seconds: Option<u32>,
}

/// What became of one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    /// The broker accepted it for delivery.
    Accepted,
    /// The broker accepted it but no session subscribes to the topic (the
    /// device never connected with a persistent session): nothing to retry.
    NoSubscribers,
    /// The broker did not take it; publish it again later.
    Failed,
}

impl ItemOutcome {
    /// Whether the message needs no further publishing.
    pub fn is_done(self) -> bool {
        !matches!(self, ItemOutcome::Failed)
    }
}

/// Why a whole batch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The broker refused the API credentials (HTTP 401/403).
    #[error("the broker refused the API credentials (HTTP {0})")]
    Unauthorized(u16),
    /// The broker refused the request as malformed (HTTP 400): a bug, or a
    /// message the broker can't take (too large, invalid topic).
    #[error("the broker refused the request: {0}")]
    Rejected(String),
    /// The broker is unavailable or answered unexpectedly; retry later.
    #[error("the broker is unavailable: {0}")]
    Unavailable(String),
}

/// Publishes batches of messages, reporting each message's outcome.
pub trait Publisher {
    /// Publishes `items` in order. `Ok` carries one outcome per item (some
    /// may be [`ItemOutcome::Failed`]); `Err` means none was accepted.
    fn publish(
        &self,
        items: &[PublishItem],
    ) -> impl std::future::Future<Output = Result<Vec<ItemOutcome>, PublishError>>;
}
