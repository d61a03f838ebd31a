//! The broker's ACL is what makes the upstream topic a trustworthy sender
//! identity: a device may publish only to `sig-up/<its client ID>` and read
//! only its own downstream topics; the bridge user reads and writes the rest.
//!
//! "Not delivered" is shown without waiting for a timeout: after the
//! forbidden message, an allowed one follows on the same path, and the
//! receiver must see the allowed one without the forbidden one before it.

mod support;

use rumqttc::{ConnectReturnCode, QoS, SubscribeReasonCode};
use support::Probe;
use switchboard_dev::stack::{Mosquitto, MosquittoOptions, Parents, BRIDGE_USERNAME};

const A: &str = "GID_test@@@device-a";
const B: &str = "GID_test@@@device-b";
const C: &str = "GID_test@@@device-c";

fn broker() -> Mosquitto {
    Mosquitto::start(&MosquittoOptions::default()).expect("mosquitto starts")
}

fn bridge(broker: &Mosquitto) -> Probe {
    Probe::connect(
        broker.port(),
        "bridge-probe",
        Some((BRIDGE_USERNAME, broker.bridge_password())),
    )
}

#[test]
fn a_device_publishes_only_to_its_own_upstream_topic() {
    let broker = broker();
    let parents = Parents::default();
    let mut bridge = bridge(&broker);
    assert_eq!(
        bridge.subscribe("sig-up/#"),
        SubscribeReasonCode::Success(QoS::AtLeastOnce)
    );
    // Another device listening on all upstream traffic must hear nothing.
    let mut eavesdropper = Probe::connect(broker.port(), C, None);
    eavesdropper.subscribe("sig-up/#");
    eavesdropper.subscribe(&parents.downstream_topic(C));

    let mut device = Probe::connect(broker.port(), A, None);
    device.publish(&parents.upstream_topic(B), "forged");
    device.publish(&parents.upstream_topic(A), "genuine");
    bridge.publish(&parents.downstream_topic(C), "sentinel");

    assert_eq!(
        bridge.messages_until("genuine"),
        [(parents.upstream_topic(A), "genuine".to_owned())]
    );
    assert_eq!(
        eavesdropper.messages_until("sentinel"),
        [(parents.downstream_topic(C), "sentinel".to_owned())]
    );
}

#[test]
fn a_device_reads_only_its_own_downstream_topics() {
    let broker = broker();
    let parents = Parents::default();
    let mut owner = Probe::connect(broker.port(), A, None);
    owner.subscribe(&parents.downstream_topic(A));
    owner.subscribe(&parents.bulk_topic(A));

    // Mosquitto may grant these subscriptions; what matters is that no
    // message of A's ever reaches B through them.
    let mut other = Probe::connect(broker.port(), B, None);
    other.subscribe(&parents.downstream_topic(A));
    other.subscribe(&parents.bulk_topic(A));
    other.subscribe("sig-dn/#");
    other.subscribe(&parents.downstream_topic(B));

    let mut bridge = bridge(&broker);
    bridge.publish(&parents.downstream_topic(A), "for-a");
    bridge.publish(&parents.bulk_topic(A), "bulk-for-a");
    bridge.publish(&parents.downstream_topic(B), "sentinel");

    assert_eq!(
        owner.messages_until("bulk-for-a"),
        [
            (parents.downstream_topic(A), "for-a".to_owned()),
            (parents.bulk_topic(A), "bulk-for-a".to_owned()),
        ]
    );
    let seen_by_b = other.messages_until("sentinel");
    assert!(
        seen_by_b
            .iter()
            .all(|(topic, payload)| payload == "sentinel" && *topic == parents.downstream_topic(B)),
        "B saw {seen_by_b:?}"
    );
}

#[test]
fn a_device_cannot_write_downstream_topics() {
    let broker = broker();
    let parents = Parents::default();
    let mut victim = Probe::connect(broker.port(), B, None);
    victim.subscribe(&parents.downstream_topic(B));

    // The broker has routed the forged message (or dropped it) by the time
    // it acknowledges it, so the bridge's sentinel is queued after it.
    let mut attacker = Probe::connect(broker.port(), A, None);
    attacker.publish(&parents.downstream_topic(B), "forged");
    bridge(&broker).publish(&parents.downstream_topic(B), "sentinel");

    assert_eq!(
        victim.messages_until("sentinel"),
        [(parents.downstream_topic(B), "sentinel".to_owned())]
    );
}

#[test]
fn the_bridge_user_needs_its_password() {
    let broker = broker();
    let code = Probe::connect_refused(broker.port(), "impostor", (BRIDGE_USERNAME, "wrong"));
    assert!(
        matches!(
            code,
            ConnectReturnCode::BadUserNamePassword | ConnectReturnCode::NotAuthorized
        ),
        "{code:?}"
    );
}
