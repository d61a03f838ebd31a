//! Every upstream op through the webhook, ring deadlines (lazily and by
//! the expiry task), purging, `sync` and presence.

use crate::support::*;
use serde_json::json;
use switchboard_service::Surface;

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

/// Sorted `(device, event)` pairs published by running `f`.
fn events(h: &Harness, f: impl FnOnce()) -> Vec<(String, String)> {
    let mark = h.mark();
    f();
    let mut e = h.events_since(mark);
    e.sort();
    e
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(d, e)| ((*d).to_owned(), (*e).to_owned()))
        .collect()
}

/// alice calls bob and carol; bob answers on bob1.
fn active_call(h: &Harness) -> String {
    let call = h.invite("alice1", "inv", &["bob", "carol"]);
    h.op_ok("bob1", "acc", json!({"op": "accept", "call": call}));
    call
}

fn refused(h: &Harness, device: &str, id: &str, fields: serde_json::Value) -> String {
    let (_, r) = h.send_op(device, id, fields);
    assert_eq!(r.status, 200, "{}", r.text);
    let (status, code) = r.result();
    assert_eq!(status, "refused", "{}", r.text);
    code.unwrap_or_default()
}

#[test]
fn ringing_tells_the_inviter_once() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob"]);
    let e = events(&h, || {
        h.op_ok("bob2", "r1", json!({"op": "ringing", "call": call}));
    });
    assert_eq!(e, pairs(&[("alice1", "call.ringing")]));
    let e = events(&h, || {
        h.op_ok("bob1", "r2", json!({"op": "ringing", "call": call}));
    });
    assert!(e.is_empty(), "a second device ringing is no news: {e:?}");
}

#[test]
fn accept_joins_and_silences_the_other_devices() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob", "carol"]);
    let e = events(&h, || {
        h.op_ok("bob1", "acc", json!({"op": "accept", "call": call}));
    });
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.accepted"),
            ("bob1", "call.accepted"),
            ("bob2", "call.answered_elsewhere"),
        ])
    );
    assert_eq!(
        h.admin("GET", &format!("/v1/calls/{call}")).json["state"],
        "active"
    );
    // The first device to accept wins; the other is too late.
    assert_eq!(
        refused(&h, "bob2", "acc2", json!({"op": "accept", "call": call})),
        "invalid_state"
    );
}

#[test]
fn reject_declines_on_every_device_and_ends_an_empty_call() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob"]);
    let e = events(&h, || {
        h.op_ok(
            "bob2",
            "no",
            json!({"op": "reject", "call": call, "reason": "decline"}),
        );
    });
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.ended"),
            ("alice1", "call.rejected"),
            ("bob1", "call.declined_elsewhere"),
        ])
    );
    let ended = h.call_record(&call).ended.unwrap();
    assert_eq!(serde_json::to_value(ended.reason).unwrap(), "rejected");
}

#[test]
fn cancel_withdraws_some_or_all_invitations() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob", "carol"]);
    let e = events(&h, || {
        h.op_ok(
            "alice1",
            "c1",
            json!({"op": "cancel", "call": call, "to": ["carol"]}),
        );
    });
    assert_eq!(e, pairs(&[("carol1", "call.cancelled")]));
    assert_eq!(h.state_of(&call, "carol"), "cancelled");
    assert!(!h.call_record(&call).is_ended());
    let e = events(&h, || {
        h.op_ok("alice1", "c2", json!({"op": "cancel", "call": call}));
    });
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.ended"),
            ("bob1", "call.cancelled"),
            ("bob2", "call.cancelled")
        ])
    );
    let published = h.p.broker.published();
    let cancel = published
        .iter()
        .rev()
        .find(|m| m.event() == "call.cancelled")
        .unwrap();
    assert_eq!(cancel.payload["reason"], "cancelled");
    assert!(h.call_record(&call).is_ended());
    // Only the inviter cancels, and only while something rings.
    assert_eq!(
        refused(&h, "alice1", "c3", json!({"op": "cancel", "call": call})),
        "invalid_state"
    );
}

#[test]
fn only_the_inviter_may_cancel() {
    let h = setup();
    let call = active_call(&h);
    // bob joined, but carol's invitation is alice's.
    let code = refused(
        &h,
        "bob1",
        "c",
        json!({"op": "cancel", "call": call, "to": ["carol"]}),
    );
    assert_eq!(code, "forbidden");
    let code = refused(&h, "bob1", "c2", json!({"op": "cancel", "call": call}));
    assert_eq!(
        code, "invalid_state",
        "bob has no invitation of his own ringing"
    );
    // alice's other device never was in the call.
    let code = refused(&h, "alice2", "c", json!({"op": "cancel", "call": call}));
    assert_eq!(code, "forbidden");
    assert_eq!(h.state_of(&call, "carol"), "invited");
}

#[test]
fn leave_ends_a_call_with_one_user_left() {
    let h = setup();
    let call = active_call(&h);
    // carol still rings, so alice and bob talk on after carol declines...
    h.op_ok("carol1", "no", json!({"op": "reject", "call": call}));
    assert!(!h.call_record(&call).is_ended());
    let e = events(&h, || {
        h.op_ok("bob1", "bye", json!({"op": "leave", "call": call}));
    });
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.ended"),
            ("alice1", "call.participant_left")
        ])
    );
    let ended = h.call_record(&call).ended.unwrap();
    assert_eq!(serde_json::to_value(ended.reason).unwrap(), "all_left");
    assert_eq!(
        refused(&h, "alice1", "bye", json!({"op": "leave", "call": call})),
        "invalid_state"
    );
}

#[test]
fn end_by_the_host_stops_everyone() {
    let h = setup();
    let call = active_call(&h);
    assert_eq!(
        refused(&h, "bob1", "end", json!({"op": "end", "call": call})),
        "forbidden"
    );
    let e = events(&h, || {
        h.op_ok("alice1", "end", json!({"op": "end", "call": call}));
    });
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.ended"),
            ("bob1", "call.ended"),
            ("carol1", "call.cancelled")
        ])
    );
    let published = h.p.broker.published();
    let ended = published
        .iter()
        .rev()
        .find(|m| m.event() == "call.ended")
        .unwrap();
    assert_eq!(ended.payload["reason"], "ended_by_host");
    let cancelled = published
        .iter()
        .rev()
        .find(|m| m.event() == "call.cancelled")
        .unwrap();
    assert_eq!(cancelled.payload["reason"], "ended");
}

#[test]
fn mute_and_unmute_reach_the_target_only() {
    let h = setup();
    let call = active_call(&h);
    let e = events(&h, || {
        h.op_ok(
            "alice1",
            "mu",
            json!({"op": "mute", "call": call, "user": "bob", "media": "audio"}),
        );
    });
    assert_eq!(e, pairs(&[("bob1", "call.muted")]));
    let view = h.admin("GET", &format!("/v1/calls/{call}"));
    assert_eq!(view.json["participants"][1]["muted"], json!(["audio"]));
    let e = events(&h, || {
        h.op_ok(
            "alice1",
            "un",
            json!({"op": "unmute", "call": call, "user": "bob", "media": "audio"}),
        );
    });
    assert_eq!(e, pairs(&[("bob1", "call.unmuted")]));
    let m = h.p.broker.published().pop().unwrap();
    assert_eq!(
        (m.payload["media"].as_str(), m.payload["by"].as_str()),
        (Some("audio"), Some("alice"))
    );
    assert_eq!(
        refused(
            &h,
            "bob1",
            "mu",
            json!({"op": "mute", "call": call, "user": "alice", "media": "video"})
        ),
        "forbidden"
    );
    assert_eq!(
        refused(
            &h,
            "alice1",
            "mu2",
            json!({"op": "mute", "call": call, "user": "carol", "media": "video"})
        ),
        "invalid_state",
        "carol has not joined"
    );
}

#[test]
fn remove_takes_a_user_out() {
    let h = setup();
    let call = active_call(&h);
    let e = events(&h, || {
        h.op_ok(
            "alice1",
            "rm",
            json!({"op": "remove", "call": call, "user": "carol"}),
        );
    });
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.participant_left"),
            ("bob1", "call.participant_left"),
            ("carol1", "call.removed")
        ])
    );
    assert_eq!(h.state_of(&call, "carol"), "removed");
    assert_eq!(
        refused(
            &h,
            "alice1",
            "rm2",
            json!({"op": "remove", "call": call, "user": "alice"})
        ),
        "invalid_message"
    );
    let e = events(&h, || {
        h.op_ok(
            "alice1",
            "rm3",
            json!({"op": "remove", "call": call, "user": "bob"}),
        );
    });
    assert!(e.contains(&("bob1".into(), "call.removed".into())), "{e:?}");
    assert!(e.contains(&("alice1".into(), "call.ended".into())), "{e:?}");
}

#[test]
fn renew_mints_fresh_parameters_for_invited_or_joined_devices() {
    let h = setup();
    let call = active_call(&h);
    for device in ["bob1", "carol1", "alice1"] {
        let e = events(&h, || {
            h.op_ok(
                device,
                &format!("rn-{device}"),
                json!({"op": "renew", "call": call}),
            );
        });
        assert_eq!(e, pairs(&[(device, "call.token")]));
        let m = h.p.broker.published().pop().unwrap();
        assert_eq!(m.payload["rtc"]["channel"], call.as_str());
        assert!(m.payload["rtc"]["token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()));
    }
    // bob2 lost to bob1; alice2 never joined.
    assert_eq!(
        refused(&h, "bob2", "rn", json!({"op": "renew", "call": call})),
        "forbidden"
    );
    assert_eq!(
        refused(&h, "alice2", "rn", json!({"op": "renew", "call": call})),
        "forbidden"
    );
}

#[test]
fn strangers_cannot_touch_a_call() {
    let h = setup();
    h.register("mallory", "mallory1");
    let call = h.invite("alice1", "inv", &["bob"]);
    for (i, op) in [
        "ringing", "accept", "reject", "cancel", "leave", "end", "renew",
    ]
    .iter()
    .enumerate()
    {
        let code = refused(
            &h,
            "mallory1",
            &format!("x{i}"),
            json!({"op": op, "call": call}),
        );
        assert_eq!(code, "forbidden", "{op}");
    }
    assert_eq!(h.state_of(&call, "bob"), "invited");
    assert_eq!(h.state_of(&call, "mallory"), "absent");
}

#[test]
fn every_processed_op_is_deduplicated() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob", "carol"]);
    let ops = [
        ("bob1", "r", json!({"op": "ringing", "call": call})),
        ("bob1", "a", json!({"op": "accept", "call": call})),
        (
            "alice1",
            "m",
            json!({"op": "mute", "call": call, "user": "bob", "media": "video"}),
        ),
        (
            "alice1",
            "u",
            json!({"op": "unmute", "call": call, "user": "bob", "media": "video"}),
        ),
        ("bob1", "t", json!({"op": "renew", "call": call})),
        (
            "alice1",
            "c",
            json!({"op": "cancel", "call": call, "to": ["carol"]}),
        ),
        ("bob1", "l", json!({"op": "leave", "call": call})),
    ];
    for (device, id, fields) in ops {
        let envelope = h.op_ok(device, id, fields);
        let requests = h.p.broker.request_count();
        let r = h.deliver(&envelope);
        assert_eq!(r.result().0, "duplicate", "{id}: {}", r.text);
        assert_eq!(
            h.p.broker.request_count(),
            requests,
            "{id}: nothing re-sent"
        );
    }
    assert!(h.call_record(&call).is_ended());
}

#[test]
fn ring_deadline_applies_lazily_on_the_next_message() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob"]);
    h.p.advance(30_000);
    let mark = h.mark();
    let (_, r) = h.send_op("bob1", "late", json!({"op": "accept", "call": call}));
    assert_eq!(
        r.result(),
        ("refused".into(), Some("invalid_state".into())),
        "{}",
        r.text
    );
    let mut e = h.events_since(mark);
    e.sort();
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.ended"),
            ("alice1", "call.missed"),
            ("bob1", "call.cancelled"),
            ("bob1", "error"),
            ("bob2", "call.cancelled"),
        ])
    );
    let published = h.p.broker.published_since(mark);
    assert!(published
        .iter()
        .filter(|m| m.event() == "call.cancelled")
        .all(|m| m.payload["reason"] == "timeout"));
    assert_eq!(
        h.state_of(&call, "bob"),
        "missed",
        "persisted, not only computed"
    );
    let ended = h.call_record(&call).ended.unwrap();
    assert_eq!(serde_json::to_value(ended.reason).unwrap(), "timeout");
    // The expiry task finds nothing left to do.
    let mark = h.mark();
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.json["expired"], 0, "{}", r.text);
    assert_eq!(h.mark(), mark);
}

#[test]
fn ring_deadline_is_not_early() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob"]);
    h.p.advance(29_999);
    h.op_ok("bob1", "acc", json!({"op": "accept", "call": call}));
    assert_eq!(h.state_of(&call, "bob"), "joined");
}

#[test]
fn ring_deadline_applies_by_the_expiry_task() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob", "carol"]);
    h.op_ok("carol1", "acc", json!({"op": "accept", "call": call}));
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["expired"], 0);
    h.p.advance(31_000);
    let mark = h.mark();
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.json["calls"].as_u64(), r.json["expired"].as_u64()),
        (Some(1), Some(1))
    );
    let mut e = h.events_since(mark);
    e.sort();
    assert_eq!(
        e,
        pairs(&[
            ("alice1", "call.missed"),
            ("bob1", "call.cancelled"),
            ("bob2", "call.cancelled")
        ]),
        "alice and carol talk on"
    );
    let missed =
        h.p.broker
            .published_since(mark)
            .into_iter()
            .find(|m| m.event() == "call.missed")
            .unwrap();
    assert_eq!(missed.payload["user"], "bob");
    assert!(missed.payload.get("in_reply_to").is_none());
    assert_eq!(h.state_of(&call, "bob"), "missed");
    assert!(!h.call_record(&call).is_ended());
    // Idempotent.
    let mark = h.mark();
    assert_eq!(h.admin("POST", "/v1/tasks/expire").json["expired"], 0);
    assert_eq!(h.mark(), mark);
}

#[test]
fn the_expiry_task_and_a_lazy_expiry_send_the_same_ids() {
    let run = |lazy: bool| {
        let h = setup();
        let call = h.invite("alice1", "inv", &["bob"]);
        h.p.advance(40_000);
        let mark = h.mark();
        if lazy {
            h.send_op("bob1", "late", json!({"op": "ringing", "call": call}));
        } else {
            h.admin("POST", "/v1/tasks/expire");
        }
        let mut ids: Vec<String> =
            h.p.broker
                .published_since(mark)
                .iter()
                .filter(|m| m.event() != "error")
                .map(|m| m.id().to_owned())
                .collect();
        ids.sort();
        ids
    };
    let lazy = run(true);
    assert_eq!(lazy.len(), 4);
    assert_eq!(lazy, run(false));
}

#[test]
fn a_failed_expiry_run_is_retried_without_loss() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob"]);
    h.p.advance(31_000);
    h.p.broker.script(Reply::Transport);
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["failures"], 1);
    assert_eq!(h.state_of(&call, "bob"), "missed");
    assert_eq!(h.call_record(&call).outbox.len(), 4, "kept for the retry");
    // Retried before the outbox grace period: nothing is stale yet...
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.status, 200, "{}", r.text);
    // ...and after it, everything goes out, once.
    h.p.advance(5_000);
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["resent"], 4);
    assert!(h.call_record(&call).outbox.is_empty());
    assert_eq!(
        h.p.broker
            .published()
            .iter()
            .filter(|m| m.event() == "call.missed")
            .count(),
        1
    );
}

#[test]
fn ended_calls_are_purged_after_the_dedup_window() {
    let h = setup();
    let call = active_call(&h);
    let leave = h.op_ok("bob1", "bye", json!({"op": "leave", "call": call}));
    // carol's invitation still rings, so the call goes on until alice ends it.
    h.op_ok("alice1", "end", json!({"op": "end", "call": call}));
    assert!(h.call_record(&call).is_ended());
    h.p.advance(59_000);
    assert_eq!(
        h.deliver(&leave).result().0,
        "duplicate",
        "still deduplicated"
    );
    h.p.advance(31_000);
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.json["purged"], 0, "not before the window: {}", r.text);
    h.p.advance(1);
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.status, 200);
    assert_eq!(r.json["purged"], 1, "{}", r.text);
    assert!(h.p.kv.raw(&format!("call/{call}")).is_none());
    assert_eq!(h.admin("GET", &format!("/v1/calls/{call}")).status, 404);
    // A redelivery now is stale anyway.
    let r = h.deliver(&leave);
    assert_eq!(r.result(), ("refused".into(), Some("stale_message".into())));
}

#[test]
fn live_calls_are_never_purged() {
    let h = setup();
    let call = active_call(&h);
    h.p.advance(3_600_000);
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.json["purged"], 0);
    assert!(!h.call_record(&call).is_ended());
    assert_eq!(h.state_of(&call, "bob"), "joined");
    assert_eq!(h.state_of(&call, "carol"), "missed");
}

#[test]
fn sync_lists_pending_invitations_then_the_active_call() {
    let h = setup();
    let call = h.invite("alice1", "inv", &["bob", "carol"]);
    let mark = h.mark();
    h.op_ok("bob2", "s1", json!({"op": "sync"}));
    let sync = h.p.broker.published_since(mark).pop().unwrap();
    assert_eq!(
        sync.topic,
        format!("sig-bulk/p2p/{}", cid("bob2")),
        "sync is low priority"
    );
    assert_eq!(sync.event(), "sync");
    assert_eq!(sync.payload["in_reply_to"], "s1");
    let invitations = sync.payload["invitations"].as_array().unwrap();
    assert_eq!(invitations.len(), 1);
    assert_eq!(invitations[0]["call"], call.as_str());
    assert_eq!(invitations[0]["from"], "alice");
    assert_eq!(invitations[0]["rtc"]["user_id"], "bob");
    assert!(sync.payload["active"].is_null());

    h.op_ok("bob1", "acc", json!({"op": "accept", "call": call}));
    let mark = h.mark();
    h.op_ok("bob1", "s2", json!({"op": "sync"}));
    let sync = h.p.broker.published_since(mark).pop().unwrap();
    assert_eq!(sync.payload["invitations"], json!([]));
    assert_eq!(sync.payload["active"]["call"], call.as_str());
    assert_eq!(sync.payload["active"]["state"], "active");
    assert!(
        !sync.payload.to_string().contains("\"token\""),
        "the call view has no tokens"
    );

    // A user with nothing going on gets an empty answer.
    h.register("dave", "dave1");
    let mark = h.mark();
    h.op_ok("dave1", "s3", json!({"op": "sync"}));
    let sync = h.p.broker.published_since(mark).pop().unwrap();
    assert_eq!(sync.payload["invitations"], json!([]));
    assert!(sync.payload["active"].is_null());
    // Expired invitations are not listed.
    h.p.advance(31_000);
    let mark = h.mark();
    h.op_ok("carol1", "s4", json!({"op": "sync"}));
    let sync = h.p.broker.published_since(mark).pop().unwrap();
    assert_eq!(sync.payload["invitations"], json!([]));
}

fn presence(h: &Harness, body: serde_json::Value) -> Resp {
    let auth = format!("Bearer {WEBHOOK_TOKEN}");
    h.send(
        Surface::Webhooks,
        "POST",
        "/v1/webhooks/presence",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        body.to_string().as_bytes(),
    )
}

#[test]
fn presence_records_the_latest_event_only() {
    let h = setup();
    let bob1 = cid("bob1");
    let r = presence(
        &h,
        json!({"event": "client.connected", "clientid": bob1, "connected_at": T0 + 10}),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["results"][0]["status"], "recorded");
    // A takeover's disconnect arrives after the new connect: ignored.
    let r = presence(
        &h,
        json!({"event": "client.disconnected", "clientid": bob1, "disconnected_at": T0 + 5}),
    );
    assert_eq!(r.json["results"][0]["status"], "ignored");
    let user = h.admin("GET", "/v1/users/bob");
    let devices = user.json["devices"].as_array().unwrap();
    let d = devices
        .iter()
        .find(|d| d["client_id"] == bob1.as_str())
        .unwrap();
    assert_eq!(
        (d["connected"].as_bool(), d["presence_at"].as_i64()),
        (Some(true), Some(T0 + 10))
    );
    let other = devices
        .iter()
        .find(|d| d["client_id"] != bob1.as_str())
        .unwrap();
    assert!(other["connected"].is_null(), "never seen");

    let r = presence(
        &h,
        json!([
            {"event": "client.disconnected", "clientid": bob1, "disconnected_at": T0 + 20},
            {"event": "client.connected", "clientid": cid("nobody1"), "connected_at": T0},
            {"event": "client.connected", "clientid": "bogus", "connected_at": T0},
            {"event": "session.created", "clientid": bob1, "timestamp": T0},
            {"event": "client.connected", "clientid": bob1},
        ]),
    );
    assert_eq!(r.status, 200, "{}", r.text);
    let statuses: Vec<(&str, Option<&str>)> = r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].as_str().unwrap(), r["code"].as_str()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("recorded", None),
            ("ignored", None),
            ("refused", Some("invalid_client_id")),
            ("refused", Some("invalid_envelope")),
            ("refused", Some("invalid_envelope")),
        ]
    );
    assert!(h
        .p
        .kv
        .raw(&format!("presence/{}", cid("nobody1")))
        .is_none());
    let user = h.admin("GET", "/v1/users/bob");
    let d = user.json["devices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["client_id"] == bob1.as_str())
        .unwrap()
        .clone();
    assert_eq!(d["connected"], false);

    for bad in [json!([]), json!("x"), json!(5)] {
        let r = presence(&h, bad);
        assert_eq!(r.status, 400);
        assert_eq!(r.error_code(), "invalid_envelope");
    }
    let r = h.send(
        Surface::Webhooks,
        "POST",
        "/v1/webhooks/presence",
        &[
            ("authorization", &format!("Bearer {WEBHOOK_TOKEN}")),
            ("content-type", "application/json"),
        ],
        b"{",
    );
    assert_eq!(r.error_code(), "invalid_json");
}

#[test]
fn presence_survives_a_store_failure() {
    let h = setup();
    let bob1 = cid("bob1");
    h.p.kv.fail_next(KvOp::Set, "presence/", 1);
    let event = json!({"event": "client.connected", "clientid": bob1, "connected_at": T0});
    let r = presence(&h, event.clone());
    assert_eq!(r.status, 503);
    assert!(h.p.kv.raw(&format!("presence/{bob1}")).is_none());
    let r = presence(&h, event);
    assert_eq!(r.json["results"][0]["status"], "recorded");
}
