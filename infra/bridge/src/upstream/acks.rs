//! Which received messages still await their PUBACK, and on which connection
//! it may be sent.
//!
//! A PUBACK names a packet id, and packet ids are only meaningful within the
//! broker session that assigned them. The registry therefore:
//! - sends an acknowledgement only through the connection that is current
//!   when the delivery ends (each connection has its own client handle, so an
//!   acknowledgement can never leak into a later connection by accident);
//! - forgets every pending id when the broker reports a fresh session, so a
//!   late acknowledgement cannot confirm a different message that reused the
//!   id;
//! - recognises a message the broker resends after a reconnect (same id, DUP
//!   set) while it is still being delivered, or after it was delivered while
//!   no connection was up, so it is not delivered twice.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use rumqttc::{AsyncClient, Publish, QoS};

/// The right to acknowledge one received message.
#[derive(Debug)]
pub struct AckTicket {
    pkid: u16,
    qos: QoS,
    topic: String,
    serial: u64,
}

/// What to do with a message that just arrived.
#[derive(Debug)]
pub enum Arrival {
    /// A message to deliver, acknowledged through the ticket afterwards
    /// (`None` for QoS 0, which has nothing to acknowledge).
    New(Option<AckTicket>),
    /// The broker resent a message that is still being delivered; the
    /// running delivery will acknowledge it.
    StillInProgress,
    /// The broker resent a message whose delivery ended while no connection
    /// was up: acknowledge it at once, without delivering it again.
    AlreadySettled,
}

/// The state of a packet id the broker is waiting on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Being delivered by the delivery with this serial number.
    InProgress(u64),
    /// Delivered (or refused for good), acknowledgement not sent yet.
    Settled,
}

#[derive(Debug, Default)]
struct Registry {
    /// The client of the connection that is up, if any.
    current: Option<AsyncClient>,
    /// Packet ids the broker waits on.
    pending: HashMap<u16, Pending>,
    next_serial: u64,
    /// Counts fresh broker sessions.
    session: u64,
}

/// Pending acknowledgements of the subscribing connection.
#[derive(Debug, Default)]
pub struct AckRegistry {
    inner: Mutex<Registry>,
}

impl AckRegistry {
    /// A connection came up. Without `session_present` the broker has
    /// forgotten every unacknowledged message, so their ids mean nothing now.
    pub fn connected(&self, client: AsyncClient, session_present: bool) {
        let mut registry = self.lock();
        registry.current = Some(client);
        if !session_present {
            registry.pending.clear();
            registry.session += 1;
        }
    }

    /// The connection went down; acknowledgements wait for the next one.
    pub fn disconnected(&self) {
        self.lock().current = None;
    }

    /// Registers a message that arrived on the current connection.
    pub fn arrived(&self, publish: &Publish) -> Arrival {
        if publish.qos == QoS::AtMostOnce {
            return Arrival::New(None);
        }
        let mut registry = self.lock();
        if publish.dup {
            match registry.pending.get(&publish.pkid) {
                Some(Pending::InProgress(_)) => return Arrival::StillInProgress,
                Some(Pending::Settled) => {
                    registry.pending.remove(&publish.pkid);
                    return Arrival::AlreadySettled;
                }
                None => {}
            }
        }
        let serial = registry.next_serial;
        registry.next_serial += 1;
        registry
            .pending
            .insert(publish.pkid, Pending::InProgress(serial));
        Arrival::New(Some(AckTicket {
            pkid: publish.pkid,
            qos: publish.qos,
            topic: publish.topic.clone(),
            serial,
        }))
    }

    /// Acknowledges a finished delivery, if its packet id still belongs to
    /// it. Without a connection the id is remembered as settled, so the
    /// broker's resend is acknowledged without a second delivery.
    pub async fn acknowledge(&self, ticket: AckTicket) -> AckResult {
        let (client, session) = {
            let mut registry = self.lock();
            if registry.pending.get(&ticket.pkid) != Some(&Pending::InProgress(ticket.serial)) {
                return AckResult::SessionLost;
            }
            let Some(client) = registry.current.clone() else {
                registry.pending.insert(ticket.pkid, Pending::Settled);
                return AckResult::Disconnected;
            };
            registry.pending.remove(&ticket.pkid);
            (client, registry.session)
        };
        let result = acknowledge_now(&client, &ticket.topic, ticket.qos, ticket.pkid).await;
        if result == AckResult::Disconnected {
            // The connection died under us; the resend will come on the
            // next one, if the broker kept the session.
            let mut registry = self.lock();
            if registry.session == session {
                registry
                    .pending
                    .entry(ticket.pkid)
                    .or_insert(Pending::Settled);
            }
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        // Every critical section is a few map operations that cannot panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How an acknowledgement went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckResult {
    /// Handed to the connection for sending.
    Sent,
    /// The broker started a fresh session: there is nothing to acknowledge.
    SessionLost,
    /// No connection is up (or it just closed); the broker will resend.
    Disconnected,
}

/// Acknowledges a message that needs no delivery (wrong topic, or already
/// settled) through the connection it arrived on. It does not wait, because
/// the caller is the task that turns that connection's event loop.
pub fn ack_at_once(client: &AsyncClient, publish: &Publish) -> AckResult {
    match client.try_ack(publish) {
        Ok(()) => AckResult::Sent,
        Err(_) => AckResult::Disconnected,
    }
}

async fn acknowledge_now(client: &AsyncClient, topic: &str, qos: QoS, pkid: u16) -> AckResult {
    // Only the packet id and QoS matter for the acknowledgement.
    let mut publish = Publish::new(topic, qos, Vec::new());
    publish.pkid = pkid;
    match client.ack(&publish).await {
        Ok(()) => AckResult::Sent,
        Err(_) => AckResult::Disconnected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rumqttc::{EventLoop, MqttOptions};

    fn publish(pkid: u16, dup: bool) -> Publish {
        let mut publish = Publish::new("sig-up/c", QoS::AtLeastOnce, b"{}".to_vec());
        publish.pkid = pkid;
        publish.dup = dup;
        publish
    }

    fn connection() -> (AsyncClient, EventLoop) {
        AsyncClient::new(MqttOptions::new("test", "127.0.0.1", 1), 10)
    }

    fn ticket(arrival: Arrival) -> AckTicket {
        match arrival {
            Arrival::New(Some(ticket)) => ticket,
            other => panic!("expected a ticket, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn acknowledges_through_the_current_connection() {
        let registry = AckRegistry::default();
        let (client, _eventloop) = connection();
        registry.connected(client, false);
        let ticket = ticket(registry.arrived(&publish(7, false)));
        assert_eq!(registry.acknowledge(ticket).await, AckResult::Sent);
    }

    #[tokio::test]
    async fn a_resent_message_in_progress_is_not_delivered_twice() {
        let registry = AckRegistry::default();
        let (client, _eventloop) = connection();
        registry.connected(client.clone(), false);
        let first = ticket(registry.arrived(&publish(7, false)));
        registry.disconnected();
        registry.connected(client, true);
        assert!(matches!(
            registry.arrived(&publish(7, true)),
            Arrival::StillInProgress
        ));
        assert_eq!(registry.acknowledge(first).await, AckResult::Sent);
    }

    #[tokio::test]
    async fn a_fresh_session_voids_old_tickets_even_if_the_id_is_reused() {
        let registry = AckRegistry::default();
        let (client, _eventloop) = connection();
        registry.connected(client.clone(), false);
        let old = ticket(registry.arrived(&publish(7, false)));
        registry.connected(client, false);
        let new = ticket(registry.arrived(&publish(7, false)));
        assert_eq!(registry.acknowledge(old).await, AckResult::SessionLost);
        assert_eq!(registry.acknowledge(new).await, AckResult::Sent);
    }

    #[tokio::test]
    async fn delivered_while_disconnected_means_the_resend_is_not_delivered_again() {
        let registry = AckRegistry::default();
        let (client, _eventloop) = connection();
        registry.connected(client.clone(), true);
        let ticket = ticket(registry.arrived(&publish(3, false)));
        registry.disconnected();
        assert_eq!(registry.acknowledge(ticket).await, AckResult::Disconnected);
        registry.connected(client, true);
        assert!(matches!(
            registry.arrived(&publish(3, true)),
            Arrival::AlreadySettled
        ));
        // Settled once: a later message with that id is new again.
        assert!(matches!(
            registry.arrived(&publish(3, true)),
            Arrival::New(Some(_))
        ));
    }

    #[tokio::test]
    async fn a_connection_dying_during_the_ack_settles_the_message() {
        let registry = AckRegistry::default();
        let (client, eventloop) = connection();
        registry.connected(client.clone(), true);
        let ticket = ticket(registry.arrived(&publish(4, false)));
        drop(eventloop); // the request channel closes with its event loop
        assert_eq!(registry.acknowledge(ticket).await, AckResult::Disconnected);
        assert!(matches!(
            registry.arrived(&publish(4, true)),
            Arrival::AlreadySettled
        ));
    }

    #[tokio::test]
    async fn settled_ids_are_forgotten_with_the_session() {
        let registry = AckRegistry::default();
        let (client, _eventloop) = connection();
        registry.connected(client.clone(), true);
        let ticket = ticket(registry.arrived(&publish(5, false)));
        registry.disconnected();
        assert_eq!(registry.acknowledge(ticket).await, AckResult::Disconnected);
        registry.connected(client, false);
        assert!(matches!(
            registry.arrived(&publish(5, true)),
            Arrival::New(Some(_))
        ));
    }

    #[test]
    fn qos0_needs_no_ticket() {
        let registry = AckRegistry::default();
        let mut message = publish(0, false);
        message.qos = QoS::AtMostOnce;
        assert!(matches!(registry.arrived(&message), Arrival::New(None)));
    }
}
