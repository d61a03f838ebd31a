//! EMQX v5 REST publishing: `POST /api/v5/publish/bulk` with HTTP Basic
//! (API key and secret), each message `qos: 1`, `payload_encoding: plain`.
//!
//! Status mapping (EMQX `emqx_mgmt_api_publish`): 200 every message went
//! to a subscriber; 202 some matched no subscriber and none failed; 503
//! some failed (`failed_to_dispatch`), with per-message results; 400 the
//! batch was refused before anything was published; 401 bad credentials.

use crate::http::{HttpClient, HttpRequest, HttpResponse};
use crate::{ItemOutcome, PublishError, PublishItem, Publisher};
use base64::Engine;
use serde_json::{json, Value};
use std::fmt;

/// EMQX's reason code for "no matching subscribers".
const NO_MATCHING_SUBSCRIBERS: u64 = 16;

/// Publishes through EMQX's REST API (or Switchboard's bridge, which
/// serves the same API for Mosquitto).
pub struct EmqxPublisher<C> {
    client: C,
    endpoint: String,
    authorization: String,
}

impl<C> fmt::Debug for EmqxPublisher<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmqxPublisher")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl<C: HttpClient> EmqxPublisher<C> {
    /// A publisher for the API at `base_url` (`scheme://host[:port]`).
    pub fn new(client: C, base_url: &str, api_key: &str, api_secret: &str) -> Self {
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{api_key}:{api_secret}"));
        Self {
            client,
            endpoint: format!("{}/api/v5/publish/bulk", base_url.trim_end_matches('/')),
            authorization: format!("Basic {credentials}"),
        }
    }

    /// The bulk publish request for `items`.
    pub fn request(&self, items: &[PublishItem]) -> HttpRequest {
        let body: Vec<Value> = items
            .iter()
            .map(|item| {
                let mut m = json!({
                    "topic": item.topic,
                    "payload": item.payload,
                    "payload_encoding": "plain",
                    "qos": 1,
                    "retain": false,
                });
                if let Some(secs) = item.expiry_seconds {
                    m["properties"] = json!({"message_expiry_interval": secs});
                }
                m
            })
            .collect();
        let body = serde_json::to_vec(&body).unwrap_or_default();
        HttpRequest {
            method: "POST",
            url: self.endpoint.clone(),
            headers: vec![
                ("authorization".into(), self.authorization.clone()),
                ("content-type".into(), "application/json".into()),
                ("accept".into(), "application/json".into()),
                ("content-length".into(), body.len().to_string()),
            ],
            body,
        }
    }
}

/// Maps EMQX's answer to a bulk publish of `count` messages.
pub fn interpret(count: usize, response: &HttpResponse) -> Result<Vec<ItemOutcome>, PublishError> {
    let per_item = || -> Option<Vec<ItemOutcome>> {
        let results: Vec<Value> = serde_json::from_slice(&response.body).ok()?;
        (results.len() == count).then(|| {
            results
                .iter()
                .map(|r| {
                    if r.get("id").is_some_and(Value::is_string) {
                        ItemOutcome::Accepted
                    } else if r.get("reason_code").and_then(Value::as_u64)
                        == Some(NO_MATCHING_SUBSCRIBERS)
                    {
                        ItemOutcome::NoSubscribers
                    } else {
                        ItemOutcome::Failed
                    }
                })
                .collect()
        })
    };
    match response.status {
        200 => Ok(vec![ItemOutcome::Accepted; count]),
        202 => Ok(per_item().unwrap_or_else(|| vec![ItemOutcome::NoSubscribers; count])),
        503 => match per_item() {
            Some(outcomes) if outcomes.iter().any(|o| o.is_done()) => Ok(outcomes),
            _ => Err(PublishError::Unavailable(
                "HTTP 503 (failed_to_dispatch)".into(),
            )),
        },
        400 => Err(PublishError::Rejected(brief(&response.body))),
        401 | 403 => Err(PublishError::Unauthorized(response.status)),
        other => Err(PublishError::Unavailable(format!("HTTP {other}"))),
    }
}

/// A short, printable summary of an error body.
fn brief(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(200).collect();
    if text.is_empty() {
        "empty body".into()
    } else {
        text
    }
}

impl<C: HttpClient> Publisher for EmqxPublisher<C> {
    async fn publish(&self, items: &[PublishItem]) -> Result<Vec<ItemOutcome>, PublishError> {
        if items.is_empty() {
            // EMQX answers an empty bulk with an error; nothing to do anyway.
            return Ok(Vec::new());
        }
        let response = self
            .client
            .send(self.request(items))
            .await
            .map_err(|e| PublishError::Unavailable(e.0))?;
        interpret(items.len(), &response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn request_shape() {
        struct Nobody;
        impl HttpClient for Nobody {
            async fn send(&self, _: HttpRequest) -> Result<HttpResponse, crate::TransportError> {
                unreachable!()
            }
        }
        let p = EmqxPublisher::new(Nobody, "http://127.0.0.1:18083/", "key", "secret");
        let req = p.request(&[PublishItem {
            topic: "sig-dn/p2p/GID_a@@@b".into(),
            payload: "{\"v\":1}".into(),
            expiry_seconds: Some(30),
        }]);
        assert_eq!(req.url, "http://127.0.0.1:18083/api/v5/publish/bulk");
        assert!(req
            .headers
            .contains(&("authorization".into(), "Basic a2V5OnNlY3JldA==".into())));
        let body: Value = serde_json::from_slice(&req.body).unwrap();
        assert_eq!(
            body,
            json!([{"topic":"sig-dn/p2p/GID_a@@@b","payload":"{\"v\":1}","payload_encoding":"plain",
                    "qos":1,"retain":false,"properties":{"message_expiry_interval":30}}])
        );
        assert!(
            !format!("{req:?}").contains("a2V5"),
            "credentials never printed"
        );
    }

    #[test]
    fn status_mapping() {
        use ItemOutcome::*;
        assert_eq!(interpret(2, &resp(200, "[]")), Ok(vec![Accepted, Accepted]));
        assert_eq!(
            interpret(
                2,
                &resp(
                    202,
                    r#"[{"id":"a"},{"reason_code":16,"message":"no_matching_subscribers"}]"#
                )
            ),
            Ok(vec![Accepted, NoSubscribers])
        );
        assert_eq!(
            interpret(1, &resp(202, r#"{"reason_code":16}"#)),
            Ok(vec![NoSubscribers])
        );
        assert_eq!(
            interpret(
                2,
                &resp(
                    503,
                    r#"[{"id":"a"},{"reason_code":131,"message":"failed_to_dispatch"}]"#
                )
            ),
            Ok(vec![Accepted, Failed])
        );
        assert!(matches!(
            interpret(1, &resp(503, r#"{"reason_code":131}"#)),
            Err(PublishError::Unavailable(_))
        ));
        assert!(matches!(
            interpret(1, &resp(400, r#"{"reason_code":144,"message":"topic_name_invalid"}"#)),
            Err(PublishError::Rejected(m)) if m.contains("topic_name_invalid")
        ));
        assert_eq!(
            interpret(1, &resp(401, "")),
            Err(PublishError::Unauthorized(401))
        );
        assert!(matches!(
            interpret(1, &resp(500, "")),
            Err(PublishError::Unavailable(_))
        ));
        assert!(matches!(
            interpret(1, &resp(404, "")),
            Err(PublishError::Unavailable(_))
        ));
    }
}
