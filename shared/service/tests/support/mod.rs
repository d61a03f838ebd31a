//! An in-process host for `switchboard_service::handle`: the five ports of
//! `Platform` implemented in memory, so every test drives the real request
//! pipeline exactly as the Spin component does, with time, randomness,
//! storage failures and broker answers under the test's control.
//!
//! - [`MemKv`]: a key-value store whose compare-and-swap is atomic, which
//!   can fail the next N operations of a kind on demand, and can pause a
//!   thread just before an operation (to interleave two deliveries).
//! - [`FakeEmqx`]: EMQX's `POST /api/v5/publish/bulk`, checking the request
//!   like EMQX would, recording every message it accepts, and answering
//!   from a script (per-message 503s, 401, 400, transport errors).
//! - [`TestPlatform`]: the two above plus a settable clock, a seeded random
//!   source and the Spin variables.
//! - [`Harness`]: request helpers that also check no response ever carries
//!   a secret.

use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::Duration;
use switchboard_broker::{HttpClient, HttpRequest, HttpResponse, TransportError};
use switchboard_service::{KeyValue, Platform, Request, StoreError, Surface};

/// The tests' epoch: 2025-11-22T00:00:00Z.
pub const T0: i64 = 1_763_769_600_000;
/// The group every test device belongs to.
pub const GROUP: &str = "GID_test";
/// Where the fake broker's API lives.
pub const BROKER_URL: &str = "http://127.0.0.1:18083";
/// The broker API key (not a secret: only the pair is).
pub const BROKER_KEY: &str = "broker-key";

/// The secret settings, each a distinctive string no response, log line or
/// published message may ever contain.
pub const WEBHOOK_TOKEN: &str = "whtok-SECRET-4f9c1d2e7a";
/// See [`WEBHOOK_TOKEN`].
pub const WEBHOOK_SECRET: &str = "whsec-SECRET-8b7a6c5d3e";
/// See [`WEBHOOK_TOKEN`].
pub const ADMIN_TOKEN: &str = "admtok-SECRET-1a2b3c4d5f";
/// See [`WEBHOOK_TOKEN`].
pub const BROKER_SECRET: &str = "brksec-SECRET-9e8d7c6b5a";
/// See [`WEBHOOK_TOKEN`].
pub const RTC_KEY: &str = "rtckey-SECRET-5f4e3d2c1b";
/// Every secret value configured by default.
pub const SECRETS: &[&str] = &[
    WEBHOOK_TOKEN,
    WEBHOOK_SECRET,
    ADMIN_TOKEN,
    BROKER_SECRET,
    RTC_KEY,
];

/// Locks a mutex, recovering from a panicked holder (a failed assertion in
/// another thread must not hide the original failure behind a poison panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How long a test waits for another thread to reach a gate.
const GATE_DEADLINE: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Key-value store
// ---------------------------------------------------------------------------

/// A kind of key-value operation, for fault injection and gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    /// `get`.
    Get,
    /// `set`.
    Set,
    /// `delete`.
    Delete,
    /// `compare_and_swap`.
    Cas,
    /// `keys_with_prefix`.
    Keys,
}

struct Fault {
    op: KvOp,
    prefix: String,
    remaining: usize,
}

struct Gate {
    op: KvOp,
    prefix: String,
    reached: mpsc::Sender<()>,
    release: mpsc::Receiver<()>,
}

#[derive(Default)]
struct KvState {
    data: BTreeMap<String, Vec<u8>>,
    faults: Vec<Fault>,
    /// Writes (sets and compare-and-swaps) to let through before failing one.
    fail_write_after: Option<usize>,
    injected: usize,
}

/// An in-memory key-value store; one mutex makes every operation atomic.
#[derive(Default)]
pub struct MemKv {
    state: Mutex<KvState>,
    gate: Mutex<Option<Gate>>,
}

/// The test's side of a gate set with [`MemKv::pause_before`].
pub struct GateHandle {
    reached: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

impl GateHandle {
    /// Waits until a thread is paused at the gate.
    pub fn wait_reached(&self) {
        self.reached
            .recv_timeout(GATE_DEADLINE)
            .expect("no thread reached the gate");
    }

    /// Lets the paused thread go on.
    pub fn release(&self) {
        // The paused thread may already have panicked; its join reports it.
        let _ = self.release.send(());
    }
}

impl MemKv {
    /// Fails the next `n` operations of kind `op` on keys starting with
    /// `prefix` (`""`: any key) with a `StoreError`, leaving the data as is.
    pub fn fail_next(&self, op: KvOp, prefix: &str, n: usize) {
        lock(&self.state).faults.push(Fault {
            op,
            prefix: prefix.to_owned(),
            remaining: n,
        });
    }

    /// Lets `n` writes (sets or compare-and-swaps, on any key) through,
    /// then fails the next one.
    pub fn fail_nth_write(&self, n: usize) {
        lock(&self.state).fail_write_after = Some(n);
    }

    /// Drops every pending fault.
    pub fn clear_faults(&self) {
        let mut state = lock(&self.state);
        state.faults.clear();
        state.fail_write_after = None;
    }

    /// How many operations failed by injection so far.
    pub fn injected_failures(&self) -> usize {
        lock(&self.state).injected
    }

    /// Pauses the first thread that is about to perform `op` on a key
    /// starting with `prefix`, until the returned handle releases it.
    pub fn pause_before(&self, op: KvOp, prefix: &str) -> GateHandle {
        let (reached_tx, reached_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel();
        *lock(&self.gate) = Some(Gate {
            op,
            prefix: prefix.to_owned(),
            reached: reached_tx,
            release: release_rx,
        });
        GateHandle {
            reached: reached_rx,
            release: release_tx,
        }
    }

    /// The stored bytes of `key`.
    pub fn raw(&self, key: &str) -> Option<Vec<u8>> {
        lock(&self.state).data.get(key).cloned()
    }

    /// Every `(key, value)` pair, sorted by key.
    pub fn dump(&self) -> BTreeMap<String, Vec<u8>> {
        lock(&self.state).data.clone()
    }

    /// Every key starting with `prefix`, sorted.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        lock(&self.state)
            .data
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Writes `key` directly, bypassing faults (to plant corrupt records).
    pub fn put_raw(&self, key: &str, value: &[u8]) {
        lock(&self.state)
            .data
            .insert(key.to_owned(), value.to_vec());
    }

    /// The record at `key` as JSON.
    pub fn json(&self, key: &str) -> Option<Value> {
        self.raw(key)
            .map(|raw| serde_json::from_slice(&raw).expect("stored records are JSON"))
    }

    fn pass_gate(&self, op: KvOp, key: &str) {
        let gate = {
            let mut slot = lock(&self.gate);
            match slot.as_ref() {
                Some(g) if g.op == op && key.starts_with(&g.prefix) => slot.take(),
                _ => None,
            }
        };
        if let Some(gate) = gate {
            let _ = gate.reached.send(());
            let _ = gate.release.recv_timeout(GATE_DEADLINE);
        }
    }

    /// Runs `f` on the data unless a fault for `op` on `key` is pending.
    fn run<T>(
        &self,
        op: KvOp,
        key: &str,
        f: impl FnOnce(&mut BTreeMap<String, Vec<u8>>) -> T,
    ) -> Result<T, StoreError> {
        self.pass_gate(op, key);
        let mut state = lock(&self.state);
        let fault = state
            .faults
            .iter_mut()
            .find(|f| f.op == op && f.remaining > 0 && key.starts_with(&f.prefix));
        let mut fail = false;
        if let Some(fault) = fault {
            fault.remaining -= 1;
            state.faults.retain(|f| f.remaining > 0);
            fail = true;
        }
        if matches!(op, KvOp::Set | KvOp::Cas) {
            match state.fail_write_after {
                Some(0) => {
                    state.fail_write_after = None;
                    fail = true;
                }
                Some(n) => state.fail_write_after = Some(n - 1),
                None => {}
            }
        }
        if fail {
            state.injected += 1;
            return Err(StoreError(format!("injected {op:?} failure on {key}")));
        }
        Ok(f(&mut state.data))
    }
}

impl KeyValue for MemKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.run(KvOp::Get, key, |data| data.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.run(KvOp::Set, key, |data| {
            data.insert(key.to_owned(), value.to_vec());
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.run(KvOp::Delete, key, |data| {
            data.remove(key);
        })
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        self.run(KvOp::Cas, key, |data| match data.get_mut(key) {
            Some(current) if current.as_slice() == expected => {
                *current = new.to_vec();
                true
            }
            _ => false,
        })
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.run(KvOp::Keys, prefix, |data| {
            data.keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect()
        })
    }
}

// ---------------------------------------------------------------------------
// Broker
// ---------------------------------------------------------------------------

/// One message as the broker took it from a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The full topic.
    pub topic: String,
    /// The payload, parsed (the downstream message).
    pub payload: Value,
    /// `properties.message_expiry_interval`, if set.
    pub expiry_seconds: Option<u64>,
}

impl Published {
    /// The downstream message's `id`.
    pub fn id(&self) -> &str {
        self.payload["id"].as_str().unwrap_or("")
    }

    /// The downstream message's `event`.
    pub fn event(&self) -> &str {
        self.payload["event"].as_str().unwrap_or("")
    }

    /// The downstream message's `call`, if any.
    pub fn call(&self) -> Option<&str> {
        self.payload["call"].as_str()
    }

    /// The target client ID: the topic's last level.
    pub fn client(&self) -> &str {
        self.topic.rsplit('/').next().unwrap_or("")
    }

    /// The target device's short name (`alice1` for `GID_test@@@alice1`).
    pub fn device(&self) -> &str {
        self.client().split_once("@@@").map_or("", |(_, d)| d)
    }
}

/// Decides which messages of a request fail.
pub type FailRule = Box<dyn Fn(&Published) -> bool + Send>;

/// How the fake broker answers one bulk request.
pub enum Reply {
    /// 200: every message went to a subscriber.
    Accept,
    /// 202 with `no_matching_subscribers` for every message.
    NoSubscribers,
    /// 503 with per-message results: messages matching the rule fail with
    /// `failed_to_dispatch`, the others are accepted (200 if none matched).
    FailWhere(FailRule),
    /// This status with this body; nothing is published.
    Status(u16, String),
    /// No HTTP answer at all.
    Transport,
}

/// One bulk request and what became of each of its messages.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The messages, in request order.
    pub messages: Vec<Published>,
    /// Which of them the broker accepted.
    pub accepted: Vec<bool>,
    /// The HTTP status answered (`None`: transport error).
    pub status: Option<u16>,
}

#[derive(Default)]
struct BrokerState {
    script: VecDeque<Reply>,
    attempts: Vec<Attempt>,
}

/// EMQX's bulk publish API, in memory.
#[derive(Default)]
pub struct FakeEmqx {
    state: Mutex<BrokerState>,
}

impl FakeEmqx {
    /// Answers the next request with `reply` (after any already scripted);
    /// unscripted requests get [`Reply::Accept`].
    pub fn script(&self, reply: Reply) {
        lock(&self.state).script.push_back(reply);
    }

    /// Drops every scripted reply.
    pub fn clear_script(&self) {
        lock(&self.state).script.clear();
    }

    /// Every bulk request so far.
    pub fn attempts(&self) -> Vec<Attempt> {
        lock(&self.state).attempts.clone()
    }

    /// How many bulk requests so far.
    pub fn request_count(&self) -> usize {
        lock(&self.state).attempts.len()
    }

    /// Every message the broker accepted, in order.
    pub fn published(&self) -> Vec<Published> {
        lock(&self.state)
            .attempts
            .iter()
            .flat_map(|a| {
                a.messages
                    .iter()
                    .zip(&a.accepted)
                    .filter(|(_, ok)| **ok)
                    .map(|(m, _)| m.clone())
            })
            .collect()
    }

    /// Messages accepted after the first `mark` ones.
    pub fn published_since(&self, mark: usize) -> Vec<Published> {
        let mut all = self.published();
        all.split_off(mark.min(all.len()))
    }

    /// Checks the request like EMQX would; `Err` is EMQX's answer.
    fn parse(request: &HttpRequest) -> Result<Vec<Published>, HttpResponse> {
        let refuse = |status: u16, body: Value| HttpResponse {
            status,
            body: body.to_string().into_bytes(),
        };
        let expected_auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{BROKER_KEY}:{BROKER_SECRET}"))
        );
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        if request.method != "POST" || request.url != format!("{BROKER_URL}/api/v5/publish/bulk") {
            return Err(refuse(404, json!({"code": "NOT_FOUND"})));
        }
        if header("authorization") != Some(expected_auth.as_str()) {
            return Err(refuse(401, json!({"code": "BAD_API_KEY_OR_SECRET"})));
        }
        if header("content-type") != Some("application/json") {
            return Err(refuse(415, json!({"code": "UNSUPPORTED_MEDIA_TYPE"})));
        }
        let bad = || refuse(400, json!({"reason_code": 131, "message": "bad_request"}));
        let items: Vec<Value> = serde_json::from_slice(&request.body).map_err(|_| bad())?;
        if items.is_empty() {
            return Err(refuse(500, json!({"errror": "empty"})));
        }
        items
            .iter()
            .map(|item| {
                let ok = item["qos"] == 1
                    && item["retain"] == false
                    && item["payload_encoding"] == "plain";
                let topic = item["topic"].as_str().filter(|_| ok).ok_or_else(bad)?;
                let payload = item["payload"]
                    .as_str()
                    .and_then(|p| serde_json::from_str(p).ok())
                    .ok_or_else(bad)?;
                Ok(Published {
                    topic: topic.to_owned(),
                    payload,
                    expiry_seconds: item["properties"]["message_expiry_interval"].as_u64(),
                })
            })
            .collect()
    }
}

impl HttpClient for FakeEmqx {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let messages = match Self::parse(&request) {
            Ok(messages) => messages,
            Err(response) => {
                lock(&self.state).attempts.push(Attempt {
                    messages: Vec::new(),
                    accepted: Vec::new(),
                    status: Some(response.status),
                });
                return Ok(response);
            }
        };
        let mut state = lock(&self.state);
        let reply = state.script.pop_front().unwrap_or(Reply::Accept);
        let n = messages.len();
        let (status, accepted, body): (Option<u16>, Vec<bool>, Value) = match &reply {
            Reply::Accept => (
                Some(200),
                vec![true; n],
                Value::Array((0..n).map(|i| json!({"id": format!("{i:032x}")})).collect()),
            ),
            Reply::NoSubscribers => (
                Some(202),
                vec![true; n],
                Value::Array(
                    (0..n)
                        .map(|_| json!({"reason_code": 16, "message": "no_matching_subscribers"}))
                        .collect(),
                ),
            ),
            Reply::FailWhere(rule) => {
                let accepted: Vec<bool> = messages.iter().map(|m| !rule(m)).collect();
                let body = accepted
                    .iter()
                    .enumerate()
                    .map(|(i, ok)| {
                        if *ok {
                            json!({"id": format!("{i:032x}")})
                        } else {
                            json!({"reason_code": 131, "message": "failed_to_dispatch"})
                        }
                    })
                    .collect();
                let status = if accepted.iter().all(|ok| *ok) {
                    200
                } else {
                    503
                };
                (Some(status), accepted, Value::Array(body))
            }
            Reply::Status(status, body) => (
                Some(*status),
                vec![false; n],
                serde_json::from_str(body).unwrap_or(Value::String(body.clone())),
            ),
            Reply::Transport => (None, vec![false; n], Value::Null),
        };
        state.attempts.push(Attempt {
            messages,
            accepted,
            status,
        });
        match status {
            Some(status) => Ok(HttpResponse {
                status,
                body: body.to_string().into_bytes(),
            }),
            None => Err(TransportError("connection reset by fake broker".into())),
        }
    }
}

// ---------------------------------------------------------------------------
// Platform
// ---------------------------------------------------------------------------

/// The whole host: store, broker, clock, randomness, variables.
pub struct TestPlatform {
    /// The key-value store.
    pub kv: MemKv,
    /// The broker API.
    pub broker: FakeEmqx,
    clock: AtomicI64,
    rng: Mutex<u64>,
    vars: Mutex<BTreeMap<String, String>>,
}

/// A working configuration: defaults plus every required setting.
pub fn default_variables() -> BTreeMap<String, String> {
    [
        ("rtc_provider", "aliyun"),
        ("rtc_app_id", "test-app"),
        ("rtc_app_key", RTC_KEY),
        ("broker_api", "emqx"),
        ("broker_api_url", BROKER_URL),
        ("broker_api_key", BROKER_KEY),
        ("broker_api_secret", BROKER_SECRET),
        ("webhook_token", WEBHOOK_TOKEN),
        ("webhook_secret", WEBHOOK_SECRET),
        ("admin_token", ADMIN_TOKEN),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl TestPlatform {
    /// A platform at [`T0`] with [`default_variables`] and random seed `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            kv: MemKv::default(),
            broker: FakeEmqx::default(),
            clock: AtomicI64::new(T0),
            rng: Mutex::new(seed),
            vars: Mutex::new(default_variables()),
        }
    }

    /// Sets (or with `None` unsets) a variable.
    pub fn set_var(&self, name: &str, value: Option<&str>) {
        let mut vars = lock(&self.vars);
        match value {
            Some(v) => vars.insert(name.to_owned(), v.to_owned()),
            None => vars.remove(name),
        };
    }

    /// Sets the clock.
    pub fn set_now(&self, ms: i64) {
        self.clock.store(ms, Ordering::SeqCst);
    }

    /// Moves the clock forward.
    pub fn advance(&self, ms: i64) {
        self.clock.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Platform for TestPlatform {
    type Kv = MemKv;
    type Http = FakeEmqx;

    fn kv(&self) -> &MemKv {
        &self.kv
    }

    fn http(&self) -> &FakeEmqx {
        &self.broker
    }

    fn now_ms(&self) -> i64 {
        self.clock.load(Ordering::SeqCst)
    }

    fn random_u64(&self) -> u64 {
        // SplitMix64: reproducible from the seed.
        let mut state = lock(&self.rng);
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn variable(&self, name: &str) -> Option<String> {
        lock(&self.vars).get(name).cloned()
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// A response, with its body parsed as JSON (`Null` when it is not JSON).
#[derive(Debug, Clone)]
pub struct Resp {
    /// The status.
    pub status: u16,
    /// The headers.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub text: String,
    /// The body as JSON.
    pub json: Value,
}

impl Resp {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `error.code` of an error body.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// The webhook's per-event results as `(status, code)` pairs.
    pub fn results(&self) -> Vec<(String, Option<String>)> {
        self.json["results"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|r| {
                        (
                            r["status"].as_str().unwrap_or("").to_owned(),
                            r["code"].as_str().map(str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The single result of a one-event webhook call.
    pub fn result(&self) -> (String, Option<String>) {
        let results = self.results();
        assert_eq!(results.len(), 1, "expected one result: {}", self.text);
        results.into_iter().next().unwrap_or_default()
    }
}

/// The client ID of test device `name`.
pub fn cid(name: &str) -> String {
    format!("{GROUP}@@@{name}")
}

/// Asserts that `text` contains none of the configured secrets.
pub fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{what} contains the secret {secret:?}: {text}"
        );
    }
}

/// A platform with request helpers.
pub struct Harness {
    /// The host.
    pub p: TestPlatform,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    /// A fresh harness (seed 1).
    pub fn new() -> Self {
        Self {
            p: TestPlatform::new(1),
        }
    }

    /// Now, by the platform clock.
    pub fn now(&self) -> i64 {
        self.p.now_ms()
    }

    /// Sends a request through `switchboard_service::handle`.
    pub fn send(
        &self,
        surface: Surface,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Resp {
        let request = Request {
            method: method.to_owned(),
            path: path.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        };
        let response = pollster::block_on(switchboard_service::handle(&self.p, surface, request));
        let text = String::from_utf8(response.body.clone()).expect("responses are UTF-8");
        assert_no_secret(&format!("{method} {path} response"), &text);
        for (name, value) in &response.headers {
            assert_no_secret(&format!("{method} {path} header {name}"), value);
        }
        Resp {
            status: response.status,
            headers: response.headers,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// An admin request with the admin token.
    pub fn admin(&self, method: &str, path: &str) -> Resp {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        self.send(
            Surface::Admin,
            method,
            path,
            &[("authorization", &auth)],
            b"",
        )
    }

    /// Registers `device` (a short name) to `user`, asserting success.
    pub fn register(&self, user: &str, device: &str) {
        let r = self.admin("PUT", &format!("/v1/users/{user}/devices/{}", cid(device)));
        assert!(
            r.status == 201 || r.status == 200,
            "register {device}: {}",
            r.text
        );
    }

    /// Posts a raw webhook body with the bearer token.
    pub fn post_mqtt(&self, body: &[u8]) -> Resp {
        let auth = format!("Bearer {WEBHOOK_TOKEN}");
        self.send(
            Surface::Webhooks,
            "POST",
            "/v1/webhooks/mqtt",
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            body,
        )
    }

    /// Delivers one envelope.
    pub fn deliver(&self, envelope: &Value) -> Resp {
        self.post_mqtt(envelope.to_string().as_bytes())
    }

    /// Delivers `fields` (an upstream message without `v`, `id`, `ts`) from
    /// `device` as message `id`, stamped now; returns the envelope (for
    /// redelivery) and the response.
    pub fn send_op(&self, device: &str, id: &str, fields: Value) -> (Value, Resp) {
        let envelope = envelope(device, id, &upstream(id, self.now(), fields));
        let r = self.deliver(&envelope);
        (envelope, r)
    }

    /// [`Harness::send_op`], asserting the message was processed.
    pub fn op_ok(&self, device: &str, id: &str, fields: Value) -> Value {
        let (envelope, r) = self.send_op(device, id, fields);
        assert_eq!(r.status, 200, "{device} {id}: {}", r.text);
        assert_eq!(r.result().0, "processed", "{device} {id}: {}", r.text);
        envelope
    }

    /// Starts a call: `device` invites `to` with message `id`; returns the
    /// call ID from the `call.created` event.
    pub fn invite(&self, device: &str, id: &str, to: &[&str]) -> String {
        let mark = self.p.broker.published().len();
        self.op_ok(
            device,
            id,
            json!({"op": "invite", "to": to, "media": "video"}),
        );
        let created = self
            .p
            .broker
            .published_since(mark)
            .into_iter()
            .find(|m| m.event() == "call.created")
            .expect("call.created published");
        created
            .call()
            .expect("call.created names the call")
            .to_owned()
    }

    /// The stored call record.
    pub fn call(&self, call: &str) -> Value {
        self.p
            .kv
            .json(&format!("call/{call}"))
            .unwrap_or_else(|| panic!("no call record {call}"))
    }

    /// The stored call record, decoded like the service decodes it.
    pub fn call_record(&self, call: &str) -> switchboard_calls::Call {
        let raw = self
            .p
            .kv
            .raw(&format!("call/{call}"))
            .unwrap_or_else(|| panic!("no call record {call}"));
        serde_json::from_slice(&raw).expect("the call record decodes")
    }

    /// A participant's state name in the stored call.
    pub fn state_of(&self, call: &str, user: &str) -> String {
        let record = self.call_record(call);
        record
            .participants
            .iter()
            .find(|p| p.user.as_str() == user)
            .map(|p| p.state.name().to_owned())
            .unwrap_or_else(|| "absent".to_owned())
    }

    /// Messages published since `mark`, as `(device, event)` pairs.
    pub fn events_since(&self, mark: usize) -> Vec<(String, String)> {
        self.p
            .broker
            .published_since(mark)
            .iter()
            .map(|m| (m.device().to_owned(), m.event().to_owned()))
            .collect()
    }

    /// How many messages were published so far.
    pub fn mark(&self) -> usize {
        self.p.broker.published().len()
    }
}

/// An upstream payload: `fields` plus `v`, `id` and `ts`.
pub fn upstream(id: &str, ts: i64, fields: Value) -> String {
    let mut message = json!({"v": 1, "id": id, "ts": ts});
    if let (Some(m), Value::Object(extra)) = (message.as_object_mut(), fields) {
        m.extend(extra);
    }
    message.to_string()
}

/// An EMQX `message.publish` event carrying `payload` from `device` on its
/// own upstream topic; the envelope ID derives from the message ID.
pub fn envelope(device: &str, id: &str, payload: &str) -> Value {
    raw_envelope(
        &format!("env-{device}-{id}"),
        &cid(device),
        &format!("sig-up/{}", cid(device)),
        payload,
    )
}

/// An EMQX `message.publish` event with every field chosen by the test.
pub fn raw_envelope(envelope_id: &str, clientid: &str, topic: &str, payload: &str) -> Value {
    json!({
        "id": envelope_id,
        "event": "message.publish",
        "clientid": clientid,
        "username": "undefined",
        "topic": topic,
        "payload": payload,
        "qos": 1,
        "timestamp": T0,
        "node": "emqx@127.0.0.1",
    })
}

/// The `X-Switchboard-Signature` value for `body` at unix second `t`,
/// computed independently of the service (HMAC-SHA256 of `"<t>.<body>"`).
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac =
        <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={hex}")
}
