//! Bodies of `POST /api/v5/publish` and `/api/v5/publish/bulk`, as EMQX 5
//! accepts them, checked completely before anything is published.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rumqttc::QoS;
use serde::Deserialize;

use crate::topic;

/// One message to publish, valid by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishRequest {
    /// A valid publish topic.
    pub topic: String,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// Delivery guarantee.
    pub qos: QoS,
    /// The RETAIN flag.
    pub retain: bool,
}

/// Why a body was rejected (HTTP 400).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    /// Not JSON, or not the expected shape.
    #[error("invalid_json")]
    InvalidJson,
    /// Empty, containing wildcards or NUL, or longer than MQTT allows.
    #[error("topic_name_invalid")]
    InvalidTopic,
    /// `payload_encoding` is base64 but the payload is not.
    #[error("invalid_base64_payload")]
    InvalidBase64,
    /// QoS other than 0, 1 or 2.
    #[error("invalid_qos")]
    InvalidQos,
    /// A bulk request with no message.
    #[error("empty_bulk_request")]
    EmptyBulk,
}

impl RequestError {
    /// The MQTT 5 reason code EMQX reports: 144 (Topic Name invalid) for a
    /// bad topic, 131 (Implementation specific error) for anything else.
    pub fn reason_code(&self) -> u8 {
        match self {
            Self::InvalidTopic => 144,
            Self::InvalidJson | Self::InvalidBase64 | Self::InvalidQos | Self::EmptyBulk => 131,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PayloadEncoding {
    #[default]
    Plain,
    Base64,
}

/// The JSON object EMQX documents. Unknown fields (`properties`, the
/// deprecated `clientid`) are accepted and ignored: MQTT 3.1.1 cannot carry
/// properties.
#[derive(Debug, Deserialize)]
struct PublishBody {
    topic: String,
    payload: String,
    #[serde(default)]
    payload_encoding: PayloadEncoding,
    #[serde(default)]
    qos: u8,
    #[serde(default)]
    retain: bool,
}

/// Parses the body of `POST /api/v5/publish`.
pub fn parse_single(body: &[u8]) -> Result<PublishRequest, RequestError> {
    let body: PublishBody = serde_json::from_slice(body).map_err(|_| RequestError::InvalidJson)?;
    validate(body)
}

/// Parses the body of `POST /api/v5/publish/bulk`: all messages are valid or
/// the whole request is rejected.
pub fn parse_bulk(body: &[u8]) -> Result<Vec<PublishRequest>, RequestError> {
    let bodies: Vec<PublishBody> =
        serde_json::from_slice(body).map_err(|_| RequestError::InvalidJson)?;
    if bodies.is_empty() {
        return Err(RequestError::EmptyBulk);
    }
    bodies.into_iter().map(validate).collect()
}

fn validate(body: PublishBody) -> Result<PublishRequest, RequestError> {
    if !topic::is_valid_publish_topic(&body.topic) {
        return Err(RequestError::InvalidTopic);
    }
    let qos = match body.qos {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        2 => QoS::ExactlyOnce,
        _ => return Err(RequestError::InvalidQos),
    };
    let payload = match body.payload_encoding {
        PayloadEncoding::Plain => body.payload.into_bytes(),
        PayloadEncoding::Base64 => STANDARD
            .decode(body.payload.as_bytes())
            .map_err(|_| RequestError::InvalidBase64)?,
    };
    Ok(PublishRequest {
        topic: body.topic,
        payload,
        qos,
        retain: body.retain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_payload_with_defaults() {
        assert_eq!(
            parse_single(br#"{"topic":"sig-dn/p2p/c","payload":"{\"v\":1}"}"#),
            Ok(PublishRequest {
                topic: "sig-dn/p2p/c".into(),
                payload: br#"{"v":1}"#.to_vec(),
                qos: QoS::AtMostOnce,
                retain: false,
            })
        );
    }

    #[test]
    fn base64_payload_qos_retain_and_ignored_properties() {
        let parsed = parse_single(
            br#"{"topic":"t","payload":"AAEC/w==","payload_encoding":"base64","qos":1,"retain":true,
                "properties":{"message_expiry_interval":30,"user_properties":{"k":"v"}},"clientid":"x"}"#,
        );
        assert_eq!(
            parsed,
            Ok(PublishRequest {
                topic: "t".into(),
                payload: vec![0, 1, 2, 255],
                qos: QoS::AtLeastOnce,
                retain: true,
            })
        );
    }

    #[test]
    fn invalid_inputs_map_to_emqx_reasons() {
        let cases: [(&[u8], RequestError); 8] = [
            (b"not json", RequestError::InvalidJson),
            (br#"{"payload":"x"}"#, RequestError::InvalidJson),
            (
                br#"{"topic":"t","payload":"x","payload_encoding":"hex"}"#,
                RequestError::InvalidJson,
            ),
            (br#"{"topic":"","payload":"x"}"#, RequestError::InvalidTopic),
            (
                br#"{"topic":"a/+","payload":"x"}"#,
                RequestError::InvalidTopic,
            ),
            (
                br#"{"topic":"a/#","payload":"x"}"#,
                RequestError::InvalidTopic,
            ),
            (
                br#"{"topic":"t","payload":"@@","payload_encoding":"base64"}"#,
                RequestError::InvalidBase64,
            ),
            (
                br#"{"topic":"t","payload":"x","qos":3}"#,
                RequestError::InvalidQos,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_single(body),
                Err(expected),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert_eq!(RequestError::InvalidTopic.reason_code(), 144);
        assert_eq!(RequestError::InvalidBase64.reason_code(), 131);
    }

    #[test]
    fn bulk_is_all_or_nothing() {
        let ok =
            parse_bulk(br#"[{"topic":"a","payload":"1"},{"topic":"b","payload":"2","qos":1}]"#);
        assert_eq!(ok.map(|messages| messages.len()), Ok(2));
        assert_eq!(
            parse_bulk(br#"[{"topic":"a","payload":"1"},{"topic":"b/#","payload":"2"}]"#),
            Err(RequestError::InvalidTopic)
        );
        assert_eq!(parse_bulk(b"[]"), Err(RequestError::EmptyBulk));
        assert_eq!(
            parse_bulk(br#"{"topic":"a","payload":"1"}"#),
            Err(RequestError::InvalidJson)
        );
    }
}
