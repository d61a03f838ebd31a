//! Decoding of the broker's webhook body: EMQX's `message.publish` rule
//! event (`SELECT *`), one object or an array of them. The MQTT payload is
//! a JSON *string* inside it; `username` may be the string `"undefined"`.

use crate::error::{ErrorCode, Refusal};
use serde_json::{Map, Value};

/// Largest MQTT payload the contract accepts (16 KiB).
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// Most events one webhook request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 100;
/// Longest envelope ID kept (EMQX's are 32 hex characters).
pub const MAX_ENVELOPE_ID_LEN: usize = 128;

/// One `message.publish` event, its fields still untrusted text: the
/// service validates `clientid` and `topic` against its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The broker's ID of this delivery, echoed in the per-event result.
    pub id: String,
    /// The client ID the broker authenticated: the only trusted sender.
    pub clientid: String,
    /// The topic the device published to.
    pub topic: String,
    /// The MQTT payload (a JSON document, still to be decoded).
    pub payload: String,
    /// The MQTT username, `None` when absent or EMQX's `"undefined"`.
    pub username: Option<String>,
}

/// The outcome of decoding one element of the body: an envelope, or a
/// refusal with whatever envelope ID could be read.
pub type EventDecode = Result<Envelope, (String, Refusal)>;

/// Decodes a webhook body. Refuses the whole body when it is not UTF-8
/// JSON, not an object or a non-empty array of at most
/// [`MAX_EVENTS_PER_REQUEST`] elements; otherwise decodes each element on
/// its own so one bad event doesn't refuse its neighbours.
pub fn decode_events(body: &[u8]) -> Result<Vec<EventDecode>, Refusal> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Refusal::new(ErrorCode::InvalidJson, "body is not valid UTF-8"))?;
    let value: Value = serde_json::from_str(text).map_err(|e| {
        Refusal::new(
            ErrorCode::InvalidJson,
            format!("body is not valid JSON: {e}"),
        )
    })?;
    match value {
        Value::Object(obj) => Ok(vec![decode_one(obj)]),
        Value::Array(items) => {
            if items.is_empty() {
                return Err(Refusal::new(
                    ErrorCode::InvalidEnvelope,
                    "body is an empty array of events",
                ));
            }
            if items.len() > MAX_EVENTS_PER_REQUEST {
                return Err(Refusal::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                        "body has {} events, more than {MAX_EVENTS_PER_REQUEST}",
                        items.len()
                    ),
                ));
            }
            Ok(items
                .into_iter()
                .map(|item| match item {
                    Value::Object(obj) => decode_one(obj),
                    other => Err((
                        String::new(),
                        Refusal::new(
                            ErrorCode::InvalidEnvelope,
                            format!("event is a {}, not an object", json_type(&other)),
                        ),
                    )),
                })
                .collect())
        }
        other => Err(Refusal::new(
            ErrorCode::InvalidEnvelope,
            format!(
                "body is a {}, not an event object or array",
                json_type(&other)
            ),
        )),
    }
}

/// The JSON type name of a value, for error messages.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn decode_one(mut obj: Map<String, Value>) -> EventDecode {
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ENVELOPE_ID_LEN => s.clone(),
        _ => String::new(),
    };
    let fail = |code, msg: String| Err((id.clone(), Refusal::new(code, msg)));
    if id.is_empty() {
        return fail(
            ErrorCode::InvalidEnvelope,
            format!("event \"id\" must be a string of 1 to {MAX_ENVELOPE_ID_LEN} characters"),
        );
    }
    if let Some(event) = obj.get("event") {
        if event.as_str() != Some("message.publish") {
            return fail(
                ErrorCode::InvalidEnvelope,
                "event \"event\" must be \"message.publish\"".into(),
            );
        }
    }
    let mut text_field = |name: &str| match obj.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!(
            "event {name:?} must be a string, not a {}",
            json_type(&other)
        )),
        None => Err(format!("event has no {name:?}")),
    };
    let clientid = match text_field("clientid") {
        Ok(s) => s,
        Err(m) => return fail(ErrorCode::InvalidEnvelope, m),
    };
    let topic = match text_field("topic") {
        Ok(s) => s,
        Err(m) => return fail(ErrorCode::InvalidEnvelope, m),
    };
    let payload = match text_field("payload") {
        Ok(s) => s,
        Err(m) => return fail(ErrorCode::InvalidEnvelope, m),
    };
    if payload.len() > MAX_PAYLOAD_BYTES {
        return fail(
            ErrorCode::PayloadTooLarge,
            format!(
                "payload has {} bytes, more than {MAX_PAYLOAD_BYTES}",
                payload.len()
            ),
        );
    }
    let username = match obj.remove("username") {
        Some(Value::String(s)) if s != "undefined" => Some(s),
        _ => None,
    };
    Ok(Envelope {
        id,
        clientid,
        topic,
        payload,
        username,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMQX_DOC_EXAMPLE: &str = r#"{"username":"undefined","topic":"t/1","timestamp":1694681417728,"qos":0,"publish_received_at":1694681417728,
 "pub_props":{"User-Property":{}},"peerhost":"127.0.0.1","payload":"{ \"msg\": \"Hello Webhook\" }",
 "node":"emqx@127.0.0.1","metadata":{"rule_id":"my-webhook_WH_D"},"id":"0006054DC3E940F8F445000038A60002",
 "flags":{"retain":false,"dup":false},"event":"message.publish","clientid":"emqx_c"}"#;

    fn code_of(body: &[u8]) -> ErrorCode {
        decode_events(body).unwrap_err().code
    }

    fn event_code(body: &str) -> ErrorCode {
        let mut events = decode_events(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        events.remove(0).unwrap_err().1.code
    }

    #[test]
    fn decodes_emqx_documentation_example() {
        let events = decode_events(EMQX_DOC_EXAMPLE.as_bytes()).unwrap();
        let env = events[0].as_ref().unwrap();
        assert_eq!(env.id, "0006054DC3E940F8F445000038A60002");
        assert_eq!(env.clientid, "emqx_c");
        assert_eq!(env.topic, "t/1");
        assert_eq!(env.payload, "{ \"msg\": \"Hello Webhook\" }");
        assert_eq!(env.username, None);
    }

    #[test]
    fn decodes_arrays_event_by_event() {
        let body = format!("[{EMQX_DOC_EXAMPLE}, 5, {{\"id\":\"x\"}}]");
        let events = decode_events(body.as_bytes()).unwrap();
        assert_eq!(events.len(), 3);
        assert!(events[0].is_ok());
        assert_eq!(
            events[1].as_ref().unwrap_err().1.code,
            ErrorCode::InvalidEnvelope
        );
        let (id, r) = events[2].as_ref().unwrap_err();
        assert_eq!(id, "x");
        assert_eq!(r.code, ErrorCode::InvalidEnvelope);
    }

    #[test]
    fn keeps_real_usernames() {
        let body = r#"{"id":"1","clientid":"c","topic":"t","payload":"p","username":"dev"}"#;
        let events = decode_events(body.as_bytes()).unwrap();
        assert_eq!(events[0].as_ref().unwrap().username.as_deref(), Some("dev"));
    }

    #[test]
    fn refuses_bad_bodies() {
        assert_eq!(code_of(b"\xff\xfe{}"), ErrorCode::InvalidJson);
        assert_eq!(code_of(b"{"), ErrorCode::InvalidJson);
        assert_eq!(code_of(b""), ErrorCode::InvalidJson);
        assert_eq!(code_of(b"\"text\""), ErrorCode::InvalidEnvelope);
        assert_eq!(code_of(b"null"), ErrorCode::InvalidEnvelope);
        assert_eq!(code_of(b"[]"), ErrorCode::InvalidEnvelope);
        let many = format!("[{}]", vec!["{}"; 101].join(","));
        assert_eq!(code_of(many.as_bytes()), ErrorCode::PayloadTooLarge);
    }

    #[test]
    fn refuses_bad_events() {
        assert_eq!(
            event_code(r#"{"clientid":"c","topic":"t","payload":"p"}"#),
            ErrorCode::InvalidEnvelope
        );
        assert_eq!(
            event_code(r#"{"id":7,"clientid":"c","topic":"t","payload":"p"}"#),
            ErrorCode::InvalidEnvelope
        );
        assert_eq!(
            event_code(r#"{"id":"1","clientid":5,"topic":"t","payload":"p"}"#),
            ErrorCode::InvalidEnvelope
        );
        assert_eq!(
            event_code(r#"{"id":"1","clientid":"c","payload":"p"}"#),
            ErrorCode::InvalidEnvelope
        );
        assert_eq!(
            event_code(r#"{"id":"1","clientid":"c","topic":"t","payload":{"op":"x"}}"#),
            ErrorCode::InvalidEnvelope
        );
        assert_eq!(
            event_code(
                r#"{"id":"1","clientid":"c","topic":"t","payload":"p","event":"client.connected"}"#
            ),
            ErrorCode::InvalidEnvelope
        );
        let big = format!(
            r#"{{"id":"1","clientid":"c","topic":"t","payload":"{}"}}"#,
            "x".repeat(MAX_PAYLOAD_BYTES + 1)
        );
        assert_eq!(event_code(&big), ErrorCode::PayloadTooLarge);
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_bytes(body in proptest::collection::vec(any::<u8>(), 0..300)) {
                let _ = decode_events(&body);
            }

            #[test]
            fn never_panics_on_json_like_text(body in "[\\[\\]{}\":,a-z0-9 ]{0,200}") {
                let _ = decode_events(body.as_bytes());
            }
        }
    }
}
