//! A device as the contract describes one: an MQTT client with a stable
//! client ID and a persistent session (CleanSession=false), subscribed once
//! at QoS 1 to its own downstream topics, publishing signaling to its own
//! upstream topic, and deduplicating downstream messages on their `id`.
//!
//! Unlike a real device it also remembers how often each message was
//! delivered, so tests can assert that the service sent exactly one copy.

use std::collections::{HashMap, VecDeque};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS,
    SubscribeFilter, SubscribeReasonCode,
};
use serde_json::Value;
use switchboard_dev::stack::Parents;

use crate::downstream::{Channel, Received};
use crate::error::{HarnessError, Result};
use crate::ops;
use crate::testbed::WAIT;
use crate::upstream;

/// How long the broker gets to answer CONNECT, SUBSCRIBE, PUBLISH and
/// DISCONNECT.
const BROKER_DEADLINE: Duration = Duration::from_secs(10);
/// MQTT keep-alive of a test device.
const KEEP_ALIVE: Duration = Duration::from_secs(30);
/// Largest packet a test device sends or accepts (bulk messages included).
const MAX_PACKET_BYTES: usize = 1024 * 1024;
/// Requests the client may queue before `publish` blocks.
const REQUEST_CAPACITY: usize = 64;

/// Where a device connects and which topics it uses.
#[derive(Debug, Clone)]
pub struct DeviceConfig {
    /// The device's client ID, `<GroupID>@@@<DeviceID>`.
    pub client_id: String,
    /// The broker's port on 127.0.0.1.
    pub mqtt_port: u16,
    /// The topic parents in effect.
    pub parents: Parents,
}

/// A connected (or deliberately disconnected) test device.
///
/// Received messages go to an inbox; [`expect`](Self::expect) and friends
/// take the first one that matches, in any order, and
/// [`expect_none`](Self::expect_none) checks nothing else is left. A message
/// whose `id` was already seen is counted but not put in the inbox again.
pub struct Device {
    config: DeviceConfig,
    link: Option<Link>,
    inbox: VecDeque<Received>,
    history: Vec<Received>,
    deliveries: HashMap<String, usize>,
}

impl Device {
    /// Connects with CleanSession=false, subscribes at QoS 1 to the
    /// device's signaling and bulk topics and waits for the SUBACK, after
    /// which the broker keeps its messages even while it is offline.
    pub fn connect(config: DeviceConfig) -> Result<Self> {
        let mut device = Self {
            config,
            link: None,
            inbox: VecDeque::new(),
            history: Vec::new(),
            deliveries: HashMap::new(),
        };
        device.open()?;
        device.subscribe()?;
        Ok(device)
    }

    /// The device's client ID.
    pub fn client_id(&self) -> &str {
        &self.config.client_id
    }

    /// The topic the device publishes signaling to.
    pub fn upstream_topic(&self) -> String {
        self.config.parents.upstream_topic(&self.config.client_id)
    }

    /// Whether the device is connected.
    pub fn is_connected(&self) -> bool {
        self.link.is_some()
    }

    /// Publishes `op` completed by [`upstream::message`] (fresh `id`, `ts`
    /// now, `v: 1`) and waits for the broker's PUBACK. Returns the message
    /// ID, which downstream answers name in `in_reply_to`.
    pub fn publish(&mut self, op: Value) -> Result<String> {
        let message = upstream::message(op);
        self.publish_message(&message)?;
        Ok(message
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Invites `to` to a new call (`media` `audio` or `video`) and waits
    /// for the `call.created` answering it; returns the call ID.
    pub fn invite(&mut self, to: &[&str], media: &str) -> Result<String> {
        let id = self.publish(ops::invite(to, media))?;
        let wanted = format!("call.created in reply to {id}");
        let created = self.expect_where(&wanted, WAIT, |m| {
            m.event() == "call.created" && m.in_reply_to() == Some(id.as_str())
        })?;
        created.call_id()
    }

    /// Publishes a complete upstream message exactly as given (to repeat a
    /// message, or send a stale one) and waits for the PUBACK.
    pub fn publish_message(&mut self, message: &Value) -> Result<()> {
        self.publish_raw(message.to_string().as_bytes())
    }

    /// Publishes any payload to the device's upstream topic and waits for
    /// the PUBACK.
    pub fn publish_raw(&mut self, payload: &[u8]) -> Result<()> {
        let topic = self.upstream_topic();
        let requested =
            self.link()?
                .client
                .publish(topic, QoS::AtLeastOnce, false, payload.to_vec());
        requested.map_err(|e| self.mqtt(format!("cannot publish: {e}")))?;
        self.wait_for_packet("PUBACK", |packet| matches!(packet, Packet::PubAck(_)))
            .map(drop)
    }

    /// Waits up to `within` for a message whose event is `event` and
    /// returns it, removing it from the inbox.
    pub fn expect(&mut self, event: &str, within: Duration) -> Result<Received> {
        self.expect_where(event, within, |m| m.event() == event)
    }

    /// Waits up to `within` for a message with `event` about `call`.
    pub fn expect_call(&mut self, event: &str, call: &str, within: Duration) -> Result<Received> {
        let wanted = format!("{event} for {call}");
        self.expect_where(&wanted, within, |m| {
            m.event() == event && m.call() == Some(call)
        })
    }

    /// Waits up to `within` for the first message satisfying `matches`;
    /// `wanted` describes it in the error.
    pub fn expect_where(
        &mut self,
        wanted: &str,
        within: Duration,
        matches: impl Fn(&Received) -> bool,
    ) -> Result<Received> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(index) = self.inbox.iter().position(&matches) {
                if let Some(found) = self.inbox.remove(index) {
                    return Ok(found);
                }
            }
            if !self.pump_until(deadline)? {
                return Err(HarnessError::Missing {
                    client_id: self.config.client_id.clone(),
                    wanted: wanted.to_owned(),
                    within,
                    unread: summaries(self.inbox.iter()),
                });
            }
        }
    }

    /// Fails if a message is in the inbox now or arrives within `within`.
    /// The unexpected messages are removed from the inbox.
    pub fn expect_none(&mut self, within: Duration) -> Result<()> {
        let unexpected = self.collect(within)?;
        if unexpected.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::Unexpected {
                client_id: self.config.client_id.clone(),
                received: summaries(unexpected.iter()),
            })
        }
    }

    /// Receives for `within`, then empties the inbox and returns what was
    /// in it, in arrival order. For outcomes a test cannot predict exactly.
    pub fn collect(&mut self, within: Duration) -> Result<Vec<Received>> {
        let deadline = Instant::now() + within;
        while self.pump_until(deadline)? {}
        Ok(self.inbox.drain(..).collect())
    }

    /// How many times messages with `event` were delivered, duplicates
    /// included (a correct service with a stable connection gives 1 per
    /// distinct message).
    pub fn deliveries_of(&self, event: &str) -> usize {
        self.history
            .iter()
            .filter(|m| m.event() == event)
            .map(|m| self.deliveries.get(m.id()).copied().unwrap_or(0))
            .sum()
    }

    /// How many deliveries repeated a message ID already seen.
    pub fn duplicates(&self) -> usize {
        self.deliveries.values().map(|n| n.saturating_sub(1)).sum()
    }

    /// Every distinct message received, in arrival order (consumed or not).
    pub fn history(&self) -> &[Received] {
        &self.history
    }

    /// Disconnects cleanly (DISCONNECT), keeping the persistent session:
    /// the broker queues QoS 1 messages until [`reconnect`](Self::reconnect).
    /// Messages that arrived before the disconnect stay in the inbox.
    pub fn disconnect(&mut self) -> Result<()> {
        let Some(link) = self.link.take() else {
            return Ok(());
        };
        let requested = link.client.disconnect();
        // Read what is left until the event loop ends, keeping messages.
        let deadline = Instant::now() + BROKER_DEADLINE;
        let mut outcome = requested.map_err(|e| format!("cannot disconnect: {e}"));
        while outcome.is_ok() {
            let left = deadline.saturating_duration_since(Instant::now());
            match link.events.recv_timeout(left) {
                Ok(Ok(Event::Incoming(Packet::Publish(publish)))) => {
                    if let Err(e) = self.record(&publish.topic, &publish.payload) {
                        outcome = Err(e.to_string());
                    }
                }
                // DISCONNECT is written and flushed: the broker closes.
                Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {
                    outcome = Err("the connection did not close in time".to_owned());
                }
            }
        }
        link.close();
        outcome.map_err(|reason| self.mqtt(reason))
    }

    /// Connects again with the same client ID and CleanSession=false,
    /// without subscribing again (the session remembers), as a device
    /// coming back online does. Returns whether the broker resumed the
    /// session; queued messages then arrive like any other.
    pub fn reconnect(&mut self) -> Result<bool> {
        if self.link.is_some() {
            return Err(self.mqtt("reconnect while connected".to_owned()));
        }
        self.open()
    }

    fn link(&self) -> Result<&Link> {
        self.link
            .as_ref()
            .ok_or_else(|| self.mqtt("the device is disconnected".to_owned()))
    }

    fn mqtt(&self, reason: String) -> HarnessError {
        HarnessError::Mqtt {
            client_id: self.config.client_id.clone(),
            reason,
        }
    }

    /// Starts a connection and waits for the CONNACK; returns
    /// `session_present`.
    fn open(&mut self) -> Result<bool> {
        let mut options =
            MqttOptions::new(&self.config.client_id, "127.0.0.1", self.config.mqtt_port);
        options
            .set_keep_alive(KEEP_ALIVE)
            .set_clean_session(false)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
        self.link = Some(Link::start(options)?);
        let ack = self.wait_for_packet("CONNACK", |p| matches!(p, Packet::ConnAck(_)))?;
        match ack {
            Packet::ConnAck(ack) if ack.code == ConnectReturnCode::Success => {
                Ok(ack.session_present)
            }
            Packet::ConnAck(ack) => Err(self.mqtt(format!("connection refused: {:?}", ack.code))),
            other => Err(self.mqtt(format!("expected CONNACK, got {other:?}"))),
        }
    }

    fn subscribe(&mut self) -> Result<()> {
        let parents = &self.config.parents;
        let topics = [
            parents.downstream_topic(&self.config.client_id),
            parents.bulk_topic(&self.config.client_id),
        ];
        let filters = topics
            .iter()
            .map(|topic| SubscribeFilter::new(topic.clone(), QoS::AtLeastOnce));
        let requested = self.link()?.client.subscribe_many(filters);
        requested.map_err(|e| self.mqtt(format!("cannot subscribe: {e}")))?;
        match self.wait_for_packet("SUBACK", |p| matches!(p, Packet::SubAck(_)))? {
            Packet::SubAck(ack)
                if ack.return_codes.len() == topics.len()
                    && ack
                        .return_codes
                        .iter()
                        .all(|code| matches!(code, SubscribeReasonCode::Success(_))) =>
            {
                Ok(())
            }
            other => Err(self.mqtt(format!("subscription refused: {other:?}"))),
        }
    }

    /// Handles events until one carries a packet matching `wanted`.
    fn wait_for_packet(&mut self, what: &str, wanted: impl Fn(&Packet) -> bool) -> Result<Packet> {
        let deadline = Instant::now() + BROKER_DEADLINE;
        loop {
            match self.next_event(deadline)? {
                Some(Event::Incoming(packet)) if wanted(&packet) => return Ok(packet),
                Some(_) => {}
                None => return Err(self.mqtt(format!("no {what} within {BROKER_DEADLINE:?}"))),
            }
        }
    }

    /// Handles one event before `deadline`; `false` when none came.
    fn pump_until(&mut self, deadline: Instant) -> Result<bool> {
        Ok(self.next_event(deadline)?.is_some())
    }

    /// The next event of the connection (publishes are recorded on the
    /// way), or `None` at the deadline.
    fn next_event(&mut self, deadline: Instant) -> Result<Option<Event>> {
        let left = deadline.saturating_duration_since(Instant::now());
        let received = self.link()?.events.recv_timeout(left);
        let event = match received {
            Ok(Ok(event)) => event,
            Ok(Err(error)) => {
                self.drop_link();
                return Err(self.mqtt(format!("connection lost: {error}")));
            }
            Err(RecvTimeoutError::Timeout) => return Ok(None),
            Err(RecvTimeoutError::Disconnected) => {
                self.drop_link();
                return Err(self.mqtt("connection closed".to_owned()));
            }
        };
        if let Event::Incoming(Packet::Publish(publish)) = &event {
            self.record(&publish.topic, &publish.payload)?;
        }
        Ok(Some(event))
    }

    fn drop_link(&mut self) {
        if let Some(link) = self.link.take() {
            link.close();
        }
    }

    /// Counts one delivery and keeps the message if its ID is new.
    fn record(&mut self, topic: &str, payload: &[u8]) -> Result<()> {
        let parents = &self.config.parents;
        let channel = if topic == parents.downstream_topic(&self.config.client_id) {
            Channel::Signaling
        } else if topic == parents.bulk_topic(&self.config.client_id) {
            Channel::Bulk
        } else {
            return Err(HarnessError::Unreadable {
                client_id: self.config.client_id.clone(),
                topic: topic.to_owned(),
                reason: "not one of the device's downstream topics".to_owned(),
            });
        };
        let message =
            Received::parse(payload, channel).map_err(|reason| HarnessError::Unreadable {
                client_id: self.config.client_id.clone(),
                topic: topic.to_owned(),
                reason,
            })?;
        let count = self.deliveries.entry(message.id().to_owned()).or_insert(0);
        *count += 1;
        if *count == 1 {
            self.history.push(message.clone());
            self.inbox.push_back(message);
        }
        Ok(())
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        // Best effort: the broker also drops the connection with the stack.
        let _ = self.disconnect();
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("client_id", &self.config.client_id)
            .field("connected", &self.link.is_some())
            .field("inbox", &self.inbox)
            .finish_non_exhaustive()
    }
}

/// One MQTT connection: the client handle and the thread that drives its
/// event loop, forwarding every event (the first error last).
struct Link {
    client: Client,
    events: Receiver<Result<Event, ConnectionError>>,
    thread: JoinHandle<()>,
}

impl Link {
    fn start(options: MqttOptions) -> Result<Self> {
        let client_id = options.client_id();
        let (client, mut connection) = Client::new(options, REQUEST_CAPACITY);
        let (sender, events) = mpsc::channel();
        let thread = thread::Builder::new()
            .name(format!("mqtt {client_id}"))
            .spawn(move || {
                for event in connection.iter() {
                    let failed = event.is_err();
                    if sender.send(event).is_err() || failed {
                        break;
                    }
                }
            })
            .map_err(|e| HarnessError::Mqtt {
                client_id,
                reason: format!("cannot start the event loop thread: {e}"),
            })?;
        Ok(Self {
            client,
            events,
            thread,
        })
    }

    /// Lets the event loop go. After a DISCONNECT or an error it has
    /// already ended and is joined; otherwise it ends at its next event
    /// (the receiver is gone) or when the broker stops, and is not waited
    /// for, so that closing never hangs a test.
    fn close(self) {
        drop(self.events);
        drop(self.client);
        if self.thread.is_finished() {
            let _ = self.thread.join();
        }
    }
}

/// Fails if any of `devices` has a message in its inbox or receives one
/// within `within`. The devices listen at the same time, so this takes
/// `within` however many devices there are.
pub fn expect_silence(devices: &mut [&mut Device], within: Duration) -> Result<()> {
    let deadline = Instant::now() + within;
    for device in devices.iter_mut() {
        device.expect_none(deadline.saturating_duration_since(Instant::now()))?;
    }
    Ok(())
}

/// `[summary (id), ...]` for error messages.
fn summaries<'a>(messages: impl Iterator<Item = &'a Received>) -> String {
    messages
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
