//! The app backend's call endpoints and the scheduled expiry task.

use crate::http::Response;
use crate::outbox;
use crate::platform::{KeyValue, Platform};
use crate::signaling::{current, expired};
use crate::store::{self, keys, Void, MAX_CAS_ATTEMPTS};
use serde_json::json;
use switchboard_calls::{call_view, end_call, expire, Call};
use switchboard_protocol::downstream::EndReason;
use switchboard_protocol::{CallId, Config, ErrorCode, Refusal};

/// `GET /v1/calls/{call}`.
pub fn show<P: Platform>(platform: &P, id: &CallId) -> Result<Response, Refusal> {
    let Some(stored) = store::call(platform.kv(), id)? else {
        return Err(Refusal::new(
            ErrorCode::UnknownCall,
            format!("no call {id}"),
        ));
    };
    let call = current(stored.value, platform.now_ms());
    let mut view = call_view(&call);
    view["pending_messages"] = json!(call.outbox.len());
    Ok(Response::json(200, &view))
}

/// `POST /v1/calls/{call}/end`: ends the call for everyone, as the host would.
pub async fn end<P: Platform>(
    platform: &P,
    config: &Config,
    id: &CallId,
) -> Result<Response, Refusal> {
    let kv = platform.kv();
    let key = keys::call(id);
    let now = platform.now_ms();
    for _ in 0..MAX_CAS_ATTEMPTS {
        let Some(stored) = store::call(kv, id)? else {
            return Err(Refusal::new(
                ErrorCode::UnknownCall,
                format!("no call {id}"),
            ));
        };
        let (mut call, mut messages) = expired(&stored.value, now);
        let (ended, more) = end_call(
            &call,
            EndReason::EndedByHost,
            None,
            &format!("admin-end/{id}"),
            now,
        )?;
        call = ended;
        messages.extend(more);
        call.version += 1;
        call.outbox.extend(messages.iter().cloned());
        if store::swap(kv, &key, &stored, &call)? {
            outbox::flush(platform, config, id, &messages).await?;
            return Ok(Response::json(200, &call_view(&call)));
        }
    }
    Err(store::contention())
}

/// What one run of the expiry task did.
#[derive(Debug, Default)]
struct Report {
    calls: usize,
    expired: usize,
    resent: usize,
    purged: usize,
    failures: usize,
}

/// `POST /v1/tasks/expire`: applies passed ring deadlines of every call,
/// re-sends outbox entries stuck for longer than the outbox grace period,
/// and purges ended calls and tombstones once no redelivery could still
/// refer to them (the deduplication window after they ended).
pub async fn expire_all<P: Platform>(platform: &P, config: &Config) -> Result<Response, Refusal> {
    let kv = platform.kv();
    let now = platform.now_ms();
    let mut report = Report::default();
    let keys = kv
        .keys_with_prefix(keys::CALL_PREFIX)
        .map_err(|e| store::storage_failure(&e))?;
    for key in keys {
        let Some(id) = key
            .strip_prefix(keys::CALL_PREFIX)
            .and_then(|s| CallId::parse(s).ok())
        else {
            continue;
        };
        report.calls += 1;
        if let Err(e) = tend(platform, config, &id, now, &mut report).await {
            eprintln!("switchboard: expiry of {id} failed: {}", e.message);
            report.failures += 1;
        }
    }
    purge_voids(kv, config, now, &mut report)?;
    let body = json!({
        "calls": report.calls,
        "expired": report.expired,
        "resent": report.resent,
        "purged": report.purged,
        "failures": report.failures,
    });
    if report.failures > 0 {
        let mut r = Response::json(503, &body);
        r.headers.push(("retry-after".into(), "1".into()));
        return Ok(r);
    }
    Ok(Response::json(200, &body))
}

async fn tend<P: Platform>(
    platform: &P,
    config: &Config,
    id: &CallId,
    now: i64,
    report: &mut Report,
) -> Result<(), Refusal> {
    let kv = platform.kv();
    let key = keys::call(id);
    for _ in 0..MAX_CAS_ATTEMPTS {
        let Some(stored) = store::call(kv, id)? else {
            return Ok(());
        };
        if purgeable(&stored.value, config, now) {
            kv.delete(&key).map_err(|e| store::storage_failure(&e))?;
            report.purged += 1;
            return Ok(());
        }
        let Some((mut call, messages)) = expire(&stored.value, now) else {
            let stuck = outbox::due(&stored.value, None, now);
            report.resent += stuck.len();
            return outbox::flush(platform, config, id, &stuck).await;
        };
        let mut sending = outbox::due(&call, None, now);
        call.version += 1;
        call.outbox.extend(messages.iter().cloned());
        if store::swap(kv, &key, &stored, &call)? {
            report.expired += 1;
            report.resent += sending.len();
            sending.extend(messages);
            return outbox::flush(platform, config, id, &sending).await;
        }
    }
    Err(store::contention())
}

/// An ended call with nothing left to send, ended longer ago than a
/// message about it could still arrive.
fn purgeable(call: &Call, config: &Config, now: i64) -> bool {
    call.outbox.is_empty()
        && call
            .ended
            .as_ref()
            .is_some_and(|e| e.at + config.dedup_window_ms() < now)
}

fn purge_voids(
    kv: &impl KeyValue,
    config: &Config,
    now: i64,
    report: &mut Report,
) -> Result<(), Refusal> {
    let keys = kv
        .keys_with_prefix(keys::VOID_PREFIX)
        .map_err(|e| store::storage_failure(&e))?;
    for key in keys {
        if let Some(v) = store::load::<Void>(kv, &key)? {
            if v.value.at + config.dedup_window_ms() < now {
                kv.delete(&key).map_err(|e| store::storage_failure(&e))?;
                report.purged += 1;
            }
        }
    }
    Ok(())
}
