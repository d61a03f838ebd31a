//! Publishing downstream messages, and the call outbox that makes a retried
//! fan-out re-send only what the broker has not accepted.
//!
//! A transition stores its messages in the call record's `outbox` in the
//! same compare-and-swap as the new state; they are then published, and the
//! ones the broker accepted are removed with another compare-and-swap. If
//! publishing fails midway, the webhook answers 503 and the retried
//! delivery (a duplicate by then) publishes what is left, with the same IDs.

use crate::platform::Platform;
use crate::store::{self, keys, MAX_CAS_ATTEMPTS};
use switchboard_broker::{EmqxPublisher, ItemOutcome, PublishError, PublishItem, Publisher};
use switchboard_calls::Call;
use switchboard_protocol::config::BrokerApi;
use switchboard_protocol::{CallId, Config, ErrorCode, OutboundMessage, Refusal, Topic};

/// Pending outbox entries older than this are re-sent by whoever touches
/// the call next (their first publisher failed or crashed).
pub const STALE_OUTBOX_MS: i64 = 5_000;
/// Messages per bulk request.
const BATCH: usize = 64;

/// The topic a message goes to: the bulk parent for low-priority or large
/// messages, the downstream parent otherwise.
fn route(config: &Config, message: &OutboundMessage, payload_len: usize) -> Result<Topic, Refusal> {
    let parent =
        if message.message.event.is_low_priority() || payload_len > config.bulk_threshold_bytes {
            &config.bulk_parent
        } else {
            &config.downstream_parent
        };
    Topic::p2p(parent, &message.to, config.max_topic_length)
}

/// Publishes `messages`, returning the IDs that need no further publishing
/// (accepted, no subscriber, expired, or unroutable) and the failure, if
/// some were not accepted.
pub async fn publish<P: Platform>(
    platform: &P,
    config: &Config,
    messages: &[OutboundMessage],
) -> (Vec<String>, Option<Refusal>) {
    let now = platform.now_ms();
    let mut done = Vec::new();
    let mut items = Vec::new();
    let mut item_ids = Vec::new();
    for m in messages {
        if m.message.expires_at <= now {
            done.push(m.message.id.clone());
            continue;
        }
        let payload = String::from_utf8(m.payload()).unwrap_or_default();
        match route(config, m, payload.len()) {
            Ok(topic) => {
                items.push(PublishItem {
                    topic: topic.as_str().to_owned(),
                    payload,
                    expiry_seconds: Some(((m.message.expires_at - now + 999) / 1000) as u32),
                });
                item_ids.push(m.message.id.clone());
            }
            Err(e) => {
                eprintln!(
                    "switchboard: dropping message {}: {}",
                    m.message.id, e.message
                );
                done.push(m.message.id.clone());
            }
        }
    }
    if items.is_empty() {
        return (done, None);
    }
    if config.broker.api != BrokerApi::Emqx {
        return (
            done,
            Some(Refusal::new(
                ErrorCode::Misconfigured,
                "broker_api aliyun is not supported by this build",
            )),
        );
    }
    let publisher = EmqxPublisher::new(
        platform.http(),
        &config.broker.api_url,
        &config.broker.api_key,
        config.broker.api_secret.expose(),
    );
    let mut failure = None;
    for (chunk, ids) in items.chunks(BATCH).zip(item_ids.chunks(BATCH)) {
        match publisher.publish(chunk).await {
            Ok(outcomes) => {
                for (outcome, id) in outcomes.iter().zip(ids) {
                    if outcome.is_done() {
                        done.push(id.clone());
                    }
                }
                if outcomes.contains(&ItemOutcome::Failed) {
                    failure = Some(unavailable("the broker did not accept every message"));
                }
            }
            Err(PublishError::Rejected(why)) => {
                // Retrying a refused request cannot succeed: log and move on.
                eprintln!(
                    "switchboard: the broker refused {} messages: {why}",
                    ids.len()
                );
                done.extend(ids.iter().cloned());
            }
            Err(e) => {
                eprintln!("switchboard: publishing failed: {e}");
                failure = Some(unavailable("the broker API is unavailable"));
            }
        }
    }
    (done, failure)
}

fn unavailable(message: &str) -> Refusal {
    Refusal::new(
        ErrorCode::BrokerUnavailable,
        format!("{message}; retry later"),
    )
}

/// Publishes `messages` (taken from call `id`'s outbox) and removes the
/// delivered ones from the stored outbox. Fails with `broker_unavailable`
/// if any was not accepted (they stay in the outbox for the retry).
pub async fn flush<P: Platform>(
    platform: &P,
    config: &Config,
    id: &CallId,
    messages: &[OutboundMessage],
) -> Result<(), Refusal> {
    if messages.is_empty() {
        return Ok(());
    }
    let (done, failure) = publish(platform, config, messages).await;
    // On failure, release the causes of what is left, so their redelivery
    // re-sends at once instead of waiting out the publish lease.
    let released: Vec<String> = match failure {
        Some(_) => messages
            .iter()
            .filter(|m| !done.contains(&m.message.id))
            .filter_map(|m| {
                m.message
                    .in_reply_to
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
            })
            .collect(),
        None => Vec::new(),
    };
    if !done.is_empty() || !released.is_empty() {
        forget(platform, id, &done, &released)?;
    }
    failure.map_or(Ok(()), Err)
}

/// Records that this instance gave up publishing what `cause` left in the
/// outbox (it failed after storing them), so a redelivery re-sends at once.
/// Best effort: if this write fails too, the publish lease expires instead.
pub fn release<P: Platform>(platform: &P, id: &CallId, cause: &str) {
    if let Err(e) = forget(platform, id, &[], &[cause.to_owned()]) {
        eprintln!(
            "switchboard: could not release {cause} on {id}: {}",
            e.message
        );
    }
}

/// Removes delivered messages from the call's stored outbox and records
/// the causes released by a failed publish.
fn forget<P: Platform>(
    platform: &P,
    id: &CallId,
    done: &[String],
    released: &[String],
) -> Result<(), Refusal> {
    let key = keys::call(id);
    for _ in 0..MAX_CAS_ATTEMPTS {
        let Some(stored) = store::load::<Call>(platform.kv(), &key)? else {
            return Ok(());
        };
        let mut call = stored.value.clone();
        call.outbox.retain(|m| !done.contains(&m.message.id));
        for cause in released {
            if !call.released.contains(cause) {
                call.released.push(cause.clone());
            }
        }
        let outbox = &call.outbox;
        call.released
            .retain(|c| outbox.iter().any(|m| caused_by(m, c)));
        if call.outbox == stored.value.outbox && call.released == stored.value.released {
            return Ok(());
        }
        if store::swap(platform.kv(), &key, &stored, &call)? {
            return Ok(());
        }
    }
    // The messages went out; a stale outbox entry is re-sent at worst, and
    // devices deduplicate on its ID.
    Ok(())
}

/// How long the instance that produced outbox entries owns publishing
/// them: a redelivery of the same message within this time answers 503
/// `in_progress` instead of publishing them a second time concurrently.
pub const PUBLISH_LEASE_MS: i64 = 2_000;

/// The outbox entries to (re-)send now: those caused by `cause` and those
/// left pending for longer than [`STALE_OUTBOX_MS`].
pub fn due(call: &Call, cause: Option<&str>, now: i64) -> Vec<OutboundMessage> {
    call.outbox
        .iter()
        .filter(|m| cause.is_some_and(|c| caused_by(m, c)) || m.message.ts + STALE_OUTBOX_MS <= now)
        .cloned()
        .collect()
}

fn caused_by(message: &OutboundMessage, cause: &str) -> bool {
    message
        .message
        .in_reply_to
        .as_ref()
        .is_some_and(|r| r.as_str() == cause)
}

/// For a redelivered message: the outbox entries it left to publish, or
/// `in_progress` while the instance that produced them may still be
/// publishing them (within [`PUBLISH_LEASE_MS`]).
pub fn due_for_redelivery(
    call: &Call,
    cause: &str,
    now: i64,
) -> Result<Vec<OutboundMessage>, Refusal> {
    let publishing = !call.released.iter().any(|c| c == cause)
        && call
            .outbox
            .iter()
            .any(|m| caused_by(m, cause) && m.message.ts + PUBLISH_LEASE_MS > now);
    if publishing {
        return Err(Refusal::new(
            ErrorCode::InProgress,
            "this message's effects are being published; retry later",
        ));
    }
    Ok(due(call, Some(cause), now))
}
