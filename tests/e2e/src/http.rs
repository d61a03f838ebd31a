//! The HTTP calls tests make: to the service's admin API and to the
//! bridge's test hooks. Every answer is read whatever its status, so a
//! helper can say exactly what it got.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::error::{HarnessError, Result};

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A status and the body parsed as JSON (`Value::Null` when empty or not
/// JSON; the raw text is kept for error messages).
#[derive(Debug, Clone)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body as JSON.
    pub json: Value,
    /// The body as text.
    pub text: String,
}

/// An `Authorization` header value; never printed.
#[derive(Clone)]
pub(crate) struct Credential(String);

impl Credential {
    pub(crate) fn bearer(token: &str) -> Self {
        Self(format!("Bearer {token}"))
    }

    pub(crate) fn basic(user: &str, password: &str) -> Self {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Self(format!("Basic {encoded}"))
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A small HTTP client bound to one base URL and one credential.
#[derive(Clone)]
pub(crate) struct Endpoint {
    base: String,
    credential: Credential,
    agent: ureq::Agent,
}

impl Endpoint {
    pub(crate) fn new(base: String, credential: Credential) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base,
            credential,
            agent,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request; `body` is sent as JSON when given.
    pub(crate) fn send(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer> {
        let url = format!("{}{path}", self.base);
        let failed = |reason: String| HarnessError::Http {
            method,
            url: url.clone(),
            reason,
        };
        let auth = self.credential.0.as_str();
        let response = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", auth).call(),
            ("DELETE", _) => self.agent.delete(&url).header("Authorization", auth).call(),
            (_, Some(body)) => self
                .with_body(method, &url)
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .send(body.to_string()),
            (_, None) => self
                .with_body(method, &url)
                .header("Authorization", auth)
                .send_empty(),
        };
        let mut response = response.map_err(|e| failed(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| failed(format!("cannot read the body: {e}")))?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Answer { status, json, text })
    }

    /// Sends a request and fails unless the status is one of `expected`.
    pub(crate) fn expect(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
        expected: &[u16],
    ) -> Result<Answer> {
        let answer = self.send(method, path, body)?;
        if expected.contains(&answer.status) {
            Ok(answer)
        } else {
            Err(HarnessError::Status {
                method,
                url: format!("{}{path}", self.base),
                status: answer.status,
                expected: format!("{expected:?}"),
                body: answer.text,
            })
        }
    }

    fn with_body(
        &self,
        method: &str,
        url: &str,
    ) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        match method {
            "PUT" => self.agent.put(url),
            "PATCH" => self.agent.patch(url),
            _ => self.agent.post(url),
        }
    }
}

/// Percent-encodes one path segment (client IDs hold `@@@`).
pub(crate) fn segment(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("GID_e2e@@@a-1"), "GID_e2e%40%40%40a-1");
        assert_eq!(segment("alice.b"), "alice.b");
    }

    #[test]
    fn credentials_are_not_printed() {
        let credential = Credential::basic("key", "secret");
        assert_eq!(format!("{credential:?}"), "<redacted>");
        assert_eq!(Credential::bearer("t").0, "Bearer t");
    }
}
