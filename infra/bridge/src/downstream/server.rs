//! The HTTP listener and its routes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::basic_auth::ApiCredentials;
use super::publisher::{InFlight, PublishError, Publisher};
use super::replies::{self, Reply};
use super::request::{self, PublishRequest};
use crate::config::ApiConfig;
use crate::faults::{FaultDecision, FaultPlan, FaultSwitch};
use crate::guid::Guid;
use crate::stats::Stats;

/// Largest request body accepted.
const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The endpoints.
enum Route {
    Post(PostRoute),
    Stats,
}

/// The endpoints that take a JSON body.
enum PostRoute {
    Publish,
    PublishBulk,
    Faults,
}

impl Route {
    fn of(path: &str) -> Option<Self> {
        match path {
            "/api/v5/publish" => Some(Self::Post(PostRoute::Publish)),
            "/api/v5/publish/bulk" => Some(Self::Post(PostRoute::PublishBulk)),
            "/_bridge/faults" => Some(Self::Post(PostRoute::Faults)),
            "/_bridge/stats" => Some(Self::Stats),
            _ => None,
        }
    }
}

/// The publish API and the bridge's test endpoints.
pub struct Api {
    credentials: ApiCredentials,
    publish_timeout: Duration,
    publisher: Arc<Publisher>,
    faults: FaultSwitch,
    stats: Arc<Stats>,
}

impl Api {
    /// The API for `config`, publishing through `publisher`.
    pub fn new(config: &ApiConfig, publisher: Arc<Publisher>, stats: Arc<Stats>) -> Self {
        Self {
            credentials: ApiCredentials::new(&config.key, config.secret.clone()),
            publish_timeout: config.publish_timeout,
            publisher,
            faults: FaultSwitch::default(),
            stats,
        }
    }

    /// Serves connections until `stop` is cancelled, then lets requests in
    /// progress finish for up to `grace`.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        stop: CancellationToken,
        grace: Duration,
    ) {
        let connections = GracefulShutdown::new();
        loop {
            let stream = tokio::select! {
                () = stop.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot accept an API connection");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                },
            };
            let api = Arc::clone(&self);
            let service = service_fn(move |request| Arc::clone(&api).handle(request));
            // The timer enables hyper's default 30 s limit on reading headers.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .serve_connection(TokioIo::new(stream), service);
            let connection = connections.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(error = %error, "API connection ended with an error");
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(grace, connections.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(grace = ?grace, "API requests still running at shutdown were cut off");
        }
    }

    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Reply, Infallible> {
        let (parts, body) = request.into_parts();
        if !self.credentials.admit(&parts.headers) {
            return Ok(replies::unauthorized());
        }
        let reply = match (Route::of(parts.uri.path()), parts.method) {
            (Some(Route::Post(target)), Method::POST) => match read_body(body).await {
                Ok(body) => match target {
                    PostRoute::Publish => self.publish_single(&body).await,
                    PostRoute::PublishBulk => self.publish_bulk(&body).await,
                    PostRoute::Faults => self.set_faults(&body),
                },
                Err(reply) => reply,
            },
            (Some(Route::Stats), Method::GET) => {
                replies::json_reply(StatusCode::OK, &json!(self.stats.snapshot()))
            }
            (Some(_), _) => replies::error_reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Method not allowed",
            ),
            (None, _) => replies::error_reply(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found"),
        };
        Ok(reply)
    }

    async fn publish_single(&self, body: &[u8]) -> Reply {
        match request::parse_single(body) {
            Ok(message) => {
                let started = self.start(&message);
                let deadline = Instant::now() + self.publish_timeout;
                replies::single_published(&self.finish(&message, started, deadline).await)
            }
            Err(error) => replies::bad_request(&error),
        }
    }

    /// Publishes every message in order, then waits for all
    /// acknowledgements against one deadline. Every message is attempted,
    /// as EMQX does, so the results say exactly which ones the broker has.
    async fn publish_bulk(&self, body: &[u8]) -> Reply {
        let messages = match request::parse_bulk(body) {
            Ok(messages) => messages,
            Err(error) => return replies::bad_request(&error),
        };
        let started: Vec<_> = messages.iter().map(|message| self.start(message)).collect();
        let deadline = Instant::now() + self.publish_timeout;
        let mut results = Vec::with_capacity(messages.len());
        for (message, started) in messages.iter().zip(started) {
            results.push(self.finish(message, started, deadline).await);
        }
        replies::bulk_published(&results)
    }

    /// Hands one message to the broker connection, unless the fault switch
    /// fails it.
    fn start(&self, message: &PublishRequest) -> Result<InFlight, PublishError> {
        match self.faults.next() {
            FaultDecision::Fail => Err(PublishError::InjectedFault),
            FaultDecision::Pass => self.publisher.start(message),
        }
    }

    /// Waits for the broker's acknowledgement of one started message, and
    /// counts and logs the outcome.
    async fn finish(
        &self,
        message: &PublishRequest,
        started: Result<InFlight, PublishError>,
        deadline: Instant,
    ) -> Result<Guid, PublishError> {
        let result = match started {
            Ok(in_flight) => in_flight
                .acknowledged(deadline)
                .await
                .map(|()| Guid::generate()),
            Err(error) => Err(error),
        };
        match &result {
            Ok(id) => {
                self.stats.published();
                tracing::debug!(id = %id, topic = %message.topic, "published");
            }
            Err(error) => {
                self.stats.publish_failure();
                tracing::warn!(topic = %message.topic, error = %error, "publish failed; answering 503");
            }
        }
        result
    }

    fn set_faults(&self, body: &[u8]) -> Reply {
        match serde_json::from_slice::<FaultPlan>(body) {
            Ok(plan) => {
                self.faults.set(plan);
                tracing::info!(
                    publish_failures = plan.publish_failures,
                    after = plan.after,
                    "fault switch set"
                );
                replies::json_reply(StatusCode::OK, &json!(self.faults.remaining()))
            }
            Err(_) => replies::error_reply(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "expected {\"publish_failures\": <count>, \"after\": <count>}",
            ),
        }
    }
}

/// The whole body, or the reply refusing it.
async fn read_body(body: Incoming) -> Result<Bytes, Reply> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => Err(replies::error_reply(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "Request body too large",
        )),
        Err(_) => Err(replies::error_reply(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "Cannot read the request body",
        )),
    }
}
