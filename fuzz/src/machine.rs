//! The call state machine driven by arbitrary operation sequences, the way
//! the service drives it: a redelivered message that was applied has no
//! effect, passed deadlines are applied before every operation, and a
//! refused operation leaves the call as it was (apart from the deadlines).

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use switchboard_calls::{
    apply, call_id_for_invite, create, expire, Call, Invitee, Minter, NewCall, ParticipantState,
    Sender,
};
use switchboard_protocol::upstream::RejectReason;
use switchboard_protocol::{
    CallId, ClientId, Config, Media, MessageId, Op, OutboundMessage, Refusal, Upstream, UserId,
};

/// 2025-11-22T00:00:00Z.
const T0: i64 = 1_763_769_600_000;
/// Most steps one input runs.
const MAX_STEPS: usize = 64;
/// The users; the first is the host, the last has no device.
const USERS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];

fn devices_of(user: usize) -> &'static [&'static str] {
    match user {
        0 => &["alice1", "alice2"],
        1 => &["bob1", "bob2"],
        2 => &["carol1"],
        3 => &["dave1"],
        _ => &[],
    }
}

/// Every device, with its user's index.
const DEVICES: [(usize, &str); 6] = [
    (0, "alice1"),
    (0, "alice2"),
    (1, "bob1"),
    (1, "bob2"),
    (2, "carol1"),
    (3, "dave1"),
];

fn client(device: &str) -> ClientId {
    ClientId::parse(&format!("GID_fuzz@@@{device}")).unwrap_or_else(|e| panic!("{e}"))
}

fn user(i: usize) -> UserId {
    UserId::parse(USERS[i % USERS.len()]).unwrap_or_else(|e| panic!("{e}"))
}

fn config() -> Config {
    Config::from_lookup(|name| {
        let value = match name {
            "rtc_app_id" => "app",
            "rtc_app_key" => "key",
            "broker_api_url" => "http://127.0.0.1:1",
            "broker_api_key" => "k",
            "broker_api_secret" => "s",
            "webhook_token" => "w",
            "admin_token" => "a",
            _ => return None,
        };
        Some(value.to_owned())
    })
    .unwrap_or_else(|e| panic!("{e:?}"))
}

/// Deterministic join parameters, so re-applying a message can be compared.
struct FakeMinter;

impl Minter for FakeMinter {
    fn mint(&self, call: &CallId, user: &UserId, device: &ClientId) -> Result<Value, Refusal> {
        Ok(json!({"provider": "fuzz", "channel": call, "user_id": user, "device": device}))
    }
}

/// An invitee as the directory and busy check would report them.
#[derive(Arbitrary, Debug)]
struct Target {
    user: u8,
    busy: bool,
}

#[derive(Arbitrary, Debug)]
enum Action {
    Ringing,
    Accept,
    Reject(bool),
    Cancel(Option<Vec<u8>>),
    Leave,
    End,
    Mute(u8, bool),
    Unmute(u8, bool),
    Remove(u8),
    Renew,
    Invite(Vec<Target>),
    Sync,
    /// The expiry task runs.
    Expire,
    /// An earlier message comes again.
    Redeliver(u8),
}

#[derive(Arbitrary, Debug)]
struct Step {
    device: u8,
    advance_ms: u16,
    action: Action,
}

#[derive(Arbitrary, Debug)]
struct Script {
    invitees: Vec<Target>,
    video: bool,
    steps: Vec<Step>,
}

/// Targets as an invite's `to` decodes them: distinct users, in order.
fn invitees(targets: &[Target]) -> Vec<Invitee> {
    let mut out: Vec<Invitee> = Vec::new();
    for t in targets.iter().take(8) {
        let i = usize::from(t.user) % USERS.len();
        let user = user(i);
        if out.iter().any(|o| o.user == user) {
            continue;
        }
        out.push(Invitee {
            user,
            devices: devices_of(i).iter().map(|d| client(d)).collect(),
            busy: t.busy,
            replaced_by: None,
        });
    }
    out
}

fn users(ids: &[u8]) -> Vec<UserId> {
    let mut out: Vec<UserId> = Vec::new();
    for &i in ids.iter().take(8) {
        let u = user(usize::from(i));
        if !out.contains(&u) {
            out.push(u);
        }
    }
    out
}

/// What the run has emitted: each message ID with its device and event.
#[derive(Default)]
struct Ledger {
    seen: BTreeMap<String, (ClientId, &'static str, Option<CallId>)>,
}

impl Ledger {
    fn record(&mut self, messages: &[OutboundMessage]) {
        for m in messages {
            let identity = (m.to.clone(), m.message.event.name(), m.message.call.clone());
            if let Some(first) = self.seen.insert(m.message.id.clone(), identity.clone()) {
                panic!(
                    "message ID {} emitted twice: {first:?} and {identity:?}",
                    m.message.id
                );
            }
            assert!(m.message.expires_at > m.message.ts, "{m:?}");
        }
    }
}

/// The invariants every stored call must keep.
fn check(call: &Call) {
    let raw = serde_json::to_vec(call).unwrap_or_else(|e| panic!("encode: {e}"));
    let back: Call = serde_json::from_slice(&raw).unwrap_or_else(|e| panic!("decode: {e}"));
    assert_eq!(&back, call, "the stored form round-trips");
    assert_eq!(call.participants[0].user, call.host, "host first");
    for (i, p) in call.participants.iter().enumerate() {
        assert!(
            !call.participants[..i].iter().any(|q| q.user == p.user),
            "two records for {}",
            p.user
        );
        if let ParticipantState::Joined { device, .. } = &p.state {
            assert!(p.devices.contains(device), "{} joined elsewhere", p.user);
        }
        assert!(
            !(call.is_ended() && p.is_invited()),
            "ended call still rings {}",
            p.user
        );
    }
}

/// Runs an arbitrary script against one call; panics if an invariant breaks.
pub fn state_machine(data: &[u8]) {
    let Ok(script) = Script::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    let config = config();
    let host = Sender {
        client: client("alice1"),
        user: user(0),
    };
    let invite_id = MessageId::parse("start").unwrap_or_else(|e| panic!("{e}"));
    let new = NewCall {
        id: call_id_for_invite(&host.client, &invite_id),
        sender: host,
        message: invite_id,
        message_ts: T0,
        media: if script.video {
            Media::Video
        } else {
            Media::Audio
        },
        meta: None,
        invitees: invitees(&script.invitees),
    };
    let Ok((mut call, messages)) = create(new, &config, &FakeMinter, T0) else {
        return;
    };
    let mut ledger = Ledger::default();
    ledger.record(&messages);
    check(&call);
    let mut now = T0;
    let mut history: Vec<(Sender, Upstream, Vec<Invitee>)> = Vec::new();
    for (n, step) in script.steps.iter().take(MAX_STEPS).enumerate() {
        now += i64::from(step.advance_ms);
        let (device_user, device) = DEVICES[usize::from(step.device) % DEVICES.len()];
        let sender = Sender {
            client: client(device),
            user: user(device_user),
        };
        let id = call.id.clone();
        let mut mid_call = Vec::new();
        let op = match &step.action {
            Action::Expire => {
                if let Some((next, messages)) = expire(&call, now) {
                    ledger.record(&messages);
                    call = next;
                    check(&call);
                }
                continue;
            }
            Action::Redeliver(k) => {
                if history.is_empty() {
                    continue;
                }
                let (sender, message, targets) = history[usize::from(*k) % history.len()].clone();
                deliver(
                    &mut call,
                    &sender,
                    &message,
                    &targets,
                    &config,
                    now,
                    &mut ledger,
                );
                continue;
            }
            Action::Ringing => Op::Ringing { call: id },
            Action::Accept => Op::Accept { call: id },
            Action::Reject(busy) => Op::Reject {
                call: id,
                reason: if *busy {
                    RejectReason::Busy
                } else {
                    RejectReason::Decline
                },
            },
            Action::Cancel(to) => Op::Cancel {
                call: id,
                to: to.as_deref().map(users),
            },
            Action::Leave => Op::Leave { call: id },
            Action::End => Op::End { call: id },
            Action::Mute(u, audio) | Action::Unmute(u, audio) => {
                let media = if *audio { Media::Audio } else { Media::Video };
                let target = user(usize::from(*u));
                if matches!(step.action, Action::Mute(..)) {
                    Op::Mute {
                        call: id,
                        user: target,
                        media,
                    }
                } else {
                    Op::Unmute {
                        call: id,
                        user: target,
                        media,
                    }
                }
            }
            Action::Remove(u) => Op::Remove {
                call: id,
                user: user(usize::from(*u)),
            },
            Action::Renew => Op::Renew { call: id },
            Action::Invite(targets) => {
                mid_call = invitees(targets);
                if mid_call.is_empty() {
                    continue;
                }
                Op::Invite {
                    call: Some(id),
                    to: mid_call.iter().map(|i| i.user.clone()).collect(),
                    media: None,
                    meta: None,
                }
            }
            Action::Sync => Op::Sync,
        };
        let message = Upstream {
            id: MessageId::parse(&format!("m{n}")).unwrap_or_else(|e| panic!("{e}")),
            ts: now,
            op,
        };
        deliver(
            &mut call,
            &sender,
            &message,
            &mid_call,
            &config,
            now,
            &mut ledger,
        );
        history.push((sender, message, mid_call));
    }
}

/// What the service does with one message for an existing call.
fn deliver(
    call: &mut Call,
    sender: &Sender,
    message: &Upstream,
    invitees: &[Invitee],
    config: &Config,
    now: i64,
    ledger: &mut Ledger,
) {
    if call.has_applied(&sender.client, &message.id) {
        return;
    }
    let (current, mut messages) = expire(call, now).unwrap_or_else(|| (call.clone(), Vec::new()));
    let first = apply(
        &current,
        sender,
        message,
        invitees,
        config,
        &FakeMinter,
        now,
    );
    let again = apply(
        &current,
        sender,
        message,
        invitees,
        config,
        &FakeMinter,
        now,
    );
    assert_eq!(first, again, "a transition is a pure function");
    match first {
        Ok((next, more)) => {
            assert!(next.has_applied(&sender.client, &message.id));
            assert!(more
                .iter()
                .all(|m| m.message.in_reply_to.as_ref() == Some(&message.id)));
            messages.extend(more);
            *call = next;
        }
        Err(refusal) => {
            assert!(
                (400..500).contains(&refusal.code.http_status()),
                "{refusal:?}"
            );
            *call = current;
        }
    }
    ledger.record(&messages);
    check(call);
}
