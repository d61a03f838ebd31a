//! Plain HTTP request and response values, and the one place errors
//! become JSON bodies.

use serde_json::json;
use switchboard_protocol::{ErrorCode, Refusal};

/// An incoming request, already read (bodies are size-limited by the caller).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, ….
    pub method: String,
    /// The path, still percent-encoded, without the query.
    pub path: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An outgoing response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    /// `{"error": {"code", "message"}}` with the code's status; 503s carry
    /// `Retry-After`.
    pub fn error(refusal: &Refusal) -> Self {
        let mut response = Self::json(
            refusal.code.http_status(),
            &json!({"error": {"code": refusal.code.as_str(), "message": refusal.message}}),
        );
        if refusal.code.is_retryable() {
            response.headers.push(("retry-after".into(), "1".into()));
        }
        response
    }

    /// An error response from a code and message.
    pub fn refuse(code: ErrorCode, message: &str) -> Self {
        Self::error(&Refusal::new(code, message))
    }

    /// The value of header `name`, if set.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
