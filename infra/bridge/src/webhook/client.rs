//! One HTTP attempt at the webhook.

use std::error::Error as _;
use std::time::Duration;

use bytes::Bytes;
use http::header::{ACCEPT, CACHE_CONTROL, CONNECTION, CONTENT_TYPE};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::auth::auth_header;
use super::policy::parse_retry_after;
use crate::clock;
use crate::config::{WebhookAuth, WebhookConfig};

/// How much of a response body is kept for the log.
const LOGGED_BODY_BYTES: usize = 512;
/// How much of a response body is read at all.
const READ_BODY_BYTES: usize = 64 * 1024;
/// How long an idle keep-alive connection is reused (EMQX sends
/// `keep-alive: timeout=5`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The TLS client could not be configured.
    #[error("cannot configure TLS for the webhook client: {0}")]
    Tls(#[from] rustls::Error),
}

/// What one attempt produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The webhook answered.
    Answered {
        /// HTTP status.
        status: u16,
        /// `Retry-After`, when given in seconds.
        retry_after: Option<Duration>,
        /// The start of the body, for the log.
        body: String,
    },
    /// No answer: connection refused or reset, timeout, or a broken response.
    Failed(String),
}

/// A keep-alive HTTP(S) client bound to the webhook URL.
pub struct WebhookClient {
    http: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    url: Uri,
    auth: WebhookAuth,
    timeout: Duration,
}

impl WebhookClient {
    /// A client for `config.url`.
    pub fn new(config: &WebhookConfig) -> Result<Self, WebhookError> {
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false);
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(config.timeout));
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .build(connector);
        Ok(Self {
            http,
            url: config.url.clone(),
            auth: config.auth.clone(),
            timeout: config.timeout,
        })
    }

    /// POSTs `body` once, with EMQX's default headers and fresh authentication.
    pub async fn send(&self, body: &Bytes) -> Attempt {
        match tokio::time::timeout(self.timeout, self.exchange(body)).await {
            Ok(attempt) => attempt,
            Err(_) => Attempt::Failed(format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn exchange(&self, body: &Bytes) -> Attempt {
        let request = match self.request(body) {
            Ok(request) => request,
            Err(reason) => return Attempt::Failed(reason),
        };
        let response = match self.http.request(request).await {
            Ok(response) => response,
            Err(error) => return Attempt::Failed(describe(&error)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(parse_retry_after);
        // Reading the body lets the connection be reused; its start is logged
        // when the webhook refuses a message.
        let body = match Limited::new(response.into_body(), READ_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => loggable(&collected.to_bytes()),
            Err(_) => String::new(),
        };
        Attempt::Answered {
            status,
            retry_after,
            body,
        }
    }

    fn request(&self, body: &Bytes) -> Result<Request<Full<Bytes>>, String> {
        let (auth_name, auth_value) = auth_header(&self.auth, body, clock::unix_seconds())
            .map_err(|_| "the webhook credential is not a valid header value".to_owned())?;
        Request::post(self.url.clone())
            .header(ACCEPT, "application/json")
            .header(CACHE_CONTROL, "no-cache")
            .header(CONNECTION, "keep-alive")
            .header(CONTENT_TYPE, "application/json")
            .header("keep-alive", "timeout=5")
            .header(auth_name, auth_value)
            .body(Full::new(body.clone()))
            .map_err(|error| format!("cannot build the request: {error}"))
    }
}

/// An error with its causes, e.g. "client error (Connect): tcp connect
/// error: Connection refused (os error 111)".
fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The start of a body as text, for a single log line.
fn loggable(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(LOGGED_BODY_BYTES).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_and_kept_on_one_line() {
        assert_eq!(loggable(b"{\"error\":\n1}"), "{\"error\": 1}");
        let long = "x".repeat(LOGGED_BODY_BYTES + 10);
        let logged = loggable(long.as_bytes());
        assert!(logged.ends_with('…'));
        assert_eq!(logged.chars().count(), LOGGED_BODY_BYTES + 1);
    }
}
