//! The Switchboard MQTT-to-HTTP bridge.
//!
//! Switchboard's service (Spin components) talks to its MQTT broker the way
//! EMQX 5 offers it: the broker POSTs every upstream message to the service's
//! webhook as a rule-engine `message.publish` event, and the service publishes
//! downstream messages through the broker's REST publish API. Brokers without
//! a rule engine or REST API, such as Mosquitto, get both from this bridge, so
//! the service cannot tell the difference:
//!
//! - **upstream**: a persistent-session MQTT
//!   subscriber on `<upstream_parent>/+` that delivers each message to the
//!   webhook with EMQX's event shape and retry rules, acknowledging it to the
//!   broker only once the webhook took it or refused it for good;
//! - **downstream**: an HTTP server with EMQX's `POST /api/v5/publish` and
//!   `POST /api/v5/publish/bulk`, answering 200 only after the broker's
//!   acknowledgement;
//! - **test hooks**: `POST /_bridge/faults` makes publishes fail on demand,
//!   `GET /_bridge/stats` reports counters.
//!
//! # Upstream
//!
//! Messages of one publisher are delivered in order; different publishers
//! proceed concurrently (bounded). Nothing undelivered is ever acknowledged,
//! so a crash or restart loses nothing: the broker resends. Delivery is
//! therefore at-least-once, and the service deduplicates.
//!
//! ```no_run
//! # async fn demo(config: switchboard_bridge::BridgeConfig) -> Result<(), switchboard_bridge::BridgeError> {
//! let mut bridge = switchboard_bridge::Bridge::start(config).await?;
//! println!("bridge api listening on http://{}", bridge.api_addr());
//! bridge.subscribed().await?;
//! println!("bridge subscribed to {}", bridge.upstream_filter());
//! bridge.stop().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod clock;
mod config;
mod downstream;
mod faults;
mod guid;
mod mqtt;
mod secret;
mod stats;
mod topic;
mod upstream;
mod webhook;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use config::{
    ApiConfig, BridgeConfig, ConfigError, MqttConfig, MqttCredentials, WebhookAuth, WebhookConfig,
};
pub use faults::FaultPlan;
pub use secret::Secret;
pub use stats::StatsSnapshot;
pub use webhook::WebhookError;

use downstream::{Api, Publisher};
use stats::Stats;
use upstream::Upstream;
use webhook::Webhook;

/// The bridge could not start.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The webhook client could not be built.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// The API address cannot be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The bridge stopped before its subscription was confirmed.
    #[error("the bridge stopped before its subscription was confirmed")]
    Stopped,
}

/// A running bridge.
pub struct Bridge {
    api_addr: SocketAddr,
    upstream_filter: String,
    subscribed: watch::Receiver<bool>,
    stats: Arc<Stats>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
}

impl Bridge {
    /// Validates `config`, binds the API listener and starts both MQTT
    /// connections. Returns once the API accepts connections; the broker
    /// may not be reached yet (see [`Bridge::subscribed`]).
    pub async fn start(config: BridgeConfig) -> Result<Self, BridgeError> {
        config.validate()?;
        let stats = Arc::new(Stats::default());
        let webhook = Webhook::new(&config.webhook, Arc::clone(&stats))?;
        let listener = TcpListener::bind(config.api.listen)
            .await
            .map_err(|source| BridgeError::Listen {
                addr: config.api.listen,
                source,
            })?;
        let api_addr = listener
            .local_addr()
            .map_err(|source| BridgeError::Listen {
                addr: config.api.listen,
                source,
            })?;

        let stop = CancellationToken::new();
        // The publisher outlives the API server, so requests still being
        // answered at shutdown can get their acknowledgements.
        let stop_publisher = CancellationToken::new();
        let (subscribed_tx, subscribed) = watch::channel(false);
        let upstream = Upstream::new(
            &config,
            webhook,
            Arc::clone(&stats),
            stop.clone(),
            subscribed_tx,
        );
        let publisher = Arc::new(Publisher::new(mqtt::publisher_options(&config.mqtt)));
        let api = Arc::new(Api::new(
            &config.api,
            Arc::clone(&publisher),
            Arc::clone(&stats),
        ));

        let mut tasks = JoinSet::new();
        tasks.spawn(upstream.run(stop.clone()));
        let publisher_stop = stop_publisher.clone();
        tasks.spawn(async move { publisher.run(publisher_stop).await });
        let api_stop = stop.clone();
        let grace = config.shutdown_grace;
        tasks.spawn(async move {
            api.serve(listener, api_stop, grace).await;
            stop_publisher.cancel();
        });

        Ok(Self {
            api_addr,
            upstream_filter: config.upstream_filter(),
            subscribed,
            stats,
            stop,
            tasks,
        })
    }

    /// The address the API listens on (useful with port 0).
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The upstream subscription filter, `<upstream_parent>/+`.
    pub fn upstream_filter(&self) -> &str {
        &self.upstream_filter
    }

    /// Waits until the broker first confirmed the upstream subscription.
    pub async fn subscribed(&mut self) -> Result<(), BridgeError> {
        self.subscribed
            .wait_for(|subscribed| *subscribed)
            .await
            .map(|_| ())
            .map_err(|_| BridgeError::Stopped)
    }

    /// The counters served by `GET /_bridge/stats`.
    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Stops cleanly: no new work is taken, deliveries and API requests in
    /// progress get the configured grace to finish, undelivered messages stay
    /// unacknowledged at the broker, and both connections disconnect.
    pub async fn stop(mut self) {
        self.stop.cancel();
        while let Some(result) = self.tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(error = %error, "a bridge task failed");
            }
        }
    }
}
