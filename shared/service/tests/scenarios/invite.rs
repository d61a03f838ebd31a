//! The invite pipeline: the call record, the fan-out to the right topics
//! with tokens, deduplication of redeliveries, the in-progress lease and
//! its takeover, and retries after partial broker failures.

use crate::support::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// alice (alice1, alice2), bob (bob1, bob2), carol (carol1).
fn setup() -> Harness {
    let h = Harness::new();
    for (user, device) in [
        ("alice", "alice1"),
        ("alice", "alice2"),
        ("bob", "bob1"),
        ("bob", "bob2"),
        ("carol", "carol1"),
    ] {
        h.register(user, device);
    }
    h
}

fn invite_fields() -> Value {
    json!({"op": "invite", "to": ["bob", "carol"], "media": "video", "meta": {"topic": "standup"}})
}

fn ids(messages: &[Published]) -> BTreeSet<String> {
    messages.iter().map(|m| m.id().to_owned()).collect()
}

#[test]
fn an_invite_creates_the_call_and_rings_every_device() {
    let h = setup();
    let now = h.now();
    h.op_ok("alice1", "m-inv", invite_fields());
    let published = h.p.broker.published();
    let call = published[0].call().expect("call id").to_owned();
    assert_eq!(
        call,
        switchboard_calls::call_id_for_invite(
            &switchboard_protocol::ClientId::parse(&cid("alice1")).unwrap(),
            &switchboard_protocol::MessageId::parse("m-inv").unwrap()
        )
        .as_str(),
        "the call ID derives from the inviting message"
    );
    let mut by_device: Vec<(String, String)> = published
        .iter()
        .map(|m| (m.device().to_owned(), m.event().to_owned()))
        .collect();
    by_device.sort();
    assert_eq!(
        by_device,
        vec![
            ("alice1".into(), "call.created".into()),
            ("bob1".into(), "call.invitation".into()),
            ("bob2".into(), "call.invitation".into()),
            ("carol1".into(), "call.invitation".into()),
        ],
        "nothing for alice2, which did not invite"
    );
    for m in &published {
        assert_eq!(m.topic, format!("sig-dn/p2p/{}", m.client()));
        assert_eq!(m.payload["v"], 1);
        assert_eq!(m.payload["call"], call.as_str());
        assert_eq!(m.payload["in_reply_to"], "m-inv");
        assert_eq!(m.payload["ts"], now);
        assert!(m.id().starts_with("e-"));
        let rtc = if m.event() == "call.created" {
            assert_eq!(m.payload["to"], json!(["bob", "carol"]));
            assert_eq!(m.payload["media"], "video");
            &m.payload["rtc"]
        } else {
            assert_eq!(m.payload["from"], "alice");
            assert_eq!(m.payload["participants"], json!(["alice", "bob", "carol"]));
            assert_eq!(m.payload["meta"], json!({"topic": "standup"}));
            assert_eq!(
                m.payload["expires_at"],
                now + 30_000,
                "an invitation expires at its ring deadline"
            );
            assert_eq!(m.expiry_seconds, Some(30));
            &m.payload["rtc"]
        };
        let user = m.device().trim_end_matches(char::is_numeric);
        assert_eq!(rtc["provider"], "aliyun");
        assert_eq!(rtc["app_id"], "test-app");
        assert_eq!(rtc["channel"], call.as_str(), "the channel is the call");
        assert_eq!(rtc["user_id"], user, "a token for the device's own user");
        assert!(rtc["token"].as_str().is_some_and(|t| t.len() > 20), "{rtc}");
        assert!(rtc["join_token"].as_str().is_some_and(|t| !t.is_empty()));
    }
    assert_eq!(ids(&published).len(), published.len(), "IDs are unique");

    let stored = h.call_record(&call);
    assert_eq!(stored.host.as_str(), "alice");
    assert!(stored.outbox.is_empty(), "everything was delivered");
    assert_eq!(h.state_of(&call, "alice"), "joined");
    assert_eq!(h.state_of(&call, "bob"), "invited");
    assert_eq!(h.state_of(&call, "carol"), "invited");

    let view = h.admin("GET", &format!("/v1/calls/{call}"));
    assert_eq!(view.status, 200);
    assert_eq!(view.json["state"], "ringing");
    assert_eq!(view.json["pending_messages"], 0);
    let bob = h.admin("GET", "/v1/users/bob");
    assert_eq!(
        bob.json["calls"],
        json!([{"call": call, "state": "invited", "host": "alice"}])
    );
}

#[test]
fn a_redelivered_invite_is_a_duplicate_with_no_new_publishes() {
    let h = setup();
    let envelope = h.op_ok("alice1", "m-inv", invite_fields());
    let requests = h.p.broker.request_count();
    let before = h.p.kv.dump();
    for _ in 0..3 {
        let r = h.deliver(&envelope);
        assert_eq!(r.status, 200);
        assert_eq!(r.result().0, "duplicate");
    }
    // Even much later, while the dedup window lasts.
    h.p.advance(50_000);
    assert_eq!(h.deliver(&envelope).result().0, "duplicate");
    assert_eq!(h.p.broker.request_count(), requests, "nothing re-sent");
    assert_eq!(h.p.kv.dump(), before);
    assert_eq!(h.p.kv.keys("call/").len(), 1);
}

#[test]
fn a_concurrent_duplicate_is_told_to_retry() {
    let h = setup();
    let envelope = envelope(
        "alice1",
        "m-inv",
        &upstream("m-inv", h.now(), invite_fields()),
    );
    // The first delivery stops just before writing the call record.
    let gate = h.p.kv.pause_before(KvOp::Set, "call/");
    std::thread::scope(|s| {
        let first = s.spawn(|| h.deliver(&envelope));
        gate.wait_reached();
        let second = h.deliver(&envelope);
        assert_eq!(second.status, 503, "{}", second.text);
        assert_eq!(second.error_code(), "in_progress");
        assert_eq!(second.header("retry-after"), Some("1"));
        assert_eq!(
            h.p.broker.request_count(),
            0,
            "the duplicate published nothing"
        );
        gate.release();
        let first = first.join().expect("first delivery");
        assert_eq!(first.status, 200, "{}", first.text);
        assert_eq!(first.result().0, "processed");
    });
    assert_eq!(h.deliver(&envelope).result().0, "duplicate");
    let invitations =
        h.p.broker
            .published()
            .iter()
            .filter(|m| m.event() == "call.invitation")
            .count();
    assert_eq!(invitations, 3, "rung once");
}

#[test]
fn a_stalled_invite_is_taken_over_after_the_lease() {
    let h = setup();
    // The instance handling the invite dies before writing the call.
    h.p.kv.fail_next(KvOp::Set, "call/", 1);
    let (envelope, r) = h.send_op("alice1", "m-inv", invite_fields());
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.error_code(), "storage_unavailable");
    assert!(h.p.kv.keys("call/").is_empty());
    assert!(h.p.broker.published().is_empty());

    // The broker retries at once: the lease still stands.
    let r = h.deliver(&envelope);
    assert_eq!(r.status, 503);
    assert_eq!(r.error_code(), "in_progress");
    h.p.advance(switchboard_service_lease());
    let r = h.deliver(&envelope);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result().0, "processed", "taken over");
    let published = h.p.broker.published();
    assert_eq!(published.len(), 4, "created + 3 invitations, once");
    assert_eq!(h.deliver(&envelope).result().0, "duplicate");
    // Bob and carol are held by the call, not by a leftover claim.
    let call = published[0].call().unwrap().to_owned();
    assert_eq!(h.state_of(&call, "bob"), "invited");
}

/// The in-progress lease of the service (10 s), plus one millisecond.
fn switchboard_service_lease() -> i64 {
    10_001
}

#[test]
fn partial_fan_out_failure_is_retried_for_exactly_the_missing_messages() {
    let h = setup();
    h.p.broker
        .script(Reply::FailWhere(Box::new(|m: &Published| {
            m.device() == "bob2" || m.event() == "call.created"
        })));
    let (envelope, r) = h.send_op("alice1", "m-inv", invite_fields());
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.error_code(), "broker_unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));
    let first = h.p.broker.attempts();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].status, Some(503));
    let failed: BTreeSet<String> = first[0]
        .messages
        .iter()
        .zip(&first[0].accepted)
        .filter(|(_, ok)| !**ok)
        .map(|(m, _)| m.id().to_owned())
        .collect();
    assert_eq!(failed.len(), 2);
    let delivered = ids(&h.p.broker.published());
    assert_eq!(delivered.len(), 2, "bob1 and carol1 got theirs");

    let call = h.p.kv.keys("call/")[0]
        .trim_start_matches("call/")
        .to_owned();
    let pending: BTreeSet<String> = h
        .call_record(&call)
        .outbox
        .iter()
        .map(|m| m.message.id.clone())
        .collect();
    assert_eq!(
        pending, failed,
        "exactly the unaccepted messages wait in the outbox"
    );

    let r = h.deliver(&envelope);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result().0, "duplicate");
    let attempts = h.p.broker.attempts();
    assert_eq!(attempts.len(), 2);
    let retried = ids(&attempts[1].messages);
    assert_eq!(
        retried, failed,
        "the retry sends only what was missing, same IDs"
    );
    // The re-sent payloads are the very ones first attempted.
    for m in &attempts[1].messages {
        let original = first[0].messages.iter().find(|o| o.id() == m.id()).unwrap();
        assert_eq!(m, original);
    }
    assert!(h.call_record(&call).outbox.is_empty());
    let all = h.p.broker.published();
    assert_eq!(all.len(), 4);
    assert_eq!(ids(&all).len(), 4, "nobody got a message twice");
    assert_eq!(h.deliver(&envelope).result().0, "duplicate");
    assert_eq!(h.p.broker.request_count(), 2);
}

#[test]
fn broker_outages_keep_the_messages_for_the_retry() {
    for reply in [
        Reply::Transport,
        Reply::Status(401, r#"{"code":"BAD_API_KEY_OR_SECRET"}"#.into()),
        Reply::Status(500, "oops".into()),
        Reply::FailWhere(Box::new(|_| true)),
    ] {
        let h = setup();
        h.p.broker.script(reply);
        let (envelope, r) = h.send_op("alice1", "m-inv", invite_fields());
        assert_eq!(r.status, 503, "{}", r.text);
        assert_eq!(r.error_code(), "broker_unavailable");
        assert!(h.p.broker.published().is_empty());
        let r = h.deliver(&envelope);
        assert_eq!(r.result().0, "duplicate", "{}", r.text);
        assert_eq!(h.p.broker.published().len(), 4);
        assert_eq!(ids(&h.p.broker.published()).len(), 4);
    }
}

#[test]
fn a_rejected_batch_is_dropped_not_retried_forever() {
    // EMQX refuses a whole batch with 400 when a message is invalid: a retry
    // could never succeed, so the service logs it and moves on.
    let h = setup();
    h.p.broker.script(Reply::Status(
        400,
        r#"{"reason_code":144,"message":"topic_name_invalid"}"#.into(),
    ));
    let (envelope, r) = h.send_op("alice1", "m-inv", invite_fields());
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result().0, "processed");
    let call = h.p.kv.keys("call/")[0]
        .trim_start_matches("call/")
        .to_owned();
    assert!(h.call_record(&call).outbox.is_empty());
    assert_eq!(h.deliver(&envelope).result().0, "duplicate");
    assert_eq!(h.p.broker.request_count(), 1);
}

#[test]
fn offline_devices_without_sessions_are_not_retried() {
    let h = setup();
    h.p.broker.script(Reply::NoSubscribers);
    let (envelope, r) = h.send_op("alice1", "m-inv", invite_fields());
    assert_eq!(r.result().0, "processed", "{}", r.text);
    assert_eq!(h.deliver(&envelope).result().0, "duplicate");
    assert_eq!(h.p.broker.request_count(), 1);
}

#[test]
fn a_failed_outbox_cleanup_re_sends_with_the_same_ids() {
    // The broker took everything but the store failed to note it: the
    // retry re-sends (devices deduplicate on the IDs), never new IDs.
    let h = setup();
    h.p.kv.fail_next(KvOp::Cas, "call/", 1);
    let (envelope, r) = h.send_op("alice1", "m-inv", invite_fields());
    assert_eq!((r.status, r.error_code()), (503, "storage_unavailable"));
    let first = ids(&h.p.broker.published());
    assert_eq!(first.len(), 4);
    let r = h.deliver(&envelope);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(ids(&h.p.broker.published()), first, "same IDs only");
    let call = h.p.kv.keys("call/")[0]
        .trim_start_matches("call/")
        .to_owned();
    assert!(h.call_record(&call).outbox.is_empty());
}

#[test]
fn invite_survives_store_failures_at_every_write() {
    // Fail the n-th write of the pipeline, for every n, then let the broker
    // retry: the call always ends up created once, with every device rung
    // once per message ID and no claim left behind.
    for n in 0.. {
        let h = setup();
        h.p.kv.fail_nth_write(n);
        let (envelope, first) = h.send_op("alice1", "m-inv", invite_fields());
        h.p.kv.clear_faults();
        if h.p.kv.injected_failures() == 0 {
            assert!(
                n >= 4,
                "the pipeline writes at least the claims and the call"
            );
            assert_eq!(first.result().0, "processed");
            break;
        }
        let mut r = first;
        for _ in 0..4 {
            if r.status == 200 {
                break;
            }
            assert_eq!(r.status, 503, "write {n}: {}", r.text);
            if r.error_code() == "in_progress" {
                h.p.advance(switchboard_service_lease());
            }
            r = h.deliver(&envelope);
        }
        assert_eq!(r.status, 200, "write {n}: {}", r.text);
        let calls = h.p.kv.keys("call/");
        assert_eq!(calls.len(), 1, "write {n}");
        let call = calls[0].trim_start_matches("call/").to_owned();
        assert_eq!(h.state_of(&call, "bob"), "invited", "write {n}");
        assert_eq!(h.state_of(&call, "carol"), "invited", "write {n}");
        assert!(h.call_record(&call).outbox.is_empty(), "write {n}");
        let published = h.p.broker.published();
        let unique = ids(&published);
        assert_eq!(unique.len(), 4, "write {n}: {published:?}");
        for user in ["alice", "bob", "carol"] {
            let record = h.p.kv.json(&format!("user/{user}")).unwrap();
            let refs: Vec<&Value> = record["calls"].as_array().unwrap().iter().collect();
            assert_eq!(refs.len(), 1, "write {n}: {user} {record}");
            assert_eq!(refs[0]["call"], call.as_str());
        }
    }
}
