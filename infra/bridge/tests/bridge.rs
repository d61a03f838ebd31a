//! End-to-end tests of the bridge binary against a real Mosquitto, a real
//! webhook receiver and real MQTT clients.

mod support;

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;

use support::{
    free_port, ApiClient, Auth, BridgeProcess, Device, Mosquitto, WebhookReceiver, API_KEY,
    WEBHOOK_SECRET, WEBHOOK_TOKEN,
};

const DEVICE: &str = "GID_test@@@dev1";
const UPSTREAM_TOPIC: &str = "sig-up/GID_test@@@dev1";
const DOWN_TOPIC: &str = "sig-dn/p2p/GID_test@@@dev2";

fn is_guid(value: &Value) -> bool {
    value.as_str().is_some_and(|id| {
        id.len() == 32
            && id
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
    })
}

fn now_ms() -> u64 {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis();
    u64::try_from(millis).expect("milliseconds fit")
}

// ------------------------------------------------------------------ upstream

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_the_emqx_event_with_bearer_auth() {
    let broker = Mosquitto::start();
    let webhook = WebhookReceiver::start(&[]).await;
    let bridge = BridgeProcess::start(broker.port, &webhook.url(), Auth::Bearer);
    let mut device = Device::connect(broker.port, DEVICE).await;

    let before = now_ms();
    device
        .publish(UPSTREAM_TOPIC, br#"{"v":1,"id":"m-1","op":"sync"}"#)
        .await;
    let request = webhook.wait_for(1).await.remove(0);
    let after = now_ms();

    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/v1/webhooks/mqtt");
    assert_eq!(request.headers["content-type"], "application/json");
    assert_eq!(
        request.headers["authorization"],
        format!("Bearer {WEBHOOK_TOKEN}").as_str()
    );
    assert!(request.headers.get("x-switchboard-signature").is_none());

    let event = request.json();
    let keys: BTreeSet<&str> = event
        .as_object()
        .expect("event is an object")
        .keys()
        .map(String::as_str)
        .collect();
    let expected_keys: BTreeSet<&str> = [
        "id",
        "clientid",
        "username",
        "topic",
        "payload",
        "qos",
        "flags",
        "pub_props",
        "peerhost",
        "timestamp",
        "publish_received_at",
        "node",
        "event",
        "metadata",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected_keys);
    assert!(is_guid(&event["id"]), "id {}", event["id"]);
    assert_eq!(event["clientid"], DEVICE);
    assert_eq!(event["username"], "undefined");
    assert_eq!(event["topic"], UPSTREAM_TOPIC);
    assert_eq!(event["payload"], r#"{"v":1,"id":"m-1","op":"sync"}"#);
    assert_eq!(event["qos"], 1);
    assert_eq!(event["flags"], json!({"retain": false, "dup": false}));
    assert_eq!(event["pub_props"], json!({"User-Property": {}}));
    assert_eq!(event["peerhost"], "undefined");
    assert_eq!(event["node"], "switchboard-bridge@127.0.0.1");
    assert_eq!(event["event"], "message.publish");
    assert_eq!(event["metadata"], json!({"rule_id": "switchboard-bridge"}));
    let timestamp = event["timestamp"].as_u64().expect("numeric timestamp");
    assert!((before..=after).contains(&timestamp));
    assert_eq!(event["publish_received_at"], event["timestamp"]);

    let stats = ApiClient::new(bridge.api)
        .wait_stat("webhook_delivered", 1)
        .await;
    assert_eq!(stats["webhook_retries"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_each_request_with_the_webhook_secret() {
    let broker = Mosquitto::start();
    let webhook = WebhookReceiver::start(&[]).await;
    let _bridge = BridgeProcess::start(broker.port, &webhook.url(), Auth::Signature);
    let mut device = Device::connect(broker.port, DEVICE).await;

    device.publish(UPSTREAM_TOPIC, b"\xffnot utf-8").await;
    let request = webhook.wait_for(1).await.remove(0);

    assert!(request.headers.get("authorization").is_none());
    let header = request.headers["x-switchboard-signature"]
        .to_str()
        .expect("ASCII signature");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .expect("t=<unix>,v1=<hex>");
    let t: u64 = t.parse().expect("numeric t");
    assert!(now_ms() / 1000 - t <= 300, "fresh timestamp");
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(&request.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected);
    // Invalid UTF-8 is replaced, as EMQX's force_utf8 does.
    assert_eq!(request.json()["payload"], "\u{FFFD}not utf-8");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_503_and_delivers_once_with_the_same_id_keeping_order() {
    let broker = Mosquitto::start();
    let webhook = WebhookReceiver::start(&[503]).await;
    let bridge = BridgeProcess::start(broker.port, &webhook.url(), Auth::Bearer);
    let mut device = Device::connect(broker.port, DEVICE).await;

    device.publish(UPSTREAM_TOPIC, b"first").await;
    device.publish(UPSTREAM_TOPIC, b"second").await;
    let api = ApiClient::new(bridge.api);
    let stats = api.wait_stat("webhook_delivered", 2).await;
    assert_eq!(stats["webhook_retries"], 1);
    assert_eq!(stats["webhook_refused"], 0);

    let events: Vec<Value> = webhook.received().iter().map(|r| r.json()).collect();
    let payloads: Vec<&str> = events
        .iter()
        .filter_map(|e| e["payload"].as_str())
        .collect();
    assert_eq!(payloads, ["first", "first", "second"]);
    assert_eq!(events[0], events[1], "a retry resends the identical event");
    assert_ne!(events[1]["id"], events[2]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrecoverable_status_is_not_retried() {
    let broker = Mosquitto::start();
    let webhook = WebhookReceiver::start(&[400]).await;
    let bridge = BridgeProcess::start(broker.port, &webhook.url(), Auth::Bearer);
    let mut device = Device::connect(broker.port, DEVICE).await;

    device.publish(UPSTREAM_TOPIC, b"refused").await;
    device.publish(UPSTREAM_TOPIC, b"accepted").await;
    // Same publisher, so "accepted" is only sent once "refused" is settled:
    // a retry of "refused" would show up before it.
    let stats = ApiClient::new(bridge.api)
        .wait_stat("webhook_delivered", 1)
        .await;
    assert_eq!(stats["webhook_refused"], 1);
    assert_eq!(stats["webhook_retries"], 0);
    let payloads: Vec<String> = webhook
        .received()
        .iter()
        .filter_map(|r| r.json()["payload"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(payloads, ["refused", "accepted"]);
    assert!(
        bridge.log().contains("status=400"),
        "the refusal is logged with its status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivers_once_the_webhook_comes_up() {
    let broker = Mosquitto::start();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/v1/webhooks/mqtt");
    let bridge = BridgeProcess::start(broker.port, &url, Auth::Bearer);
    let mut device = Device::connect(broker.port, DEVICE).await;

    device.publish(UPSTREAM_TOPIC, b"patience").await;
    let api = ApiClient::new(bridge.api);
    api.wait_stat("webhook_retries", 2).await;
    assert_eq!(api.stats().await["webhook_delivered"], 0);

    let webhook = WebhookReceiver::start_on(port, &[]).await;
    api.wait_stat("webhook_delivered", 1).await;
    let received = webhook.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["payload"], "patience");
}

/// The webhook fails while the bridge runs; the bridge goes away (by
/// `signal`) and a new one delivers the message the broker kept.
async fn survives_a_bridge_stop(signal: libc::c_int) {
    let broker = Mosquitto::start();
    let webhook = WebhookReceiver::start(&[]).await;
    webhook.answer_from_now_on(503);
    let mut first = BridgeProcess::start(broker.port, &webhook.url(), Auth::Bearer);
    let mut device = Device::connect(broker.port, DEVICE).await;

    device.publish(UPSTREAM_TOPIC, b"keep me").await;
    webhook.wait_for(1).await;
    let status = first.stop_with(signal);
    if signal == libc::SIGTERM {
        assert!(
            status.success(),
            "clean exit on SIGTERM: {status}\n{}",
            first.log()
        );
    }
    let attempts_before_restart = webhook.received().len();

    webhook.answer_from_now_on(200);
    let second = BridgeProcess::start(broker.port, &webhook.url(), Auth::Bearer);
    let api = ApiClient::new(second.api);
    api.wait_stat("webhook_delivered", 1).await;
    let received = webhook.received();
    let redelivered = received[attempts_before_restart..]
        .iter()
        .map(|r| r.json())
        .collect::<Vec<_>>();
    assert_eq!(redelivered.len(), 1, "{redelivered:?}");
    assert_eq!(redelivered[0]["payload"], "keep me");
    assert_eq!(redelivered[0]["clientid"], DEVICE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_bridge_leaves_undelivered_messages_to_the_broker() {
    survives_a_bridge_stop(libc::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_bridge_loses_nothing() {
    survives_a_bridge_stop(libc::SIGKILL).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_both_directions_after_the_broker_restarts() {
    let mut broker = Mosquitto::start();
    let webhook = WebhookReceiver::start(&[]).await;
    let bridge = BridgeProcess::start(broker.port, &webhook.url(), Auth::Bearer);
    broker.restart();

    // The restarted broker lost every session: the bridge must reconnect and
    // subscribe again on its own.
    let mut device = Device::connect(broker.port, DEVICE).await;
    let mut subscriber = Device::connect(broker.port, "GID_test@@@dev2").await;
    subscriber.subscribe("sig-dn/p2p/#").await;
    let api = ApiClient::new(bridge.api);
    let message = json!({"topic": DOWN_TOPIC, "payload": "after restart", "qos": 1});
    let started = std::time::Instant::now();
    loop {
        let (status, _) = api.post("/api/v5/publish", &message).await;
        if status == StatusCode::OK {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            started.elapsed() < support::DEADLINE,
            "publishing never recovered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        &subscriber.next_message().await.payload[..],
        b"after restart"
    );

    let log_has_resubscribed = || {
        bridge
            .log()
            .matches("upstream subscription confirmed")
            .count()
            >= 2
    };
    support::eventually("the bridge to subscribe again", log_has_resubscribed).await;
    device.publish(UPSTREAM_TOPIC, b"up again").await;
    api.wait_stat("webhook_delivered", 1).await;
    assert_eq!(webhook.received()[0].json()["payload"], "up again");
}

// ---------------------------------------------------------------- downstream

async fn downstream_setup() -> (Mosquitto, WebhookReceiver, BridgeProcess, Device) {
    let broker = Mosquitto::start();
    let webhook = WebhookReceiver::start(&[]).await;
    let bridge = BridgeProcess::start(broker.port, &webhook.url(), Auth::Bearer);
    let mut subscriber = Device::connect(broker.port, "GID_test@@@dev2").await;
    subscriber.subscribe("sig-dn/p2p/#").await;
    (broker, webhook, bridge, subscriber)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_plain_and_base64_payloads_to_a_real_subscriber() {
    let (_broker, _webhook, bridge, mut subscriber) = downstream_setup().await;
    let api = ApiClient::new(bridge.api);

    let (status, body) = api
        .post(
            "/api/v5/publish",
            &json!({"topic": DOWN_TOPIC, "payload": "{\"v\":1}", "qos": 1,
                    "properties": {"message_expiry_interval": 30}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(is_guid(&body["id"]), "{body}");
    let message = subscriber.next_message().await;
    assert_eq!(message.topic, DOWN_TOPIC);
    assert_eq!(&message.payload[..], b"{\"v\":1}");

    let (status, body) = api
        .post(
            "/api/v5/publish",
            &json!({"topic": DOWN_TOPIC, "payload": "AAEC/w==", "payload_encoding": "base64", "qos": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(&subscriber.next_message().await.payload[..], [0, 1, 2, 255]);

    let stats = api.stats().await;
    assert_eq!(stats["published"], 2);
    assert_eq!(stats["publish_failures"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejects_invalid_requests_like_emqx_and_publishes_nothing() {
    let (_broker, _webhook, bridge, mut subscriber) = downstream_setup().await;
    let api = ApiClient::new(bridge.api);
    let topic_invalid = json!({"reason_code": 144, "message": "topic_name_invalid"});

    for topic in ["", "sig-dn/+/x", "sig-dn/#"] {
        let (status, body) = api
            .post("/api/v5/publish", &json!({"topic": topic, "payload": "x"}))
            .await;
        assert_eq!(
            (status, &body),
            (StatusCode::BAD_REQUEST, &topic_invalid),
            "{topic:?}"
        );
    }
    let long_topic = "a".repeat(65_536);
    let (status, body) = api
        .post(
            "/api/v5/publish",
            &json!({"topic": long_topic, "payload": "x"}),
        )
        .await;
    assert_eq!((status, &body), (StatusCode::BAD_REQUEST, &topic_invalid));

    let (status, body) = api
        .post(
            "/api/v5/publish",
            &json!({"topic": DOWN_TOPIC, "payload": "not base64!", "payload_encoding": "base64"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason_code"], 131);

    let (status, body) = api
        .call(
            Method::POST,
            "/api/v5/publish",
            Some((API_KEY, support::API_SECRET)),
            "{".into(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["reason_code"], 131);

    let (status, _) = api.post("/api/v5/publish/bulk", &json!([])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let credentials = Some((API_KEY, support::API_SECRET));
    let (status, _) = api
        .call(Method::GET, "/api/v5/publish", credentials, String::new())
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = api
        .call(Method::POST, "/api/v5/nothing", credentials, "{}".into())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // One bad message rejects the whole bulk before anything is published.
    let (status, body) = api
        .post(
            "/api/v5/publish/bulk",
            &json!([{"topic": DOWN_TOPIC, "payload": "must not arrive", "qos": 1},
                    {"topic": "bad/#", "payload": "x"}]),
        )
        .await;
    assert_eq!((status, &body), (StatusCode::BAD_REQUEST, &topic_invalid));

    let (status, _) = api
        .post(
            "/api/v5/publish",
            &json!({"topic": DOWN_TOPIC, "payload": "marker", "qos": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&subscriber.next_message().await.payload[..], b"marker");
    assert_eq!(api.stats().await["published"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_missing_or_wrong_credentials() {
    let (_broker, _webhook, bridge, _subscriber) = downstream_setup().await;
    let api = ApiClient::new(bridge.api);
    let body = json!({"topic": DOWN_TOPIC, "payload": "x"}).to_string();
    let cases = [
        ("/api/v5/publish", None),
        ("/api/v5/publish", Some((API_KEY, "wrong-secret"))),
        ("/api/v5/publish", Some(("wrong-key", support::API_SECRET))),
        ("/_bridge/faults", None),
        ("/_bridge/stats", None),
    ];
    for (path, credentials) in cases {
        let method = if path == "/_bridge/stats" {
            Method::GET
        } else {
            Method::POST
        };
        let (status, answer) = api.call(method, path, credentials, body.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path} {credentials:?}");
        assert_eq!(answer["code"], "BAD_API_KEY_OR_SECRET");
    }
    assert_eq!(api.stats().await["published"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_switch_fails_a_single_publish_then_clears() {
    let (_broker, _webhook, bridge, mut subscriber) = downstream_setup().await;
    let api = ApiClient::new(bridge.api);
    let message = json!({"topic": DOWN_TOPIC, "payload": "x", "qos": 1});

    let (status, plan) = api
        .post("/_bridge/faults", &json!({"publish_failures": 2}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(plan, json!({"publish_failures": 2, "after": 0}));
    let (status, body) = api.post("/api/v5/publish", &message).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"reason_code": 131, "message": "failed_to_dispatch"})
    );

    let (status, _) = api
        .post("/_bridge/faults", &json!({"publish_failures": 0}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.post("/api/v5/publish", &message).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&subscriber.next_message().await.payload[..], b"x");
    let stats = api.stats().await;
    assert_eq!(
        (
            stats["published"].as_u64(),
            stats["publish_failures"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_reports_which_messages_the_broker_accepted() {
    let (_broker, _webhook, bridge, mut subscriber) = downstream_setup().await;
    let api = ApiClient::new(bridge.api);
    let (status, _) = api
        .post(
            "/_bridge/faults",
            &json!({"publish_failures": 1, "after": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let bulk = json!([
        {"topic": "sig-dn/p2p/a", "payload": "1", "qos": 1},
        {"topic": "sig-dn/p2p/b", "payload": "2", "qos": 1},
        {"topic": "sig-dn/p2p/c", "payload": "3", "qos": 1},
    ]);
    let (status, results) = api.post("/api/v5/publish/bulk", &bulk).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{results}");
    let results = results.as_array().expect("one result per message").clone();
    assert_eq!(results.len(), 3);
    assert!(
        is_guid(&results[0]["id"]) && is_guid(&results[2]["id"]),
        "{results:?}"
    );
    assert_eq!(
        results[1],
        json!({"reason_code": 131, "message": "failed_to_dispatch"})
    );

    // The caller retries only the failed message.
    let (status, retried) = api.post("/api/v5/publish/bulk", &json!([bulk[1]])).await;
    assert_eq!(status, StatusCode::OK);
    assert!(is_guid(&retried[0]["id"]), "{retried}");

    let mut payloads = Vec::new();
    for _ in 0..3 {
        payloads.push(subscriber.next_message().await.payload.to_vec());
    }
    assert_eq!(payloads, [b"1".to_vec(), b"3".to_vec(), b"2".to_vec()]);
    let stats = api.stats().await;
    assert_eq!(
        (
            stats["published"].as_u64(),
            stats["publish_failures"].as_u64()
        ),
        (Some(3), Some(1))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_503_while_the_broker_is_down() {
    let (mut broker, _webhook, bridge, _subscriber) = downstream_setup().await;
    let api = ApiClient::new(bridge.api);
    broker.kill();

    // Whether the bridge already noticed (refused at once) or not (no
    // acknowledgement comes), the broker does not have the message: 503.
    let message = json!({"topic": DOWN_TOPIC, "payload": "x", "qos": 1});
    let (status, body) = api.post("/api/v5/publish", &message).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        body,
        json!({"reason_code": 131, "message": "failed_to_dispatch"})
    );
    let stats = api.stats().await;
    assert_eq!(
        (
            stats["published"].as_u64(),
            stats["publish_failures"].as_u64()
        ),
        (Some(0), Some(1))
    );
}
