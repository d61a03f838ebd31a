//! Delivering upstream events to the Switchboard webhook until it takes them.

mod auth;
mod client;
mod policy;

use std::sync::Arc;

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

pub use client::WebhookError;

use client::{Attempt, WebhookClient};
use policy::{backoff, classify, Verdict};

use crate::config::WebhookConfig;
use crate::guid::Guid;
use crate::stats::Stats;

/// One event ready to send; the body is serialised once, so every retry
/// carries the same bytes and the same envelope id.
#[derive(Debug, Clone)]
pub struct Event {
    /// The envelope id, for the log.
    pub id: Guid,
    /// The publisher, for the log.
    pub client_id: String,
    /// The JSON body.
    pub body: Bytes,
}

/// How a delivery ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The webhook answered 2xx.
    Delivered,
    /// The webhook refused the event for good (any non-retryable status).
    Refused,
    /// The bridge is stopping; the event was not delivered.
    Abandoned,
}

/// Delivers events with EMQX's retry rules, never giving up on its own.
pub struct Webhook {
    client: WebhookClient,
    stats: Arc<Stats>,
}

impl Webhook {
    /// A webhook sender for `config`.
    pub fn new(config: &WebhookConfig, stats: Arc<Stats>) -> Result<Self, WebhookError> {
        Ok(Self {
            client: WebhookClient::new(config)?,
            stats,
        })
    }

    /// Sends `event` until the webhook answers 2xx or an unrecoverable
    /// status, or until `stop` is cancelled between attempts. An attempt in
    /// progress is not interrupted: the caller bounds shutdown instead.
    pub async fn deliver(&self, event: &Event, stop: &CancellationToken) -> Outcome {
        let mut retry = 0u32;
        loop {
            let attempt = retry + 1;
            let (retry_after, failure) = match self.client.send(&event.body).await {
                Attempt::Answered {
                    status,
                    retry_after,
                    body,
                } => match classify(status) {
                    Verdict::Delivered => {
                        self.stats.webhook_delivered();
                        tracing::info!(id = %event.id, clientid = %event.client_id, status, attempt, "webhook delivered");
                        return Outcome::Delivered;
                    }
                    Verdict::Refused => {
                        self.stats.webhook_refused();
                        tracing::error!(id = %event.id, clientid = %event.client_id, status, attempt, body = %body, "webhook refused the message as unrecoverable; not retrying");
                        return Outcome::Refused;
                    }
                    Verdict::Retry => (retry_after, format!("status {status}")),
                },
                Attempt::Failed(reason) => (None, reason),
            };
            self.stats.webhook_retry();
            let delay = backoff(retry, retry_after, rand::random::<f64>());
            tracing::warn!(id = %event.id, clientid = %event.client_id, attempt, failure = %failure, retry_in = ?delay, "webhook attempt failed; retrying");
            tokio::select! {
                biased;
                () = stop.cancelled() => {
                    tracing::info!(id = %event.id, clientid = %event.client_id, "stopping before the message was delivered; the broker keeps it");
                    return Outcome::Abandoned;
                }
                () = tokio::time::sleep(delay) => {}
            }
            retry = retry.saturating_add(1);
        }
    }
}
