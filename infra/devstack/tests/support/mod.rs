//! An MQTT client for tests that waits for acknowledgements and messages
//! with deadlines, so no test sleeps.
//!
//! Not every test binary uses every helper.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rumqttc::{
    Client, ConnectReturnCode, ConnectionError, Event, MqttOptions, Packet, QoS,
    SubscribeReasonCode,
};

/// How long any single expected event may take.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// One received message: topic and payload as text.
pub type Message = (String, String);

/// A connected MQTT client on 127.0.0.1.
pub struct Probe {
    client: Client,
    events: Receiver<Result<Event, ConnectionError>>,
    received: VecDeque<Message>,
    thread: Option<JoinHandle<()>>,
}

impl Probe {
    /// Connects with a clean session; panics unless the broker accepts.
    pub fn connect(port: u16, client_id: &str, login: Option<(&str, &str)>) -> Self {
        let mut probe = Self::start(port, client_id, login);
        match probe.wait_for(|event| matches!(event, Event::Incoming(Packet::ConnAck(_)))) {
            Ok(_) => probe,
            Err(error) => panic!("{client_id} could not connect: {error}"),
        }
    }

    /// Connects and returns the broker's refusal; panics if it accepts.
    pub fn connect_refused(port: u16, client_id: &str, login: (&str, &str)) -> ConnectReturnCode {
        let mut probe = Self::start(port, client_id, Some(login));
        match probe.wait_for(|event| matches!(event, Event::Incoming(Packet::ConnAck(_)))) {
            Ok(_) => panic!("{client_id} was accepted"),
            Err(error) => match *error {
                ConnectionError::ConnectionRefused(code) => code,
                other => panic!("{client_id} failed otherwise: {other}"),
            },
        }
    }

    fn start(port: u16, client_id: &str, login: Option<(&str, &str)>) -> Self {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_keep_alive(Duration::from_secs(30));
        if let Some((user, password)) = login {
            options.set_credentials(user, password);
        }
        let (client, mut connection) = Client::new(options, 16);
        let (sender, events) = mpsc::channel();
        let thread = thread::spawn(move || {
            for event in connection.iter() {
                let failed = event.is_err();
                if sender.send(event).is_err() || failed {
                    break;
                }
            }
        });
        Self {
            client,
            events,
            received: VecDeque::new(),
            thread: Some(thread),
        }
    }

    /// Subscribes with QoS 1 and returns the broker's answer.
    pub fn subscribe(&mut self, topic: &str) -> SubscribeReasonCode {
        self.client
            .subscribe(topic, QoS::AtLeastOnce)
            .expect("subscribe request");
        match self.wait_for(|event| matches!(event, Event::Incoming(Packet::SubAck(_)))) {
            Ok(Event::Incoming(Packet::SubAck(ack))) => ack.return_codes[0],
            Ok(other) => panic!("unexpected {other:?}"),
            Err(error) => panic!("no SUBACK for {topic}: {error}"),
        }
    }

    /// Publishes with QoS 1 and waits for the broker's PUBACK, after which
    /// Mosquitto has routed the message to every allowed subscriber.
    pub fn publish(&mut self, topic: &str, payload: &str) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.as_bytes().to_vec())
            .expect("publish request");
        if let Err(error) =
            self.wait_for(|event| matches!(event, Event::Incoming(Packet::PubAck(_))))
        {
            panic!("no PUBACK for {topic}: {error}");
        }
    }

    /// Every message received up to and including the first whose payload
    /// is `last`.
    pub fn messages_until(&mut self, last: &str) -> Vec<Message> {
        let mut messages = Vec::new();
        loop {
            let message = self.next_message();
            let done = message.1 == last;
            messages.push(message);
            if done {
                return messages;
            }
        }
    }

    /// The next message received.
    pub fn next_message(&mut self) -> Message {
        if let Some(message) = self.received.pop_front() {
            return message;
        }
        if let Err(error) =
            self.wait_for(|event| matches!(event, Event::Incoming(Packet::Publish(_))))
        {
            panic!("no message arrived: {error}");
        }
        self.received
            .pop_front()
            .expect("a message was just queued")
    }

    /// Waits for an event matching `wanted`, keeping messages that arrive
    /// meanwhile. A connection error or the deadline ends the wait.
    fn wait_for(&mut self, wanted: impl Fn(&Event) -> bool) -> Result<Event, Box<ConnectionError>> {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match self.events.recv_timeout(left) {
                Ok(event) => event.map_err(Box::new)?,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Box::new(ConnectionError::NetworkTimeout))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(Box::new(ConnectionError::RequestsDone))
                }
            };
            if let Event::Incoming(Packet::Publish(publish)) = &event {
                self.received.push_back((
                    publish.topic.clone(),
                    String::from_utf8_lossy(&publish.payload).into_owned(),
                ));
            }
            if wanted(&event) {
                return Ok(event);
            }
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        // The event loop ends with an error once the disconnect is sent or
        // the broker is gone.
        let _ = self.client.disconnect();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
