//! Counters served by `GET /_bridge/stats`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Running totals since the bridge started. Shared by all tasks.
#[derive(Debug, Default)]
pub struct Stats {
    webhook_delivered: AtomicU64,
    webhook_retries: AtomicU64,
    webhook_refused: AtomicU64,
    upstream_skipped: AtomicU64,
    published: AtomicU64,
    publish_failures: AtomicU64,
}

/// A copy of the counters at one moment, as served in JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Upstream messages the webhook answered with 2xx.
    pub webhook_delivered: u64,
    /// Webhook attempts that failed in a retryable way (and were retried).
    pub webhook_retries: u64,
    /// Upstream messages the webhook refused with an unrecoverable status.
    pub webhook_refused: u64,
    /// Upstream messages on an unexpected topic, acknowledged and dropped.
    pub upstream_skipped: u64,
    /// API messages the broker accepted.
    pub published: u64,
    /// API messages answered 503 (broker down, no acknowledgement in time,
    /// or an injected fault).
    pub publish_failures: u64,
}

impl Stats {
    /// One message delivered to the webhook.
    pub fn webhook_delivered(&self) {
        self.webhook_delivered.fetch_add(1, Ordering::Relaxed);
    }

    /// One webhook attempt to be retried.
    pub fn webhook_retry(&self) {
        self.webhook_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// One message refused by the webhook.
    pub fn webhook_refused(&self) {
        self.webhook_refused.fetch_add(1, Ordering::Relaxed);
    }

    /// One upstream message dropped for its topic.
    pub fn upstream_skipped(&self) {
        self.upstream_skipped.fetch_add(1, Ordering::Relaxed);
    }

    /// One API message accepted by the broker.
    pub fn published(&self) {
        self.published.fetch_add(1, Ordering::Relaxed);
    }

    /// One API message that could not be published.
    pub fn publish_failure(&self) {
        self.publish_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            webhook_delivered: self.webhook_delivered.load(Ordering::Relaxed),
            webhook_retries: self.webhook_retries.load(Ordering::Relaxed),
            webhook_refused: self.webhook_refused.load(Ordering::Relaxed),
            upstream_skipped: self.upstream_skipped.load(Ordering::Relaxed),
            published: self.published.load(Ordering::Relaxed),
            publish_failures: self.publish_failures.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_each_counter() {
        let stats = Stats::default();
        stats.webhook_delivered();
        stats.webhook_retry();
        stats.webhook_retry();
        stats.webhook_refused();
        stats.upstream_skipped();
        stats.published();
        stats.publish_failure();
        stats.publish_failure();
        assert_eq!(
            stats.snapshot(),
            StatsSnapshot {
                webhook_delivered: 1,
                webhook_retries: 2,
                webhook_refused: 1,
                upstream_skipped: 1,
                published: 1,
                publish_failures: 2,
            }
        );
    }
}
