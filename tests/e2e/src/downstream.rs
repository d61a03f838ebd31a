//! Downstream messages as a device receives them.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::HarnessError;

/// Which of a device's two downstream topics a message came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `<downstream_parent>/p2p/<clientId>`: signaling.
    Signaling,
    /// `<bulk_parent>/p2p/<clientId>`: `sync` answers and large messages.
    Bulk,
}

/// One downstream message (service → device), parsed.
///
/// The contract guarantees `id` and `event` are strings; everything else is
/// read through the accessors, which return `None` (or `""`) when a field
/// is missing so tests can compare with `assert_eq!`.
#[derive(Clone, PartialEq)]
pub struct Received {
    channel: Channel,
    fields: Map<String, Value>,
    id: String,
    event: String,
}

impl Received {
    /// Parses a payload; `Err` says why it is not a downstream message.
    pub(crate) fn parse(payload: &[u8], channel: Channel) -> Result<Self, String> {
        let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(fields) = value else {
            return Err("not a JSON object".to_owned());
        };
        let text = |name: &str| {
            fields
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| format!("no string {name:?}"))
        };
        let id = text("id")?;
        let event = text("event")?;
        Ok(Self {
            channel,
            fields,
            id,
            event,
        })
    }

    /// The message's unique ID (devices deduplicate on it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The event name, e.g. `call.invitation`.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The topic kind it arrived on.
    pub fn channel(&self) -> Channel {
        self.channel
    }

    /// The `call` field, if any.
    pub fn call(&self) -> Option<&str> {
        self.str("call")
    }

    /// The `call` field, owned; an error when the message has none.
    pub fn call_id(&self) -> Result<String, HarnessError> {
        self.call().map(str::to_owned).ok_or_else(|| {
            HarnessError::Check(format!("{} ({}) names no call", self.summary(), self.id))
        })
    }

    /// The `in_reply_to` field: the upstream message that caused it.
    pub fn in_reply_to(&self) -> Option<&str> {
        self.str("in_reply_to")
    }

    /// The `ts` field (ms).
    pub fn ts(&self) -> Option<i64> {
        self.get("ts").and_then(Value::as_i64)
    }

    /// The `expires_at` field (ms).
    pub fn expires_at(&self) -> Option<i64> {
        self.get("expires_at").and_then(Value::as_i64)
    }

    /// Whether a device would discard it at `now_ms` (past `expires_at`).
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at().is_some_and(|at| at <= now_ms)
    }

    /// Any field.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    /// A string field (`reason`, `user`, `code`, `from`, `media`...).
    pub fn str(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    /// A list of strings (`to`, `participants`, `unreachable`); empty when
    /// the field is missing or not such a list.
    pub fn strings(&self, field: &str) -> Vec<&str> {
        self.get(field)
            .and_then(Value::as_array)
            .map(|items| items.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// The whole message as JSON.
    pub fn to_value(&self) -> Value {
        Value::Object(self.fields.clone())
    }

    /// A one-line summary: event, call, and the fields tests usually check.
    pub fn summary(&self) -> String {
        let mut text = self.event.clone();
        for field in ["call", "user", "reason", "code", "from", "by", "media"] {
            if let Some(value) = self.str(field) {
                text.push_str(&format!(" {field}={value}"));
            }
        }
        if self.channel == Channel::Bulk {
            text.push_str(" [bulk]");
        }
        text
    }
}

impl fmt::Debug for Received {
    // The `rtc` object holds tokens: only the summary and ID are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.summary(), self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_contract_message() {
        let payload = br#"{"v":1,"id":"e-1","ts":5,"expires_at":10,"event":"call.cancelled",
            "call":"c-1","in_reply_to":"m-1","reason":"timeout","to":["a","b"]}"#;
        let message = Received::parse(payload, Channel::Signaling).expect("valid");
        assert_eq!(message.id(), "e-1");
        assert_eq!(message.event(), "call.cancelled");
        assert_eq!(message.call(), Some("c-1"));
        assert_eq!(message.in_reply_to(), Some("m-1"));
        assert_eq!(message.str("reason"), Some("timeout"));
        assert_eq!(message.strings("to"), ["a", "b"]);
        assert!(!message.is_expired(9));
        assert!(message.is_expired(10));
        assert_eq!(message.summary(), "call.cancelled call=c-1 reason=timeout");
    }

    #[test]
    fn refuses_what_is_not_a_downstream_message() {
        for payload in [&b"nope"[..], b"[]", br#"{"event":"x"}"#, br#"{"id":"e"}"#] {
            assert!(Received::parse(payload, Channel::Bulk).is_err());
        }
    }

    #[test]
    fn debug_hides_tokens() {
        let payload = br#"{"id":"e-1","event":"call.token","rtc":{"token":"secret-token"}}"#;
        let message = Received::parse(payload, Channel::Signaling).expect("valid");
        assert!(!format!("{message:?}").contains("secret-token"));
    }
}
