//! Malformed, stale, misaddressed and unknown input: every contract error
//! code the webhook can answer, each leaving the stored state untouched.

use crate::support::*;
use serde_json::{json, Value};

fn setup() -> Harness {
    let h = Harness::new();
    h.register("alice", "alice1");
    h.register("bob", "bob1");
    h
}

/// Delivers `body`, asserting it changed no stored record, and returns the
/// response and what was published meanwhile.
fn unchanged(h: &Harness, body: &[u8]) -> (Resp, Vec<Published>) {
    let before = h.p.kv.dump();
    let mark = h.mark();
    let r = h.post_mqtt(body);
    assert_eq!(h.p.kv.dump(), before, "state changed by {}", r.text);
    (r, h.p.broker.published_since(mark))
}

#[test]
fn malformed_bodies_are_refused_whole() {
    let h = setup();
    let many = format!("[{}]", vec!["{}"; 101].join(","));
    let cases: Vec<(&[u8], u16, &str)> = vec![
        (b"\xff\xfe{}", 400, "invalid_json"),
        (b"{", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"\"text\"", 400, "invalid_envelope"),
        (b"null", 400, "invalid_envelope"),
        (b"[]", 400, "invalid_envelope"),
        (many.as_bytes(), 413, "payload_too_large"),
    ];
    for (body, status, code) in cases {
        let (r, published) = unchanged(&h, body);
        assert_eq!(r.status, status, "{}", r.text);
        assert_eq!(r.error_code(), code, "{}", r.text);
        assert!(published.is_empty());
    }
}

/// A refused event: its code, and the `error` event sent (if any).
fn refused(h: &Harness, event: &Value) -> (String, Option<Published>) {
    let (r, published) = unchanged(h, event.to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, code) = r.result();
    assert_eq!(status, "refused", "{}", r.text);
    let envelope_id = event["id"].as_str().unwrap_or("");
    assert_eq!(
        r.json["results"][0]["id"], envelope_id,
        "the result names the envelope"
    );
    assert!(published.len() <= 1, "{published:?}");
    (code.unwrap_or_default(), published.into_iter().next())
}

/// Asserts `event` is refused with `code` and answered by an `error` event
/// to `device` naming `in_reply_to`.
fn refused_with_error(
    h: &Harness,
    event: &Value,
    code: &str,
    device: &str,
    in_reply_to: Option<&str>,
) {
    let (got, error) = refused(h, event);
    assert_eq!(got, code, "{event}");
    let error = error.unwrap_or_else(|| panic!("no error event for {code}"));
    assert_eq!(error.topic, format!("sig-dn/p2p/{}", cid(device)));
    assert_eq!(error.event(), "error");
    assert_eq!(error.payload["code"], code);
    assert_eq!(
        error.payload["in_reply_to"].as_str(),
        in_reply_to,
        "{}",
        error.payload
    );
    assert!(error.payload["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[test]
fn broken_envelopes_are_refused_without_an_error_event() {
    let h = setup();
    let ok = envelope(
        "alice1",
        "m1",
        &upstream("m1", h.now(), json!({"op": "sync"})),
    );
    let mut no_client = ok.clone();
    no_client.as_object_mut().unwrap().remove("clientid");
    let mut payload_object = ok.clone();
    payload_object["payload"] = json!({"op": "sync"});
    let mut other_event = ok.clone();
    other_event["event"] = json!("client.connected");
    let mut no_id = ok.clone();
    no_id["id"] = json!(7);
    let mut huge = ok.clone();
    huge["payload"] = json!("x".repeat(16 * 1024 + 1));
    let mut bad_client = ok.clone();
    bad_client["clientid"] = json!("bogus");
    bad_client["topic"] = json!("sig-up/bogus");
    for (event, code) in [
        (no_client, "invalid_envelope"),
        (payload_object, "invalid_envelope"),
        (other_event, "invalid_envelope"),
        (no_id, "invalid_envelope"),
        (huge, "payload_too_large"),
        (bad_client, "invalid_client_id"),
    ] {
        let (got, error) = refused(&h, &event);
        assert_eq!(got, code, "{event}");
        assert!(error.is_none(), "no valid sender to tell: {error:?}");
    }
}

#[test]
fn misaddressed_events_are_wrong_topic() {
    let h = setup();
    let payload = upstream("m1", h.now(), json!({"op": "sync"}));
    let alice = cid("alice1");
    for topic in [
        format!("sig-up/{}", cid("bob1")),
        format!("sig-dn/{alice}"),
        format!("sig-up/{alice}/x"),
        format!("sig-upx/{alice}"),
        "sig-up/".to_owned(),
        "sig-up".to_owned(),
        format!("sig-dn/p2p/{alice}"),
    ] {
        let event = raw_envelope("env-1", &alice, &topic, &payload);
        // The envelope is all we trust; the message ID is not read yet.
        refused_with_error(&h, &event, "wrong_topic", "alice1", None);
    }
}

#[test]
fn invalid_messages_get_their_contract_code() {
    let h = setup();
    let now = h.now();
    let many: Vec<String> = (0..17).map(|i| format!("u{i}")).collect();
    let cases: Vec<(String, &str, Option<&str>)> = vec![
        ("nope".into(), "invalid_json", None),
        ("[1]".into(), "invalid_message", None),
        (
            json!({"id": "m", "ts": now, "op": "sync"}).to_string(),
            "invalid_message",
            Some("m"),
        ),
        (
            json!({"v": 2, "id": "m", "ts": now, "op": "sync"}).to_string(),
            "unsupported_version",
            Some("m"),
        ),
        (
            json!({"v": 1, "id": "bad id", "ts": now, "op": "sync"}).to_string(),
            "invalid_message",
            None,
        ),
        (
            json!({"v": 1, "id": "m", "ts": "now", "op": "sync"}).to_string(),
            "invalid_message",
            Some("m"),
        ),
        (
            upstream("m", now, json!({"op": "dance"})),
            "unknown_op",
            Some("m"),
        ),
        (
            upstream(
                "m",
                now,
                json!({"op": "invite", "to": ["b/c"], "media": "audio"}),
            ),
            "invalid_user_id",
            Some("m"),
        ),
        (
            upstream(
                "m",
                now,
                json!({"op": "invite", "to": many, "media": "audio"}),
            ),
            "too_many_invitees",
            Some("m"),
        ),
        (
            upstream(
                "m",
                now,
                json!({"op": "invite", "to": ["alice"], "media": "audio"}),
            ),
            "invalid_message",
            Some("m"),
        ),
        (
            upstream("m", now, json!({"op": "invite", "to": ["bob"]})),
            "invalid_message",
            Some("m"),
        ),
        (
            upstream(
                "m",
                now,
                json!({"op": "invite", "to": ["bob"], "media": "smell"}),
            ),
            "invalid_message",
            Some("m"),
        ),
        (
            upstream(
                "m",
                now,
                json!({"op": "invite", "to": ["bob"], "media": "audio", "meta": {"x": "y".repeat(2048)}}),
            ),
            "payload_too_large",
            Some("m"),
        ),
        (
            upstream(
                "m",
                now,
                json!({"op": "invite", "to": ["nobody", "ghost"], "media": "audio"}),
            ),
            "unknown_user",
            Some("m"),
        ),
        (
            upstream("m", now, json!({"op": "accept"})),
            "invalid_message",
            Some("m"),
        ),
        (
            upstream("m", now, json!({"op": "accept", "call": "../etc"})),
            "invalid_message",
            Some("m"),
        ),
        (
            upstream("m", now, json!({"op": "accept", "call": "c-nope"})),
            "unknown_call",
            Some("m"),
        ),
        (
            upstream(
                "m",
                now,
                json!({"op": "mute", "call": "c-nope", "user": "bob"}),
            ),
            "invalid_message",
            Some("m"),
        ),
    ];
    for (payload, code, in_reply_to) in cases {
        let event = envelope("alice1", "m", &payload);
        refused_with_error(&h, &event, code, "alice1", in_reply_to);
    }
}

#[test]
fn stale_and_future_messages_are_refused_at_the_limits() {
    let h = setup();
    let now = h.now();
    let sync = json!({"op": "sync"});
    for (ts, code) in [
        (now - 60_001, "stale_message"),
        (now + 30_001, "future_message"),
    ] {
        let event = envelope("alice1", "m", &upstream("m", ts, sync.clone()));
        refused_with_error(&h, &event, code, "alice1", Some("m"));
    }
    for (id, ts) in [("old", now - 59_000), ("new", now + 29_000)] {
        let event = envelope("alice1", id, &upstream(id, ts, sync.clone()));
        let r = h.deliver(&event);
        assert_eq!(r.result().0, "processed", "{}", r.text);
    }
}

#[test]
fn unregistered_devices_are_unknown() {
    let h = setup();
    let payload = upstream(
        "m",
        h.now(),
        json!({"op": "invite", "to": ["bob"], "media": "audio"}),
    );
    refused_with_error(
        &h,
        &envelope("ghost1", "m", &payload),
        "unknown_device",
        "ghost1",
        Some("m"),
    );
    assert!(h.p.kv.keys("call/").is_empty());
}

#[test]
fn one_bad_event_does_not_refuse_its_neighbours() {
    let h = setup();
    let good = envelope(
        "alice1",
        "g1",
        &upstream("g1", h.now(), json!({"op": "sync"})),
    );
    let bad = envelope("alice1", "b1", "nope");
    let body = json!([good, 5, bad, {"id": "x"}]);
    let r = h.post_mqtt(body.to_string().as_bytes());
    assert_eq!(r.status, 200, "{}", r.text);
    let results = r.results();
    let statuses: Vec<(&str, Option<&str>)> = results
        .iter()
        .map(|(s, c)| (s.as_str(), c.as_deref()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("processed", None),
            ("refused", Some("invalid_envelope")),
            ("refused", Some("invalid_json")),
            ("refused", Some("invalid_envelope")),
        ]
    );
    assert_eq!(r.json["results"][3]["id"], "x");
}

#[test]
fn corrupt_records_fail_safely() {
    // A record that no longer decodes is a storage fault (503, retried
    // later), never a panic and never overwritten by a guess.
    let h = setup();
    h.p.kv
        .put_raw(&format!("dev/{}", cid("alice1")), b"{not json");
    let (_, r) = h.send_op("alice1", "m1", json!({"op": "sync"}));
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.error_code(), "storage_unavailable");
    assert!(r.header("retry-after").is_some());
    assert_eq!(
        h.p.kv.raw(&format!("dev/{}", cid("alice1"))).unwrap(),
        b"{not json"
    );
}
