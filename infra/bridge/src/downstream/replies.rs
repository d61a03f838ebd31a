//! The JSON answers of the API, shaped like EMQX's.

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

use super::publisher::PublishError;
use super::request::RequestError;
use crate::guid::Guid;

/// An answer of the API.
pub type Reply = Response<Full<Bytes>>;

/// MQTT 5 reason code "Implementation specific error", which EMQX uses for
/// a failed dispatch.
const REASON_DISPATCH_FAILED: u8 = 131;

/// A JSON answer.
pub fn json_reply(status: StatusCode, body: &Value) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.to_string())));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

/// EMQX's generic error object `{"code": …, "message": …}`.
pub fn error_reply(status: StatusCode, code: &str, message: &str) -> Reply {
    json_reply(status, &json!({"code": code, "message": message}))
}

/// 401 for a missing or wrong API key pair.
pub fn unauthorized() -> Reply {
    error_reply(
        StatusCode::UNAUTHORIZED,
        "BAD_API_KEY_OR_SECRET",
        "Check api_key/api_secret",
    )
}

/// 400 for a body that cannot be published.
pub fn bad_request(error: &RequestError) -> Reply {
    json_reply(
        StatusCode::BAD_REQUEST,
        &json!({"reason_code": error.reason_code(), "message": error.to_string()}),
    )
}

/// One message's result: `{"id": …}` or the dispatch failure.
pub fn publish_result(result: &Result<Guid, PublishError>) -> Value {
    match result {
        Ok(id) => json!({"id": id.to_string()}),
        Err(_) => json!({"reason_code": REASON_DISPATCH_FAILED, "message": "failed_to_dispatch"}),
    }
}

/// The answer to a single publish: 200 or 503.
pub fn single_published(result: &Result<Guid, PublishError>) -> Reply {
    json_reply(
        status_of(std::slice::from_ref(result)),
        &publish_result(result),
    )
}

/// The answer to a bulk publish: 200 when all were accepted, else 503 with
/// every message's result, so the caller can retry only the failed ones.
pub fn bulk_published(results: &[Result<Guid, PublishError>]) -> Reply {
    let body = Value::Array(results.iter().map(publish_result).collect());
    json_reply(status_of(results), &body)
}

fn status_of(results: &[Result<Guid, PublishError>]) -> StatusCode {
    if results.iter().all(Result::is_ok) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(reply: Reply) -> Value {
        let bytes = reply
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn bulk_with_a_failure_is_503_listing_each_result() {
        let id = Guid::from_parts(1, 1);
        let reply = bulk_published(&[Ok(id), Err(PublishError::InjectedFault)]);
        assert_eq!(reply.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            body_of(reply).await,
            json!([
                {"id": "00000000000000010000000000000001"},
                {"reason_code": 131, "message": "failed_to_dispatch"}
            ])
        );
    }

    #[tokio::test]
    async fn bad_topic_is_reason_144() {
        let reply = bad_request(&RequestError::InvalidTopic);
        assert_eq!(reply.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            body_of(reply).await,
            json!({"reason_code": 144, "message": "topic_name_invalid"})
        );
    }

    #[tokio::test]
    async fn single_success_is_200_with_the_id() {
        let reply = single_published(&Ok(Guid::from_parts(0, 0xAB)));
        assert_eq!(reply.status(), StatusCode::OK);
        assert_eq!(
            body_of(reply).await,
            json!({"id": "000000000000000000000000000000AB"})
        );
    }
}
