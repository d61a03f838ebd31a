//! The app backend's API, routing across the three surfaces, and health.

use crate::support::*;
use serde_json::json;
use switchboard_service::Surface;

fn device_path(user: &str, device: &str) -> String {
    format!("/v1/users/{user}/devices/{}", cid(device))
}

#[test]
fn registering_is_idempotent_and_bounded() {
    let h = Harness::new();
    let r = h.admin("PUT", &device_path("alice", "alice1"));
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.json,
        json!({"user": "alice", "client_id": cid("alice1"), "registered": true})
    );
    let r = h.admin("PUT", &device_path("alice", "alice1"));
    assert_eq!(r.status, 200, "already registered: {}", r.text);
    // Percent-encoded client IDs are the same device.
    let r = h.admin("PUT", "/v1/users/alice/devices/GID_test%40%40%40alice1");
    assert_eq!(r.status, 200, "{}", r.text);
    for i in 2..=16 {
        let r = h.admin("PUT", &device_path("alice", &format!("alice{i}")));
        assert_eq!(r.status, 201, "device {i}: {}", r.text);
    }
    let before = h.p.kv.dump();
    let r = h.admin("PUT", &device_path("alice", "alice17"));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.error_code(), "too_many_devices");
    let user = h.admin("GET", "/v1/users/alice");
    assert_eq!(user.json["devices"].as_array().unwrap().len(), 16);
    // The refused device must not be left resolvable to alice.
    let stray = h.p.kv.raw(&format!("dev/{}", cid("alice17")));
    assert!(
        stray.is_none(),
        "a refused registration left dev/{} behind (state before: {} keys)",
        cid("alice17"),
        before.len()
    );
}

#[test]
fn a_device_belongs_to_one_user() {
    let h = Harness::new();
    h.register("alice", "shared1");
    let r = h.admin("PUT", &device_path("bob", "shared1"));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.error_code(), "invalid_state");
    assert_eq!(h.admin("GET", "/v1/users/bob").status, 404);
    // Moved after deleting it at alice.
    assert_eq!(
        h.admin("DELETE", &device_path("alice", "shared1")).status,
        200
    );
    assert_eq!(h.admin("PUT", &device_path("bob", "shared1")).status, 201);
}

#[test]
fn registering_refuses_topics_over_the_limit() {
    let h = Harness::new();
    // sig-bulk/p2p/ is 13 characters; 64 - 13 = 51 fit.
    let fits = format!("{GROUP}@@@{}", "d".repeat(51 - GROUP.len() - 3));
    let long = format!("{GROUP}@@@{}", "d".repeat(52 - GROUP.len() - 3));
    let r = h.admin("PUT", &format!("/v1/users/alice/devices/{fits}"));
    assert_eq!(r.status, 201, "{}", r.text);
    let before = h.p.kv.dump();
    let r = h.admin("PUT", &format!("/v1/users/alice/devices/{long}"));
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.error_code(), "topic_too_long");
    assert_eq!(h.p.kv.dump(), before);
    // A longer limit admits it.
    h.p.set_var("max_topic_length", Some("128"));
    let r = h.admin("PUT", &format!("/v1/users/alice/devices/{long}"));
    assert_eq!(r.status, 201, "{}", r.text);
}

#[test]
fn unregistering_forgets_the_device() {
    let h = Harness::new();
    h.register("alice", "alice1");
    h.register("alice", "alice2");
    h.register("bob", "bob1");
    let presence =
        json!({"event": "client.connected", "clientid": cid("alice1"), "connected_at": T0});
    let auth = format!("Bearer {WEBHOOK_TOKEN}");
    h.send(
        Surface::Webhooks,
        "POST",
        "/v1/webhooks/presence",
        &[
            ("authorization", &auth),
            ("content-type", "application/json"),
        ],
        presence.to_string().as_bytes(),
    );
    assert!(h.p.kv.raw(&format!("presence/{}", cid("alice1"))).is_some());
    let r = h.admin("DELETE", &device_path("bob", "alice1"));
    assert_eq!(r.status, 404, "not bob's: {}", r.text);
    assert_eq!(r.error_code(), "unknown_device");
    let r = h.admin("DELETE", &device_path("alice", "alice1"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["registered"], false);
    assert!(h.p.kv.raw(&format!("dev/{}", cid("alice1"))).is_none());
    assert!(h.p.kv.raw(&format!("presence/{}", cid("alice1"))).is_none());
    let user = h.admin("GET", "/v1/users/alice");
    assert_eq!(
        user.json["devices"],
        json!([{"client_id": cid("alice2"), "connected": null, "presence_at": null}])
    );
    assert_eq!(
        h.admin("DELETE", &device_path("alice", "alice1")).status,
        404
    );
    // The deleted device can no longer signal.
    let (_, r) = h.send_op("alice1", "m", json!({"op": "sync"}));
    assert_eq!(
        r.result(),
        ("refused".into(), Some("unknown_device".into()))
    );
}

#[test]
fn users_and_calls_can_be_inspected() {
    let h = Harness::new();
    h.register("alice", "alice1");
    h.register("bob", "bob1");
    assert_eq!(
        h.admin("GET", "/v1/users/nobody").error_code(),
        "unknown_user"
    );
    let call = h.invite("alice1", "inv", &["bob"]);
    let user = h.admin("GET", "/v1/users/alice");
    assert_eq!(user.status, 200);
    assert_eq!(user.json["user"], "alice");
    assert_eq!(
        user.json["calls"],
        json!([{"call": call, "state": "joined", "host": "alice"}])
    );
    let view = h.admin("GET", &format!("/v1/calls/{call}"));
    assert_eq!(view.status, 200);
    assert_eq!(view.json["call"], call.as_str());
    assert_eq!(view.json["host"], "alice");
    assert_eq!(view.json["media"], "video");
    assert_eq!(view.json["participants"][1]["state"], "invited");
    assert_eq!(view.json["participants"][1]["deadline"], T0 + 30_000);
    assert!(
        !view.text.contains("token"),
        "no join parameters in the view"
    );
    let r = h.admin("GET", "/v1/calls/c-unknown");
    assert_eq!((r.status, r.error_code()), (404, "unknown_call"));
    // The view applies passed deadlines without writing them.
    h.p.advance(30_000);
    let before = h.p.kv.dump();
    let view = h.admin("GET", &format!("/v1/calls/{call}"));
    assert_eq!(view.json["state"], "ended");
    assert_eq!(view.json["participants"][1]["state"], "missed");
    assert_eq!(h.admin("GET", "/v1/users/alice").json["calls"], json!([]));
    assert_eq!(h.p.kv.dump(), before);
}

#[test]
fn the_backend_can_end_a_call_once() {
    let h = Harness::new();
    h.register("alice", "alice1");
    h.register("bob", "bob1");
    h.register("carol", "carol1");
    let call = h.invite("alice1", "inv", &["bob", "carol"]);
    h.op_ok("bob1", "acc", json!({"op": "accept", "call": call}));
    let mark = h.mark();
    let r = h.admin("POST", &format!("/v1/calls/{call}/end"));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["state"], "ended");
    let mut e = h.events_since(mark);
    e.sort();
    assert_eq!(
        e,
        vec![
            ("alice1".into(), "call.ended".into()),
            ("bob1".into(), "call.ended".into()),
            ("carol1".into(), "call.cancelled".into()),
        ]
    );
    let ended =
        h.p.broker
            .published_since(mark)
            .into_iter()
            .find(|m| m.event() == "call.ended")
            .unwrap();
    assert_eq!(ended.payload["reason"], "ended_by_host");
    let mark = h.mark();
    let r = h.admin("POST", &format!("/v1/calls/{call}/end"));
    assert_eq!((r.status, r.error_code()), (409, "invalid_state"));
    assert_eq!(h.mark(), mark);
    assert_eq!(h.admin("POST", "/v1/calls/c-unknown/end").status, 404);
    // The ended call no longer holds anyone.
    let again = h.invite("carol1", "inv2", &["bob"]);
    assert_eq!(h.state_of(&again, "bob"), "invited");
}

#[test]
fn ending_survives_a_broker_outage() {
    let h = Harness::new();
    h.register("alice", "alice1");
    h.register("bob", "bob1");
    let call = h.invite("alice1", "inv", &["bob"]);
    h.p.broker.script(Reply::Transport);
    let r = h.admin("POST", &format!("/v1/calls/{call}/end"));
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.error_code(), "broker_unavailable");
    assert!(h.call_record(&call).is_ended(), "the end is stored");
    // A retry of the request is refused as already ended; the scheduled
    // task delivers what the outage held back.
    assert_eq!(
        h.admin("POST", &format!("/v1/calls/{call}/end")).status,
        409
    );
    h.p.advance(5_000);
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.json["resent"], 2, "{}", r.text);
    let mut e = h.events_since(0);
    e.retain(|(_, ev)| ev != "call.created" && ev != "call.invitation");
    e.sort();
    assert_eq!(
        e,
        vec![
            ("alice1".into(), "call.ended".into()),
            ("bob1".into(), "call.cancelled".into())
        ]
    );
}

#[test]
fn routing_unknown_paths_and_methods() {
    let h = Harness::new();
    let admin = format!("Bearer {ADMIN_TOKEN}");
    let auth = [("authorization", admin.as_str())];
    for (surface, method, path, status, code) in [
        (Surface::Health, "GET", "/", 404, "not_found"),
        (Surface::Health, "GET", "/v2/health", 404, "not_found"),
        (Surface::Health, "GET", "/v1/health/x", 404, "not_found"),
        (Surface::Admin, "GET", "/v1/users", 404, "not_found"),
        (
            Surface::Admin,
            "GET",
            "/v1/users/alice/devices",
            404,
            "not_found",
        ),
        (
            Surface::Admin,
            "GET",
            "/v1/calls/c1/end/now",
            404,
            "not_found",
        ),
        (Surface::Admin, "GET", "/v1/tasks", 404, "not_found"),
        // Each component serves only its own routes.
        (Surface::Admin, "GET", "/v1/health", 404, "not_found"),
        (
            Surface::Webhooks,
            "GET",
            "/v1/users/alice",
            404,
            "not_found",
        ),
        (
            Surface::Health,
            "POST",
            "/v1/webhooks/mqtt",
            404,
            "not_found",
        ),
        (
            Surface::Admin,
            "POST",
            "/v1/webhooks/mqtt",
            404,
            "not_found",
        ),
        // Methods.
        (
            Surface::Admin,
            "POST",
            "/v1/users/alice",
            405,
            "method_not_allowed",
        ),
        (
            Surface::Admin,
            "GET",
            "/v1/tasks/expire",
            405,
            "method_not_allowed",
        ),
        (
            Surface::Admin,
            "GET",
            "/v1/calls/c1/end",
            405,
            "method_not_allowed",
        ),
        (
            Surface::Admin,
            "POST",
            "/v1/users/alice/devices/GID_test@@@a1",
            405,
            "method_not_allowed",
        ),
        (
            Surface::Webhooks,
            "GET",
            "/v1/webhooks/mqtt",
            405,
            "method_not_allowed",
        ),
        (
            Surface::Health,
            "POST",
            "/v1/health",
            405,
            "method_not_allowed",
        ),
    ] {
        let r = h.send(surface, method, path, &auth, b"");
        assert_eq!(
            (r.status, r.error_code()),
            (status, code),
            "{surface:?} {method} {path}: {}",
            r.text
        );
        if status == 405 {
            assert!(r.header("allow").is_some_and(|a| !a.is_empty()), "{path}");
        }
    }
    let r = h.send(Surface::Admin, "DELETE", "/v1/tasks/expire", &auth, b"");
    assert_eq!(r.header("allow"), Some("POST"));
    let r = h.send(
        Surface::Admin,
        "GET",
        "/v1/users/alice/devices/GID_test@@@a1",
        &auth,
        b"",
    );
    assert_eq!(r.header("allow"), Some("PUT, DELETE"));
    assert!(h.p.kv.dump().is_empty());
}

#[test]
fn path_traversal_is_refused_before_any_storage_access() {
    let h = Harness::new();
    h.register("alice", "alice1");
    let before = h.p.kv.dump();
    for (method, path, status, code) in [
        ("GET", "/v1/users/..", 400, "invalid_user_id"),
        ("GET", "/v1/users/.", 400, "invalid_user_id"),
        ("GET", "/v1/users/%2E%2E", 400, "invalid_user_id"),
        (
            "GET",
            "/v1/users/..%2F..%2Fetc%2Fpasswd",
            400,
            "invalid_user_id",
        ),
        ("GET", "/v1/users/alice%2Fdevices", 400, "invalid_user_id"),
        ("GET", "/v1/users/a%00b", 400, "invalid_user_id"),
        ("GET", "/v1/users/a%ZZ", 400, "invalid_message"),
        ("GET", "/v1/users/a%C3", 400, "invalid_message"),
        ("GET", "/v1/users/a%", 400, "invalid_message"),
        ("GET", "/v1/calls/..", 400, "invalid_message"),
        (
            "GET",
            "/v1/calls/c%2F..%2F..%2Fuser%2Falice",
            400,
            "invalid_message",
        ),
        ("POST", "/v1/calls/..%2Fx/end", 400, "invalid_message"),
        ("GET", "/v1/calls/../users/alice", 404, "not_found"),
        (
            "PUT",
            "/v1/users/alice/devices/..%2F..%2Fdev%2Fx",
            400,
            "invalid_client_id",
        ),
        (
            "PUT",
            "/v1/users/alice/devices/GID_test@@@a%2F..",
            400,
            "invalid_client_id",
        ),
        (
            "DELETE",
            "/v1/users/../devices/GID_test@@@alice1",
            400,
            "invalid_user_id",
        ),
        (
            "PUT",
            "/v1/users/alice/devices/GID_test@@@a1/../../x",
            404,
            "not_found",
        ),
        ("GET", "/v1//users/alice", 404, "not_found"),
        ("GET", "//v1/users/alice", 404, "not_found"),
    ] {
        let r = h.admin(method, path);
        assert_eq!(
            (r.status, r.error_code()),
            (status, code),
            "{method} {path}: {}",
            r.text
        );
    }
    assert_eq!(h.p.kv.dump(), before, "nothing read as a key was written");
}

#[test]
fn the_expiry_task_tolerates_odd_keys() {
    // Keys under call/ that are not call IDs, or records that do not decode,
    // are skipped or counted as failures, never a panic.
    let h = Harness::new();
    h.register("alice", "alice1");
    h.register("bob", "bob1");
    let call = h.invite("alice1", "inv", &["bob"]);
    h.p.kv.put_raw("call/not a call id", b"{}");
    h.p.kv.put_raw("call/c-broken", b"{\"id\":");
    h.p.advance(31_000);
    let r = h.admin("POST", "/v1/tasks/expire");
    assert_eq!(r.status, 503, "the broken record is reported: {}", r.text);
    assert_eq!(r.json["failures"], 1);
    assert_eq!(r.json["expired"], 1, "the other calls are still tended");
    assert_eq!(h.state_of(&call, "bob"), "missed");
}

#[test]
fn health_reports_ok_without_secrets() {
    let h = Harness::new();
    let r = h.send(Surface::Health, "GET", "/v1/health", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["problems"], json!([]));
    assert_eq!(
        r.json["settings"]["webhook_auth"],
        json!({"token": true, "signature": true})
    );
    assert_eq!(r.json["settings"]["broker_api_url"], BROKER_URL);
    assert_eq!(r.json["settings"]["ring_timeout_seconds"], 30);
}

#[test]
fn health_lists_every_problem_by_variable_name() {
    let h = Harness::new();
    h.p.set_var("admin_token", None);
    h.p.set_var("ring_timeout_seconds", Some("thirty"));
    h.p.set_var("broker_api_url", Some(&format!("{BROKER_URL}/api/v5")));
    h.p.set_var("upstream_parent", Some("sig/+/#"));
    let r = h.send(Surface::Health, "GET", "/v1/health", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["status"], "misconfigured");
    let mut vars: Vec<&str> = r.json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["variable"].as_str().unwrap())
        .collect();
    vars.sort();
    assert_eq!(
        vars,
        vec![
            "admin_token",
            "broker_api_url",
            "ring_timeout_seconds",
            "upstream_parent"
        ]
    );
    // (Harness::send already checked that no secret value appears.)

    // Every other route answers with a clear, secret-free error, not a panic.
    let r = h.admin("GET", "/v1/users/alice");
    assert_eq!((r.status, r.error_code()), (500, "misconfigured"));
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("admin_token"));
    let r = h.post_mqtt(b"{}");
    assert_eq!((r.status, r.error_code()), (500, "misconfigured"));
}

#[test]
fn health_checks_the_rtc_provider_and_broker_api() {
    let h = Harness::new();
    h.p.set_var("rtc_provider", Some("agora"));
    let r = h.send(Surface::Health, "GET", "/v1/health", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["problems"][0]["variable"], "rtc_provider");
    assert!(
        !r.text.contains("rtc_app_key\":"),
        "names, never values: {}",
        r.text
    );
    // Requests that would mint tokens refuse before any effect.
    let r = h.admin("PUT", &device_path("alice", "alice1"));
    assert_eq!((r.status, r.error_code()), (500, "misconfigured"));
    assert!(h.p.kv.dump().is_empty());
    h.p.set_var("rtc_provider", None);
    h.p.set_var("broker_api", Some("aliyun"));
    h.p.set_var("aliyun_instance_id", Some("mqtt-cn-1"));
    h.p.set_var("aliyun_region", Some("cn-hangzhou"));
    let r = h.send(Surface::Health, "GET", "/v1/health", &[], b"");
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.json["problems"][0]["variable"], "broker_api");
}

#[test]
fn health_needs_some_webhook_auth() {
    let h = Harness::new();
    h.p.set_var("webhook_token", None);
    h.p.set_var("webhook_secret", None);
    let r = h.send(Surface::Health, "GET", "/v1/health", &[], b"");
    assert_eq!(r.status, 503);
    assert_eq!(r.json["problems"][0]["variable"], "webhook_token");
}
