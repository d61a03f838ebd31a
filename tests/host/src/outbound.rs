//! Outbound HTTP with `allowed_outbound_hosts` enforced, like Spin's
//! `spin-factor-outbound-http`: a denied request fails with
//! `HttpRequestDenied` when the guest awaits its response.

use std::future::Future;
use std::sync::Arc;

use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::allowed_hosts::OutboundPolicy;

/// The future `send_request` returns: a response and its connection task.
type SendFuture = Box<
    dyn Future<
            Output = Result<
                (
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = Result<(), Error>> + Send>,
                ),
                Error,
            >,
        > + Send,
>;

/// The WASI HTTP hooks of one instance.
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
}

impl OutboundHooks {
    /// Hooks enforcing `policy`.
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        Self { policy }
    }
}

/// Whether a request URI targets the application itself: no host, or the
/// `self.alt` host some SDKs use.
fn is_self_request(uri: &http::Uri) -> bool {
    uri.authority()
        .is_none_or(|a| a.host().is_empty() || a.host() == "self.alt")
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let uri = request.uri();
        let allowed = if is_self_request(uri) {
            if self.policy.allows_self_request() {
                eprintln!(
                    "switchboard-host: requests to the application itself (self requests) are not supported; denying {uri}"
                );
            }
            false
        } else {
            self.policy.allows_url(&uri.to_string())
        };
        Box::new(async move {
            if !allowed {
                return Err(Error::HttpRequestDenied);
            }
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(http_body_util::BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = Result<(), Error>> + Send>,
            ))
        })
    }
}
