//! End-to-end tests of `switchboard-host up` with the `kv-probe` fixture:
//! real HTTP to a child process, real SQLite files, a real redis-server and
//! a real upstream HTTP server, all on 127.0.0.1.

mod common;

use common::{AppDir, HostCommand, Upstream};
use switchboard_test_host::testing::RedisServer;

fn header<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

#[test]
fn routes_and_spin_headers_match_spin() {
    let app = AppDir::with_fixture();
    let host = HostCommand::new(&app).start();
    assert!(host.stdout.contains("Available Routes:"));
    assert!(host.stdout.contains("  probe: http://127.0.0.1:"));
    assert!(host.stdout.contains("/limited/wild (wildcard)"));

    let root = host.get("/headers?x=1");
    assert_eq!(root.status, 200, "{root:?}");
    assert_eq!(header(&root.body, "spin-matched-route"), Some("/..."));
    assert_eq!(header(&root.body, "spin-raw-component-route"), Some("/..."));
    assert_eq!(header(&root.body, "spin-component-route"), Some(""));
    assert_eq!(header(&root.body, "spin-path-info"), Some("/headers"));
    assert_eq!(header(&root.body, "spin-base-path"), Some("/"));
    let full_url = header(&root.body, "spin-full-url").unwrap_or_default();
    assert!(full_url.starts_with("http://127.0.0.1:"), "{full_url}");
    assert!(full_url.ends_with("/headers?x=1"), "{full_url}");
    let client = header(&root.body, "spin-client-addr").unwrap_or_default();
    assert!(client.starts_with("127.0.0.1:"), "{client}");

    let wild = host.get("/limited/wild/headers");
    assert_eq!(
        header(&wild.body, "spin-matched-route"),
        Some("/limited/wild/...")
    );
    assert_eq!(
        header(&wild.body, "spin-component-route"),
        Some("/limited/wild")
    );
    assert_eq!(header(&wild.body, "spin-path-info"), Some("/headers"));

    // The exact route beats the catch-all and gives no path info.
    let exact = host.get("/limited/exact");
    assert_eq!(exact.status, 200);
    assert_eq!(exact.body, "Method::Get /limited/exact");

    let health = host.get("/.well-known/spin/health");
    assert_eq!((health.status, health.body.as_str()), (200, "OK"));
}

#[test]
fn unmatched_paths_get_an_empty_404() {
    let app = AppDir::with_fixture();
    app.edit_manifest(|m| m.replace("route = \"/...\"", "route = \"/probe/...\""));
    let host = HostCommand::new(&app).start();
    let missing = host.get("/nowhere");
    assert_eq!((missing.status, missing.body.as_str()), (404, ""));
    assert!(missing
        .headers
        .iter()
        .any(|(name, value)| name == "content-length" && value == "0"));
    assert_eq!(host.get("/probe/var?name=greeting").body, "hello, world");
    assert_eq!(host.get("/.well-known/spin/other").status, 404);
}

#[test]
fn variables_resolve_like_spin() {
    let app = AppDir::with_fixture();
    let host = HostCommand::new(&app).start();
    assert_eq!(host.get("/var?name=greeting").body, "hello, world");
    assert_eq!(host.get("/var?name=token").body, "probe-secret");

    // `limited` does not map `token`: undefined for it, whatever the app has.
    let unmapped = host.get("/limited/wild/var?name=token");
    assert_eq!(unmapped.status, 500);
    assert!(unmapped.body.contains("Undefined"), "{unmapped:?}");
    let invalid = host.get("/var?name=Not_Valid");
    assert!(invalid.body.contains("InvalidName"), "{invalid:?}");
    drop(host);

    let overridden = HostCommand::new(&app)
        .env("SPIN_VARIABLE_GREETING", "hi")
        .start();
    assert_eq!(overridden.get("/var?name=greeting").body, "hi, world");
    assert_eq!(overridden.get("/limited/wild/var?name=greeting").body, "hi");
}

#[test]
fn startup_is_refused_like_spin() {
    let app = AppDir::with_fixture();
    let stderr = HostCommand::new(&app)
        .env_remove("SPIN_VARIABLE_PROBE_TOKEN")
        .run_expecting_failure();
    assert!(stderr.contains("SPIN_VARIABLE_PROBE_TOKEN"), "{stderr}");

    app.edit_manifest(|m| {
        m.replace(
            "key_value_stores = [\"default\"]",
            "key_value_stores = [\"other\"]",
        )
    });
    let stderr = HostCommand::new(&app).run_expecting_failure();
    assert!(
        stderr.contains("unknown key_value_stores label \"other\""),
        "{stderr}"
    );

    app.edit_manifest(|_| "spin_manifest_version = 1\n".to_owned());
    let stderr = HostCommand::new(&app).run_expecting_failure();
    assert!(stderr.contains("invalid manifest"), "{stderr}");
}

#[test]
fn sqlite_default_store_persists_in_the_state_dir() {
    let app = AppDir::with_fixture();
    let state = app.path().join("state");
    let mut host = HostCommand::new(&app)
        .arg("--state-dir")
        .arg(state.display().to_string())
        .start();
    assert_eq!(
        host.request("PUT", "/kv?op=set&store=default&key=a", b"1")
            .body,
        "ok"
    );
    assert_eq!(
        host.request("PUT", "/wasi?op=set&store=default&key=b", b"2")
            .body,
        "ok"
    );
    assert_eq!(host.get("/kv?op=get&store=default&key=b").body, "some:2");
    assert_eq!(host.get("/wasi?op=get&store=default&key=a").body, "some:1");
    assert_eq!(host.get("/kv?op=exists&store=default&key=a").body, "true");
    assert_eq!(host.get("/kv?op=keys&store=default").body, "a,b");
    assert_eq!(host.get("/wasi?op=keys&store=default").body, "a,b");
    assert_eq!(
        host.request("DELETE", "/kv?op=delete&store=default&key=b", b"")
            .body,
        "ok"
    );
    assert_eq!(host.get("/kv?op=get&store=default&key=b").body, "none");
    assert!(
        host.stop().is_some_and(|s| s.success()),
        "SIGTERM stops the host cleanly"
    );
    assert!(state.join("sqlite_key_value.db").is_file());

    let restarted = HostCommand::new(&app)
        .arg("--state-dir")
        .arg(state.display().to_string())
        .start();
    assert_eq!(
        restarted.get("/kv?op=get&store=default&key=a").body,
        "some:1"
    );
}

#[test]
fn stores_outside_key_value_stores_are_denied() {
    let app = AppDir::with_fixture();
    let host = HostCommand::new(&app).start();
    let spin_api = host.get("/limited/wild/kv?op=get&store=default&key=a");
    assert_eq!(spin_api.status, 500);
    assert!(spin_api.body.contains("AccessDenied"), "{spin_api:?}");
    let wasi_api = host.get("/wasi?op=get&store=elsewhere&key=a");
    assert!(wasi_api.body.contains("AccessDenied"), "{wasi_api:?}");
}

#[test]
fn sqlite_counters_and_compare_and_swap() {
    let app = AppDir::with_fixture();
    let config = app.write(
        "runtime-config.toml",
        "[key_value_store.default]\ntype = \"spin\"\npath = \"kv.db\"\n",
    );
    let host = HostCommand::new(&app)
        .arg("--runtime-config-file")
        .arg(config.display().to_string())
        .start();
    assert!(
        app.path().join("kv.db").is_file(),
        "path is relative to the runtime config file"
    );

    assert_eq!(
        host.get("/wasi?op=incr&store=default&key=n&delta=5").body,
        "5"
    );
    assert_eq!(
        host.get("/wasi?op=incr&store=default&key=n&delta=-7").body,
        "-2"
    );

    host.request("PUT", "/kv?op=set&store=default&key=k", b"v1");
    let swapped = host.request("POST", "/wasi?op=cas&store=default&key=k", b"v2");
    assert_eq!(swapped.body, "swapped; current was some:v1");

    let conflict = host.request(
        "POST",
        "/wasi?op=cas&store=default&key=k&interfere=theirs",
        b"mine",
    );
    assert_eq!(conflict.status, 500);
    assert_eq!(
        conflict.body,
        "CasFailed; current was some:v2; retry handle sees some:theirs"
    );
    assert_eq!(
        host.get("/kv?op=get&store=default&key=k").body,
        "some:theirs"
    );

    // Spin's quirk: without `current`, swap is an unconditional upsert.
    let blind = host.request(
        "POST",
        "/wasi?op=cas&store=default&key=k&skip_current=1",
        b"blind",
    );
    assert_eq!(blind.body, "swapped; current was skipped");
    assert_eq!(
        host.get("/kv?op=get&store=default&key=k").body,
        "some:blind"
    );

    // Spin panics when `increment` meets a non-counter; the request fails.
    let not_a_counter = host.get("/wasi?op=incr&store=default&key=k&delta=1");
    assert_eq!(
        (not_a_counter.status, not_a_counter.body.as_str()),
        (500, "")
    );
}

#[test]
fn redis_store_follows_spin_redis_backend() {
    let redis = RedisServer::start();
    let app = AppDir::with_fixture();
    let config = app.write(
        "runtime-config.toml",
        &format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            redis.url()
        ),
    );
    let host = HostCommand::new(&app)
        .arg("--runtime-config-file")
        .arg(config.display().to_string())
        .start();

    assert_eq!(
        host.request("PUT", "/kv?op=set&store=default&key=a", b"x")
            .body,
        "ok"
    );
    assert_eq!(host.get("/wasi?op=get&store=default&key=a").body, "some:x");
    assert_eq!(
        host.get("/wasi?op=incr&store=default&key=n&delta=5").body,
        "5"
    );
    assert_eq!(
        host.get("/kv?op=get&store=default&key=n").body,
        "some:5",
        "INCRBY keeps decimal text"
    );
    assert_eq!(host.get("/kv?op=keys&store=default").body, "a,n");

    // On Redis, Spin's swap always reports cas-failed (its `UNWATCH <key>`
    // is rejected), even though the uncontended EXEC wrote the value.
    let uncontended = host.request("POST", "/wasi?op=cas&store=default&key=a", b"y");
    assert_eq!(
        uncontended.body,
        "CasFailed; current was some:x; retry handle sees some:y"
    );
    let contended = host.request(
        "POST",
        "/wasi?op=cas&store=default&key=a&interfere=theirs",
        b"mine",
    );
    assert_eq!(
        contended.body,
        "CasFailed; current was some:y; retry handle sees some:theirs"
    );
    assert_eq!(
        host.get("/kv?op=get&store=default&key=a").body,
        "some:theirs"
    );
}

#[test]
fn outbound_requests_follow_allowed_outbound_hosts() {
    let allowed = Upstream::start();
    let other = Upstream::start();
    let app = AppDir::with_fixture();
    let host = HostCommand::new(&app)
        .env("SPIN_VARIABLE_UPSTREAM_URL", allowed.url())
        .start();

    let ok = host.get(&format!("/outbound?url={}/publish", allowed.url()));
    assert_eq!(ok.body, "status 200\nupstream-ok");
    assert_eq!(allowed.next_path().as_deref(), Some("/publish"));

    let denied = host.get(&format!("/outbound?url={}/publish", other.url()));
    assert_eq!(denied.status, 500);
    assert!(denied.body.contains("HttpRequestDenied"), "{denied:?}");
    let from_limited = host.get(&format!("/limited/wild/outbound?url={}/x", allowed.url()));
    assert!(
        from_limited.body.contains("HttpRequestDenied"),
        "{from_limited:?}"
    );
    assert_eq!(other.requests(), 0);
    assert_eq!(allowed.requests(), 1);
}

#[test]
fn an_allowed_host_with_a_path_denies_everything() {
    let upstream = Upstream::start();
    let app = AppDir::with_fixture();
    let host = HostCommand::new(&app)
        .env(
            "SPIN_VARIABLE_UPSTREAM_URL",
            format!("{}/api/v5", upstream.url()),
        )
        .start();
    let denied = host.get(&format!("/outbound?url={}/api/v5/publish", upstream.url()));
    assert!(denied.body.contains("HttpRequestDenied"), "{denied:?}");
    assert_eq!(upstream.requests(), 0);
    assert!(host.stderr.contains("has a path"), "{}", host.stderr.text());
}

#[test]
fn the_library_serves_in_process() {
    use std::net::SocketAddr;

    use switchboard_test_host::{App, AppOptions, StateDirArg, CACHE_DIR_ENV};

    let app_dir = AppDir::with_fixture();
    let options = AppOptions {
        manifest: app_dir.manifest(),
        runtime_config_file: None,
        state_dir: StateDirArg::Unset,
    };
    let cache = common::cache_dir();
    let env = |name: &str| match name {
        "SPIN_VARIABLE_PROBE_TOKEN" => Some("in-process".to_owned()),
        _ if name == CACHE_DIR_ENV => Some(cache.display().to_string()),
        _ => None,
    };
    let app = App::prepare(&options, &env).unwrap_or_else(|e| panic!("{e}"));

    let runtime = tokio::runtime::Runtime::new().unwrap_or_else(|e| panic!("{e}"));
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap_or_else(|e| panic!("{e}"));
    let addr: SocketAddr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    assert!(app
        .startup_message(addr)
        .starts_with(&format!("Serving http://{addr}\n")));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));

    let response = common::http_request(addr, "GET", "/var?name=token", b"");
    assert_eq!(response.body, "in-process");
    let _ = stop.send(());
    let result = runtime.block_on(server).unwrap_or_else(|e| panic!("{e}"));
    assert!(result.is_ok(), "{result:?}");
}
