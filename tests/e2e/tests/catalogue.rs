//! The bad-input catalogue: more than 60 distinct malformed or hostile
//! requests driven through the real HTTP endpoints of the components on
//! the runtime. Each must get its status and error code, and none may
//! change state: the call, the users and their devices read back
//! byte-identical afterwards, and no device other than the sender hears a
//! thing.

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{SystemTime, UNIX_EPOCH};
use switchboard_dev::stack::{Stack, StackOptions, WebhookAuth};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Api {
    base: String,
    admin: String,
    webhook: String,
    secret: String,
    agent: ureq::Agent,
}

/// What one request got back.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
}

impl Api {
    fn new(stack: &Stack) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Self {
            base: stack.http_base(),
            admin: stack.admin_token().to_owned(),
            webhook: stack.webhook_token().to_owned(),
            secret: stack.webhook_secret().to_owned(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    fn send(&self, method: &str, path: &str, headers: &[(&str, String)], body: Vec<u8>) -> Answer {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        let request = builder.body(body).expect("request builds");
        let mut response = self.agent.run(request).expect("the runtime answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Answer { status, body }
    }

    /// Sends only the head of a POST announcing `length` body bytes and
    /// reads the answer: the service must refuse without reading the body.
    fn announce_only(&self, path: &str, length: usize) -> Answer {
        use std::io::{Read, Write};
        let authority = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(authority).expect("connects");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .expect("timeout set");
        write!(
            stream,
            "POST {path} HTTP/1.1\r\nhost: {authority}\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n",
            self.webhook
        )
        .expect("head written");
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&raw[..at]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if raw.len() >= at + 4 + length {
                    let status = head
                        .split(' ')
                        .nth(1)
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let body = serde_json::from_slice(&raw[at + 4..at + 4 + length])
                        .unwrap_or(Value::Null);
                    return Answer { status, body };
                }
            }
        }
        Answer {
            status: 0,
            body: Value::String(String::from_utf8_lossy(&raw).into_owned()),
        }
    }

    fn bearer(token: &str) -> (&'static str, String) {
        ("authorization", format!("Bearer {token}"))
    }

    fn json_header() -> (&'static str, String) {
        ("content-type", "application/json".to_owned())
    }

    fn webhook(&self, body: Vec<u8>) -> Answer {
        self.send(
            "POST",
            "/v1/webhooks/mqtt",
            &[Self::bearer(&self.webhook), Self::json_header()],
            body,
        )
    }

    fn admin(&self, method: &str, path: &str) -> Answer {
        self.send(method, path, &[Self::bearer(&self.admin)], Vec::new())
    }

    fn signature(&self, t: i64, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.secret.as_bytes()).expect("any key length");
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
}

const ALICE: &str = "GID_cat@@@alice-phone";
const ALICE2: &str = "GID_cat@@@alice-tablet";
const BOB: &str = "GID_cat@@@bob-phone";
const CAROL: &str = "GID_cat@@@carol-phone";

fn envelope(clientid: &str, topic: &str, payload: &str) -> Value {
    json!({
        "id": format!("{:032X}", now_ms() as u128 * 7919),
        "clientid": clientid,
        "username": "undefined",
        "topic": topic,
        "payload": payload,
        "qos": 1,
        "event": "message.publish",
    })
}

fn up(client: &str) -> String {
    format!("sig-up/{client}")
}

fn msg(id: &str, fields: Value) -> String {
    let mut m = json!({"v": 1, "id": id, "ts": now_ms()});
    for (k, v) in fields.as_object().expect("an object") {
        m[k] = v.clone();
    }
    m.to_string()
}

/// The expected answer: a whole-request error, or a per-event result.
enum Expect {
    Error(u16, &'static str),
    Refused(&'static str),
    Duplicate,
}

struct Case {
    name: &'static str,
    run: Box<dyn Fn(&Api) -> Answer>,
    expect: Expect,
}

fn case(name: &'static str, expect: Expect, run: impl Fn(&Api) -> Answer + 'static) -> Case {
    Case {
        name,
        run: Box::new(run),
        expect,
    }
}

fn event(name: &'static str, code: &'static str, env: impl Fn() -> Value + 'static) -> Case {
    case(name, Expect::Refused(code), move |api| {
        api.webhook(env().to_string().into_bytes())
    })
}

fn from_alice(
    name: &'static str,
    code: &'static str,
    payload: impl Fn() -> String + 'static,
) -> Case {
    event(name, code, move || envelope(ALICE, &up(ALICE), &payload()))
}

fn catalogue(call: String, invite_id: String) -> Vec<Case> {
    let c = move || call.clone();
    let c1 = c.clone();
    let c2 = c.clone();
    let c3 = c.clone();
    let c4 = c.clone();
    let c5 = c.clone();
    let long_client = format!("GID_cat@@@{}", "d".repeat(50));
    vec![
        // Webhook authentication and transport.
        case(
            "no credentials",
            Expect::Error(401, "unauthorized"),
            |api| {
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[Api::json_header()],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "wrong bearer token",
            Expect::Error(401, "unauthorized"),
            |api| {
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[Api::bearer("nope"), Api::json_header()],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "admin token on the webhook",
            Expect::Error(401, "unauthorized"),
            |api| {
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[Api::bearer(&api.admin), Api::json_header()],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "basic auth scheme",
            Expect::Error(401, "unauthorized"),
            |api| {
                let h = ("authorization", format!("Basic {}", api.webhook));
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[h, Api::json_header()],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "signature with a wrong MAC",
            Expect::Error(401, "unauthorized"),
            |api| {
                let t = now_ms() / 1000;
                let h = (
                    "x-switchboard-signature",
                    format!("t={t},v1={}", "0".repeat(64)),
                );
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[h, Api::json_header()],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "signature 400 s old",
            Expect::Error(401, "unauthorized"),
            |api| {
                let body = b"{}".to_vec();
                let h = (
                    "x-switchboard-signature",
                    api.signature(now_ms() / 1000 - 400, &body),
                );
                api.send("POST", "/v1/webhooks/mqtt", &[h, Api::json_header()], body)
            },
        ),
        case(
            "signature 400 s in the future",
            Expect::Error(401, "unauthorized"),
            |api| {
                let body = b"{}".to_vec();
                let h = (
                    "x-switchboard-signature",
                    api.signature(now_ms() / 1000 + 400, &body),
                );
                api.send("POST", "/v1/webhooks/mqtt", &[h, Api::json_header()], body)
            },
        ),
        case(
            "signature replayed onto another body",
            Expect::Error(401, "unauthorized"),
            |api| {
                let h = (
                    "x-switchboard-signature",
                    api.signature(now_ms() / 1000, b"[]"),
                );
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[h, Api::json_header()],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "signature without t",
            Expect::Error(401, "unauthorized"),
            |api| {
                let h = ("x-switchboard-signature", format!("v1={}", "a".repeat(64)));
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[h, Api::json_header()],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "text/plain content type",
            Expect::Error(415, "unsupported_media_type"),
            |api| {
                let h = ("content-type", "text/plain".to_owned());
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[Api::bearer(&api.webhook), h],
                    b"{}".to_vec(),
                )
            },
        ),
        case(
            "no content type",
            Expect::Error(415, "unsupported_media_type"),
            |api| {
                api.send(
                    "POST",
                    "/v1/webhooks/mqtt",
                    &[Api::bearer(&api.webhook)],
                    b"{}".to_vec(),
                )
            },
        ),
        case("1 MiB of junk", Expect::Error(400, "invalid_json"), |api| {
            api.webhook(vec![b'x'; 1 << 20])
        }),
        case(
            "3 MiB body, refused before it is read",
            Expect::Error(413, "payload_too_large"),
            |api| api.announce_only("/v1/webhooks/mqtt", 3 << 20),
        ),
        // Whole-body decoding.
        case("empty body", Expect::Error(400, "invalid_json"), |api| {
            api.webhook(Vec::new())
        }),
        case(
            "truncated JSON",
            Expect::Error(400, "invalid_json"),
            |api| api.webhook(b"{\"id\":".to_vec()),
        ),
        case(
            "non-UTF-8 body",
            Expect::Error(400, "invalid_json"),
            |api| api.webhook(vec![0xff, 0xfe, 0x7b, 0x7d]),
        ),
        case(
            "JSON string body",
            Expect::Error(400, "invalid_envelope"),
            |api| api.webhook(b"\"hello\"".to_vec()),
        ),
        case(
            "JSON number body",
            Expect::Error(400, "invalid_envelope"),
            |api| api.webhook(b"42".to_vec()),
        ),
        case(
            "JSON null body",
            Expect::Error(400, "invalid_envelope"),
            |api| api.webhook(b"null".to_vec()),
        ),
        case(
            "empty event array",
            Expect::Error(400, "invalid_envelope"),
            |api| api.webhook(b"[]".to_vec()),
        ),
        case(
            "101 events",
            Expect::Error(413, "payload_too_large"),
            |api| {
                let events: Vec<Value> = (0..101).map(|_| json!({})).collect();
                api.webhook(Value::Array(events).to_string().into_bytes())
            },
        ),
        // Envelope fields.
        event("envelope without id", "invalid_envelope", || {
            let mut e = envelope(ALICE, &up(ALICE), "{}");
            e.as_object_mut().unwrap().remove("id");
            e
        }),
        event("envelope id is a number", "invalid_envelope", || {
            let mut e = envelope(ALICE, &up(ALICE), "{}");
            e["id"] = json!(7);
            e
        }),
        event("envelope without clientid", "invalid_envelope", || {
            let mut e = envelope(ALICE, &up(ALICE), "{}");
            e.as_object_mut().unwrap().remove("clientid");
            e
        }),
        event("clientid is a number", "invalid_envelope", || {
            let mut e = envelope(ALICE, &up(ALICE), "{}");
            e["clientid"] = json!(12);
            e
        }),
        event("envelope without topic", "invalid_envelope", || {
            let mut e = envelope(ALICE, &up(ALICE), "{}");
            e.as_object_mut().unwrap().remove("topic");
            e
        }),
        event(
            "payload is an object, not a string",
            "invalid_envelope",
            || {
                let mut e = envelope(ALICE, &up(ALICE), "{}");
                e["payload"] = json!({"v": 1});
                e
            },
        ),
        event(
            "a presence event on the message webhook",
            "invalid_envelope",
            || {
                let mut e = envelope(ALICE, &up(ALICE), "{}");
                e["event"] = json!("client.connected");
                e
            },
        ),
        event("payload over 16 KiB", "payload_too_large", || {
            envelope(ALICE, &up(ALICE), &"x".repeat(17 * 1024))
        }),
        // Identities and topics.
        event("client ID without @@@", "invalid_client_id", || {
            envelope("nope", "sig-up/nope", "{}")
        }),
        event("client ID with a wildcard", "invalid_client_id", || {
            envelope("GID_cat@@@a+", "sig-up/GID_cat@@@a+", "{}")
        }),
        event("client ID of 65 characters", "invalid_client_id", || {
            let id = format!("GID_cat@@@{}", "x".repeat(55));
            envelope(&id, &format!("sig-up/{id}"), "{}")
        }),
        event("topic under another parent", "wrong_topic", || {
            envelope(ALICE, &format!("sig-dn/{ALICE}"), "{}")
        }),
        event(
            "spoofed sender: alice's envelope on bob's topic",
            "wrong_topic",
            || envelope(ALICE, &up(BOB), &msg("spoof-1", json!({"op": "sync"}))),
        ),
        event("topic with an extra level", "wrong_topic", || {
            envelope(ALICE, &format!("sig-up/{ALICE}/x"), "{}")
        }),
        // Payload decoding.
        from_alice("payload is not JSON", "invalid_json", || {
            "not json".to_owned()
        }),
        from_alice(
            "payload was non-UTF-8 (replaced by the broker)",
            "invalid_json",
            || "\u{fffd}\u{fffd}{".to_owned(),
        ),
        from_alice("payload is an array", "invalid_message", || {
            "[1,2]".to_owned()
        }),
        from_alice("no v", "invalid_message", || {
            json!({"id": "x1", "ts": now_ms(), "op": "sync"}).to_string()
        }),
        from_alice("v is 2", "unsupported_version", || {
            json!({"v": 2, "id": "x2", "ts": now_ms(), "op": "sync"}).to_string()
        }),
        from_alice("v is a string", "invalid_message", || {
            json!({"v": "1", "id": "x3", "ts": now_ms(), "op": "sync"}).to_string()
        }),
        from_alice("no id", "invalid_message", || {
            json!({"v": 1, "ts": now_ms(), "op": "sync"}).to_string()
        }),
        from_alice("id with spaces", "invalid_message", || {
            json!({"v": 1, "id": "a b", "ts": now_ms(), "op": "sync"}).to_string()
        }),
        from_alice("id of 65 characters", "invalid_message", || {
            json!({"v": 1, "id": "i".repeat(65), "ts": now_ms(), "op": "sync"}).to_string()
        }),
        from_alice("ts is a string", "invalid_message", || {
            json!({"v": 1, "id": "x4", "ts": "now", "op": "sync"}).to_string()
        }),
        from_alice("ts is negative", "invalid_message", || {
            json!({"v": 1, "id": "x5", "ts": -5, "op": "sync"}).to_string()
        }),
        from_alice("no op", "invalid_message", || {
            json!({"v": 1, "id": "x6", "ts": now_ms()}).to_string()
        }),
        from_alice("unknown op", "unknown_op", || {
            msg("x7", json!({"op": "dance"}))
        }),
        from_alice("op is a number", "invalid_message", || {
            msg("x8", json!({"op": 3}))
        }),
        from_alice("invite: to is a string", "invalid_message", || {
            msg("x9", json!({"op": "invite", "to": "bob", "media": "audio"}))
        }),
        from_alice("invite: to is empty", "invalid_message", || {
            msg("x10", json!({"op": "invite", "to": [], "media": "audio"}))
        }),
        from_alice(
            "invite: path traversal in a user ID",
            "invalid_user_id",
            || {
                msg(
                    "x11",
                    json!({"op": "invite", "to": ["../etc/passwd"], "media": "audio"}),
                )
            },
        ),
        from_alice("invite: 17 users", "too_many_invitees", || {
            let to: Vec<String> = (0..17).map(|i| format!("u{i}")).collect();
            msg("x12", json!({"op": "invite", "to": to, "media": "audio"}))
        }),
        from_alice("invite: unknown media", "invalid_message", || {
            msg(
                "x13",
                json!({"op": "invite", "to": ["bob"], "media": "smell"}),
            )
        }),
        from_alice("invite: no media", "invalid_message", || {
            msg("x14", json!({"op": "invite", "to": ["bob"]}))
        }),
        from_alice("invite: meta over 2 KiB", "payload_too_large", || {
            msg(
                "x15",
                json!({"op": "invite", "to": ["bob"], "media": "audio", "meta": {"x": "y".repeat(3000)}}),
            )
        }),
        from_alice("invite: yourself", "invalid_message", || {
            msg(
                "x16",
                json!({"op": "invite", "to": ["alice"], "media": "audio"}),
            )
        }),
        from_alice("invite: nobody has a device", "unknown_user", || {
            msg(
                "x17",
                json!({"op": "invite", "to": ["ghost"], "media": "audio"}),
            )
        }),
        from_alice("stale message", "stale_message", || {
            json!({"v": 1, "id": "x18", "ts": now_ms() - 120_000, "op": "sync"}).to_string()
        }),
        from_alice("message from the future", "future_message", || {
            json!({"v": 1, "id": "x19", "ts": now_ms() + 120_000, "op": "sync"}).to_string()
        }),
        event("unregistered client ID", "unknown_device", || {
            let ghost = "GID_cat@@@ghost-phone";
            envelope(ghost, &up(ghost), &msg("x20", json!({"op": "sync"})))
        }),
        from_alice("accept: unknown call", "unknown_call", || {
            msg("x21", json!({"op": "accept", "call": "c-doesnotexist"}))
        }),
        from_alice(
            "accept: traversal in the call ID",
            "invalid_message",
            || msg("x22", json!({"op": "accept", "call": "../c"})),
        ),
        from_alice("reject: unknown reason", "invalid_message", move || {
            msg(
                "x23",
                json!({"op": "reject", "call": c1(), "reason": "bored"}),
            )
        }),
        event(
            "end by someone who is not the host",
            "forbidden",
            move || {
                envelope(
                    BOB,
                    &up(BOB),
                    &msg("x24", json!({"op": "end", "call": c2()})),
                )
            },
        ),
        event(
            "mute by someone who is not the host",
            "forbidden",
            move || {
                envelope(
                    BOB,
                    &up(BOB),
                    &msg(
                        "x25",
                        json!({"op": "mute", "call": c3(), "user": "alice", "media": "audio"}),
                    ),
                )
            },
        ),
        event(
            "token for a call one was not invited to",
            "forbidden",
            move || {
                envelope(
                    CAROL,
                    &up(CAROL),
                    &msg("x26", json!({"op": "renew", "call": c4()})),
                )
            },
        ),
        event(
            "the host's other device acts in the call",
            "forbidden",
            move || {
                envelope(
                    ALICE2,
                    &up(ALICE2),
                    &msg("x27", json!({"op": "end", "call": c5()})),
                )
            },
        ),
        case(
            "replay of the original invite",
            Expect::Duplicate,
            move |api| {
                let payload = json!({"v": 1, "id": invite_id, "ts": now_ms(), "op": "invite", "to": ["bob"], "media": "video"});
                api.webhook(
                    envelope(ALICE, &up(ALICE), &payload.to_string())
                        .to_string()
                        .into_bytes(),
                )
            },
        ),
        // Admin API.
        case(
            "admin: no token",
            Expect::Error(401, "unauthorized"),
            |api| api.send("GET", "/v1/users/alice", &[], Vec::new()),
        ),
        case(
            "admin: wrong token",
            Expect::Error(401, "unauthorized"),
            |api| api.send("GET", "/v1/users/alice", &[Api::bearer("x")], Vec::new()),
        ),
        case(
            "admin: webhook token",
            Expect::Error(401, "unauthorized"),
            |api| {
                api.send(
                    "GET",
                    "/v1/users/alice",
                    &[Api::bearer(&api.webhook)],
                    Vec::new(),
                )
            },
        ),
        case(
            "admin: invalid client ID",
            Expect::Error(400, "invalid_client_id"),
            |api| api.admin("PUT", "/v1/users/alice/devices/not-a-client"),
        ),
        case(
            "admin: encoded traversal in the user",
            Expect::Error(400, "invalid_user_id"),
            |api| api.admin("PUT", &format!("/v1/users/..%2F..%2Fetc/devices/{ALICE}")),
        ),
        case(
            "admin: user is ..",
            Expect::Error(400, "invalid_user_id"),
            |api| api.admin("GET", "/v1/users/%2E%2E"),
        ),
        case(
            "admin: client ID too long for its topics",
            Expect::Error(400, "topic_too_long"),
            move |api| api.admin("PUT", &format!("/v1/users/dave/devices/{long_client}")),
        ),
        case(
            "admin: device of another user",
            Expect::Error(409, "invalid_state"),
            |api| api.admin("PUT", &format!("/v1/users/bob/devices/{ALICE}")),
        ),
        case(
            "admin: unknown user",
            Expect::Error(404, "unknown_user"),
            |api| api.admin("GET", "/v1/users/nobody"),
        ),
        case(
            "admin: invalid call ID",
            Expect::Error(400, "invalid_message"),
            |api| api.admin("GET", "/v1/calls/a.b"),
        ),
        case(
            "admin: unknown call",
            Expect::Error(404, "unknown_call"),
            |api| api.admin("GET", "/v1/calls/c-nope"),
        ),
        case(
            "admin: end an unknown call",
            Expect::Error(404, "unknown_call"),
            |api| api.admin("POST", "/v1/calls/c-nope/end"),
        ),
        case(
            "admin: delete a device not registered",
            Expect::Error(404, "unknown_device"),
            |api| api.admin("DELETE", "/v1/users/alice/devices/GID_cat@@@nothing"),
        ),
        case(
            "admin: delete a device under the wrong user",
            Expect::Error(404, "unknown_device"),
            |api| api.admin("DELETE", &format!("/v1/users/bob/devices/{ALICE}")),
        ),
        case(
            "admin: 17 KiB body",
            Expect::Error(413, "payload_too_large"),
            |api| {
                api.send(
                    "POST",
                    "/v1/tasks/expire",
                    &[Api::bearer(&api.admin)],
                    vec![b'x'; 17 * 1024],
                )
            },
        ),
        case(
            "wrong method on the webhook",
            Expect::Error(405, "method_not_allowed"),
            |api| api.send("GET", "/v1/webhooks/mqtt", &[], Vec::new()),
        ),
        case("unknown path", Expect::Error(404, "not_found"), |api| {
            api.send("GET", "/v1/nope", &[], Vec::new())
        }),
        case(
            "invalid percent escape",
            Expect::Error(400, "invalid_message"),
            |api| api.admin("GET", "/v1/users/a%ZZ"),
        ),
    ]
}

fn snapshot(api: &Api, call: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for path in [
        format!("/v1/calls/{call}"),
        "/v1/users/alice".to_owned(),
        "/v1/users/bob".to_owned(),
        "/v1/users/carol".to_owned(),
    ] {
        let a = api.admin("GET", &path);
        assert_eq!(a.status, 200, "{path}: {:?}", a.body);
        out.push(a.body);
    }
    out
}

#[test]
fn every_bad_input_gets_its_code_and_changes_nothing() {
    let options = StackOptions::default()
        .webhook_auth(WebhookAuth::Both)
        .variable("ring_timeout_seconds", "600");
    let stack = Stack::start(options).expect("the stack starts");
    let api = Api::new(&stack);
    for (user, client) in [
        ("alice", ALICE),
        ("alice", ALICE2),
        ("bob", BOB),
        ("carol", CAROL),
    ] {
        let a = api.admin("PUT", &format!("/v1/users/{user}/devices/{client}"));
        assert_eq!(a.status, 201, "register {client}: {:?}", a.body);
    }
    let invite_id = format!("cat-invite-{}", now_ms());
    let invite = msg(
        &invite_id,
        json!({"op": "invite", "to": ["bob"], "media": "video"}),
    );
    let a = api.webhook(
        envelope(ALICE, &up(ALICE), &invite)
            .to_string()
            .into_bytes(),
    );
    assert_eq!(a.status, 200, "{:?}", a.body);
    assert_eq!(a.body["results"][0]["status"], "processed", "{:?}", a.body);
    // The call ID is derived from the invite; find it through alice.
    let alice = api.admin("GET", "/v1/users/alice");
    let call = alice.body["calls"][0]["call"]
        .as_str()
        .expect("alice is in a call")
        .to_owned();
    let before = snapshot(&api, &call);

    let cases = catalogue(call.clone(), invite_id);
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    eprintln!("catalogue: {} cases against {}", cases.len(), api.base);
    let mut failures = Vec::new();
    for case in &cases {
        let got = (case.run)(&api);
        let ok = match &case.expect {
            Expect::Error(status, code) => {
                got.status == *status && got.body["error"]["code"] == *code
            }
            Expect::Refused(code) => {
                got.status == 200
                    && got.body["results"][0]["status"] == "refused"
                    && got.body["results"][0]["code"] == *code
            }
            Expect::Duplicate => {
                got.status == 200 && got.body["results"][0]["status"] == "duplicate"
            }
        };
        if !ok {
            failures.push(format!("{}: got {} {}", case.name, got.status, got.body));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(
        snapshot(&api, &call),
        before,
        "a refused input changed state"
    );
}
