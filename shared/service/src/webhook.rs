//! `POST /v1/webhooks/mqtt` and `/v1/webhooks/presence`: the broker's
//! events, decoded and carried out one by one.

use crate::http::{Request, Response};
use crate::outbox;
use crate::platform::Platform;
use crate::signaling::{self, Ctx, Outcome};
use crate::store::{self, keys, Presence};
use serde_json::{json, Value};
use switchboard_calls::{Emitter, Sender};
use switchboard_protocol::envelope::{json_type, Envelope};
use switchboard_protocol::upstream::DecodeFailure;
use switchboard_protocol::{
    decode_events, ClientId, ErrorCode, Event, MessageId, Refusal, Topic, Upstream,
};

/// One event's result in the webhook's answer.
fn result(id: &str, status: &str, code: Option<ErrorCode>) -> Value {
    let mut v = json!({"id": id, "status": status});
    if let Some(code) = code {
        v["code"] = json!(code.as_str());
    }
    v
}

/// Handles a `message.publish` webhook body (already authenticated).
/// Answers 200 with per-event results, or the first retryable failure
/// (503 + `Retry-After`) so the broker redelivers the whole body.
pub async fn messages<P: Platform>(ctx: &Ctx<'_, P>, request: &Request) -> Response {
    let events = match decode_events(&request.body) {
        Ok(events) => events,
        Err(refusal) => return Response::error(&refusal),
    };
    let mut results = Vec::with_capacity(events.len());
    for event in events {
        let outcome = match event {
            Ok(envelope) => process(ctx, &envelope).await,
            Err((id, refusal)) => Ok(result(&id, "refused", Some(refusal.code))),
        };
        match outcome {
            Ok(r) => results.push(r),
            Err(refusal) => return Response::error(&refusal),
        }
    }
    Response::json(200, &json!({ "results": results }))
}

/// Carries out one event. `Err` only for retryable failures.
async fn process<P: Platform>(ctx: &Ctx<'_, P>, envelope: &Envelope) -> Result<Value, Refusal> {
    let client = match ClientId::parse(&envelope.clientid) {
        Ok(c) => c,
        // No valid client ID: nowhere to send an error event.
        Err(refusal) => return Ok(result(&envelope.id, "refused", Some(refusal.code))),
    };
    let config = ctx.config;
    let client_ref = &client;
    let refuse = |id: Option<MessageId>, refusal: Refusal| async move {
        tell_device(ctx, client_ref, &envelope.id, id.as_ref(), &refusal).await?;
        Ok(result(&envelope.id, "refused", Some(refusal.code)))
    };
    match Topic::child_of(&envelope.topic, &config.upstream_parent) {
        Some(level) if level == envelope.clientid => {}
        _ => {
            return refuse(
                None,
                Refusal::new(
                    ErrorCode::WrongTopic,
                    format!(
                        "publish signaling to {}/<your client ID>",
                        config.upstream_parent
                    ),
                ),
            )
            .await
        }
    }
    let msg = match Upstream::decode(&envelope.payload) {
        Ok(msg) => msg,
        Err(DecodeFailure { id, refusal }) => return refuse(id, refusal).await,
    };
    if ctx.now - msg.ts > config.max_message_age_ms {
        let r = Refusal::new(
            ErrorCode::StaleMessage,
            format!(
                "the message is {} s old, older than {} s",
                (ctx.now - msg.ts) / 1000,
                config.max_message_age_ms / 1000
            ),
        );
        return refuse(Some(msg.id), r).await;
    }
    if msg.ts - ctx.now > config.max_clock_skew_ms {
        let r = Refusal::new(
            ErrorCode::FutureMessage,
            "the message's ts is too far in the future; check the device clock",
        );
        return refuse(Some(msg.id), r).await;
    }
    let Some(device) = store::device(ctx.platform.kv(), &client)? else {
        let r = Refusal::new(ErrorCode::UnknownDevice, "this client ID is not registered");
        return refuse(Some(msg.id), r).await;
    };
    let sender = Sender {
        client: client.clone(),
        user: device.user,
    };
    match signaling::handle(ctx, &sender, &msg).await {
        Ok(Outcome::Processed) => Ok(result(&envelope.id, "processed", None)),
        Ok(Outcome::Duplicate) => Ok(result(&envelope.id, "duplicate", None)),
        Err(refusal) if refusal.code.is_retryable() || refusal.code == ErrorCode::Misconfigured => {
            Err(refusal)
        }
        Err(refusal) => refuse(Some(msg.id), refusal).await,
    }
}

/// Sends the device an `error` event for its refused message. The event's
/// ID derives from the message (or the envelope), so a redelivery sends
/// the same event.
async fn tell_device<P: Platform>(
    ctx: &Ctx<'_, P>,
    client: &ClientId,
    envelope_id: &str,
    id: Option<&MessageId>,
    refusal: &Refusal,
) -> Result<(), Refusal> {
    let mut out = match id {
        Some(id) => Emitter::for_refusal(client, id, ctx.now),
        None => Emitter::for_cause(format!("envelope/{client}/{envelope_id}"), ctx.now),
    };
    out.send_one(
        client,
        None,
        None,
        Event::Error {
            code: refusal.code.as_str().to_owned(),
            message: refusal.message.clone(),
        },
    );
    let (_, failure) = outbox::publish(ctx.platform, ctx.config, out.messages()).await;
    failure.map_or(Ok(()), Err)
}

/// Handles EMQX `client.connected` / `client.disconnected` events: records
/// presence of registered devices, ignoring events older than the stored one
/// (a takeover's disconnect can arrive after the new connect).
pub fn presence<P: Platform>(platform: &P, request: &Request) -> Response {
    let value: Value = match serde_json::from_slice(&request.body) {
        Ok(v) => v,
        Err(e) => {
            return Response::refuse(
                ErrorCode::InvalidJson,
                &format!("body is not valid JSON: {e}"),
            )
        }
    };
    let events = match value {
        Value::Array(items) if !items.is_empty() && items.len() <= 100 => items,
        Value::Object(_) => vec![value],
        other => {
            return Response::refuse(
                ErrorCode::InvalidEnvelope,
                &format!(
                    "body must be an event object or a non-empty array of at most 100, not a {}",
                    json_type(&other)
                ),
            )
        }
    };
    let mut results = Vec::with_capacity(events.len());
    for event in &events {
        match record_presence(platform, event) {
            Ok(status) => results.push(json!({"clientid": event.get("clientid"), "status": status})),
            Err(refusal) if refusal.code.is_retryable() => return Response::error(&refusal),
            Err(refusal) => results.push(json!({"clientid": event.get("clientid"), "status": "refused", "code": refusal.code.as_str()})),
        }
    }
    Response::json(200, &json!({ "results": results }))
}

fn record_presence<P: Platform>(platform: &P, event: &Value) -> Result<&'static str, Refusal> {
    let bad = |m: &str| Refusal::new(ErrorCode::InvalidEnvelope, m);
    let client = event
        .get("clientid")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("event has no string \"clientid\""))?;
    let client = ClientId::parse(client)?;
    let (connected, at) = match event.get("event").and_then(Value::as_str) {
        Some("client.connected") => (true, event.get("connected_at")),
        Some("client.disconnected") => (false, event.get("disconnected_at")),
        _ => {
            return Err(bad(
                "\"event\" must be client.connected or client.disconnected",
            ))
        }
    };
    let at = at
        .or_else(|| event.get("timestamp"))
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("event has no integer connected_at / disconnected_at / timestamp"))?;
    let kv = platform.kv();
    if store::device(kv, &client)?.is_none() {
        return Ok("ignored");
    }
    let key = keys::presence(&client);
    for _ in 0..store::MAX_CAS_ATTEMPTS {
        let next = Presence { connected, at };
        match store::load::<Presence>(kv, &key)? {
            None => {
                store::save(kv, &key, &next)?;
                return Ok("recorded");
            }
            Some(stored) if stored.value.at > at => return Ok("ignored"),
            Some(stored) => {
                if store::swap(kv, &key, &stored, &next)? {
                    return Ok("recorded");
                }
            }
        }
    }
    Err(store::contention())
}
