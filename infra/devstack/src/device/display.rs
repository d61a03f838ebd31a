//! Downstream messages as one readable line each.

use std::collections::{HashSet, VecDeque};

use serde_json::Value;

/// Fields shown, in this order, after the event name.
const SHOWN_FIELDS: &[&str] = &[
    "call",
    "from",
    "user",
    "by",
    "to",
    "media",
    "reason",
    "code",
    "message",
    "in_reply_to",
    "participants",
    "invitations",
    "active",
    "meta",
    "rtc",
];
/// Characters of a token shown before it is cut.
const TOKEN_PREFIX: usize = 12;

/// Why a downstream payload cannot be shown as a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayError {
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    NotAnObject(String),
    /// No `event` string.
    #[error("no \"event\" field")]
    NoEvent,
}

/// A parsed downstream message.
#[derive(Debug, Clone, PartialEq)]
pub struct Downstream {
    body: serde_json::Map<String, Value>,
    event: String,
}

impl Downstream {
    /// Parses a downstream MQTT payload.
    pub fn parse(payload: &[u8]) -> Result<Self, DisplayError> {
        let value: Value = serde_json::from_slice(payload)
            .map_err(|error| DisplayError::NotAnObject(error.to_string()))?;
        let Value::Object(body) = value else {
            return Err(DisplayError::NotAnObject("another JSON value".into()));
        };
        let event = body
            .get("event")
            .and_then(Value::as_str)
            .ok_or(DisplayError::NoEvent)?
            .to_owned();
        Ok(Self { body, event })
    }

    /// The event name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The message's unique ID, which devices deduplicate on.
    pub fn id(&self) -> Option<&str> {
        self.body.get("id").and_then(Value::as_str)
    }

    /// The call it is about: `call`, or for `sync` the active call.
    pub fn call(&self) -> Option<&str> {
        self.body.get("call").and_then(Value::as_str).or_else(|| {
            self.body
                .get("active")
                .and_then(|active| active.get("call"))
                .and_then(Value::as_str)
        })
    }

    /// True when `expires_at` (ms since the epoch) has passed at `now_ms`:
    /// the contract tells devices to discard such messages.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.body
            .get("expires_at")
            .and_then(Value::as_u64)
            .is_some_and(|expires_at| expires_at < now_ms)
    }

    /// `event key=value ...` with the fields a person cares about; tokens
    /// are cut to their first characters.
    pub fn summary(&self) -> String {
        let mut line = self.event.clone();
        for field in SHOWN_FIELDS {
            if let Some(value) = self.body.get(*field) {
                line.push(' ');
                line.push_str(field);
                line.push('=');
                line.push_str(&show_field(field, value));
            }
        }
        line
    }
}

/// Remembers the IDs of recently received messages (bounded).
#[derive(Debug, Clone)]
pub struct SeenIds {
    ids: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl SeenIds {
    /// Remembers at most `capacity` IDs, forgetting the oldest first.
    pub fn new(capacity: usize) -> Self {
        Self {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// True the first time `id` is offered, false for a repeat.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        self.ids.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

fn show_field(field: &str, value: &Value) -> String {
    match (field, value) {
        ("rtc", Value::Object(rtc)) => show_rtc(rtc),
        ("active", Value::Null) => "none".to_owned(),
        ("active", Value::Object(call)) => call
            .get("call")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned(),
        ("invitations", Value::Array(items)) => {
            let shown: Vec<String> = items.iter().map(show_invitation).collect();
            format!("[{}]", shown.join(", "))
        }
        ("message", Value::String(text)) => format!("{text:?}"),
        (_, Value::String(text)) => text.clone(),
        (_, Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(","),
        (_, other) => other.to_string(),
    }
}

fn show_invitation(invitation: &Value) -> String {
    let call = invitation
        .get("call")
        .and_then(Value::as_str)
        .unwrap_or("?");
    match invitation.get("from").and_then(Value::as_str) {
        Some(from) => format!("{call} from {from}"),
        None => call.to_owned(),
    }
}

fn show_rtc(rtc: &serde_json::Map<String, Value>) -> String {
    let mut parts = Vec::new();
    for key in [
        "provider",
        "app_id",
        "channel",
        "room",
        "user_id",
        "uid",
        "identity",
        "url",
        "expires_at",
    ] {
        if let Some(value) = rtc.get(key) {
            let text = value
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| value.to_string());
            parts.push(format!("{key}={text}"));
        }
    }
    for key in ["token", "join_token"] {
        if let Some(token) = rtc.get(key).and_then(Value::as_str) {
            parts.push(format!("{key}={}", cut(token)));
        }
    }
    format!("{{{}}}", parts.join(" "))
}

fn cut(token: &str) -> String {
    match token.char_indices().nth(TOKEN_PREFIX) {
        Some((end, _)) => format!("{}…({} chars)", &token[..end], token.chars().count()),
        None => token.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(value: Value) -> Downstream {
        Downstream::parse(value.to_string().as_bytes()).expect("parses")
    }

    #[test]
    fn an_invitation_shows_who_what_and_a_cut_token() {
        let message = parse(json!({
            "v": 1, "id": "e-1", "ts": 1, "expires_at": 1000, "event": "call.invitation",
            "call": "c-1", "from": "alice", "media": "video", "participants": ["alice", "bob"],
            "meta": {"topic": "standup"},
            "rtc": {"provider": "aliyun", "app_id": "app", "channel": "c-1", "user_id": "bob",
                    "token": "abcdefghijklmnopqrstuvwxyz", "expires_at": 99}
        }));
        assert_eq!(
            message.summary(),
            "call.invitation call=c-1 from=alice media=video participants=alice,bob \
             meta={\"topic\":\"standup\"} rtc={provider=aliyun app_id=app channel=c-1 \
             user_id=bob expires_at=99 token=abcdefghijkl…(26 chars)}"
        );
        assert_eq!(message.call(), Some("c-1"));
        assert_eq!(message.id(), Some("e-1"));
        assert_eq!(message.event(), "call.invitation");
    }

    #[test]
    fn errors_quote_their_message() {
        let message = parse(json!({"event": "error", "in_reply_to": "m-1",
                                   "code": "unknown_device", "message": "who are you"}));
        assert_eq!(
            message.summary(),
            "error code=unknown_device message=\"who are you\" in_reply_to=m-1"
        );
        assert_eq!(message.call(), None);
    }

    #[test]
    fn sync_lists_invitations_and_the_active_call() {
        let message = parse(json!({"event": "sync",
            "invitations": [{"call": "c-2", "from": "carol"}, {"call": "c-3"}],
            "active": {"call": "c-1"}}));
        assert_eq!(
            message.summary(),
            "sync invitations=[c-2 from carol, c-3] active=c-1"
        );
        assert_eq!(message.call(), Some("c-1"));
        let idle = parse(json!({"event": "sync", "invitations": [], "active": null}));
        assert_eq!(idle.summary(), "sync invitations=[] active=none");
    }

    #[test]
    fn expiry_is_checked_against_now() {
        let message = parse(json!({"event": "call.invitation", "expires_at": 1000}));
        assert!(!message.is_expired(1000));
        assert!(message.is_expired(1001));
        assert!(!parse(json!({"event": "x"})).is_expired(u64::MAX));
    }

    #[test]
    fn payloads_that_are_not_messages_are_refused() {
        assert!(matches!(
            Downstream::parse(b"hello"),
            Err(DisplayError::NotAnObject(_))
        ));
        assert!(matches!(
            Downstream::parse(b"[1]"),
            Err(DisplayError::NotAnObject(_))
        ));
        assert_eq!(Downstream::parse(b"{}"), Err(DisplayError::NoEvent));
    }

    #[test]
    fn seen_ids_detect_repeats_within_capacity() {
        let mut seen = SeenIds::new(2);
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        assert!(seen.first_time("b"));
        assert!(seen.first_time("c"));
        // "a" was forgotten to make room.
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("c"));
    }
}
