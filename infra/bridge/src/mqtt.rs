//! Connection settings and helpers shared by the two MQTT connections.
//!
//! The bridge keeps two connections: a subscriber with a persistent session
//! (the configured client id) and a publisher with a clean session (the
//! client id plus `-api`), so a backlog of upstream messages never delays a
//! downstream publish and each side can reconnect on its own.

use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing};

use crate::config::MqttConfig;

/// Requests (publishes, acknowledgements) that can wait for the event loop.
pub const REQUEST_CAPACITY: usize = 1024;
/// Keep-alive interval of both connections.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// MQTT's own limit on a packet, so no message can ever be too large for
/// the bridge (a size limit belongs in the broker's `message_size_limit`).
const MAX_PACKET_BYTES: usize = 268_435_455;
/// How long a clean disconnect may take at shutdown.
const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// First and longest wait between reconnection attempts.
const RECONNECT_MIN: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Suffix of the publishing connection's client id.
pub const PUBLISHER_SUFFIX: &str = "-api";

/// Options of the subscribing connection: persistent session, acknowledged
/// by hand after delivery.
pub fn subscriber_options(config: &MqttConfig) -> MqttOptions {
    let mut options = base_options(config, config.client_id.clone());
    options.set_clean_session(false);
    options.set_manual_acks(true);
    options
}

/// Options of the publishing connection: clean session, since the publish
/// API answers for every message before it is forgotten.
pub fn publisher_options(config: &MqttConfig) -> MqttOptions {
    let mut options = base_options(config, format!("{}{PUBLISHER_SUFFIX}", config.client_id));
    options.set_clean_session(true);
    options
}

fn base_options(config: &MqttConfig, client_id: String) -> MqttOptions {
    let mut options = MqttOptions::new(client_id, config.host.clone(), config.port);
    options.set_keep_alive(KEEP_ALIVE);
    options.set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    options.set_request_channel_capacity(REQUEST_CAPACITY);
    if let Some(credentials) = &config.credentials {
        options.set_credentials(
            credentials.username.clone(),
            credentials.password.expose().to_owned(),
        );
    }
    options
}

/// Wait before reconnection attempt number `failures` (1 for the first).
pub fn reconnect_delay(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(8);
    RECONNECT_MIN
        .saturating_mul(2u32.pow(exponent))
        .min(RECONNECT_MAX)
}

/// Sends DISCONNECT after everything already queued, and turns the event
/// loop until it is written (or briefly, if the connection is gone).
pub async fn disconnect(client: &AsyncClient, eventloop: &mut EventLoop) {
    if client.try_disconnect().is_err() {
        return;
    }
    let sent = async {
        loop {
            match eventloop.poll().await {
                Ok(Event::Outgoing(Outgoing::Disconnect)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    if tokio::time::timeout(DISCONNECT_TIMEOUT, sent)
        .await
        .is_err()
    {
        tracing::warn!("MQTT disconnect did not complete in time");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn config() -> MqttConfig {
        MqttConfig {
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: "switchboard-bridge".into(),
            credentials: Some(crate::config::MqttCredentials {
                username: "bridge".into(),
                password: Secret::new("pw"),
            }),
        }
    }

    #[test]
    fn subscriber_keeps_its_session_and_acks_by_hand() {
        let options = subscriber_options(&config());
        assert_eq!(options.client_id(), "switchboard-bridge");
        assert!(!options.clean_session());
        assert!(options.manual_acks());
        let login = options
            .credentials()
            .map(|login| (login.username, login.password));
        assert_eq!(login, Some(("bridge".to_owned(), "pw".to_owned())));
    }

    #[test]
    fn publisher_has_its_own_clean_session() {
        let options = publisher_options(&config());
        assert_eq!(options.client_id(), "switchboard-bridge-api");
        assert!(options.clean_session());
        assert!(!options.manual_acks());
    }

    #[test]
    fn reconnect_delay_grows_to_a_cap() {
        assert_eq!(reconnect_delay(1), Duration::from_millis(200));
        assert_eq!(reconnect_delay(2), Duration::from_millis(400));
        assert_eq!(reconnect_delay(5), Duration::from_millis(3200));
        assert_eq!(reconnect_delay(6), RECONNECT_MAX);
        assert_eq!(reconnect_delay(u32::MAX), RECONNECT_MAX);
    }
}
