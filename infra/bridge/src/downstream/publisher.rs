//! The publishing MQTT connection, and knowing when the broker has a message.
//!
//! rumqttc does not say which packet id a publish got. It does report, in
//! request order, an `Outgoing::Publish(pkid)` for every publish it sends, so
//! the publisher queues a waiter per request (under the same lock that
//! hands the request to the client) and binds the waiters to packet ids in
//! that order. A PUBACK (QoS 1) or PUBREC (QoS 2) for the id then completes
//! the waiter. When the connection fails, every waiter fails with it and a
//! fresh client replaces the old one, so no stale request can shift the
//! order on the next connection.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rumqttc::{
    AsyncClient, ConnectionError, Event, EventLoop, Incoming, MqttOptions, Outgoing, QoS,
};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::request::PublishRequest;
use crate::mqtt;

/// Why a message could not be published (HTTP 503 `failed_to_dispatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// The connection to the broker is down.
    #[error("the broker connection is down")]
    NotConnected,
    /// Too many publishes wait for the connection.
    #[error("too many publishes are waiting for the broker")]
    Overloaded,
    /// The connection failed before the broker acknowledged the message.
    #[error("the broker connection failed before the acknowledgement")]
    ConnectionLost,
    /// The broker did not acknowledge in time.
    #[error("the broker did not acknowledge in time")]
    NoAcknowledgement,
    /// The fault switch failed this message on purpose.
    #[error("failed by the fault switch")]
    InjectedFault,
}

/// A publish handed to the connection, whose acknowledgement can be awaited.
#[derive(Debug)]
pub struct InFlight {
    acknowledged: oneshot::Receiver<()>,
}

impl InFlight {
    /// Waits for the broker's acknowledgement until `deadline`.
    pub async fn acknowledged(self, deadline: Instant) -> Result<(), PublishError> {
        match tokio::time::timeout_at(deadline, self.acknowledged).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(PublishError::ConnectionLost),
            Err(_) => Err(PublishError::NoAcknowledgement),
        }
    }
}

#[derive(Default)]
struct Link {
    /// The client of the connection that is up.
    client: Option<AsyncClient>,
    /// Requests handed to the client whose packet id is not known yet.
    unsent: VecDeque<(QoS, oneshot::Sender<()>)>,
    /// Sent QoS 1/2 publishes by packet id, awaiting PUBACK/PUBREC.
    awaiting: HashMap<u16, oneshot::Sender<()>>,
}

/// The publishing connection.
pub struct Publisher {
    options: MqttOptions,
    link: Mutex<Link>,
}

impl Publisher {
    /// A publisher connecting with `options` once [`Publisher::run`] runs.
    pub fn new(options: MqttOptions) -> Self {
        Self {
            options,
            link: Mutex::new(Link::default()),
        }
    }

    /// Hands `request` to the connection, or fails at once when the
    /// connection is down or saturated.
    pub fn start(&self, request: &PublishRequest) -> Result<InFlight, PublishError> {
        let mut link = self.lock();
        let client = link.client.as_ref().ok_or(PublishError::NotConnected)?;
        client
            .try_publish(
                request.topic.clone(),
                request.qos,
                request.retain,
                request.payload.clone(),
            )
            .map_err(|_| PublishError::Overloaded)?;
        let (done, acknowledged) = oneshot::channel();
        link.unsent.push_back((request.qos, done));
        Ok(InFlight { acknowledged })
    }

    /// Keeps the connection up until `stop` is cancelled, then disconnects.
    pub async fn run(&self, stop: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let (client, mut eventloop) =
                AsyncClient::new(self.options.clone(), mqtt::REQUEST_CAPACITY);
            let error = tokio::select! {
                biased;
                () = stop.cancelled() => {
                    self.reset();
                    mqtt::disconnect(&client, &mut eventloop).await;
                    return;
                }
                error = self.drive(&client, &mut eventloop, &mut failures) => error,
            };
            self.reset();
            failures = failures.saturating_add(1);
            let delay = mqtt::reconnect_delay(failures);
            tracing::warn!(error = %error, retry_in = ?delay, "publishing MQTT connection lost");
            tokio::select! {
                () = stop.cancelled() => return,
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
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    *failures = 0;
                    self.lock().client = Some(client.clone());
                    tracing::info!("publishing MQTT connection up");
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => self.sent(pkid),
                Ok(Event::Incoming(Incoming::PubAck(ack))) => self.acknowledged(ack.pkid),
                Ok(Event::Incoming(Incoming::PubRec(rec))) => self.acknowledged(rec.pkid),
                Ok(_) => {}
                Err(error) => return error,
            }
        }
    }

    /// The oldest unsent request went out with packet id `pkid`.
    fn sent(&self, pkid: u16) {
        let mut link = self.lock();
        match link.unsent.pop_front() {
            // QoS 0 has no acknowledgement: sending is all there is.
            Some((QoS::AtMostOnce, done)) => {
                let _ = done.send(());
            }
            Some((_, done)) => {
                link.awaiting.insert(pkid, done);
            }
            None => tracing::warn!(pkid, "publish sent without a waiting request"),
        }
    }

    fn acknowledged(&self, pkid: u16) {
        if let Some(done) = self.lock().awaiting.remove(&pkid) {
            // The requester may have timed out and left; nothing to tell then.
            let _ = done.send(());
        }
    }

    /// Forgets the connection: new publishes fail at once and every waiter
    /// learns that its message may not have reached the broker.
    fn reset(&self) {
        *self.lock() = Link::default();
    }

    fn lock(&self) -> MutexGuard<'_, Link> {
        // Critical sections only move senders between collections.
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
