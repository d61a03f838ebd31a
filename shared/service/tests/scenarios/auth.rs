//! Who may call what: webhook bearer tokens and signatures, the admin
//! token, content types and body limits.

use crate::support::*;
use serde_json::json;
use switchboard_service::{Surface, MAX_ADMIN_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES};

/// A harmless, valid webhook body: a `sync` from a registered device.
fn sync_body(h: &Harness) -> Vec<u8> {
    envelope(
        "alice1",
        "s1",
        &upstream("s1", h.now(), json!({"op": "sync"})),
    )
    .to_string()
    .into_bytes()
}

fn webhook(h: &Harness, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    h.send(
        Surface::Webhooks,
        "POST",
        "/v1/webhooks/mqtt",
        headers,
        body,
    )
}

const JSON: (&str, &str) = ("content-type", "application/json");

#[test]
fn webhook_accepts_the_bearer_token_and_refuses_others() {
    let h = Harness::new();
    h.register("alice", "alice1");
    let body = sync_body(&h);
    let good = format!("Bearer {WEBHOOK_TOKEN}");
    let r = webhook(&h, &[("authorization", &good), JSON], &body);
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.result().0, "processed");

    let admin = format!("Bearer {ADMIN_TOKEN}");
    let wrong_tail = format!("Bearer {WEBHOOK_TOKEN}x");
    let prefix = format!("Bearer {}", &WEBHOOK_TOKEN[..WEBHOOK_TOKEN.len() - 1]);
    let basic = format!("Basic {WEBHOOK_TOKEN}");
    let requests = h.p.broker.request_count();
    for bad in [
        &admin,
        &wrong_tail,
        &prefix,
        &basic,
        &WEBHOOK_TOKEN.to_string(),
    ] {
        let r = webhook(&h, &[("authorization", bad), JSON], &body);
        assert_eq!(r.status, 401, "{bad}: {}", r.text);
        assert_eq!(r.error_code(), "unauthorized");
    }
    assert_eq!(
        h.p.broker.request_count(),
        requests,
        "a refused request has no effect"
    );
}

#[test]
fn webhook_without_credentials_is_unauthorized() {
    let h = Harness::new();
    h.register("alice", "alice1");
    let r = webhook(&h, &[JSON], &sync_body(&h));
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code(), "unauthorized");
    // The presence hook is guarded the same way.
    let r = h.send(
        Surface::Webhooks,
        "POST",
        "/v1/webhooks/presence",
        &[JSON],
        br#"{"event":"client.connected","clientid":"GID_test@@@alice1","connected_at":1}"#,
    );
    assert_eq!(r.status, 401);
    assert!(h.p.kv.keys("presence/").is_empty());
}

#[test]
fn webhook_signature_good_bad_and_out_of_window() {
    let h = Harness::new();
    h.register("alice", "alice1");
    let body = sync_body(&h);
    let t = h.now() / 1000;

    let good = signature(WEBHOOK_SECRET, t, &body);
    let r = webhook(&h, &[("x-switchboard-signature", &good), JSON], &body);
    assert_eq!(r.status, 200, "{}", r.text);

    let within = signature(WEBHOOK_SECRET, t - 299, &body);
    let r = webhook(&h, &[("x-switchboard-signature", &within), JSON], &body);
    assert_eq!(r.status, 200, "299 s old is inside the window: {}", r.text);

    let cases = [
        ("wrong secret", signature("not-the-secret", t, &body)),
        ("other body", signature(WEBHOOK_SECRET, t, b"{}")),
        ("too old", signature(WEBHOOK_SECRET, t - 301, &body)),
        ("too new", signature(WEBHOOK_SECRET, t + 301, &body)),
        ("no t", good.split_once(',').unwrap().1.to_owned()),
        ("no v1", format!("t={t}")),
        ("garbage", "t=x,v1=y".to_owned()),
    ];
    // The window follows the clock.
    h.p.set_now(T0 + 301_000);
    let r = webhook(&h, &[("x-switchboard-signature", &good), JSON], &body);
    assert_eq!(r.status, 401, "{}", r.text);
    h.p.set_now(T0);
    for (what, header) in cases {
        let r = webhook(&h, &[("x-switchboard-signature", &header), JSON], &body);
        assert_eq!(r.status, 401, "{what}: {}", r.text);
        assert_eq!(r.error_code(), "unauthorized", "{what}");
    }
}

#[test]
fn a_signature_is_refused_when_only_a_token_is_configured() {
    let h = Harness::new();
    h.p.set_var("webhook_secret", None);
    h.register("alice", "alice1");
    let body = sync_body(&h);
    let sig = signature(WEBHOOK_SECRET, h.now() / 1000, &body);
    let r = webhook(&h, &[("x-switchboard-signature", &sig), JSON], &body);
    assert_eq!(r.status, 401);
    let token = format!("Bearer {WEBHOOK_TOKEN}");
    assert_eq!(
        webhook(&h, &[("authorization", &token), JSON], &body).status,
        200
    );
}

#[test]
fn a_wrong_bearer_is_not_rescued_by_a_good_signature() {
    // With both configured, a bearer header is judged on its own.
    let h = Harness::new();
    h.register("alice", "alice1");
    let body = sync_body(&h);
    let sig = signature(WEBHOOK_SECRET, h.now() / 1000, &body);
    let r = webhook(
        &h,
        &[
            ("authorization", "Bearer nope"),
            ("x-switchboard-signature", &sig),
            JSON,
        ],
        &body,
    );
    assert_eq!(r.status, 401);
}

#[test]
fn webhook_wants_json() {
    let h = Harness::new();
    h.register("alice", "alice1");
    let body = sync_body(&h);
    let auth = format!("Bearer {WEBHOOK_TOKEN}");
    for ct in [
        None,
        Some("text/plain"),
        Some("application/jsonx"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let r = webhook(&h, &headers, &body);
        assert_eq!(r.status, 415, "{ct:?}: {}", r.text);
        assert_eq!(r.error_code(), "unsupported_media_type");
    }
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        let r = webhook(&h, &[("authorization", &auth), ("content-type", ct)], &body);
        assert_eq!(r.status, 200, "{ct}: {}", r.text);
    }
    // Authentication comes first: no hint about content types to strangers.
    let r = webhook(&h, &[("content-type", "text/plain")], &body);
    assert_eq!(r.status, 401);
}

#[test]
fn bodies_over_the_limit_are_refused() {
    let h = Harness::new();
    let auth = format!("Bearer {WEBHOOK_TOKEN}");
    let big = vec![b' '; MAX_WEBHOOK_BODY_BYTES + 1];
    let r = webhook(&h, &[("authorization", &auth), JSON], &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code(), "payload_too_large");

    let admin = format!("Bearer {ADMIN_TOKEN}");
    let big = vec![b' '; MAX_ADMIN_BODY_BYTES + 1];
    let r = h.send(
        Surface::Admin,
        "PUT",
        &format!("/v1/users/alice/devices/{}", cid("alice1")),
        &[("authorization", &admin)],
        &big,
    );
    assert_eq!(r.status, 413);
    assert!(h.p.kv.dump().is_empty(), "nothing was registered");
}

#[test]
fn admin_routes_need_the_admin_token() {
    let h = Harness::new();
    let path = format!("/v1/users/alice/devices/{}", cid("alice1"));
    let webhook_token = format!("Bearer {WEBHOOK_TOKEN}");
    for headers in [
        vec![],
        vec![("authorization", webhook_token.as_str())],
        vec![("authorization", "Bearer ")],
        vec![("authorization", ADMIN_TOKEN)],
    ] {
        for (method, path) in [
            ("PUT", path.as_str()),
            ("DELETE", path.as_str()),
            ("GET", "/v1/users/alice"),
            ("GET", "/v1/calls/c-1"),
            ("POST", "/v1/calls/c-1/end"),
            ("POST", "/v1/tasks/expire"),
        ] {
            let r = h.send(Surface::Admin, method, path, &headers, b"");
            assert_eq!(r.status, 401, "{method} {path} {headers:?}: {}", r.text);
            assert_eq!(r.error_code(), "unauthorized");
        }
    }
    assert!(h.p.kv.dump().is_empty());
}
