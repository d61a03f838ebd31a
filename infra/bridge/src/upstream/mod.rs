//! MQTT → webhook: the subscribing connection and its deliveries.
//!
//! The bridge subscribes to `<upstream_parent>/+` on a persistent session
//! with manual acknowledgements. A message is acknowledged only after the
//! webhook took it (2xx) or refused it for good, so anything not delivered
//! when the bridge stops or crashes stays queued at the broker and comes back
//! on the next connection.

mod acks;
mod envelope;
mod lanes;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, Publish, QoS, SubscribeReasonCode,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use self::acks::{AckRegistry, AckResult, AckTicket, Arrival};
use self::envelope::{message_publish_event, ReceivedMessage};
use self::lanes::{LaneHandler, LaneItem, Lanes};
use crate::clock;
use crate::config::BridgeConfig;
use crate::guid::Guid;
use crate::mqtt;
use crate::stats::Stats;
use crate::topic;
use crate::webhook::{self, Outcome, Webhook};

/// One received message on its way to the webhook.
struct Delivery {
    event: webhook::Event,
    ticket: Option<AckTicket>,
}

impl LaneItem for Delivery {
    fn lane(&self) -> &str {
        &self.event.client_id
    }
}

/// Delivers, then acknowledges unless the bridge is stopping.
struct Forwarder {
    webhook: Webhook,
    acks: Arc<AckRegistry>,
    stop: CancellationToken,
}

impl LaneHandler for Forwarder {
    type Item = Delivery;

    async fn handle(&self, delivery: Delivery) {
        let outcome = self.webhook.deliver(&delivery.event, &self.stop).await;
        if outcome == Outcome::Abandoned {
            return;
        }
        let Some(ticket) = delivery.ticket else {
            return;
        };
        match self.acks.acknowledge(ticket).await {
            AckResult::Sent => {}
            AckResult::SessionLost => {
                tracing::warn!(id = %delivery.event.id, "the broker no longer waits for this acknowledgement (its session was reset)")
            }
            AckResult::Disconnected => {
                tracing::warn!(id = %delivery.event.id, "broker connection down; the message will be acknowledged when the broker resends it")
            }
        }
    }
}

/// The subscribing side of the bridge.
pub struct Upstream {
    options: rumqttc::MqttOptions,
    filter: String,
    parent: String,
    shutdown_grace: Duration,
    acks: Arc<AckRegistry>,
    lanes: Arc<Lanes<Forwarder>>,
    stats: Arc<Stats>,
    subscribed: watch::Sender<bool>,
}

impl Upstream {
    /// The subscriber for `config`. Deliveries stop starting when `stop` is
    /// cancelled; `subscribed` turns true at the first successful SUBACK.
    pub fn new(
        config: &BridgeConfig,
        webhook: Webhook,
        stats: Arc<Stats>,
        stop: CancellationToken,
        subscribed: watch::Sender<bool>,
    ) -> Self {
        let acks = Arc::new(AckRegistry::default());
        let forwarder = Forwarder {
            webhook,
            acks: Arc::clone(&acks),
            stop: stop.clone(),
        };
        Self {
            options: mqtt::subscriber_options(&config.mqtt),
            filter: config.upstream_filter(),
            parent: config.upstream_parent.clone(),
            shutdown_grace: config.shutdown_grace,
            acks,
            lanes: Lanes::new(forwarder, config.concurrency, stop),
            stats,
            subscribed,
        }
    }

    /// Runs until `stop` is cancelled, reconnecting as needed; then lets
    /// running deliveries finish (up to the shutdown grace), sends their
    /// acknowledgements and disconnects, leaving the rest queued at the broker.
    pub async fn run(self, stop: CancellationToken) {
        let mut failures = 0u32;
        loop {
            // A fresh client per connection: an acknowledgement queued for a
            // dead connection dies with it instead of reaching the next one.
            let (client, mut eventloop) =
                AsyncClient::new(self.options.clone(), mqtt::REQUEST_CAPACITY);
            let error = tokio::select! {
                biased;
                () = stop.cancelled() => {
                    self.finish(&client, &mut eventloop).await;
                    return;
                }
                error = self.drive(&client, &mut eventloop, &mut failures) => error,
            };
            self.acks.disconnected();
            failures = failures.saturating_add(1);
            let delay = mqtt::reconnect_delay(failures);
            tracing::warn!(error = %error, retry_in = ?delay, "upstream MQTT connection lost");
            tokio::select! {
                () = stop.cancelled() => {
                    // No acknowledgement can be sent now; running deliveries
                    // only get the grace to finish what the webhook started.
                    let _ = tokio::time::timeout(self.shutdown_grace, self.lanes.stopped()).await;
                    return;
                }
                () = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn drive(
        &self,
        client: &AsyncClient,
        eventloop: &mut EventLoop,
        failures: &mut u32,
    ) -> ConnectionError {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::ConnAck(connack))) => {
                    *failures = 0;
                    self.acks.connected(client.clone(), connack.session_present);
                    tracing::info!(
                        session_present = connack.session_present,
                        "upstream MQTT connected"
                    );
                    // Subscribing again is harmless and repairs a session
                    // that lost its subscription.
                    if let Err(error) = client.try_subscribe(self.filter.clone(), QoS::AtLeastOnce)
                    {
                        tracing::error!(error = %error, "cannot queue the subscription request");
                    }
                }
                Ok(Event::Incoming(Incoming::SubAck(suback))) => {
                    if suback
                        .return_codes
                        .iter()
                        .all(|code| matches!(code, SubscribeReasonCode::Success(_)))
                    {
                        tracing::info!(filter = %self.filter, "upstream subscription confirmed");
                        self.subscribed.send_replace(true);
                    } else {
                        tracing::error!(filter = %self.filter, "the broker refused the subscription; check its ACL (the bridge needs `topic read {}`)", self.filter);
                    }
                }
                Ok(Event::Incoming(Incoming::Publish(publish))) => self.accept(client, publish),
                Ok(_) => {}
                Err(error) => return error,
            }
        }
    }

    /// Turns a received message into a delivery in its publisher's lane.
    fn accept(&self, client: &AsyncClient, publish: Publish) {
        let received_at_ms = clock::unix_millis();
        let Some(client_id) = topic::publisher_of(&self.parent, &publish.topic) else {
            self.stats.upstream_skipped();
            tracing::warn!(topic = %publish.topic, "skipping a message outside `{}`", self.filter);
            // Left unacknowledged it would block a broker in-flight slot forever.
            if acks::ack_at_once(client, &publish) != AckResult::Sent {
                tracing::warn!(topic = %publish.topic, "cannot acknowledge the skipped message now; the broker will resend it");
            }
            return;
        };
        let ticket = match self.acks.arrived(&publish) {
            Arrival::New(ticket) => ticket,
            Arrival::StillInProgress => {
                tracing::debug!(topic = %publish.topic, pkid = publish.pkid, "broker resent a message still being delivered");
                return;
            }
            Arrival::AlreadySettled => {
                tracing::debug!(topic = %publish.topic, pkid = publish.pkid, "broker resent a message delivered while disconnected; acknowledging it");
                if acks::ack_at_once(client, &publish) != AckResult::Sent {
                    tracing::warn!(topic = %publish.topic, "cannot acknowledge the resent message now; the broker will resend it");
                }
                return;
            }
        };
        let id = Guid::generate();
        let message = ReceivedMessage {
            client_id,
            topic: &publish.topic,
            payload: &publish.payload,
            qos: publish.qos as u8,
            retain: publish.retain,
            dup: publish.dup,
            received_at_ms,
        };
        let body = Bytes::from(message_publish_event(id, &message).to_string());
        let event = webhook::Event {
            id,
            client_id: client_id.to_owned(),
            body,
        };
        tracing::debug!(id = %id, clientid = %client_id, "upstream message received");
        self.lanes.submit(Delivery { event, ticket });
    }

    /// Shutdown on a live connection: keep the event loop turning so the
    /// acknowledgements of finishing deliveries go out, then disconnect.
    async fn finish(&self, client: &AsyncClient, eventloop: &mut EventLoop) {
        let drained = tokio::time::timeout(self.shutdown_grace, self.lanes.stopped());
        tokio::select! {
            result = drained => {
                if result.is_err() {
                    tracing::warn!(grace = ?self.shutdown_grace, "deliveries still running at shutdown are left to the broker to resend");
                }
            }
            () = keep_polling(eventloop) => {}
        }
        mqtt::disconnect(client, eventloop).await;
    }
}

/// Polls until the connection fails, ignoring new messages: they are not
/// acknowledged, so the broker keeps them for the next run.
async fn keep_polling(eventloop: &mut EventLoop) {
    while eventloop.poll().await.is_ok() {}
}
