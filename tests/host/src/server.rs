//! Serving HTTP: one fresh store and instance per request, as Spin's
//! `wasi:http` executor does, over HTTP/1.1 and HTTP/2 on a tokio listener.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme as WasiScheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

use crate::app::App;
use crate::routing::{append_headers, RouteMatch};
use crate::state::HostState;

/// Spin answers these paths itself.
const WELL_KNOWN_PREFIX: &str = "/.well-known/spin/";

/// How long in-flight requests may take to finish once shutdown starts.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("cannot accept connections: {0}")]
pub struct ServeError(#[from] std::io::Error);

impl App {
    /// Serves requests from `listener` until `shutdown` completes, then lets
    /// in-flight requests finish (up to a grace period).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let app = Arc::new(self);
        let graceful = GracefulShutdown::new();
        let builder = Builder::new(TokioExecutor::new());
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, client_addr) = accepted?;
                    let app = Arc::clone(&app);
                    let service = service_fn(move |request| {
                        let app = Arc::clone(&app);
                        async move { Ok::<_, Infallible>(app.handle(request, client_addr).await) }
                    });
                    let connection = builder
                        .serve_connection_with_upgrades(TokioIo::new(stream), service)
                        .into_owned();
                    let connection = graceful.watch(connection);
                    tokio::spawn(async move {
                        if let Err(e) = connection.await {
                            eprintln!("switchboard-host: error serving HTTP connection: {e}");
                        }
                    });
                }
                () = &mut shutdown => break,
            }
        }
        drop(listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            eprintln!("switchboard-host: requests still running after the grace period were cut");
        }
        Ok(())
    }

    async fn handle(
        &self,
        request: Request<Incoming>,
        client_addr: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let path = request.uri().path().to_owned();
        if let Some(well_known) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            return match well_known {
                "health" => plain(StatusCode::OK, "OK"),
                _ => plain(StatusCode::NOT_FOUND, ""),
            };
        }
        let Some(route) = self.router.route(&path) else {
            return plain(StatusCode::NOT_FOUND, "");
        };
        match self.run_component(request, &route, client_addr).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("switchboard-host: error processing request to {path}: {error:#}");
                plain(StatusCode::INTERNAL_SERVER_ERROR, "")
            }
        }
    }

    async fn run_component(
        &self,
        mut request: Request<Incoming>,
        route: &RouteMatch,
        client_addr: SocketAddr,
    ) -> wasmtime::Result<Response<HyperOutgoingBody>> {
        let component = self
            .components
            .get(&route.component_id)
            .ok_or_else(|| wasmtime::format_err!("unknown component {:?}", route.component_id))?;

        set_request_uri(&mut request)?;
        let host = request
            .headers()
            .get(http::header::HOST)
            .map(|h| h.to_str())
            .transpose()?
            .unwrap_or("localhost")
            .to_owned();
        let path_and_query = request
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        append_headers(
            request.headers_mut(),
            route.spin_headers(&host, &path_and_query, client_addr),
        );

        let state = HostState::new(Arc::clone(&component.context), Arc::clone(&self.key_value));
        let mut store = Store::new(&self.engine, state);
        let proxy = component.pre.instantiate_async(&mut store).await?;
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(WasiScheme::Http, request)?;
        let (sender, receiver) = oneshot::channel();
        let outparam = store.data_mut().http().new_response_outparam(sender)?;

        let guest = tokio::spawn(async move {
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });

        match receiver.await {
            Ok(response) => {
                tokio::spawn(async move {
                    match guest.await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => eprintln!(
                            "switchboard-host: component error after the response started: {e:#}"
                        ),
                        Err(e) => eprintln!("switchboard-host: guest task failed: {e}"),
                    }
                });
                response.map_err(|code| {
                    wasmtime::format_err!("guest failed to produce a response: {code:?}")
                })
            }
            Err(_) => {
                guest
                    .await
                    .map_err(|e| wasmtime::format_err!("guest invocation panicked: {e}"))?
                    .map_err(|e| e.context("guest invocation failed"))?;
                Err(wasmtime::format_err!(
                    "guest failed to produce a response prior to returning"
                ))
            }
        }
    }
}

/// Gives the request URI the scheme and authority Spin gives it: `http`, and
/// the `Host` header (which must agree with any authority in the URI).
fn set_request_uri(request: &mut Request<Incoming>) -> wasmtime::Result<()> {
    let header_authority = request
        .headers()
        .get(http::header::HOST)
        .map(|h| -> wasmtime::Result<Authority> { Ok(h.to_str()?.parse()?) })
        .transpose()?;
    let mut parts = request.uri().clone().into_parts();
    let authority = match (header_authority, parts.authority.take()) {
        (None, None) => wasmtime::bail!("no 'Host' header present in request"),
        (Some(a), None) | (None, Some(a)) => a,
        (Some(header), Some(uri)) if header == uri => header,
        (Some(_), Some(_)) => {
            wasmtime::bail!("authority in 'Host' header does not match authority in URI")
        }
    };
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some("/".parse()?);
    }
    *request.uri_mut() = Uri::from_parts(parts)?;
    Ok(())
}

/// A response generated by the host itself.
fn plain(status: StatusCode, body: &'static str) -> Response<HyperOutgoingBody> {
    let mut response = Response::new(
        Full::new(Bytes::from_static(body.as_bytes()))
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response
}
