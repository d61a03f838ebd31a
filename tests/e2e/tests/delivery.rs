//! Delivery guarantees of the invite path (issue 3), over the real broker,
//! bridge and components: every device of an invitee rings with a token of
//! its own, an offline device gets its invitation when it comes back, a
//! repeated upstream message has no second effect, stale and unregistered
//! senders are refused with nothing reaching anyone else, and a broker API
//! outage delays the invitation without duplicating it.

use serde_json::Value;
use switchboard_dev::stack::StackOptions;
use switchboard_e2e::{
    check, expect_silence, message, now_ms, ops, poll_until, Device, TestBed, QUIET, WAIT,
};

/// The default ring timeout of `spin.toml`, in milliseconds.
const DEFAULT_RING_TIMEOUT_MS: i64 = 30_000;

/// Waits until the bridge has had `count` upstream messages answered 2xx
/// by the webhook: by then the service has finished with them.
fn wait_for_webhook_deliveries(bed: &TestBed, count: u64) -> switchboard_e2e::Result<()> {
    poll_until("the webhook to take the messages", WAIT, || {
        let delivered = bed.bridge().stat("webhook_delivered")?;
        Ok(if delivered >= count {
            Ok(())
        } else {
            Err(format!("webhook_delivered = {delivered}"))
        })
    })
}

/// Checks that `device` got exactly one delivery of `event` and no
/// duplicate of anything.
fn delivered_once(device: &Device, event: &str) -> switchboard_e2e::Result<()> {
    check(
        device.deliveries_of(event) == 1 && device.duplicates() == 0,
        || {
            format!(
                "{} got {} deliveries of {event} and {} duplicates: {:?}",
                device.client_id(),
                device.deliveries_of(event),
                device.duplicates(),
                device.history()
            )
        },
    )
}

#[test]
fn every_device_of_the_invitee_rings_with_a_valid_token() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob_phone = bed.device("bob", "bob-phone")?;
        let mut bob_tablet = bed.device("bob", "bob-tablet")?;
        let verifier = bed.verifier();

        let mut invite = ops::invite(&["bob"], "video");
        invite["meta"] = serde_json::json!({"topic": "standup"});
        let sent = alice.publish(invite)?;

        let created = alice.expect("call.created", WAIT)?;
        let call = created.call_id()?;
        assert_eq!(created.in_reply_to(), Some(sent.as_str()));
        assert_eq!(created.strings("to"), ["bob"]);
        assert_eq!(created.str("media"), Some("video"));
        assert!(created.strings("unreachable").is_empty());
        verifier.verify(created.get("rtc"), &call, "alice")?;

        let mut tokens = Vec::new();
        for bob in [&mut bob_phone, &mut bob_tablet] {
            let invitation = bob.expect_call("call.invitation", &call, WAIT)?;
            assert_eq!(invitation.str("from"), Some("alice"));
            assert_eq!(invitation.str("media"), Some("video"));
            assert_eq!(invitation.in_reply_to(), Some(sent.as_str()));
            assert_eq!(invitation.strings("participants"), ["alice", "bob"]);
            assert_eq!(
                invitation.get("meta"),
                Some(&serde_json::json!({"topic": "standup"}))
            );
            // An invitation expires at the ring deadline.
            let (ts, expires_at) = (invitation.ts(), invitation.expires_at());
            assert_eq!(
                expires_at.zip(ts).map(|(e, t)| e - t),
                Some(DEFAULT_RING_TIMEOUT_MS)
            );
            verifier.verify(invitation.get("rtc"), &call, "bob")?;
            tokens.push(invitation.get("rtc").and_then(|r| r.get("token")).cloned());
        }
        check(tokens[0] != tokens[1], || {
            "each device gets a token of its own".to_owned()
        })?;

        expect_silence(&mut [&mut alice, &mut bob_phone, &mut bob_tablet], QUIET)?;
        let state = bed.admin().call(&call)?;
        state.check("ringing", None)?;
        assert_eq!(state.participant_state("bob"), Some("invited"));
        assert_eq!(
            state.joined_device("alice"),
            Some(TestBed::client_id("alice-phone").as_str())
        );
        Ok(())
    });
}

#[test]
fn an_offline_device_gets_the_invitation_when_it_reconnects() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob = bed.device("bob", "bob-phone")?;
        bob.disconnect()?;

        let call = alice.invite(&["bob"], "audio")?;
        // The service has rung bob (his device is offline).
        assert_eq!(
            bed.admin().call(&call)?.participant_state("bob"),
            Some("invited")
        );

        let resumed = bob.reconnect()?;
        check(resumed, || {
            "the broker kept bob's persistent session".to_owned()
        })?;
        let invitation = bob.expect_call("call.invitation", &call, WAIT)?;
        assert_eq!(invitation.str("from"), Some("alice"));
        check(!invitation.is_expired(now_ms()), || {
            "the invitation is still valid".to_owned()
        })?;
        bed.verifier().verify(invitation.get("rtc"), &call, "bob")?;
        expect_silence(&mut [&mut alice, &mut bob], QUIET)?;
        delivered_once(&bob, "call.invitation")
    });
}

#[test]
fn a_repeated_upstream_message_has_no_second_effect() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob = bed.device("bob", "bob-phone")?;

        let invite = message(ops::invite(&["bob"], "video"));
        alice.publish_message(&invite)?;
        alice.publish_message(&invite)?;
        wait_for_webhook_deliveries(bed, 2)?;

        let call = alice.expect("call.created", WAIT)?.call_id()?;
        bob.expect_call("call.invitation", &call, WAIT)?;
        expect_silence(&mut [&mut alice, &mut bob], QUIET)?;
        delivered_once(&alice, "call.created")?;
        delivered_once(&bob, "call.invitation")?;

        // The same holds for a transition of an existing call.
        let accept = message(ops::accept(&call));
        bob.publish_message(&accept)?;
        bob.publish_message(&accept)?;
        wait_for_webhook_deliveries(bed, 4)?;
        alice.expect_call("call.accepted", &call, WAIT)?;
        bob.expect_call("call.accepted", &call, WAIT)?;
        expect_silence(&mut [&mut alice, &mut bob], QUIET)?;
        delivered_once(&alice, "call.accepted")?;
        delivered_once(&bob, "call.accepted")?;
        bed.admin().call(&call)?.check("active", None)
    });
}

#[test]
fn a_stale_message_is_refused_and_reaches_nobody() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob = bed.device("bob", "bob-phone")?;

        let mut invite = message(ops::invite(&["bob"], "video"));
        invite["ts"] = Value::from(now_ms() - 120_000);
        alice.publish_message(&invite)?;

        let error = alice.expect("error", WAIT)?;
        assert_eq!(error.str("code"), Some("stale_message"));
        assert_eq!(error.in_reply_to(), invite["id"].as_str());
        expect_silence(&mut [&mut alice, &mut bob], QUIET)?;
        check(bed.admin().live_calls("bob")?.is_empty(), || {
            "no call was created for bob".to_owned()
        })?;
        check(bed.admin().live_calls("alice")?.is_empty(), || {
            "no call was created for alice".to_owned()
        })
    });
}

#[test]
fn a_message_from_an_unregistered_client_is_refused() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob = bed.device("bob", "bob-phone")?;
        let mut stranger = bed.connect("stranger-phone")?;

        let sent = stranger.publish(ops::invite(&["bob"], "video"))?;
        let error = stranger.expect("error", WAIT)?;
        assert_eq!(error.str("code"), Some("unknown_device"));
        assert_eq!(error.in_reply_to(), Some(sent.as_str()));

        expect_silence(&mut [&mut stranger, &mut alice, &mut bob], QUIET)?;
        check(bed.admin().live_calls("bob")?.is_empty(), || {
            "no call was created for bob".to_owned()
        })
    });
}

#[test]
fn a_broker_api_outage_delays_the_invitation_without_duplicating_it() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob_phone = bed.device("bob", "bob-phone")?;
        let mut bob_tablet = bed.device("bob", "bob-tablet")?;

        // The whole fan-out (call.created and two invitations) fails once.
        bed.bridge().fail_publishes(3, 0)?;
        alice.publish(ops::invite(&["bob"], "video"))?;

        let call = alice.expect("call.created", WAIT)?.call_id()?;
        bob_phone.expect_call("call.invitation", &call, WAIT)?;
        bob_tablet.expect_call("call.invitation", &call, WAIT)?;
        let failures = bed.bridge().stat("publish_failures")?;
        let retries = bed.bridge().stat("webhook_retries")?;
        check(failures == 3 && retries >= 1, || {
            format!(
                "the broker API failed 3 publishes (saw {failures}) and the webhook's 503 \
                 was retried (saw {retries} retries)"
            )
        })?;
        expect_silence(&mut [&mut alice, &mut bob_phone, &mut bob_tablet], QUIET)?;
        delivered_once(&alice, "call.created")?;
        delivered_once(&bob_phone, "call.invitation")?;
        delivered_once(&bob_tablet, "call.invitation")?;
        assert_eq!(bed.admin().call(&call)?.pending_messages(), 0);
        Ok(())
    });
}

#[test]
fn a_fan_out_failing_midway_resends_only_what_was_lost() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob_phone = bed.device("bob", "bob-phone")?;
        let mut bob_tablet = bed.device("bob", "bob-tablet")?;

        // call.created goes through, the first invitation fails, the rest
        // goes through: only the lost invitation may be sent again.
        bed.bridge().fail_publishes(1, 1)?;
        alice.publish(ops::invite(&["bob"], "video"))?;

        let call = alice.expect("call.created", WAIT)?.call_id()?;
        bob_phone.expect_call("call.invitation", &call, WAIT)?;
        bob_tablet.expect_call("call.invitation", &call, WAIT)?;
        check(bed.bridge().stat("publish_failures")? == 1, || {
            "exactly one publish failed".to_owned()
        })?;
        expect_silence(&mut [&mut alice, &mut bob_phone, &mut bob_tablet], QUIET)?;
        delivered_once(&alice, "call.created")?;
        delivered_once(&bob_phone, "call.invitation")?;
        delivered_once(&bob_tablet, "call.invitation")?;
        assert_eq!(bed.admin().call(&call)?.pending_messages(), 0);
        Ok(())
    });
}
