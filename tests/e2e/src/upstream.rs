//! Upstream messages (device → service): the envelope fields a device adds
//! to an op, and the clock they are stamped with.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Makes every message ID of this process distinct, across devices and
/// reconnections, as the contract requires per sender.
static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(1);

/// Milliseconds since the Unix epoch, the unit of every `ts` in the
/// contract (0 if the clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A fresh upstream message ID: `m-<process id>-<sequence>`, 1 to 64
/// characters of `A-Z a-z 0-9 - _`.
pub fn next_message_id() -> String {
    let sequence = NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed);
    format!("m-{}-{sequence}", std::process::id())
}

/// `op` (a JSON object such as `{"op":"invite","to":["bob"],"media":"video"}`)
/// completed with `v: 1`, a fresh `id` and `ts` = now. Fields already in
/// `op` win, so a test can pin an `id` or backdate a `ts`. A non-object `op`
/// is returned unchanged, which lets tests send malformed payloads.
pub fn message(op: Value) -> Value {
    let Value::Object(fields) = op else {
        return op;
    };
    let mut message = json!({"v": 1, "id": next_message_id(), "ts": now_ms()});
    if let Value::Object(base) = &mut message {
        base.extend(fields);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_the_envelope_and_keeps_given_fields() {
        let m = message(json!({"op": "leave", "call": "c-1", "ts": 5}));
        assert_eq!(m["v"], 1);
        assert_eq!(m["op"], "leave");
        assert_eq!(m["ts"], 5);
        let id = m["id"].as_str().expect("id");
        assert!(id.len() <= 64 && id.starts_with("m-"));
        assert_ne!(message(json!({}))["id"], m["id"]);
    }

    #[test]
    fn non_objects_pass_through() {
        assert_eq!(message(json!([1])), json!([1]));
    }

    #[test]
    fn the_clock_is_in_milliseconds() {
        // Later than 2020-01-01 and earlier than 2100-01-01.
        assert!((1_577_836_800_000..4_102_444_800_000).contains(&now_ms()));
    }
}
