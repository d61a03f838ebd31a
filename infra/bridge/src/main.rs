//! # switchboard-bridge
//!
//! Gives an MQTT broker without a rule engine or REST API (Mosquitto) the two
//! EMQX 5 features the Switchboard service relies on:
//!
//! - **Upstream**: subscribes to `<upstream-parent>/+` (QoS 1, persistent
//!   session, client id `--mqtt-client-id`) and POSTs each message to
//!   `--webhook-url` as an EMQX `message.publish` event. 2xx means delivered;
//!   429/500/502/503/504, refused connections and timeouts are retried forever
//!   with exponential backoff (100 ms to 5 s, jitter, `Retry-After` honoured up
//!   to 60 s); any other status is logged as unrecoverable and not retried.
//!   A message is acknowledged to the broker only after that, so a crash or
//!   restart redelivers it. Messages of one publisher stay in order.
//! - **Downstream**: `POST /api/v5/publish` and `POST /api/v5/publish/bulk` on
//!   `--api-listen`, HTTP Basic auth `--api-key`:`--api-secret`, with EMQX's
//!   bodies and answers. 200 means the broker acknowledged the message
//!   (PUBACK for QoS 1, PUBREC for QoS 2). Mosquitto cannot tell whether a
//!   message matched a subscriber, so EMQX's 202 `no_matching_subscribers`
//!   is never returned. Messages are published on a second connection whose
//!   client id is `--mqtt-client-id` plus `-api`.
//! - **Test hooks** (same Basic auth): `POST /_bridge/faults` with
//!   `{"publish_failures": N, "after": K}` lets K messages through, then fails
//!   N with 503 as if the broker were down (`{"publish_failures": 0}` clears);
//!   `GET /_bridge/stats` returns counters.
//!
//! ## Flags (each also read from `SWITCHBOARD_BRIDGE_<FLAG>`, e.g. `SWITCHBOARD_BRIDGE_MQTT_HOST`)
//!
//! | flag | default | meaning |
//! |---|---|---|
//! | `--mqtt-host` | `127.0.0.1` | broker host |
//! | `--mqtt-port` | `1883` | broker port |
//! | `--mqtt-client-id` | `switchboard-bridge` | subscriber client id (stable: it owns the persistent session) |
//! | `--mqtt-username` | none | MQTT username (the broker ACL must grant `topic read <parent>/#` and `topic write` on downstream topics) |
//! | `--mqtt-password` | none | MQTT password (secret) |
//! | `--upstream-parent` | `sig-up` | devices publish to `<parent>/<their client id>` |
//! | `--webhook-url` | required | e.g. `http://127.0.0.1:3000/v1/webhooks/mqtt` (http or https) |
//! | `--webhook-token` | one of these two | sends `Authorization: Bearer <token>` (secret) |
//! | `--webhook-secret` | one of these two | sends `X-Switchboard-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` (secret) |
//! | `--api-listen` | `127.0.0.1:18083` | publish API address |
//! | `--api-key` | required | publish API Basic user |
//! | `--api-secret` | required | publish API Basic password (secret) |
//! | `--concurrency` | `16` | publishers delivered to the webhook at once |
//! | `--webhook-timeout-ms` | `15000` | time allowed per webhook attempt |
//! | `--publish-timeout-ms` | `5000` | time the broker has to acknowledge an API publish before 503 |
//! | `--shutdown-grace-ms` | `5000` | time in-flight work gets at SIGINT/SIGTERM |
//!
//! Prefer the environment variables for secrets: command lines are visible to
//! other users of the machine. Secrets are never logged.
//!
//! ## Output
//!
//! Logs go to stderr (`RUST_LOG`, default `info`), one line per webhook
//! attempt outcome. Stdout carries exactly two readiness lines, printed
//! whatever the log level:
//!
//! ```text
//! bridge api listening on http://127.0.0.1:18083
//! bridge subscribed to sig-up/+
//! ```
//!
//! SIGINT or SIGTERM stops it cleanly: deliveries in progress get the grace
//! period, nothing undelivered is acknowledged, and the exit code is 0.

use std::io::{IsTerminal as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context as _, Result};
use clap::{ArgGroup, Parser};
use switchboard_bridge::{
    ApiConfig, Bridge, BridgeConfig, MqttConfig, MqttCredentials, Secret, WebhookAuth,
    WebhookConfig,
};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;

/// Command line and environment settings.
#[derive(Debug, Parser)]
#[command(
    name = "switchboard-bridge",
    version,
    about = "MQTT-to-HTTP bridge giving Mosquitto the EMQX webhook and publish API"
)]
#[command(group(ArgGroup::new("webhook_auth").required(true).args(["webhook_token", "webhook_secret"])))]
struct Args {
    /// Broker host.
    #[arg(
        long,
        env = "SWITCHBOARD_BRIDGE_MQTT_HOST",
        default_value = "127.0.0.1"
    )]
    mqtt_host: String,
    /// Broker port.
    #[arg(long, env = "SWITCHBOARD_BRIDGE_MQTT_PORT", default_value_t = 1883)]
    mqtt_port: u16,
    /// Client id of the subscribing connection (persistent session).
    #[arg(
        long,
        env = "SWITCHBOARD_BRIDGE_MQTT_CLIENT_ID",
        default_value = "switchboard-bridge"
    )]
    mqtt_client_id: String,
    /// MQTT username.
    #[arg(long, env = "SWITCHBOARD_BRIDGE_MQTT_USERNAME")]
    mqtt_username: Option<String>,
    /// MQTT password (needs a username).
    #[arg(
        long,
        env = "SWITCHBOARD_BRIDGE_MQTT_PASSWORD",
        hide_env_values = true,
        requires = "mqtt_username"
    )]
    mqtt_password: Option<String>,
    /// Parent topic of upstream messages.
    #[arg(
        long,
        env = "SWITCHBOARD_BRIDGE_UPSTREAM_PARENT",
        default_value = "sig-up"
    )]
    upstream_parent: String,
    /// Webhook URL receiving `message.publish` events.
    #[arg(long, env = "SWITCHBOARD_BRIDGE_WEBHOOK_URL")]
    webhook_url: http::Uri,
    /// Static bearer token for the webhook.
    #[arg(long, env = "SWITCHBOARD_BRIDGE_WEBHOOK_TOKEN", hide_env_values = true)]
    webhook_token: Option<String>,
    /// HMAC secret for signed webhook requests.
    #[arg(
        long,
        env = "SWITCHBOARD_BRIDGE_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    webhook_secret: Option<String>,
    /// Address of the publish API.
    #[arg(
        long,
        env = "SWITCHBOARD_BRIDGE_API_LISTEN",
        default_value = "127.0.0.1:18083"
    )]
    api_listen: SocketAddr,
    /// Publish API key (Basic user name).
    #[arg(long, env = "SWITCHBOARD_BRIDGE_API_KEY")]
    api_key: String,
    /// Publish API secret (Basic password).
    #[arg(long, env = "SWITCHBOARD_BRIDGE_API_SECRET", hide_env_values = true)]
    api_secret: String,
    /// Publishers delivered to the webhook concurrently.
    #[arg(long, env = "SWITCHBOARD_BRIDGE_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// Time allowed per webhook attempt, in milliseconds.
    #[arg(long, env = "SWITCHBOARD_BRIDGE_WEBHOOK_TIMEOUT_MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(1..))]
    webhook_timeout_ms: u64,
    /// Time the broker has to acknowledge an API publish, in milliseconds.
    #[arg(long, env = "SWITCHBOARD_BRIDGE_PUBLISH_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    publish_timeout_ms: u64,
    /// Time in-flight work gets at shutdown, in milliseconds.
    #[arg(
        long,
        env = "SWITCHBOARD_BRIDGE_SHUTDOWN_GRACE_MS",
        default_value_t = 5_000
    )]
    shutdown_grace_ms: u64,
}

impl Args {
    fn into_config(self) -> Result<BridgeConfig> {
        let auth = match (self.webhook_token, self.webhook_secret) {
            (Some(token), None) => WebhookAuth::Bearer(Secret::new(token)),
            (None, Some(secret)) => WebhookAuth::Signature(Secret::new(secret)),
            _ => bail!("give exactly one of --webhook-token and --webhook-secret"),
        };
        let credentials = self.mqtt_username.map(|username| MqttCredentials {
            username,
            password: Secret::new(self.mqtt_password.unwrap_or_default()),
        });
        Ok(BridgeConfig {
            mqtt: MqttConfig {
                host: self.mqtt_host,
                port: self.mqtt_port,
                client_id: self.mqtt_client_id,
                credentials,
            },
            upstream_parent: self.upstream_parent,
            webhook: WebhookConfig {
                url: self.webhook_url,
                auth,
                timeout: Duration::from_millis(self.webhook_timeout_ms),
            },
            api: ApiConfig {
                listen: self.api_listen,
                key: self.api_key,
                secret: Secret::new(self.api_secret),
                publish_timeout: Duration::from_millis(self.publish_timeout_ms),
            },
            concurrency: usize::from(self.concurrency),
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
        })
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = Args::parse().into_config()?;
    // Only what identifies the setup: a URL's query might hold a credential.
    tracing::info!(
        mqtt = %format_args!("{}:{}", config.mqtt.host, config.mqtt.port),
        client_id = %config.mqtt.client_id,
        filter = %config.upstream_filter(),
        webhook = %format_args!("{}{}", config.webhook.url.authority().map_or("", |a| a.as_str()), config.webhook.url.path()),
        api = %config.api.listen,
        concurrency = config.concurrency,
        "starting"
    );

    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut bridge = Bridge::start(config)
        .await
        .context("cannot start the bridge")?;
    ready_line(&format!(
        "bridge api listening on http://{}",
        bridge.api_addr()
    ))?;

    let stopping = tokio::select! {
        subscribed = bridge.subscribed() => {
            subscribed.context("the bridge stopped unexpectedly")?;
            ready_line(&format!("bridge subscribed to {}", bridge.upstream_filter()))?;
            false
        }
        _ = terminate.recv() => true,
        _ = interrupt.recv() => true,
    };
    if !stopping {
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
    }
    tracing::info!("stopping");
    bridge.stop().await;
    tracing::info!("stopped");
    Ok(())
}

/// Prints a readiness line on stdout at once (stdout may be a pipe).
fn ready_line(line: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{line}").context("cannot write to stdout")?;
    stdout.flush().context("cannot flush stdout")
}
