//! Everything the bridge needs to know, checked once at start.

use std::net::SocketAddr;
use std::time::Duration;

use http::Uri;

use crate::secret::Secret;
use crate::topic;

/// The whole bridge configuration. `Debug` is safe to log: secrets redact.
#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// How to reach the MQTT broker.
    pub mqtt: MqttConfig,
    /// Topic parent devices publish under (`sig-up`): the bridge subscribes
    /// to `<upstream_parent>/+`.
    pub upstream_parent: String,
    /// Where upstream messages are delivered.
    pub webhook: WebhookConfig,
    /// The EMQX-compatible publish API.
    pub api: ApiConfig,
    /// How many publishers' messages are delivered to the webhook at once.
    pub concurrency: usize,
    /// At shutdown, how long deliveries and API requests in progress may
    /// take to finish.
    pub shutdown_grace: Duration,
}

/// Broker address and identity.
#[derive(Debug, Clone)]
pub struct MqttConfig {
    /// Broker host name or address.
    pub host: String,
    /// Broker TCP port.
    pub port: u16,
    /// Client id of the subscribing connection, stable so that its
    /// persistent session survives restarts. The publishing connection uses
    /// this id with the suffix `-api`.
    pub client_id: String,
    /// Optional username and password for both connections.
    pub credentials: Option<MqttCredentials>,
}

/// MQTT username and password.
#[derive(Debug, Clone)]
pub struct MqttCredentials {
    /// Username.
    pub username: String,
    /// Password.
    pub password: Secret,
}

/// The Switchboard webhook endpoint.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Full URL, `http` or `https`, e.g. `http://127.0.0.1:3000/v1/webhooks/mqtt`.
    pub url: Uri,
    /// How each request proves it comes from the bridge.
    pub auth: WebhookAuth,
    /// Time allowed for one delivery attempt before it counts as a timeout.
    pub timeout: Duration,
}

/// Webhook authentication, as in PROTOCOL.md §5.
#[derive(Debug, Clone)]
pub enum WebhookAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
    Signature(Secret),
}

/// The HTTP publish API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// HTTP Basic user name (EMQX "API key").
    pub key: String,
    /// HTTP Basic password (EMQX "API secret").
    pub secret: Secret,
    /// How long a publish may wait for the broker's acknowledgement before
    /// it is answered 503.
    pub publish_timeout: Duration,
}

/// A configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The MQTT client id is empty; a persistent session needs one.
    #[error("the MQTT client id must not be empty")]
    EmptyClientId,
    /// The upstream parent is not a valid topic without wildcards.
    #[error("the upstream parent {0:?} is not a valid topic prefix")]
    InvalidUpstreamParent(String),
    /// The webhook URL is not an absolute http(s) URL without user info.
    #[error("the webhook URL must be an absolute http:// or https:// URL without credentials")]
    InvalidWebhookUrl,
    /// The concurrency is zero.
    #[error("the concurrency must be at least 1")]
    ZeroConcurrency,
    /// A timeout is zero.
    #[error("the {0} timeout must be greater than zero")]
    ZeroTimeout(&'static str),
}

impl BridgeConfig {
    /// Checks the settings that would otherwise fail later and less clearly.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.mqtt.client_id.is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        if !topic::is_valid_parent(&self.upstream_parent) {
            return Err(ConfigError::InvalidUpstreamParent(
                self.upstream_parent.clone(),
            ));
        }
        let url = &self.webhook.url;
        let scheme_ok = matches!(url.scheme_str(), Some("http" | "https"));
        let has_user_info = url
            .authority()
            .is_some_and(|authority| authority.as_str().contains('@'));
        if !scheme_ok || url.host().is_none() || has_user_info {
            return Err(ConfigError::InvalidWebhookUrl);
        }
        if self.concurrency == 0 {
            return Err(ConfigError::ZeroConcurrency);
        }
        if self.webhook.timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("webhook"));
        }
        if self.api.publish_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout("publish"));
        }
        Ok(())
    }

    /// The subscription filter for upstream messages.
    pub fn upstream_filter(&self) -> String {
        format!("{}/+", self.upstream_parent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> BridgeConfig {
        BridgeConfig {
            mqtt: MqttConfig {
                host: "127.0.0.1".into(),
                port: 1883,
                client_id: "switchboard-bridge".into(),
                credentials: Some(MqttCredentials {
                    username: "bridge".into(),
                    password: Secret::new("mqtt-password"),
                }),
            },
            upstream_parent: "sig-up".into(),
            webhook: WebhookConfig {
                url: Uri::from_static("http://127.0.0.1:3000/v1/webhooks/mqtt"),
                auth: WebhookAuth::Bearer(Secret::new("webhook-token")),
                timeout: Duration::from_secs(15),
            },
            api: ApiConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                key: "key".into(),
                secret: Secret::new("api-secret"),
                publish_timeout: Duration::from_secs(5),
            },
            concurrency: 16,
            shutdown_grace: Duration::from_secs(5),
        }
    }

    #[test]
    fn a_sound_config_passes_and_subscribes_one_level_below_the_parent() {
        let config = config();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.upstream_filter(), "sig-up/+");
    }

    #[test]
    fn debug_output_contains_no_secret() {
        let printed = format!("{:?}", config());
        for secret in ["mqtt-password", "webhook-token", "api-secret"] {
            assert!(!printed.contains(secret), "{secret} leaked: {printed}");
        }
    }

    #[test]
    fn rejects_what_cannot_work() {
        let mut c = config();
        c.mqtt.client_id.clear();
        assert_eq!(c.validate(), Err(ConfigError::EmptyClientId));

        let mut c = config();
        c.upstream_parent = "sig-up/#".into();
        assert!(matches!(
            c.validate(),
            Err(ConfigError::InvalidUpstreamParent(_))
        ));

        for url in [
            "ftp://example.com/x",
            "/v1/webhooks/mqtt",
            "http://user:pw@example.com/x",
        ] {
            let mut c = config();
            c.webhook.url = Uri::from_static(url);
            assert_eq!(c.validate(), Err(ConfigError::InvalidWebhookUrl), "{url}");
        }

        let mut c = config();
        c.concurrency = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroConcurrency));

        let mut c = config();
        c.api.publish_timeout = Duration::ZERO;
        assert_eq!(c.validate(), Err(ConfigError::ZeroTimeout("publish")));
    }
}
