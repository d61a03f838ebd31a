//! Exactly-once effects under redelivery, faults and concurrency (issue 5),
//! over the real broker, bridge and components.
//!
//! - an upstream message delivered five times in a row, or five times at
//!   the same instant, has one set of downstream effects, and the webhook
//!   says `processed` once;
//! - a broker API failing for part of a fan-out delays the failed messages
//!   without repeating the delivered ones;
//! - two devices accepting at once, or an accept racing a cancel, end in
//!   exactly one consistent outcome;
//! - 200 calls under redelivery and faults (the `switchboard-load` tool)
//!   lose and duplicate nothing.
//!
//! Concurrent deliveries are posted straight to the webhook from several
//! threads released together, as several broker nodes (or a broker
//! retrying a request it gave up on) would; the concurrency tests run on
//! Redis, whose compare-and-swap is the one deployments at scale rely on.

use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;

use serde_json::{json, Value};
use switchboard_dev::stack::{KvBackend, StackOptions};
use switchboard_e2e::{
    check, expect_silence, message, now_ms, ops, poll_until, Device, HarnessError, Received,
    Result, TestBed, QUIET, WAIT,
};

/// How many times the same message is delivered.
const DELIVERIES: usize = 5;
/// Rounds of each race.
const ROUNDS: usize = 10;

fn redis() -> StackOptions {
    StackOptions::default().kv(KvBackend::Redis)
}

/// The webhook as a broker node sees it: posts one EMQX `message.publish`
/// event and reads the answer.
#[derive(Clone)]
struct Webhook {
    url: String,
    token: String,
    agent: ureq::Agent,
}

/// What the webhook said about one event.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answer {
    /// The HTTP status.
    http: u16,
    /// `processed`, `duplicate` or `refused` (200), or the error code (503).
    status: String,
    /// The refusal code of a refused event.
    code: Option<String>,
}

impl Answer {
    fn is(&self, status: &str) -> bool {
        self.status == status
    }
}

impl Webhook {
    fn of(bed: &TestBed) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(WAIT))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            url: bed.stack().webhook_url(),
            token: bed.stack().webhook_token().to_owned(),
            agent,
        }
    }

    /// Posts `message` as published by `device`, once.
    fn post(&self, device: &DeviceId, message: &Value) -> Result<Answer> {
        let event = json!({
            "id": format!("{:032x}", rand_id()),
            "clientid": device.client_id,
            "username": "undefined",
            "topic": device.topic,
            "payload": message.to_string(),
            "qos": 1,
            "flags": {"retain": false, "dup": false},
            "timestamp": now_ms(),
            "event": "message.publish",
        });
        let failed = |reason: String| HarnessError::Http {
            method: "POST",
            url: self.url.clone(),
            reason,
        };
        let mut response = self
            .agent
            .post(&self.url)
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Content-Type", "application/json")
            .send(event.to_string())
            .map_err(|e| failed(e.to_string()))?;
        let http = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| failed(e.to_string()))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let field = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
        let (status, code) = match http {
            200 => (field("/results/0/status"), field("/results/0/code")),
            _ => (field("/error/code"), None),
        };
        Ok(Answer {
            http,
            status: status.unwrap_or(&text).to_owned(),
            code: code.map(str::to_owned),
        })
    }

    /// Posts until the answer is final (not 503), as the broker retries.
    fn deliver(&self, device: &DeviceId, message: &Value) -> Result<Answer> {
        poll_until("a final webhook answer", WAIT, || {
            let answer = self.post(device, message)?;
            Ok(if answer.http == 503 {
                Err(format!("{answer:?}"))
            } else {
                Ok(answer)
            })
        })
    }
}

/// A process-unique number for envelope IDs.
fn rand_id() -> u128 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    (u128::from(std::process::id()) << 64) | u128::from(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Who publishes a message: a device's client ID and upstream topic.
#[derive(Debug, Clone)]
struct DeviceId {
    client_id: String,
    topic: String,
}

impl DeviceId {
    fn of(device: &Device) -> Self {
        Self {
            client_id: device.client_id().to_owned(),
            topic: device.upstream_topic(),
        }
    }
}

/// Runs `posts` on their own threads, released at the same instant, and
/// returns their results in order.
fn at_once(posts: Vec<Box<dyn FnOnce() -> Result<Answer> + Send>>) -> Result<Vec<Answer>> {
    let barrier = Arc::new(Barrier::new(posts.len()));
    let handles: Vec<_> = posts
        .into_iter()
        .map(|post| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                barrier.wait();
                post()
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Err(HarnessError::Check("a poster panicked".to_owned())))
        })
        .collect()
}

/// The same message from the same device, posted `times` at once.
fn same_message_at_once(
    webhook: &Webhook,
    device: &DeviceId,
    message: &Value,
    times: usize,
) -> Result<Vec<Answer>> {
    at_once(
        (0..times)
            .map(|_| {
                let (webhook, device, message) = (webhook.clone(), device.clone(), message.clone());
                Box::new(move || webhook.post(&device, &message)) as Box<_>
            })
            .collect(),
    )
}

/// Waits until the bridge has had `count` upstream messages answered 2xx.
fn wait_for_webhook_deliveries(bed: &TestBed, count: u64) -> Result<()> {
    poll_until("the webhook to take the messages", WAIT, || {
        let delivered = bed.bridge().stat("webhook_delivered")?;
        Ok(if delivered >= count {
            Ok(())
        } else {
            Err(format!("webhook_delivered = {delivered}"))
        })
    })
}

/// Fails unless `device` got exactly one delivery (raw, duplicates
/// included) of `event`, and no repeated delivery of anything.
fn delivered_once(device: &Device, event: &str) -> Result<()> {
    check(
        device.deliveries_of(event) == 1 && device.duplicates() == 0,
        || {
            format!(
                "{} got {} deliveries of {event} and {} repeated deliveries: {:?}",
                device.client_id(),
                device.deliveries_of(event),
                device.duplicates(),
                device.history()
            )
        },
    )
}

/// Expects `event` about `call` with string `field` = `value`.
fn expect_with(
    device: &mut Device,
    event: &str,
    call: &str,
    field: &str,
    value: &str,
) -> Result<Received> {
    let wanted = format!("{event} for {call} with {field}={value}");
    device.expect_where(&wanted, WAIT, |m| {
        m.event() == event && m.call() == Some(call) && m.str(field) == Some(value)
    })
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

fn id_of(message: &Value) -> String {
    message["id"].as_str().unwrap_or_default().to_owned()
}

/// Retries every 503 answer (`in_progress`) until the webhook gives a
/// final one, as the broker does; returns the final answers in order.
fn retry_unfinished(
    webhook: &Webhook,
    device: &DeviceId,
    message: &Value,
    answers: &[Answer],
) -> Result<Vec<Answer>> {
    answers
        .iter()
        .map(|answer| {
            if answer.http == 503 {
                webhook.deliver(device, message)
            } else {
                Ok(answer.clone())
            }
        })
        .collect()
}

/// Fails unless, of concurrent deliveries of one message, exactly one was
/// `processed` and the others `duplicate` or 503 `in_progress`, and after
/// the retries the others are all `duplicate`.
fn processed_once(what: &str, answers: &[Answer], settled: &[Answer]) -> Result<()> {
    let processed = |all: &[Answer]| all.iter().filter(|a| a.is("processed")).count();
    let first_ok = answers
        .iter()
        .all(|a| a.is("processed") || a.is("duplicate") || (a.http == 503 && a.is("in_progress")));
    let settled_ok = settled
        .iter()
        .all(|a| a.is("processed") || a.is("duplicate"));
    check(
        processed(answers) == 1 && first_ok && processed(settled) == 1 && settled_ok,
        || {
            format!(
                "{what} delivered {} times at once: expected processed once, the rest \
                 duplicate or in_progress then duplicate; got {answers:?}, after retries \
                 {settled:?}",
                answers.len()
            )
        },
    )
}

/// Fails unless exactly one answer is `processed` and every other is one
/// of `others`.
fn one_processed(answers: &[Answer], others: &[&str]) -> Result<()> {
    let processed = answers.iter().filter(|a| a.is("processed")).count();
    let allowed = answers
        .iter()
        .all(|a| a.is("processed") || others.iter().any(|o| a.is(o)));
    check(processed == 1 && allowed, || {
        format!("expected one processed and the rest {others:?}, got {answers:?}")
    })
}

#[test]
fn an_upstream_message_delivered_five_times_in_a_row_takes_effect_once() {
    TestBed::run(StackOptions::default(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bobs = [
            bed.device("bob", "bob-phone")?,
            bed.device("bob", "bob-tablet")?,
            bed.device("bob", "bob-laptop")?,
        ];

        let invite = message(ops::invite(&["bob"], "video"));
        for _ in 0..DELIVERIES {
            alice.publish_message(&invite)?;
        }
        wait_for_webhook_deliveries(bed, DELIVERIES as u64)?;
        let call = alice.expect("call.created", WAIT)?.call_id()?;
        for bob in &mut bobs {
            bob.expect_call("call.invitation", &call, WAIT)?;
        }
        let [phone, tablet, laptop] = &mut bobs;
        expect_silence(&mut [&mut alice, phone, tablet, laptop], QUIET)?;
        delivered_once(&alice, "call.created")?;
        for bob in &bobs {
            delivered_once(bob, "call.invitation")?;
        }

        // A transition repeated five times: the cancel.
        let cancel = message(ops::cancel(&call));
        for _ in 0..DELIVERIES {
            alice.publish_message(&cancel)?;
        }
        wait_for_webhook_deliveries(bed, 2 * DELIVERIES as u64)?;
        for bob in &mut bobs {
            expect_with(bob, "call.cancelled", &call, "reason", "cancelled")?;
        }
        expect_with(&mut alice, "call.ended", &call, "reason", "cancelled")?;
        let [phone, tablet, laptop] = &mut bobs;
        expect_silence(&mut [&mut alice, phone, tablet, laptop], QUIET)?;
        delivered_once(&alice, "call.ended")?;
        for bob in &bobs {
            delivered_once(bob, "call.cancelled")?;
        }

        check(bed.bridge().stat("webhook_refused")? == 0, || {
            "no delivery was refused".to_owned()
        })?;
        let state = bed.admin().call(&call)?;
        state.check("ended", Some("cancelled"))?;
        assert_eq!(state.pending_messages(), 0);
        Ok(())
    });
}

#[test]
fn an_upstream_message_delivered_five_times_at_once_takes_effect_once() {
    TestBed::run(redis(), |bed| {
        let webhook = Webhook::of(bed);
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob_phone = bed.device("bob", "bob-phone")?;
        let mut bob_tablet = bed.device("bob", "bob-tablet")?;

        // The invite: one instance creates the call; the others find it
        // created (duplicate) or still being created or published (503
        // in_progress), and their retries find it done.
        let invite = message(ops::invite(&["bob"], "video"));
        let alice_id = DeviceId::of(&alice);
        let answers = same_message_at_once(&webhook, &alice_id, &invite, DELIVERIES)?;
        let settled = retry_unfinished(&webhook, &alice_id, &invite, &answers)?;
        let call = alice.expect("call.created", WAIT)?.call_id()?;
        bob_phone.expect_call("call.invitation", &call, WAIT)?;
        bob_tablet.expect_call("call.invitation", &call, WAIT)?;
        expect_silence(&mut [&mut alice, &mut bob_phone, &mut bob_tablet], QUIET)?;
        delivered_once(&alice, "call.created")?;
        delivered_once(&bob_phone, "call.invitation")?;
        delivered_once(&bob_tablet, "call.invitation")?;
        processed_once("the invite", &answers, &settled)?;

        // A transition: the accept. Compare-and-swap lets one instance
        // apply it; the others re-read and find it applied.
        let accept = message(ops::accept(&call));
        let phone_id = DeviceId::of(&bob_phone);
        let answers = same_message_at_once(&webhook, &phone_id, &accept, DELIVERIES)?;
        let settled = retry_unfinished(&webhook, &phone_id, &accept, &answers)?;
        expect_with(&mut alice, "call.accepted", &call, "user", "bob")?;
        expect_with(&mut bob_phone, "call.accepted", &call, "user", "bob")?;
        bob_tablet.expect_call("call.answered_elsewhere", &call, WAIT)?;
        expect_silence(&mut [&mut alice, &mut bob_phone, &mut bob_tablet], QUIET)?;
        delivered_once(&alice, "call.accepted")?;
        delivered_once(&bob_phone, "call.accepted")?;
        delivered_once(&bob_tablet, "call.answered_elsewhere")?;
        processed_once("the accept", &answers, &settled)?;

        // The leave, published over MQTT while four copies hit the webhook
        // (the bridge's answer is not seen, so at most one processed here).
        let leave = message(ops::leave(&call));
        let copies = (0..DELIVERIES - 1)
            .map(|_| {
                let (webhook, device, leave) = (webhook.clone(), phone_id.clone(), leave.clone());
                Box::new(move || webhook.post(&device, &leave)) as Box<_>
            })
            .collect();
        let posting = thread::spawn(move || at_once(copies));
        bob_phone.publish_message(&leave)?;
        let answers = posting
            .join()
            .unwrap_or_else(|_| Err(HarnessError::Check("the posters panicked".to_owned())))?;
        let settled = retry_unfinished(&webhook, &phone_id, &leave, &answers)?;
        expect_with(&mut alice, "call.participant_left", &call, "user", "bob")?;
        expect_with(&mut alice, "call.ended", &call, "reason", "all_left")?;
        wait_for_webhook_deliveries(bed, 1)?;
        expect_silence(&mut [&mut alice, &mut bob_phone, &mut bob_tablet], QUIET)?;
        delivered_once(&alice, "call.participant_left")?;
        delivered_once(&alice, "call.ended")?;
        let processed = settled.iter().filter(|a| a.is("processed")).count();
        check(
            processed <= 1
                && settled
                    .iter()
                    .all(|a| a.is("processed") || a.is("duplicate")),
            || {
                format!("the leave: at most one processed, the rest duplicate: {answers:?} then {settled:?}")
            },
        )?;

        let state = bed.admin().call(&call)?;
        state.check("ended", Some("all_left"))?;
        assert_eq!(state.pending_messages(), 0);
        Ok(())
    });
}

#[test]
fn a_fan_out_failing_midway_reaches_every_device_exactly_once() {
    TestBed::run(redis(), |bed| {
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bobs = [
            bed.device("bob", "bob-phone")?,
            bed.device("bob", "bob-tablet")?,
            bed.device("bob", "bob-laptop")?,
        ];

        // call.created and three invitations: the first passes, the next
        // two fail, the last passes; the retry sends only the two.
        bed.bridge().fail_publishes(2, 1)?;
        alice.publish(ops::invite(&["bob"], "video"))?;
        let call = alice.expect("call.created", WAIT)?.call_id()?;
        for bob in &mut bobs {
            bob.expect_call("call.invitation", &call, WAIT)?;
        }
        let [phone, tablet, laptop] = &mut bobs;
        expect_silence(&mut [&mut alice, phone, tablet, laptop], QUIET)?;
        check(bed.bridge().stat("publish_failures")? == 2, || {
            "exactly two publishes failed".to_owned()
        })?;
        check(bed.bridge().stat("webhook_retries")? >= 1, || {
            "the webhook's 503 was retried".to_owned()
        })?;
        delivered_once(&alice, "call.created")?;
        for bob in &bobs {
            delivered_once(bob, "call.invitation")?;
        }
        assert_eq!(bed.admin().call(&call)?.pending_messages(), 0);

        // The same for a transition's fan-out: call.accepted to alice and
        // the phone, call.answered_elsewhere to the tablet and the laptop.
        bed.bridge().fail_publishes(2, 1)?;
        bobs[0].publish(ops::accept(&call))?;
        expect_with(&mut alice, "call.accepted", &call, "user", "bob")?;
        expect_with(&mut bobs[0], "call.accepted", &call, "user", "bob")?;
        for bob in &mut bobs[1..] {
            bob.expect_call("call.answered_elsewhere", &call, WAIT)?;
        }
        let [phone, tablet, laptop] = &mut bobs;
        expect_silence(&mut [&mut alice, phone, tablet, laptop], QUIET)?;
        check(bed.bridge().stat("publish_failures")? == 4, || {
            "two more publishes failed".to_owned()
        })?;
        delivered_once(&alice, "call.accepted")?;
        delivered_once(&bobs[0], "call.accepted")?;
        for bob in &bobs[1..] {
            delivered_once(bob, "call.answered_elsewhere")?;
        }
        let state = bed.admin().call(&call)?;
        state.check("active", None)?;
        assert_eq!(state.pending_messages(), 0);
        Ok(())
    });
}

#[test]
fn two_devices_accepting_at_once_leave_exactly_one_joined() {
    TestBed::run(redis(), |bed| {
        let webhook = Webhook::of(bed);
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bobs = [
            bed.device("bob", "bob-phone")?,
            bed.device("bob", "bob-tablet")?,
        ];
        let bob_ids = [DeviceId::of(&bobs[0]), DeviceId::of(&bobs[1])];

        for _ in 0..ROUNDS {
            let call = alice.invite(&["bob"], "audio")?;
            for bob in &mut bobs {
                bob.expect_call("call.invitation", &call, WAIT)?;
            }
            let accepts = [message(ops::accept(&call)), message(ops::accept(&call))];
            let posts = (0..2)
                .map(|i| {
                    let (webhook, device, accept) =
                        (webhook.clone(), bob_ids[i].clone(), accepts[i].clone());
                    Box::new(move || webhook.post(&device, &accept)) as Box<_>
                })
                .collect();
            let answers = at_once(posts)?;
            one_processed(&answers, &["refused"])?;
            let winner = usize::from(!answers[0].is("processed"));
            let loser = 1 - winner;
            check(
                answers[loser].code.as_deref() == Some("invalid_state"),
                || format!("the second accept is invalid_state: {answers:?}"),
            )?;

            expect_with(&mut alice, "call.accepted", &call, "user", "bob")?;
            expect_with(&mut bobs[winner], "call.accepted", &call, "user", "bob")?;
            bobs[loser].expect_call("call.answered_elsewhere", &call, WAIT)?;
            expect_error(&mut bobs[loser], "invalid_state", &id_of(&accepts[loser]))?;
            let state = bed.admin().call(&call)?;
            state.check("active", None)?;
            let joined = state
                .participants()
                .iter()
                .filter(|(user, s)| *user == "bob" && *s == "joined")
                .count();
            check(joined == 1, || format!("bob joined once: {:?}", state.0))?;
            assert_eq!(
                state.joined_device("bob"),
                Some(bob_ids[winner].client_id.as_str())
            );

            alice.publish(ops::leave(&call))?;
            expect_with(
                &mut bobs[winner],
                "call.participant_left",
                &call,
                "user",
                "alice",
            )?;
            expect_with(&mut bobs[winner], "call.ended", &call, "reason", "all_left")?;
            let [phone, tablet] = &mut bobs;
            expect_silence(&mut [&mut alice, phone, tablet], QUIET)?;
        }
        for device in [&alice, &bobs[0], &bobs[1]] {
            check(device.duplicates() == 0, || {
                format!("{} got a message twice", device.client_id())
            })?;
        }
        Ok(())
    });
}

#[test]
fn an_accept_racing_a_cancel_ends_in_one_consistent_outcome() {
    TestBed::run(redis(), |bed| {
        let webhook = Webhook::of(bed);
        let mut alice = bed.device("alice", "alice-phone")?;
        let mut bob = bed.device("bob", "bob-phone")?;
        let (alice_id, bob_id) = (DeviceId::of(&alice), DeviceId::of(&bob));
        let mut outcomes = [0usize; 2];

        for _ in 0..ROUNDS {
            let call = alice.invite(&["bob"], "audio")?;
            bob.expect_call("call.invitation", &call, WAIT)?;
            let accept = message(ops::accept(&call));
            let cancel = message(ops::cancel(&call));
            let posts: Vec<Box<dyn FnOnce() -> Result<Answer> + Send>> = vec![
                {
                    let (webhook, device, accept) =
                        (webhook.clone(), bob_id.clone(), accept.clone());
                    Box::new(move || webhook.post(&device, &accept))
                },
                {
                    let (webhook, device, cancel) =
                        (webhook.clone(), alice_id.clone(), cancel.clone());
                    Box::new(move || webhook.post(&device, &cancel))
                },
            ];
            let answers = at_once(posts)?;
            one_processed(&answers, &["refused"])?;
            let refused = answers.iter().find(|a| a.is("refused"));
            check(
                refused.and_then(|a| a.code.as_deref()) == Some("invalid_state"),
                || format!("the loser is invalid_state: {answers:?}"),
            )?;

            if answers[0].is("processed") {
                // Joined first: the cancel found nobody ringing.
                outcomes[0] += 1;
                expect_with(&mut alice, "call.accepted", &call, "user", "bob")?;
                expect_with(&mut bob, "call.accepted", &call, "user", "bob")?;
                expect_error(&mut alice, "invalid_state", &id_of(&cancel))?;
                let state = bed.admin().call(&call)?;
                state.check("active", None)?;
                assert_eq!(state.participant_state("bob"), Some("joined"));
                bob.publish(ops::leave(&call))?;
                expect_with(&mut alice, "call.participant_left", &call, "user", "bob")?;
                expect_with(&mut alice, "call.ended", &call, "reason", "all_left")?;
            } else {
                // Cancelled first: the accept found the call over.
                outcomes[1] += 1;
                expect_with(&mut bob, "call.cancelled", &call, "reason", "cancelled")?;
                expect_with(&mut alice, "call.ended", &call, "reason", "cancelled")?;
                expect_error(&mut bob, "invalid_state", &id_of(&accept))?;
                let state = bed.admin().call(&call)?;
                state.check("ended", Some("cancelled"))?;
                assert_eq!(state.participant_state("bob"), Some("cancelled"));
            }
            expect_silence(&mut [&mut alice, &mut bob], QUIET)?;
        }
        eprintln!(
            "accept won {} rounds, cancel won {} rounds",
            outcomes[0], outcomes[1]
        );
        check(alice.duplicates() == 0 && bob.duplicates() == 0, || {
            "no message was delivered twice".to_owned()
        })
    });
}

#[test]
fn two_hundred_calls_under_redelivery_and_faults_lose_and_duplicate_nothing() {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard-load"))
        .args([
            "--invites",
            "200",
            "--kv",
            "redis",
            "--redeliver-probability",
            "0.3",
            "--fault-every",
            "20",
            "--pairs",
            "8",
        ])
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => panic!("cannot run switchboard-load: {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("summary "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or(Value::Null);
    let field = |name: &str| summary.get(name).and_then(Value::as_u64);
    let clean = output.status.success()
        && field("cycles") == Some(200)
        && field("lost") == Some(0)
        && field("duplicated") == Some(0)
        && field("unexpected") == Some(0)
        && field("faults_injected") == Some(10)
        && field("redeliveries").is_some_and(|n| n > 0);
    assert!(
        clean,
        "switchboard-load failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    eprintln!("{stdout}");
}
