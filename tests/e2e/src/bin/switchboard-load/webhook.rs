//! Delivering an upstream message straight to the service's webhook, as a
//! second broker node (or a broker retrying a timed-out request) would,
//! while the bridge delivers the same message from MQTT.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_e2e::now_ms;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a delivery keeps retrying 503 answers.
const GIVE_UP_AFTER: Duration = Duration::from_secs(90);
/// The wait before a retry when the answer names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Gives every event this process sends a distinct envelope ID, as EMQX
/// does for every delivery.
static NEXT_ENVELOPE: AtomicU64 = AtomicU64::new(1);

/// How a delivery ended: the per-event status of the final 200 answer
/// (`processed`, `duplicate`, `refused:<code>`), or why there was none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The final status.
    pub status: String,
    /// 503 answers retried on the way.
    pub retries: u64,
}

/// Posts EMQX `message.publish` events with the bridge's bearer token.
#[derive(Clone)]
pub struct Webhook {
    url: String,
    authorization: String,
    agent: ureq::Agent,
}

impl Webhook {
    /// A client for the webhook at `url`, authenticated with `token`.
    pub fn new(url: String, token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url,
            authorization: format!("Bearer {token}"),
            agent,
        }
    }

    /// Delivers `message` from `client_id` (published on `topic`),
    /// retrying 503 answers after their `Retry-After` like the bridge.
    pub fn deliver(&self, client_id: &str, topic: &str, message: &Value) -> Delivered {
        let event = emqx_event(client_id, topic, message);
        let body = event.to_string();
        let started = Instant::now();
        let mut retries = 0;
        loop {
            let (status, wait) = match self.post(&body) {
                Ok(Answer::Done(status)) => return Delivered { status, retries },
                Ok(Answer::Retry(wait)) => ("retry".to_owned(), wait),
                Err(reason) => (reason, DEFAULT_RETRY_AFTER),
            };
            if started.elapsed() >= GIVE_UP_AFTER {
                return Delivered {
                    status: format!("gave up: {status}"),
                    retries,
                };
            }
            retries += 1;
            thread::sleep(wait);
        }
    }

    fn post(&self, body: &str) -> Result<Answer, String> {
        let mut response = self
            .agent
            .post(&self.url)
            .header("Authorization", &self.authorization)
            .header("Content-Type", "application/json")
            .send(body)
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DEFAULT_RETRY_AFTER, Duration::from_secs);
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("unreadable answer: {e}"))?;
        match status {
            200 => Ok(Answer::Done(first_status(&text))),
            503 => Ok(Answer::Retry(retry_after)),
            other => Ok(Answer::Done(format!("http {other}"))),
        }
    }
}

impl std::fmt::Debug for Webhook {
    // The authorization header holds the webhook token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

enum Answer {
    Done(String),
    Retry(Duration),
}

/// The status of the first result of a 200 answer, `refused:<code>` for a
/// refusal.
fn first_status(text: &str) -> String {
    let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let result = answer.pointer("/results/0");
    let field = |name: &str| result.and_then(|r| r.get(name)).and_then(Value::as_str);
    match (field("status"), field("code")) {
        (Some("refused"), code) => format!("refused:{}", code.unwrap_or("?")),
        (Some(status), _) => status.to_owned(),
        (None, _) => format!("unreadable 200 answer: {text}"),
    }
}

/// The event EMQX's rule engine posts for a QoS 1 message.
fn emqx_event(client_id: &str, topic: &str, message: &Value) -> Value {
    let envelope = NEXT_ENVELOPE.fetch_add(1, Ordering::Relaxed);
    let now = now_ms();
    json!({
        "id": format!("{:016x}{envelope:016x}", std::process::id()),
        "clientid": client_id,
        "username": "undefined",
        "topic": topic,
        "payload": message.to_string(),
        "qos": 1,
        "flags": {"retain": false, "dup": true},
        "timestamp": now,
        "publish_received_at": now,
        "event": "message.publish",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_the_message_as_a_string_with_fresh_ids() {
        let message = json!({"v": 1, "id": "m-1", "op": "sync"});
        let a = emqx_event("GID_e2e@@@d", "sig-up/GID_e2e@@@d", &message);
        let b = emqx_event("GID_e2e@@@d", "sig-up/GID_e2e@@@d", &message);
        assert_eq!(a["payload"], message.to_string());
        assert_eq!(a["event"], "message.publish");
        assert_ne!(a["id"], b["id"]);
    }

    #[test]
    fn reads_the_first_result() {
        assert_eq!(
            first_status(r#"{"results":[{"id":"x","status":"duplicate"}]}"#),
            "duplicate"
        );
        assert_eq!(
            first_status(r#"{"results":[{"id":"x","status":"refused","code":"invalid_state"}]}"#),
            "refused:invalid_state"
        );
        assert!(first_status("nope").starts_with("unreadable"));
    }
}
