//! Property tests: random sequences of operations from random registered
//! devices, with random clock jumps, expiry runs, redeliveries, store
//! failures and broker failures, retried the way EMQX retries (same event,
//! until it is no longer a 503).
//!
//! After every step: nothing panicked, every stored call decodes, and the
//! call invariants hold (one participant record per user, so at most one
//! joined device per user; a joined device is one of the user's invited
//! devices; an ended call rings nobody), and every message ID the broker
//! ever accepted always names the same device and the same event.
//!
//! A second property runs each sequence twice, with and without injected
//! failures, and requires both runs to end in the same state: failures may
//! delay work, never lose or duplicate it.

use crate::support::*;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use switchboard_calls::{Call, ParticipantState};

/// (user, device) pairs, all registered.
const DEVICES: &[(&str, &str)] = &[
    ("alice", "alice1"),
    ("alice", "alice2"),
    ("bob", "bob1"),
    ("bob", "bob2"),
    ("carol", "carol1"),
    ("dave", "dave1"),
    ("erin", "erin1"),
];
/// Users ops may name; `nobody` has no device.
const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin", "nobody"];
/// Key prefixes store faults aim at.
const PREFIXES: &[&str] = &["", "call/", "user/", "void/"];
/// How often an event is retried before the test gives up on it.
const RETRIES: usize = 24;
/// The service's in-progress lease, plus one millisecond.
const LEASE_MS: i64 = 10_001;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Ringing,
    Accept,
    Reject,
    Cancel,
    Leave,
    End,
    Mute,
    Unmute,
    Remove,
    Renew,
    Invite,
    Sync,
}

#[derive(Debug, Clone)]
enum Step {
    /// An op on the main call.
    Op {
        device: usize,
        kind: Kind,
        user: usize,
        flag: bool,
    },
    /// A new call from `device` to `users`.
    NewCall { device: usize, users: Vec<usize> },
    /// The clock moves on.
    Advance(i64),
    /// The scheduler runs the expiry task.
    Expire,
    /// The broker redelivers an earlier event (index modulo the history).
    Redeliver(usize),
    /// The next `n` store writes of a kind, on keys under a prefix, fail.
    StoreFault { cas: bool, prefix: usize, n: usize },
    /// The broker's next answer is a failure.
    BrokerFault(u8),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Ringing),
        Just(Kind::Accept),
        Just(Kind::Accept),
        Just(Kind::Reject),
        Just(Kind::Cancel),
        Just(Kind::Leave),
        Just(Kind::End),
        Just(Kind::Mute),
        Just(Kind::Unmute),
        Just(Kind::Remove),
        Just(Kind::Renew),
        Just(Kind::Invite),
        Just(Kind::Sync),
    ]
}

fn op_step() -> impl Strategy<Value = Step> {
    (0..DEVICES.len(), kind(), 0..USERS.len(), any::<bool>()).prop_map(
        |(device, kind, user, flag)| Step::Op {
            device,
            kind,
            user,
            flag,
        },
    )
}

fn fault_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (any::<bool>(), 0..PREFIXES.len(), 1..4usize)
            .prop_map(|(cas, prefix, n)| Step::StoreFault { cas, prefix, n }),
        (0..4u8).prop_map(Step::BrokerFault),
    ]
}

fn time_step() -> impl Strategy<Value = Step> {
    prop_oneof![(0..40_000i64).prop_map(Step::Advance), Just(Step::Expire),]
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => op_step(),
        2 => time_step(),
        2 => fault_step(),
        1 => (0..64usize).prop_map(Step::Redeliver),
        1 => (0..DEVICES.len(), proptest::collection::vec(0..USERS.len(), 1..3))
            .prop_map(|(device, users)| Step::NewCall { device, users }),
    ]
}

/// Steps that keep the clock in step between a faulty and a clean run:
/// no new calls (whose stalled claims need the lease to pass) and no
/// redeliveries (whose outcome may legitimately depend on timing).
fn twin_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => op_step(),
        2 => time_step(),
        3 => fault_step(),
    ]
}

/// One simulated deployment with a call in progress.
struct World {
    h: Harness,
    call: String,
    history: Vec<Value>,
    seq: usize,
    /// Whether fault steps are carried out (the clean twin skips them).
    faults: bool,
}

impl World {
    fn new(seed: u64, faults: bool) -> Self {
        let h = Harness {
            p: TestPlatform::new(seed),
        };
        for (user, device) in DEVICES {
            h.register(user, device);
        }
        let call = h.invite("alice1", "start", &["bob", "carol"]);
        Self {
            h,
            call,
            history: Vec::new(),
            seq: 0,
            faults,
        }
    }

    /// Stacked faults may outlast a few retries; then the store and the
    /// broker recover, as they would.
    fn recover_after(&self, attempt: usize) {
        if attempt == RETRIES / 2 {
            self.h.p.kv.clear_faults();
            self.h.p.broker.clear_script();
        }
    }

    /// Delivers `envelope` like EMQX: again while it is answered 503.
    fn deliver(&self, envelope: &Value) -> Result<(), TestCaseError> {
        for attempt in 0..RETRIES {
            self.recover_after(attempt);
            let r = self.h.deliver(envelope);
            if r.status == 200 {
                for (status, code) in r.results() {
                    prop_assert!(
                        ["processed", "duplicate", "refused"].contains(&status.as_str()),
                        "{}",
                        r.text
                    );
                    prop_assert_eq!(status == "refused", code.is_some(), "{}", &r.text);
                }
                return Ok(());
            }
            prop_assert_eq!(r.status, 503, "{}", &r.text);
            let code = r.error_code();
            prop_assert!(
                ["broker_unavailable", "storage_unavailable", "in_progress"].contains(&code),
                "{}",
                r.text
            );
            if code == "in_progress" {
                self.h.p.advance(LEASE_MS);
            }
        }
        Err(TestCaseError::fail(format!(
            "{envelope} was never processed"
        )))
    }

    /// Runs the expiry task until it succeeds.
    fn expire(&self) -> Result<(), TestCaseError> {
        for attempt in 0..RETRIES {
            self.recover_after(attempt);
            let r = self.h.admin("POST", "/v1/tasks/expire");
            if r.status == 200 {
                return Ok(());
            }
            prop_assert_eq!(r.status, 503, "{}", &r.text);
        }
        Err(TestCaseError::fail("the expiry task never succeeded"))
    }

    fn op_fields(&self, kind: Kind, user: &str, flag: bool) -> Value {
        let call = self.call.as_str();
        let media = if flag { "audio" } else { "video" };
        match kind {
            Kind::Ringing => json!({"op": "ringing", "call": call}),
            Kind::Accept => json!({"op": "accept", "call": call}),
            Kind::Reject => {
                json!({"op": "reject", "call": call, "reason": if flag { "busy" } else { "decline" }})
            }
            Kind::Cancel if flag => json!({"op": "cancel", "call": call, "to": [user]}),
            Kind::Cancel => json!({"op": "cancel", "call": call}),
            Kind::Leave => json!({"op": "leave", "call": call}),
            Kind::End => json!({"op": "end", "call": call}),
            Kind::Mute => json!({"op": "mute", "call": call, "user": user, "media": media}),
            Kind::Unmute => json!({"op": "unmute", "call": call, "user": user, "media": media}),
            Kind::Remove => json!({"op": "remove", "call": call, "user": user}),
            Kind::Renew => json!({"op": "renew", "call": call}),
            Kind::Invite => json!({"op": "invite", "call": call, "to": [user]}),
            Kind::Sync => json!({"op": "sync"}),
        }
    }

    fn send(&mut self, device: &str, fields: Value) -> Result<(), TestCaseError> {
        self.seq += 1;
        let id = format!("p{}", self.seq);
        let envelope = envelope(device, &id, &upstream(&id, self.h.now(), fields));
        self.deliver(&envelope)?;
        self.history.push(envelope);
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match step {
            Step::Op {
                device,
                kind,
                user,
                flag,
            } => {
                let fields = self.op_fields(*kind, USERS[*user], *flag);
                self.send(DEVICES[*device].1, fields)?;
            }
            Step::NewCall { device, users } => {
                let to: Vec<&str> = users.iter().map(|u| USERS[*u]).collect();
                let fields = json!({"op": "invite", "to": to, "media": "audio"});
                self.send(DEVICES[*device].1, fields)?;
            }
            Step::Advance(ms) => self.h.p.advance(*ms),
            Step::Expire => self.expire()?,
            Step::Redeliver(i) => {
                if !self.history.is_empty() {
                    let envelope = self.history[i % self.history.len()].clone();
                    self.deliver(&envelope)?;
                }
            }
            Step::StoreFault { cas, prefix, n } if self.faults => {
                let op = if *cas { KvOp::Cas } else { KvOp::Set };
                self.h.p.kv.fail_next(op, PREFIXES[*prefix], *n);
            }
            Step::BrokerFault(kind) if self.faults => self.h.p.broker.script(match kind {
                0 => Reply::Transport,
                1 => Reply::Status(401, "{}".into()),
                2 => Reply::Status(503, r#"{"reason_code":131}"#.into()),
                _ => Reply::FailWhere(Box::new(|m: &Published| {
                    m.id().ends_with(['0', '1', '2', '3', '4', '5', '6', '7'])
                })),
            }),
            Step::StoreFault { .. } | Step::BrokerFault(_) => {}
        }
        Ok(())
    }

    /// Every stored call, decoded exactly as the service decodes it.
    fn calls(&self) -> Result<BTreeMap<String, Call>, TestCaseError> {
        let mut calls = BTreeMap::new();
        for key in self.h.p.kv.keys("call/") {
            let raw = self.h.p.kv.raw(&key).unwrap_or_default();
            let call: Call = serde_json::from_slice(&raw).map_err(|e| {
                TestCaseError::fail(format!(
                    "{key} does not decode: {e}: {}",
                    String::from_utf8_lossy(&raw)
                ))
            })?;
            calls.insert(key, call);
        }
        Ok(calls)
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (key, call) in self.calls()? {
            let users: BTreeSet<&str> = call.participants.iter().map(|p| p.user.as_str()).collect();
            prop_assert_eq!(
                users.len(),
                call.participants.len(),
                "{} has two records for one user",
                &key
            );
            prop_assert_eq!(
                &call.participants[0].user,
                &call.host,
                "{}: host first",
                &key
            );
            for p in &call.participants {
                if let ParticipantState::Joined { device, .. } = &p.state {
                    prop_assert!(
                        p.devices.contains(device),
                        "{key}: {} joined on a device it was not invited on",
                        p.user
                    );
                }
                if call.is_ended() {
                    prop_assert!(!p.is_invited(), "{key} ended but {} still rings", p.user);
                }
            }
            let applied: BTreeSet<(&str, &str)> = call
                .applied
                .iter()
                .map(|a| (a.client.as_str(), a.id.as_str()))
                .collect();
            prop_assert_eq!(applied.len(), call.applied.len(), "{}: applied twice", &key);
        }
        let mut seen: BTreeMap<String, (String, String, Option<String>)> = BTreeMap::new();
        for m in self.h.p.broker.published() {
            let text = m.payload.to_string();
            assert_no_secret("a published message", &text);
            let client = m.client().to_owned();
            prop_assert!(
                m.topic == format!("sig-dn/p2p/{client}")
                    || m.topic == format!("sig-bulk/p2p/{client}"),
                "{}",
                m.topic
            );
            prop_assert!(DEVICES.iter().any(|(_, d)| cid(d) == client), "{}", &client);
            prop_assert!(
                m.payload["expires_at"].as_i64() > m.payload["ts"].as_i64(),
                "{}",
                &text
            );
            let identity = (client, m.event().to_owned(), m.call().map(str::to_owned));
            match seen.get(m.id()) {
                Some(first) => prop_assert_eq!(
                    first,
                    &identity,
                    "message ID {} reused for another device or event",
                    m.id()
                ),
                None => {
                    seen.insert(m.id().to_owned(), identity);
                }
            }
        }
        Ok(())
    }

    /// Lets the outbox grace period pass and the scheduler run twice, so
    /// every held-back message goes out and, a run later, ended calls with
    /// nothing left to send are purged.
    fn settle(&self) -> Result<(), TestCaseError> {
        self.h.p.kv.clear_faults();
        self.h.p.broker.clear_script();
        self.h.p.advance(5_000);
        self.expire()?;
        self.expire()?;
        self.check()
    }

    /// What a faulty and a clean run must agree on: each call's state and
    /// deduplication memory, each user's call references, and the set of
    /// message IDs delivered.
    fn summary(&self) -> Result<Value, TestCaseError> {
        let mut calls = BTreeMap::new();
        for (key, call) in self.calls()? {
            let participants: Vec<Value> = call
                .participants
                .iter()
                .map(|p| json!([p.user, p.devices, p.state, p.muted]))
                .collect();
            let applied: BTreeSet<String> = call
                .applied
                .iter()
                .map(|a| format!("{}/{}", a.client, a.id))
                .collect();
            calls.insert(
                key,
                json!({"participants": participants, "ended": call.ended, "applied": applied,
                       "outbox": call.outbox.len()}),
            );
        }
        let mut users = BTreeMap::new();
        for key in self.h.p.kv.keys("user/") {
            let record = self.h.p.kv.json(&key).unwrap_or_default();
            let refs: BTreeSet<String> = record["calls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["call"].as_str().map(str::to_owned))
                .collect();
            users.insert(key, json!({"devices": record["devices"], "calls": refs}));
        }
        let ids: BTreeSet<String> = self
            .h
            .p
            .broker
            .published()
            .iter()
            .map(|m| m.id().to_owned())
            .collect();
        Ok(json!({"calls": calls, "users": users, "published": ids}))
    }
}

/// 96 cases per property (a few seconds), or `PROPTEST_CASES` for a soak.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig {
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 96;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_operations_keep_every_invariant(
        seed in any::<u64>(),
        steps in proptest::collection::vec(any_step(), 1..40),
    ) {
        let mut world = World::new(seed, true);
        world.check()?;
        for step in &steps {
            world.step(step)?;
            world.check()?;
        }
        world.settle()?;
    }

    #[test]
    fn failures_delay_work_but_never_change_its_outcome(
        steps in proptest::collection::vec(twin_step(), 1..30),
    ) {
        let mut faulty = World::new(7, true);
        let mut clean = World::new(7, false);
        for step in &steps {
            faulty.step(step)?;
            clean.step(step)?;
            prop_assert_eq!(faulty.h.now(), clean.h.now());
        }
        faulty.settle()?;
        clean.settle()?;
        prop_assert_eq!(faulty.summary()?, clean.summary()?);
    }
}
