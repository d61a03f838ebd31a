//! The call lifecycle (issue 4) over the real broker, bridge and
//! components: who gets which event when a call is accepted, rejected,
//! cancelled, missed, answered on another device, refused as busy, grown
//! and moderated by its host, and when two users call each other at once.
//!
//! Each scenario is a function over a [`TestBed`] with users of its own, so
//! the SQLite tests run one scenario per stack (in parallel) and the Redis
//! test runs them all on one stack.

use std::time::Duration;

use switchboard_dev::stack::{KvBackend, StackOptions};
use switchboard_e2e::{
    check, expect_silence, ops, poll_until, Device, Result, TestBed, QUIET, WAIT,
};

/// Ring timeout of the stacks that test deadlines, in seconds.
const SHORT_RING_SECONDS: &str = "2";
/// How often the stack's scheduler runs the expiry task.
const SCHEDULER_INTERVAL: Duration = Duration::from_millis(500);

/// Ring timeout of the stack that runs every scenario one after the
/// other, in seconds: long enough for any scenario to answer in time.
const SHARED_RING_SECONDS: &str = "6";

/// A stack whose invitations ring for `seconds` and whose expiry task runs
/// every [`SCHEDULER_INTERVAL`].
fn with_deadlines(options: StackOptions, seconds: &str) -> StackOptions {
    options
        .variable("ring_timeout_seconds", seconds)
        .scheduler(SCHEDULER_INTERVAL)
}

/// Fails unless none of `devices` receives anything within [`QUIET`].
fn all_quiet(devices: &mut [&mut Device]) -> Result<()> {
    expect_silence(devices, QUIET)
}

/// Expects `event` about `call` with string field `field` = `value`.
fn expect_with(
    device: &mut Device,
    event: &str,
    call: &str,
    field: &str,
    value: &str,
) -> Result<()> {
    let wanted = format!("{event} for {call} with {field}={value}");
    device
        .expect_where(&wanted, WAIT, |m| {
            m.event() == event && m.call() == Some(call) && m.str(field) == Some(value)
        })
        .map(drop)
}

/// Expects an `error` with `code` answering upstream message `in_reply_to`.
fn expect_error(device: &mut Device, code: &str, in_reply_to: &str) -> Result<()> {
    let wanted = format!("error {code} in reply to {in_reply_to}");
    device
        .expect_where(&wanted, WAIT, |m| {
            m.event() == "error"
                && m.str("code") == Some(code)
                && m.in_reply_to() == Some(in_reply_to)
        })
        .map(drop)
}

/// 1:1: bob accepts, both are told, then bob hangs up and the call ends.
fn accepted_then_hung_up(bed: &mut TestBed) -> Result<()> {
    let mut alice = bed.device("ann", "ann-phone")?;
    let mut bob = bed.device("ben", "ben-phone")?;

    let call = alice.invite(&["ben"], "audio")?;
    bob.expect_call("call.invitation", &call, WAIT)?;

    bob.publish(ops::ringing(&call))?;
    expect_with(&mut alice, "call.ringing", &call, "user", "ben")?;

    bob.publish(ops::accept(&call))?;
    expect_with(&mut alice, "call.accepted", &call, "user", "ben")?;
    expect_with(&mut bob, "call.accepted", &call, "user", "ben")?;
    all_quiet(&mut [&mut alice, &mut bob])?;
    let state = bed.admin().call(&call)?;
    state.check("active", None)?;
    assert_eq!(
        state.joined_device("ben"),
        Some(TestBed::client_id("ben-phone").as_str())
    );

    bob.publish(ops::leave(&call))?;
    expect_with(&mut alice, "call.participant_left", &call, "user", "ben")?;
    expect_with(&mut alice, "call.ended", &call, "reason", "all_left")?;
    all_quiet(&mut [&mut alice, &mut bob])?;
    let state = bed.admin().call(&call)?;
    state.check("ended", Some("all_left"))?;
    assert_eq!(state.participant_state("ben"), Some("left"));
    Ok(())
}

/// bob declines on one device: the other stops ringing, alice is told,
/// and with nobody left the call ends `rejected`.
fn rejected(bed: &mut TestBed) -> Result<()> {
    let mut alice = bed.device("rita", "rita-phone")?;
    let mut bob_phone = bed.device("rob", "rob-phone")?;
    let mut bob_tablet = bed.device("rob", "rob-tablet")?;

    let call = alice.invite(&["rob"], "video")?;
    bob_phone.expect_call("call.invitation", &call, WAIT)?;
    bob_tablet.expect_call("call.invitation", &call, WAIT)?;

    bob_tablet.publish(ops::reject(&call, "decline"))?;
    let rejection = alice.expect_call("call.rejected", &call, WAIT)?;
    assert_eq!(rejection.str("user"), Some("rob"));
    assert_eq!(rejection.str("reason"), Some("decline"));
    expect_with(&mut alice, "call.ended", &call, "reason", "rejected")?;
    bob_phone.expect_call("call.declined_elsewhere", &call, WAIT)?;
    all_quiet(&mut [&mut alice, &mut bob_phone, &mut bob_tablet])?;

    let state = bed.admin().call(&call)?;
    state.check("ended", Some("rejected"))?;
    assert_eq!(state.participant_state("rob"), Some("declined"));
    Ok(())
}

/// alice cancels before anyone answers.
fn cancelled(bed: &mut TestBed) -> Result<()> {
    let mut alice = bed.device("cara", "cara-phone")?;
    let mut bob_phone = bed.device("carl", "carl-phone")?;
    let mut bob_tablet = bed.device("carl", "carl-tablet")?;

    let call = alice.invite(&["carl"], "video")?;
    bob_phone.expect_call("call.invitation", &call, WAIT)?;
    bob_tablet.expect_call("call.invitation", &call, WAIT)?;

    alice.publish(ops::cancel(&call))?;
    expect_with(
        &mut bob_phone,
        "call.cancelled",
        &call,
        "reason",
        "cancelled",
    )?;
    expect_with(
        &mut bob_tablet,
        "call.cancelled",
        &call,
        "reason",
        "cancelled",
    )?;
    expect_with(&mut alice, "call.ended", &call, "reason", "cancelled")?;
    all_quiet(&mut [&mut alice, &mut bob_phone, &mut bob_tablet])?;

    let state = bed.admin().call(&call)?;
    state.check("ended", Some("cancelled"))?;
    assert_eq!(state.participant_state("carl"), Some("cancelled"));

    // A cancelled invitation can no longer be accepted.
    let late = bob_phone.publish(ops::accept(&call))?;
    expect_error(&mut bob_phone, "invalid_state", &late)?;
    all_quiet(&mut [&mut alice, &mut bob_tablet])
}

/// Nobody answers before the ring deadline; the scheduler's expiry task
/// tells everyone. Needs a stack built with [`with_deadlines`].
fn missed(bed: &mut TestBed) -> Result<()> {
    let ring_ms = ring_timeout_ms(bed)?;
    let mut alice = bed.device("mia", "mia-phone")?;
    let mut bob_phone = bed.device("max", "max-phone")?;
    let mut bob_tablet = bed.device("max", "max-tablet")?;

    let call = alice.invite(&["max"], "audio")?;
    for bob in [&mut bob_phone, &mut bob_tablet] {
        let invitation = bob.expect_call("call.invitation", &call, WAIT)?;
        let ringing_for = invitation
            .expires_at()
            .zip(invitation.ts())
            .map(|(e, t)| e - t);
        assert_eq!(ringing_for, Some(ring_ms));
    }

    // Nobody sends anything: only the scheduler can end the ringing.
    expect_with(&mut alice, "call.missed", &call, "user", "max")?;
    expect_with(&mut alice, "call.ended", &call, "reason", "timeout")?;
    expect_with(&mut bob_phone, "call.cancelled", &call, "reason", "timeout")?;
    expect_with(
        &mut bob_tablet,
        "call.cancelled",
        &call,
        "reason",
        "timeout",
    )?;
    all_quiet(&mut [&mut alice, &mut bob_phone, &mut bob_tablet])?;

    let state = bed.admin().call(&call)?;
    state.check("ended", Some("timeout"))?;
    assert_eq!(state.participant_state("max"), Some("missed"));
    assert_eq!(state.pending_messages(), 0);
    Ok(())
}

/// bob's phone answers: his tablet is told, and a second answer from the
/// tablet is refused.
fn answered_elsewhere(bed: &mut TestBed) -> Result<()> {
    let mut alice = bed.device("ada", "ada-phone")?;
    let mut bob_phone = bed.device("abe", "abe-phone")?;
    let mut bob_tablet = bed.device("abe", "abe-tablet")?;

    let call = alice.invite(&["abe"], "video")?;
    bob_phone.expect_call("call.invitation", &call, WAIT)?;
    bob_tablet.expect_call("call.invitation", &call, WAIT)?;

    bob_phone.publish(ops::accept(&call))?;
    expect_with(&mut alice, "call.accepted", &call, "user", "abe")?;
    expect_with(&mut bob_phone, "call.accepted", &call, "user", "abe")?;
    bob_tablet.expect_call("call.answered_elsewhere", &call, WAIT)?;
    all_quiet(&mut [&mut alice, &mut bob_phone, &mut bob_tablet])?;

    let second = bob_tablet.publish(ops::accept(&call))?;
    expect_error(&mut bob_tablet, "invalid_state", &second)?;
    all_quiet(&mut [&mut alice, &mut bob_phone, &mut bob_tablet])?;

    let state = bed.admin().call(&call)?;
    state.check("active", None)?;
    assert_eq!(
        state.joined_device("abe"),
        Some(TestBed::client_id("abe-phone").as_str())
    );
    Ok(())
}

/// Expects `host`'s invite of `busy_user` to be rejected as busy at once:
/// the call is created, rejected and ended without ringing anyone.
fn expect_busy(bed: &TestBed, host: &mut Device, busy_user: &str) -> Result<()> {
    let call = host.invite(&[busy_user], "audio")?;
    let rejection = host.expect_call("call.rejected", &call, WAIT)?;
    assert_eq!(rejection.str("user"), Some(busy_user));
    assert_eq!(rejection.str("reason"), Some("busy"));
    expect_with(host, "call.ended", &call, "reason", "rejected")?;
    let state = bed.admin().call(&call)?;
    state.check("ended", Some("rejected"))?;
    assert_eq!(state.participant_state(busy_user), Some("declined"));
    Ok(())
}

/// A user ringing for, or in, a call is busy for other callers; so is the
/// host of a live call.
fn busy(bed: &mut TestBed) -> Result<()> {
    let mut alice = bed.device("bea", "bea-phone")?;
    let mut bob = bed.device("bo", "bo-phone")?;
    let mut carol = bed.device("cy", "cy-phone")?;

    let call = alice.invite(&["bo"], "video")?;
    bob.expect_call("call.invitation", &call, WAIT)?;

    // Ringing: busy.
    expect_busy(bed, &mut carol, "bo")?;
    all_quiet(&mut [&mut alice, &mut bob, &mut carol])?;

    // In the call: busy, and so is its host.
    bob.publish(ops::accept(&call))?;
    expect_with(&mut alice, "call.accepted", &call, "user", "bo")?;
    expect_with(&mut bob, "call.accepted", &call, "user", "bo")?;
    expect_busy(bed, &mut carol, "bo")?;
    expect_busy(bed, &mut carol, "bea")?;
    all_quiet(&mut [&mut alice, &mut bob, &mut carol])?;
    bed.admin().call(&call)?.check("active", None)
}

/// Three parties: bob invites carol mid-call, alice (the host) mutes and
/// unmutes bob, removes carol, rings dave, and ends the call; non-hosts
/// are refused host actions.
fn three_party(bed: &mut TestBed) -> Result<()> {
    let mut alice = bed.device("hana", "hana-phone")?;
    let mut bob = bed.device("hugo", "hugo-phone")?;
    let mut carol = bed.device("hedy", "hedy-phone")?;
    let mut dave = bed.device("hal", "hal-phone")?;

    let call = alice.invite(&["hugo"], "video")?;
    bob.expect_call("call.invitation", &call, WAIT)?;
    bob.publish(ops::accept(&call))?;
    expect_with(&mut alice, "call.accepted", &call, "user", "hugo")?;
    expect_with(&mut bob, "call.accepted", &call, "user", "hugo")?;

    // A joined participant rings carol; nobody else is told.
    bob.publish(ops::invite_more(&call, &["hedy"]))?;
    let invitation = carol.expect_call("call.invitation", &call, WAIT)?;
    assert_eq!(invitation.str("from"), Some("hugo"));
    assert_eq!(invitation.strings("participants"), ["hana", "hugo", "hedy"]);
    bed.verifier()
        .verify(invitation.get("rtc"), &call, "hedy")?;
    all_quiet(&mut [&mut alice, &mut bob])?;

    carol.publish(ops::accept(&call))?;
    for device in [&mut alice, &mut bob, &mut carol] {
        expect_with(device, "call.accepted", &call, "user", "hedy")?;
    }
    all_quiet(&mut [&mut alice, &mut bob, &mut carol, &mut dave])?;

    // Host powers: mute and unmute reach only the target.
    alice.publish(ops::mute(&call, "hugo", "audio"))?;
    let muted = bob.expect_call("call.muted", &call, WAIT)?;
    assert_eq!(muted.str("media"), Some("audio"));
    assert_eq!(muted.str("by"), Some("hana"));
    all_quiet(&mut [&mut alice, &mut bob, &mut carol])?;
    assert_eq!(bed.admin().call(&call)?.muted("hugo"), ["audio"]);

    alice.publish(ops::unmute(&call, "hugo", "audio"))?;
    expect_with(&mut bob, "call.unmuted", &call, "by", "hana")?;
    all_quiet(&mut [&mut alice, &mut bob, &mut carol])?;
    check(bed.admin().call(&call)?.muted("hugo").is_empty(), || {
        "hugo is no longer muted".to_owned()
    })?;

    // Non-hosts may not use them.
    let forbidden = bob.publish(ops::mute(&call, "hedy", "video"))?;
    expect_error(&mut bob, "forbidden", &forbidden)?;
    let forbidden = carol.publish(ops::end(&call))?;
    expect_error(&mut carol, "forbidden", &forbidden)?;
    all_quiet(&mut [&mut alice, &mut bob, &mut carol])?;

    // Removal: the target is told, the others see them leave.
    alice.publish(ops::remove(&call, "hedy"))?;
    expect_with(&mut carol, "call.removed", &call, "by", "hana")?;
    for device in [&mut alice, &mut bob] {
        let left = device.expect_call("call.participant_left", &call, WAIT)?;
        assert_eq!(left.str("user"), Some("hedy"));
        assert_eq!(left.str("reason"), Some("removed"));
    }
    all_quiet(&mut [&mut alice, &mut bob, &mut carol])?;

    // dave is ringing when the host ends the call.
    alice.publish(ops::invite_more(&call, &["hal"]))?;
    dave.expect_call("call.invitation", &call, WAIT)?;
    alice.publish(ops::end(&call))?;
    expect_with(&mut alice, "call.ended", &call, "reason", "ended_by_host")?;
    expect_with(&mut bob, "call.ended", &call, "reason", "ended_by_host")?;
    expect_with(&mut dave, "call.cancelled", &call, "reason", "ended")?;
    all_quiet(&mut [&mut alice, &mut bob, &mut carol, &mut dave])?;

    let state = bed.admin().call(&call)?;
    state.check("ended", Some("ended_by_host"))?;
    assert_eq!(
        state.participants(),
        [
            ("hana", "joined"),
            ("hugo", "joined"),
            ("hedy", "removed"),
            ("hal", "cancelled")
        ]
    );
    Ok(())
}

/// Two users call each other at nearly the same moment, `rounds` times
/// with fresh users. Whatever the order the service sees the invites in,
/// at most one call between them stays live, it is the one with the lower
/// ID, the other one ends naming it, and the survivor can be answered.
fn glare(bed: &mut TestBed, rounds: usize) -> Result<()> {
    for round in 0..rounds {
        let (a, b) = (format!("gus{round}"), format!("gil{round}"));
        let mut alice = bed.device(&a, &format!("{a}-phone"))?;
        let mut bob = bed.device(&b, &format!("{b}-phone"))?;

        let from_alice = alice.publish(ops::invite(&[b.as_str()], "audio"))?;
        let from_bob = bob.publish(ops::invite(&[a.as_str()], "audio"))?;
        let call_a = created_for(&mut alice, &from_alice)?;
        let call_b = created_for(&mut bob, &from_bob)?;
        let (winner, loser) = if call_a < call_b {
            (call_a.clone(), call_b.clone())
        } else {
            (call_b.clone(), call_a.clone())
        };

        let settled = poll_until("one call to survive the glare", WAIT, || {
            let (w, l) = (bed.admin().call(&winner)?, bed.admin().call(&loser)?);
            Ok(if w.is_live() && !l.is_live() {
                Ok((w, l))
            } else {
                Err(format!("winner {}, loser {}", w.0, l.0))
            })
        })?;
        let (_, lost) = settled;
        check(
            lost.replaced_by() == Some(winner.as_str())
                && matches!(lost.end_reason(), Some("cancelled" | "rejected")),
            || format!("the losing call names the winner {winner}: {}", lost.0),
        )?;
        for user in [&a, &b] {
            let live = bed.admin().live_calls(user)?;
            check(live == [winner.clone()], || {
                format!("{user} is only in {winner}, not {live:?}")
            })?;
        }

        // The loser's host was told the call ended, naming the winner.
        let (loser_host, winner_host, invitee) = if loser == call_a {
            (&mut alice, &mut bob, a.clone())
        } else {
            (&mut bob, &mut alice, b.clone())
        };
        let ended = loser_host.expect_call("call.ended", &loser, WAIT)?;
        assert_eq!(ended.str("replaced_by"), Some(winner.as_str()));

        // The winner's invitee (the loser's host) rings for the winner and
        // answers it.
        loser_host.expect_call("call.invitation", &winner, WAIT)?;
        loser_host.publish(ops::accept(&winner))?;
        expect_with(winner_host, "call.accepted", &winner, "user", &invitee)?;
        expect_with(loser_host, "call.accepted", &winner, "user", &invitee)?;
        bed.admin().call(&winner)?.check("active", None)?;
        bed.admin().call(&loser)?.check("ended", None)?;
    }
    Ok(())
}

/// The `call.created` answering upstream message `sent`; its call ID.
fn created_for(device: &mut Device, sent: &str) -> Result<String> {
    let wanted = format!("call.created in reply to {sent}");
    device
        .expect_where(&wanted, WAIT, |m| {
            m.event() == "call.created" && m.in_reply_to() == Some(sent)
        })?
        .call_id()
}

/// The stack's ring timeout in milliseconds.
fn ring_timeout_ms(bed: &TestBed) -> Result<i64> {
    let seconds = bed
        .stack()
        .variable("ring_timeout_seconds")
        .unwrap_or("30")
        .parse::<i64>()
        .map_err(|e| switchboard_e2e::HarnessError::Check(format!("ring_timeout_seconds: {e}")))?;
    Ok(seconds * 1000)
}

#[test]
fn a_call_accepted_then_hung_up() {
    TestBed::run(StackOptions::default(), accepted_then_hung_up);
}

#[test]
fn a_call_rejected() {
    TestBed::run(StackOptions::default(), rejected);
}

#[test]
fn a_call_cancelled() {
    TestBed::run(StackOptions::default(), cancelled);
}

#[test]
fn a_call_missed_after_the_deadline() {
    TestBed::run(
        with_deadlines(StackOptions::default(), SHORT_RING_SECONDS),
        missed,
    );
}

#[test]
fn a_deadline_applies_lazily_without_the_scheduler() {
    let options = StackOptions::default().variable("ring_timeout_seconds", SHORT_RING_SECONDS);
    TestBed::run(options, |bed| {
        let mut alice = bed.device("lea", "lea-phone")?;
        let mut bob = bed.device("leo", "leo-phone")?;
        let call = alice.invite(&["leo"], "audio")?;
        bob.expect_call("call.invitation", &call, WAIT)?;

        // The admin view applies passed deadlines without storing them.
        poll_until("the ring deadline to pass", WAIT, || {
            let state = bed.admin().call(&call)?;
            Ok(if state.state() == "ended" {
                Ok(())
            } else {
                Err(state.0.to_string())
            })
        })?;
        all_quiet(&mut [&mut alice, &mut bob])?;

        // The first message touching the call applies the deadline.
        let late = bob.publish(ops::accept(&call))?;
        expect_error(&mut bob, "invalid_state", &late)?;
        expect_with(&mut bob, "call.cancelled", &call, "reason", "timeout")?;
        expect_with(&mut alice, "call.missed", &call, "user", "leo")?;
        expect_with(&mut alice, "call.ended", &call, "reason", "timeout")?;
        all_quiet(&mut [&mut alice, &mut bob])?;

        // The expiry task finds nothing left to do.
        let report = bed.admin().expire()?;
        assert_eq!(report.get("expired").and_then(|v| v.as_u64()), Some(0));
        all_quiet(&mut [&mut alice, &mut bob])?;
        bed.admin().call(&call)?.check("ended", Some("timeout"))
    });
}

#[test]
fn a_call_answered_on_another_device() {
    TestBed::run(StackOptions::default(), answered_elsewhere);
}

#[test]
fn busy_users_are_not_rung() {
    TestBed::run(StackOptions::default(), busy);
}

#[test]
fn a_three_party_call_moderated_by_its_host() {
    TestBed::run(StackOptions::default(), three_party);
}

#[test]
fn glare_leaves_exactly_one_call() {
    TestBed::run(StackOptions::default(), |bed| glare(bed, 4));
}

#[test]
fn the_whole_lifecycle_on_redis() {
    let options = with_deadlines(
        StackOptions::default().kv(KvBackend::Redis),
        SHARED_RING_SECONDS,
    );
    TestBed::run(options, |bed| {
        accepted_then_hung_up(bed)?;
        rejected(bed)?;
        cancelled(bed)?;
        answered_elsewhere(bed)?;
        busy(bed)?;
        three_party(bed)?;
        glare(bed, 2)?;
        missed(bed)
    });
}
