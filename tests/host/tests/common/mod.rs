//! Harness for the integration tests: builds the `kv-probe` fixture once,
//! lays out an application folder per test, runs `switchboard-host up` as a
//! child process in its own process group, and talks plain HTTP/1.0 to it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use switchboard_test_host::testing::free_port;
use switchboard_test_host::{App, AppOptions, StateDirArg, CACHE_DIR_ENV};

/// Generous: a cold debug host compiles the component before it listens.
const STARTUP_DEADLINE: Duration = Duration::from_secs(180);
const EXIT_DEADLINE: Duration = Duration::from_secs(20);

const FIXTURE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/kv-probe");

/// Where the fixture is built and compiled components are cached, shared by
/// every test run in this target folder.
fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("switchboard-test-host")
}

/// The compiled-component cache shared by all tests.
pub fn cache_dir() -> PathBuf {
    scratch().join("compiled")
}

/// The built fixture component (built once per test binary, and only
/// recompiled by cargo when its sources change).
pub fn fixture_wasm() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let target_dir = scratch().join("fixture-target");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-wasip2"])
            .arg("--manifest-path")
            .arg(Path::new(FIXTURE_DIR).join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .status()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        assert!(status.success(), "building the kv-probe fixture failed");
        let wasm = target_dir.join("wasm32-wasip2/release/kv_probe.wasm");
        warm_compile_cache(&wasm);
        wasm
    })
}

/// Compiles the fixture into the shared cache once, so parallel tests do
/// not all compile it at the same time.
fn warm_compile_cache(wasm: &Path) {
    let app = AppDir::new();
    std::fs::copy(wasm, app.path().join("kv_probe.wasm"))
        .unwrap_or_else(|e| panic!("cannot copy the fixture: {e}"));
    let options = AppOptions {
        manifest: app.manifest(),
        runtime_config_file: None,
        state_dir: StateDirArg::Unset,
    };
    let cache = cache_dir();
    let env = |name: &str| match name {
        "SPIN_VARIABLE_PROBE_TOKEN" => Some("warm".to_owned()),
        _ if name == CACHE_DIR_ENV => Some(cache.display().to_string()),
        _ => None,
    };
    App::prepare(&options, &env).unwrap_or_else(|e| panic!("cannot prepare the fixture: {e}"));
}

/// A temporary application folder holding the fixture's `spin.toml`.
pub struct AppDir {
    dir: tempfile::TempDir,
}

impl AppDir {
    /// A folder with the fixture manifest, without the component.
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(
            Path::new(FIXTURE_DIR).join("spin.toml"),
            dir.path().join("spin.toml"),
        )
        .unwrap_or_else(|e| panic!("cannot copy spin.toml: {e}"));
        Self { dir }
    }

    /// A folder with the fixture manifest and the built component.
    pub fn with_fixture() -> Self {
        let wasm = fixture_wasm();
        let app = Self::new();
        std::fs::copy(wasm, app.path().join("kv_probe.wasm"))
            .unwrap_or_else(|e| panic!("cannot copy the fixture: {e}"));
        app
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn manifest(&self) -> PathBuf {
        self.path().join("spin.toml")
    }

    /// Rewrites the manifest with `edit`.
    pub fn edit_manifest(&self, edit: impl FnOnce(String) -> String) {
        let text = std::fs::read_to_string(self.manifest()).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(self.manifest(), edit(text)).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Writes a file in the folder and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("{e}"));
        path
    }
}

/// How to start the host.
pub struct HostCommand {
    manifest: PathBuf,
    args: Vec<String>,
    env: BTreeMap<String, String>,
}

impl HostCommand {
    /// `switchboard-host up --from <manifest>` with the fixture's required
    /// variable set.
    pub fn new(app: &AppDir) -> Self {
        let mut env = BTreeMap::new();
        env.insert(
            "SPIN_VARIABLE_PROBE_TOKEN".to_owned(),
            "probe-secret".to_owned(),
        );
        Self {
            manifest: app.manifest(),
            args: Vec::new(),
            env,
        }
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, name: &str, value: impl Into<String>) -> Self {
        self.env.insert(name.to_owned(), value.into());
        self
    }

    pub fn env_remove(mut self, name: &str) -> Self {
        self.env.remove(name);
        self
    }

    fn command(&self, port: u16) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard-host"));
        command
            .arg("up")
            .arg("--from")
            .arg(&self.manifest)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .args(&self.args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(CACHE_DIR_ENV, cache_dir())
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        command
    }

    /// Starts the host and waits until it prints `Serving http://...`.
    pub fn start(self) -> Host {
        let port = free_port().unwrap_or_else(|e| panic!("{e}"));
        let mut child = self
            .command(port)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start switchboard-host: {e}"));
        let stdout = collect_lines(child.stdout.take());
        let stderr = collect_lines(child.stderr.take());
        let host = Host {
            child,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            stdout,
            stderr,
        };
        let serving = format!("Serving http://127.0.0.1:{port}");
        let deadline = Instant::now() + STARTUP_DEADLINE;
        while Instant::now() < deadline {
            if host.stdout.contains(&serving) {
                return host;
            }
            if host.stderr.contains("Error:") {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "switchboard-host did not start.\nstdout:\n{}\nstderr:\n{}",
            host.stdout.text(),
            host.stderr.text()
        );
    }

    /// Runs the host expecting it to refuse to start; returns its stderr.
    pub fn run_expecting_failure(self) -> String {
        let port = free_port().unwrap_or_else(|e| panic!("{e}"));
        let output = self
            .command(port)
            .output()
            .unwrap_or_else(|e| panic!("cannot run switchboard-host: {e}"));
        assert!(
            !output.status.success(),
            "switchboard-host started but should have refused"
        );
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

/// The lines a child process printed so far.
#[derive(Clone, Default)]
pub struct Lines(Arc<std::sync::Mutex<Vec<String>>>);

impl Lines {
    pub fn text(&self) -> String {
        self.0.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.text().contains(needle)
    }
}

fn collect_lines(stream: Option<impl Read + Send + 'static>) -> Lines {
    let lines = Lines::default();
    if let Some(stream) = stream {
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut all) = sink.0.lock() {
                    all.push(line);
                }
            }
        });
    }
    lines
}

/// A running `switchboard-host`; stopped (SIGTERM to its group) on drop.
pub struct Host {
    child: Child,
    addr: SocketAddr,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Host {
    pub fn get(&self, path: &str) -> HttpResponse {
        http_request(self.addr, "GET", path, b"")
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        http_request(self.addr, method, path, body)
    }

    /// Sends SIGTERM to the host's process group and waits for it to exit.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pid}")])
            .status();
        let deadline = Instant::now() + EXIT_DEADLINE;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// A response read off the wire.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One HTTP/1.0 exchange (so the server closes the connection after the
/// body and never uses chunked encoding).
pub fn http_request(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> HttpResponse {
    let mut stream =
        TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap_or_else(|e| panic!("{e}"));
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\r\n",
        addr.port(),
        body.len()
    );
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .unwrap_or_else(|e| panic!("cannot send the request: {e}"));
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("cannot read the response: {e}"));
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A tiny upstream HTTP server on 127.0.0.1 that answers `200 upstream-ok`
/// and counts the requests it receives.
pub struct Upstream {
    pub port: u16,
    requests: Arc<AtomicUsize>,
    paths: mpsc::Receiver<String>,
}

impl Upstream {
    pub fn start() -> Self {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| panic!("{e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("{e}"))
            .port();
        let requests = Arc::new(AtomicUsize::new(0));
        let (sender, paths) = mpsc::channel();
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(&stream);
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Drain the header section.
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_owned();
                let _ = sender.send(path);
                let mut stream = &stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\nupstream-ok",
                );
            }
        });
        Self {
            port,
            requests,
            paths,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// The path of the next request received, waiting up to a few seconds.
    pub fn next_path(&self) -> Option<String> {
        self.paths.recv_timeout(Duration::from_secs(10)).ok()
    }
}
