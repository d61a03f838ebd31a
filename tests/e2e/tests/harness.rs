//! The harness's [`Device`] against a real Mosquitto alone, with a test
//! publisher standing in for the service: it receives on both downstream
//! topics, counts duplicates without handing them out twice, keeps its
//! session across a reconnect, and stamps what it publishes.

use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::Duration;

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
use serde_json::{json, Value};
use switchboard_dev::stack::{Mosquitto, MosquittoOptions, Parents, BRIDGE_USERNAME};
use switchboard_e2e::{Channel, Device, DeviceConfig, QUIET, WAIT};

const CLIENT_ID: &str = "GID_e2e@@@harness-phone";

/// The service's side of the broker: logs in as the bridge user, which may
/// write every downstream topic and read every upstream one.
struct ServiceSide {
    client: Client,
    events: Receiver<Event>,
}

impl ServiceSide {
    fn connect(broker: &Mosquitto) -> Self {
        let mut options = MqttOptions::new("harness-service", "127.0.0.1", broker.port());
        options.set_credentials(BRIDGE_USERNAME, broker.bridge_password());
        let (client, mut connection) = Client::new(options, 16);
        let (sender, events) = mpsc::channel();
        thread::spawn(move || {
            for event in connection.iter() {
                let Ok(event) = event else { break };
                if sender.send(event).is_err() {
                    break;
                }
            }
        });
        let side = Self { client, events };
        side.wait_for(|p| matches!(p, Packet::ConnAck(_)));
        side
    }

    fn wait_for(&self, wanted: impl Fn(&Packet) -> bool) -> Packet {
        loop {
            match self.events.recv_timeout(WAIT) {
                Ok(Event::Incoming(packet)) if wanted(&packet) => return packet,
                Ok(_) => {}
                Err(error) => panic!("the service side saw nothing: {error}"),
            }
        }
    }

    fn publish(&self, topic: &str, payload: &Value) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_string())
            .expect("publish request");
        self.wait_for(|p| matches!(p, Packet::PubAck(_)));
    }

    fn subscribe(&self, topic: &str) {
        self.client
            .subscribe(topic, QoS::AtLeastOnce)
            .expect("subscribe request");
        self.wait_for(|p| matches!(p, Packet::SubAck(_)));
    }

    fn next_message(&self) -> (String, Value) {
        match self.wait_for(|p| matches!(p, Packet::Publish(_))) {
            Packet::Publish(publish) => (
                publish.topic.clone(),
                serde_json::from_slice(&publish.payload).expect("JSON"),
            ),
            other => panic!("expected a publish, got {other:?}"),
        }
    }
}

fn downstream(id: &str, event: &str) -> Value {
    json!({"v": 1, "id": id, "ts": 1, "expires_at": 2, "event": event, "call": "c-1"})
}

#[test]
fn a_device_deduplicates_counts_and_survives_a_reconnect() {
    let broker = Mosquitto::start(&MosquittoOptions::default()).expect("mosquitto starts");
    let parents = Parents::default();
    let service = ServiceSide::connect(&broker);
    let mut device = Device::connect(DeviceConfig {
        client_id: CLIENT_ID.to_owned(),
        mqtt_port: broker.port(),
        parents: parents.clone(),
    })
    .expect("device connects");

    let first = downstream("e-1", "call.invitation");
    service.publish(&parents.downstream_topic(CLIENT_ID), &first);
    service.publish(&parents.downstream_topic(CLIENT_ID), &first);
    let received = device.expect("call.invitation", WAIT).expect("delivered");
    assert_eq!(received.id(), "e-1");
    assert_eq!(received.channel(), Channel::Signaling);
    device
        .expect_none(QUIET)
        .expect("the repeat is not handed out");
    assert_eq!(device.deliveries_of("call.invitation"), 2);
    assert_eq!(device.duplicates(), 1);

    device.disconnect().expect("disconnects");
    assert!(!device.is_connected());
    service.publish(&parents.bulk_topic(CLIENT_ID), &downstream("e-2", "sync"));
    assert!(device.reconnect().expect("reconnects"), "session resumed");
    let queued = device.expect("sync", WAIT).expect("queued message");
    assert_eq!(queued.channel(), Channel::Bulk);
    let missing = device.expect("call.ended", Duration::from_millis(100));
    assert!(missing.is_err(), "nothing else was sent");

    service.subscribe(&format!("{}/#", parents.upstream));
    let sent = device
        .publish(json!({"op": "accept", "call": "c-1"}))
        .expect("publishes");
    let (topic, message) = service.next_message();
    assert_eq!(topic, parents.upstream_topic(CLIENT_ID));
    assert_eq!(message["id"], sent.as_str());
    assert_eq!(message["v"], 1);
    assert_eq!(message["op"], "accept");
    assert!(message["ts"].as_i64().is_some_and(|ts| ts > 0));
}
