//! Busy users, glare (two users calling each other at once) in both
//! orders and with both deliveries in flight, and mid-call invites.

use crate::support::*;
use serde_json::json;
use switchboard_calls::call_id_for_invite;
use switchboard_protocol::{ClientId, MessageId};

fn setup() -> Harness {
    let h = Harness::new();
    for (user, device) in [
        ("alice", "alice1"),
        ("bob", "bob1"),
        ("bob", "bob2"),
        ("carol", "carol1"),
        ("dave", "dave1"),
    ] {
        h.register(user, device);
    }
    h
}

/// The call a device's invite `id` creates.
fn call_of(device: &str, id: &str) -> String {
    call_id_for_invite(
        &ClientId::parse(&cid(device)).unwrap(),
        &MessageId::parse(id).unwrap(),
    )
    .as_str()
    .to_owned()
}

/// A message ID for bob1's invite whose call sorts below (or above)
/// alice1's invite `m-a`.
fn bob_message(bob_lower: bool) -> String {
    let alice = call_of("alice1", "m-a");
    (0..1000)
        .map(|i| format!("m-b{i}"))
        .find(|id| (call_of("bob1", id) < alice) == bob_lower)
        .expect("some ID sorts either way")
}

fn invite(h: &Harness, device: &str, id: &str, to: &str) -> Resp {
    h.send_op(
        device,
        id,
        json!({"op": "invite", "to": [to], "media": "audio"}),
    )
    .1
}

#[test]
fn an_invitee_ringing_elsewhere_is_busy_at_once() {
    let h = setup();
    let a = h.invite("alice1", "m-a", &["bob"]);
    let mark = h.mark();
    let d = h.invite("dave1", "m-d", &["bob"]);
    let events = h.events_since(mark);
    assert_eq!(
        events,
        vec![
            ("dave1".into(), "call.created".into()),
            ("dave1".into(), "call.rejected".into()),
            ("dave1".into(), "call.ended".into()),
        ],
        "bob's devices never ring for dave"
    );
    let published = h.p.broker.published_since(mark);
    assert_eq!(published[0].payload["to"], json!([]));
    assert_eq!(published[1].payload["user"], "bob");
    assert_eq!(published[1].payload["reason"], "busy");
    assert_eq!(published[2].payload["reason"], "rejected");
    assert_eq!(h.state_of(&d, "bob"), "declined");
    assert!(h.call_record(&d).is_ended());
    assert_eq!(
        h.state_of(&a, "bob"),
        "invited",
        "the first call still rings"
    );
}

#[test]
fn a_joined_user_is_busy_and_free_again_after_the_call() {
    let h = setup();
    let a = h.invite("alice1", "m-a", &["bob"]);
    h.op_ok("bob1", "acc", json!({"op": "accept", "call": a}));
    let d = h.invite("dave1", "m-d1", &["bob"]);
    assert_eq!(h.state_of(&d, "bob"), "declined");
    h.op_ok("bob1", "bye", json!({"op": "leave", "call": a}));
    assert!(h.call_record(&a).is_ended());
    let d2 = h.invite("dave1", "m-d2", &["bob"]);
    assert_eq!(
        h.state_of(&d2, "bob"),
        "invited",
        "free after the call ended"
    );
}

#[test]
fn a_busy_invitee_does_not_stop_the_others_ringing() {
    let h = setup();
    h.invite("alice1", "m-a", &["bob"]);
    let d = h.invite("dave1", "m-d", &["bob", "carol"]);
    assert_eq!(h.state_of(&d, "bob"), "declined");
    assert_eq!(h.state_of(&d, "carol"), "invited");
    assert!(!h.call_record(&d).is_ended());
}

/// Asserts that alice and bob are not ringing each other in two calls.
fn assert_no_ringing_both_ways(h: &Harness, a: &str, b: &str) {
    let alice_rings_bob = !h.call_record(a).is_ended() && h.state_of(a, "bob") == "invited";
    let bob_rings_alice = !h.call_record(b).is_ended() && h.state_of(b, "alice") == "invited";
    assert!(
        !(alice_rings_bob && bob_rings_alice),
        "both calls ring: {} / {}",
        h.call(a),
        h.call(b)
    );
    assert!(alice_rings_bob || bob_rings_alice, "one call must survive");
}

#[test]
fn glare_the_earlier_call_wins_when_its_id_is_lower() {
    let h = setup();
    let mb = bob_message(false);
    let a = h.invite("alice1", "m-a", &["bob"]);
    let mark = h.mark();
    let r = invite(&h, "bob1", &mb, "alice");
    assert_eq!(r.result().0, "processed", "{}", r.text);
    let b = call_of("bob1", &mb);
    assert!(a < b);
    // bob's call is refused as busy and names the call that replaces it.
    assert_eq!(h.state_of(&b, "alice"), "declined");
    let ended = h.call_record(&b).ended.expect("bob's call ended");
    assert_eq!(
        ended.replaced_by.as_ref().map(|c| c.as_str()),
        Some(a.as_str())
    );
    let events = h.events_since(mark);
    assert!(
        events.iter().all(|(d, _)| d == "bob1"),
        "alice's devices are not disturbed: {events:?}"
    );
    let end =
        h.p.broker
            .published_since(mark)
            .into_iter()
            .find(|m| m.event() == "call.ended")
            .unwrap();
    assert_eq!(end.payload["replaced_by"], a.as_str());
    assert_eq!(
        h.state_of(&a, "bob"),
        "invited",
        "alice's call still rings bob"
    );
    assert_no_ringing_both_ways(&h, &a, &b);
}

#[test]
fn glare_the_later_call_wins_when_its_id_is_lower() {
    let h = setup();
    let mb = bob_message(true);
    let a = h.invite("alice1", "m-a", &["bob"]);
    let mark = h.mark();
    let r = invite(&h, "bob1", &mb, "alice");
    assert_eq!(r.result().0, "processed", "{}", r.text);
    let b = call_of("bob1", &mb);
    assert!(b < a);
    assert_eq!(h.state_of(&b, "alice"), "invited", "bob's call rings alice");
    let ended = h.call_record(&a).ended.expect("alice's call was cancelled");
    assert_eq!(
        ended.replaced_by.as_ref().map(|c| c.as_str()),
        Some(b.as_str())
    );
    let published = h.p.broker.published_since(mark);
    let about_a: Vec<(String, String)> = published
        .iter()
        .filter(|m| m.call() == Some(a.as_str()))
        .map(|m| (m.device().to_owned(), m.event().to_owned()))
        .collect();
    assert!(
        about_a.contains(&("alice1".into(), "call.ended".into())),
        "{about_a:?}"
    );
    assert!(about_a.contains(&("bob1".into(), "call.cancelled".into())));
    assert!(about_a.contains(&("bob2".into(), "call.cancelled".into())));
    assert!(published.iter().any(|m| m.device() == "alice1"
        && m.event() == "call.invitation"
        && m.call() == Some(b.as_str())));
    assert_no_ringing_both_ways(&h, &a, &b);
    // The winner is a normal call: alice accepts.
    h.op_ok("alice1", "acc", json!({"op": "accept", "call": b}));
    assert_eq!(h.state_of(&b, "alice"), "joined");
}

#[test]
fn glare_with_both_invites_in_flight() {
    // alice's invite stalls just before writing its call record while
    // bob's invite runs; the lower call ID wins either way.
    for bob_lower in [true, false] {
        let h = setup();
        let mb = bob_message(bob_lower);
        let alice_env = envelope(
            "alice1",
            "m-a",
            &upstream(
                "m-a",
                h.now(),
                json!({"op": "invite", "to": ["bob"], "media": "audio"}),
            ),
        );
        let gate = h.p.kv.pause_before(KvOp::Set, "call/");
        std::thread::scope(|s| {
            let first = s.spawn(|| h.deliver(&alice_env));
            gate.wait_reached();
            let r = invite(&h, "bob1", &mb, "alice");
            assert_eq!(r.status, 200, "{}", r.text);
            assert_eq!(r.result().0, "processed", "{}", r.text);
            gate.release();
            let first = first.join().expect("alice's delivery");
            assert_eq!(first.status, 200, "{}", first.text);
        });
        let a = call_of("alice1", "m-a");
        let b = call_of("bob1", &mb);
        assert_no_ringing_both_ways(&h, &a, &b);
        let (winner, loser) = if bob_lower { (&b, &a) } else { (&a, &b) };
        assert!(!h.call_record(winner).is_ended(), "bob_lower={bob_lower}");
        let ended = h.call_record(loser).ended.expect("the loser ended");
        assert_eq!(
            ended.replaced_by.as_ref().map(|c| c.as_str()),
            Some(winner.as_str()),
            "bob_lower={bob_lower}"
        );
        // Every device that was rung for the loser was told to stop.
        let published = h.p.broker.published();
        for m in published
            .iter()
            .filter(|m| m.call() == Some(loser.as_str()) && m.event() == "call.invitation")
        {
            assert!(
                published.iter().any(|c| c.call() == Some(loser.as_str())
                    && c.client() == m.client()
                    && c.event() == "call.cancelled"),
                "{} rang for the loser and was never cancelled",
                m.device()
            );
        }
    }
}

#[test]
fn mid_call_invite_rings_the_new_invitees() {
    let h = setup();
    let a = h.invite("alice1", "m-a", &["bob"]);
    h.op_ok("bob1", "acc", json!({"op": "accept", "call": a}));
    let mark = h.mark();
    h.op_ok(
        "bob1",
        "add",
        json!({"op": "invite", "call": a, "to": ["carol"]}),
    );
    let published = h.p.broker.published_since(mark);
    assert_eq!(published.len(), 1, "{published:?}");
    let inv = &published[0];
    assert_eq!((inv.device(), inv.event()), ("carol1", "call.invitation"));
    assert_eq!(
        inv.payload["from"], "bob",
        "invited by a joined participant"
    );
    assert_eq!(
        inv.payload["participants"],
        json!(["alice", "bob", "carol"])
    );
    assert_eq!(inv.payload["rtc"]["user_id"], "carol");
    assert_eq!(h.state_of(&a, "carol"), "invited");
    // carol is now busy for other callers.
    let d = h.invite("dave1", "m-d", &["carol"]);
    assert_eq!(h.state_of(&d, "carol"), "declined");
    // carol accepts; everyone joined hears it.
    let mark = h.mark();
    h.op_ok("carol1", "acc", json!({"op": "accept", "call": a}));
    let mut events = h.events_since(mark);
    events.sort();
    assert_eq!(
        events,
        vec![
            ("alice1".into(), "call.accepted".into()),
            ("bob1".into(), "call.accepted".into()),
            ("carol1".into(), "call.accepted".into()),
        ]
    );
}

#[test]
fn mid_call_invite_of_a_busy_user_reports_busy() {
    let h = setup();
    h.invite("dave1", "m-d", &["carol"]);
    let a = h.invite("alice1", "m-a", &["bob"]);
    h.op_ok("bob1", "acc", json!({"op": "accept", "call": a}));
    let mark = h.mark();
    h.op_ok(
        "alice1",
        "add",
        json!({"op": "invite", "call": a, "to": ["carol"]}),
    );
    let published = h.p.broker.published_since(mark);
    let mut events: Vec<(String, String, String)> = published
        .iter()
        .map(|m| {
            (
                m.device().to_owned(),
                m.event().to_owned(),
                m.payload["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    events.sort();
    assert_eq!(
        events,
        vec![
            ("alice1".into(), "call.rejected".into(), "busy".into()),
            ("bob1".into(), "call.rejected".into(), "busy".into()),
        ]
    );
    assert_eq!(h.state_of(&a, "carol"), "declined");
}

#[test]
fn only_joined_participants_invite_mid_call() {
    let h = setup();
    let a = h.invite("alice1", "m-a", &["bob"]);
    // bob is only ringing.
    let (_, r) = h.send_op(
        "bob2",
        "add",
        json!({"op": "invite", "call": a, "to": ["carol"]}),
    );
    assert_eq!(r.result(), ("refused".into(), Some("invalid_state".into())));
    // carol is not in the call at all.
    let (_, r) = h.send_op(
        "carol1",
        "add",
        json!({"op": "invite", "call": a, "to": ["dave"]}),
    );
    assert_eq!(r.result(), ("refused".into(), Some("forbidden".into())));
    assert_eq!(h.state_of(&a, "carol"), "absent");
    assert_eq!(h.state_of(&a, "dave"), "absent");
}

#[test]
fn mid_call_invitee_is_held_even_when_the_first_attempt_fails() {
    // The call record takes the invitee, then writing the invitee's own
    // record fails: the broker's retry must finish the job, or the invitee
    // looks free to every other caller while ringing here.
    let h = setup();
    let a = h.invite("alice1", "m-a", &["bob"]);
    h.op_ok("bob1", "acc", json!({"op": "accept", "call": a}));
    h.p.kv.fail_next(KvOp::Cas, "user/carol", 1);
    let (envelope, r) = h.send_op(
        "alice1",
        "add",
        json!({"op": "invite", "call": a, "to": ["carol"]}),
    );
    assert_eq!(r.status, 503, "{}", r.text);
    let r = h.deliver(&envelope);
    assert_eq!(r.result().0, "duplicate", "{}", r.text);
    assert_eq!(h.state_of(&a, "carol"), "invited");
    let carol = h.p.kv.json("user/carol").unwrap();
    assert_eq!(carol["calls"][0]["call"], a.as_str(), "{carol}");
    let d = h.invite("dave1", "m-d", &["carol"]);
    assert_eq!(h.state_of(&d, "carol"), "declined", "carol is busy");
    // And her sync shows the invitation.
    let mark = h.mark();
    h.op_ok("carol1", "s", json!({"op": "sync"}));
    let sync = h.p.broker.published_since(mark).pop().unwrap();
    assert_eq!(sync.payload["invitations"][0]["call"], a.as_str());
}
