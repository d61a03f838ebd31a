//! The EMQX 5 `message.publish` event the webhook receives.

use serde_json::{json, Value};

use crate::guid::Guid;

/// Node name reported in every event, in EMQX's `name@host` form.
pub const NODE: &str = "switchboard-bridge@127.0.0.1";
/// Stands in for EMQX's rule id in `metadata.rule_id`.
pub const RULE_ID: &str = "switchboard-bridge";

/// One received MQTT message, as the event needs it.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedMessage<'a> {
    /// The publisher's client id (the last topic level).
    pub client_id: &'a str,
    /// The full topic.
    pub topic: &'a str,
    /// The raw payload.
    pub payload: &'a [u8],
    /// QoS the message arrived with.
    pub qos: u8,
    /// The MQTT RETAIN flag.
    pub retain: bool,
    /// The MQTT DUP flag.
    pub dup: bool,
    /// When the bridge received it, in milliseconds since the epoch.
    pub received_at_ms: u64,
}

/// The event EMQX's rule engine would send for `SELECT *` on this message.
///
/// Fields the bridge cannot know take the values EMQX uses for unknowns:
/// `username` and `peerhost` are the string `"undefined"`. The payload is a
/// JSON string; invalid UTF-8 is replaced, as EMQX's `force_utf8` does.
pub fn message_publish_event(id: Guid, message: &ReceivedMessage<'_>) -> Value {
    json!({
        "id": id.to_string(),
        "clientid": message.client_id,
        "username": "undefined",
        "topic": message.topic,
        "payload": String::from_utf8_lossy(message.payload),
        "qos": message.qos,
        "flags": {"retain": message.retain, "dup": message.dup},
        "pub_props": {"User-Property": {}},
        "peerhost": "undefined",
        "timestamp": message.received_at_ms,
        "publish_received_at": message.received_at_ms,
        "node": NODE,
        "event": "message.publish",
        "metadata": {"rule_id": RULE_ID},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_exactly_the_emqx_fields() {
        let message = ReceivedMessage {
            client_id: "GID_a@@@d1",
            topic: "sig-up/GID_a@@@d1",
            payload: br#"{"v":1}"#,
            qos: 1,
            retain: false,
            dup: true,
            received_at_ms: 1_694_681_417_728,
        };
        let event = message_publish_event(Guid::from_parts(1, 2), &message);
        assert_eq!(
            event,
            json!({
                "id": "00000000000000010000000000000002",
                "clientid": "GID_a@@@d1",
                "username": "undefined",
                "topic": "sig-up/GID_a@@@d1",
                "payload": "{\"v\":1}",
                "qos": 1,
                "flags": {"retain": false, "dup": true},
                "pub_props": {"User-Property": {}},
                "peerhost": "undefined",
                "timestamp": 1_694_681_417_728_u64,
                "publish_received_at": 1_694_681_417_728_u64,
                "node": "switchboard-bridge@127.0.0.1",
                "event": "message.publish",
                "metadata": {"rule_id": "switchboard-bridge"},
            })
        );
    }

    #[test]
    fn invalid_utf8_is_replaced_not_rejected() {
        let message = ReceivedMessage {
            client_id: "c",
            topic: "sig-up/c",
            payload: b"ok\xffok",
            qos: 1,
            retain: false,
            dup: false,
            received_at_ms: 0,
        };
        let event = message_publish_event(Guid::from_parts(0, 0), &message);
        assert_eq!(event["payload"], "ok\u{FFFD}ok");
    }
}
