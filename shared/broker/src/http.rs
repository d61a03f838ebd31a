//! The HTTP client seam: the only I/O a publisher needs.

use std::fmt;

/// An outgoing HTTP request.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// `GET`, `POST`, ….
    pub method: &'static str,
    /// The absolute URL.
    pub url: String,
    /// Header names and values (may include credentials).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl fmt::Debug for HttpRequest {
    // Headers carry credentials: never print them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A received HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// The request never got an HTTP answer (refused, reset, timed out, denied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP transport failed: {0}")]
pub struct TransportError(pub String);

/// Sends one HTTP request.
pub trait HttpClient {
    /// Sends `request` and returns the response, whatever its status.
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl std::future::Future<Output = Result<HttpResponse, TransportError>>;
}

impl<T: HttpClient> HttpClient for &T {
    fn send(
        &self,
        request: HttpRequest,
    ) -> impl std::future::Future<Output = Result<HttpResponse, TransportError>> {
        (**self).send(request)
    }
}
