//! Real processes for the bridge tests: a Mosquitto broker, a webhook
//! receiver, the bridge binary, MQTT devices and an API client, each on
//! 127.0.0.1 with ports picked at run time and stopped when dropped.

#![allow(dead_code)] // each test binary uses a different part of the kit

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use serde_json::Value;
use tokio::sync::mpsc;

/// How long any awaited condition may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub const API_KEY: &str = "test-key";
pub const API_SECRET: &str = "test-secret";
pub const WEBHOOK_TOKEN: &str = "test-webhook-token";
pub const WEBHOOK_SECRET: &str = "test-webhook-secret";

/// Polls `condition` until it holds, failing the test after [`DEADLINE`].
pub async fn eventually<F: FnMut() -> bool>(what: &str, mut condition: F) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = StdTcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

// ---------------------------------------------------------------- Mosquitto

/// A Mosquitto broker with anonymous access on its own port.
pub struct Mosquitto {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Self {
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir");
            write_config(&dir, port);
            if let Some(child) = spawn_mosquitto(&dir, port) {
                return Self { port, child, dir };
            }
        }
        panic!("mosquitto did not start");
    }

    /// Stops the broker abruptly.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the broker and starts it again on the same port. Sessions are
    /// lost (no persistence), as after a crash of a memory-only broker.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_mosquitto(&self.dir, self.port).expect("mosquitto restarts");
    }
}

fn write_config(dir: &tempfile::TempDir, port: u16) {
    // Mosquitto started as root drops to the `mosquitto` user: keep the
    // folder and config readable for it.
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let config = dir.path().join("mosquitto.conf");
    fs::write(
        &config,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
        ),
    )
    .expect("write config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).expect("chmod config");
}

/// Starts Mosquitto and waits until it accepts connections; `None` if it
/// exited first (most likely the port was taken meanwhile).
fn spawn_mosquitto(dir: &tempfile::TempDir, port: u16) -> Option<Child> {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("mosquitto.log"))
        .expect("log file");
    let mut child = Command::new("/usr/sbin/mosquitto")
        .arg("-c")
        .arg(dir.path().join("mosquitto.conf"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn /usr/sbin/mosquitto");
    let start = Instant::now();
    while start.elapsed() < DEADLINE {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(child);
        }
        if child.try_wait().ok().flatten().is_some() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------- webhook receiver

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }
}

#[derive(Default)]
struct ReceiverState {
    received: Vec<Received>,
    /// Statuses to answer, in order; 200 once they run out.
    script: VecDeque<u16>,
    /// The answer once the script ran out.
    default_status: u16,
}

/// A real HTTP server standing in for the Switchboard webhook.
pub struct WebhookReceiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

impl WebhookReceiver {
    /// Listens on a free port, answering `script` first, then 200.
    pub async fn start(script: &[u16]) -> Self {
        Self::start_on(0, script).await
    }

    /// Listens on `port` (0 = any).
    pub async fn start_on(port: u16, script: &[u16]) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind webhook receiver");
        let addr = listener.local_addr().expect("receiver address");
        let state = Arc::new(Mutex::new(ReceiverState {
            received: Vec::new(),
            script: script.iter().copied().collect(),
            default_status: 200,
        }));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&state), request));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/v1/webhooks/mqtt", self.addr)
    }

    /// Changes the answer given once the script ran out.
    pub fn answer_from_now_on(&self, status: u16) {
        self.state.lock().expect("receiver state").default_status = status;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("receiver state").received.clone()
    }

    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        eventually(&format!("{count} webhook request(s)"), || {
            self.received().len() >= count
        })
        .await;
        self.received()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<Mutex<ReceiverState>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let status = {
        let mut state = state.lock().expect("receiver state");
        state.received.push(Received {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            headers: parts.headers,
            body,
        });
        let fallback = state.default_status;
        state.script.pop_front().unwrap_or(fallback)
    };
    let body = if status == 200 {
        r#"{"results":[]}"#
    } else {
        r#"{"error":{"code":"test","message":"scripted failure"}}"#
    };
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = StatusCode::from_u16(status).expect("scripted status is valid");
    Ok(response)
}

// ------------------------------------------------------------------- bridge

/// How the webhook is authenticated.
#[derive(Clone, Copy)]
pub enum Auth {
    Bearer,
    Signature,
}

/// The `switchboard-bridge` binary, started and ready.
pub struct BridgeProcess {
    pub api: SocketAddr,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl BridgeProcess {
    pub fn start(mqtt_port: u16, webhook_url: &str, auth: Auth) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("bridge.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard-bridge"));
        command
            .args(["--mqtt-port", &mqtt_port.to_string()])
            .args(["--webhook-url", webhook_url])
            .args(["--api-listen", "127.0.0.1:0"])
            .args(["--api-key", API_KEY])
            .env("SWITCHBOARD_BRIDGE_API_SECRET", API_SECRET)
            .env("RUST_LOG", "switchboard_bridge=debug,info")
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("bridge log file"));
        match auth {
            Auth::Bearer => command.env("SWITCHBOARD_BRIDGE_WEBHOOK_TOKEN", WEBHOOK_TOKEN),
            Auth::Signature => command.env("SWITCHBOARD_BRIDGE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        };
        let mut child = command.spawn().expect("spawn the bridge binary");
        let stdout = child.stdout.take().expect("bridge stdout");
        let (lines_tx, lines) = std_mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut bridge = Self {
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            log,
            _dir: dir,
        };
        let listening = bridge.expect_line(&lines, "bridge api listening on http://");
        bridge.api = listening
            .parse()
            .expect("the readiness line names an address");
        let subscribed = bridge.expect_line(&lines, "bridge subscribed to ");
        assert_eq!(subscribed, "sig-up/+");
        bridge
    }

    /// The rest of the next stdout line, which must start with `prefix`.
    fn expect_line(&self, lines: &std_mpsc::Receiver<String>, prefix: &str) -> String {
        match lines.recv_timeout(DEADLINE) {
            Ok(line) => match line.strip_prefix(prefix) {
                Some(rest) => rest.to_owned(),
                None => panic!("unexpected stdout line {line:?}\n{}", self.log()),
            },
            Err(_) => panic!("no line starting with {prefix:?}\n{}", self.log()),
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` and waits for the process to exit.
    pub fn stop_with(&mut self, signal: libc::c_int) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY: plain kill(2) on our own child process.
        let sent = unsafe { libc::kill(pid, signal) };
        assert_eq!(sent, 0, "kill({pid}, {signal}) failed");
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the bridge") {
                return status;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "bridge did not exit\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for BridgeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- bridge log ----\n{}", self.log());
        }
    }
}

// ------------------------------------------------------------------ devices

/// A real MQTT client (rumqttc) acting as a device.
pub struct Device {
    client: AsyncClient,
    acks: mpsc::UnboundedReceiver<Packet>,
    messages: mpsc::UnboundedReceiver<Publish>,
    task: tokio::task::JoinHandle<()>,
}

impl Device {
    /// Connects with a persistent session and waits for CONNACK.
    pub async fn connect(port: u16, client_id: &str) -> Self {
        let mut options = MqttOptions::new(client_id, "127.0.0.1", port);
        options.set_clean_session(false);
        let (client, mut eventloop) = AsyncClient::new(options, 64);
        let (acks_tx, acks) = mpsc::unbounded_channel();
        let (messages_tx, messages) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(publish))) => {
                        let _ = messages_tx.send(publish);
                    }
                    Ok(Event::Incoming(
                        packet @ (Packet::ConnAck(_) | Packet::PubAck(_) | Packet::SubAck(_)),
                    )) => {
                        let _ = acks_tx.send(packet);
                    }
                    Ok(_) => {}
                    Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        });
        let mut device = Self {
            client,
            acks,
            messages,
            task,
        };
        device
            .expect_ack("CONNACK", |p| matches!(p, Packet::ConnAck(_)))
            .await;
        device
    }

    async fn expect_ack(&mut self, what: &str, wanted: impl Fn(&Packet) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            match tokio::time::timeout_at(deadline, self.acks.recv()).await {
                Ok(Some(packet)) if wanted(&packet) => return,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => panic!("no {what} from the broker"),
            }
        }
    }

    /// Publishes with QoS 1 and waits for the broker's PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: &[u8]) {
        self.client
            .publish(topic, QoS::AtLeastOnce, false, payload.to_vec())
            .await
            .expect("queue publish");
        self.expect_ack("PUBACK", |p| matches!(p, Packet::PubAck(_)))
            .await;
    }

    /// Subscribes with QoS 1 and waits for SUBACK.
    pub async fn subscribe(&mut self, filter: &str) {
        self.client
            .subscribe(filter, QoS::AtLeastOnce)
            .await
            .expect("queue subscribe");
        self.expect_ack("SUBACK", |p| matches!(p, Packet::SubAck(_)))
            .await;
    }

    /// The next message the broker delivered.
    pub async fn next_message(&mut self) -> Publish {
        match tokio::time::timeout(DEADLINE, self.messages.recv()).await {
            Ok(Some(message)) => message,
            _ => panic!("no message delivered to the device"),
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// --------------------------------------------------------------- API client

/// Calls the bridge's HTTP API.
pub struct ApiClient {
    base: SocketAddr,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl ApiClient {
    pub fn new(base: SocketAddr) -> Self {
        Self {
            base,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// A request with the right credentials.
    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.call(
            Method::POST,
            path,
            Some((API_KEY, API_SECRET)),
            body.to_string(),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(
            Method::GET,
            path,
            Some((API_KEY, API_SECRET)),
            String::new(),
        )
        .await
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        credentials: Option<(&str, &str)>,
        body: String,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.base))
            .header("content-type", "application/json");
        if let Some((key, secret)) = credentials {
            let encoded =
                base64::engine::general_purpose::STANDARD.encode(format!("{key}:{secret}"));
            request = request.header("authorization", format!("Basic {encoded}"));
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .expect("valid request");
        let response = self.http.request(request).await.expect("API answers");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("API body")
            .to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json)
    }

    pub async fn stats(&self) -> Value {
        let (status, stats) = self.get("/_bridge/stats").await;
        assert_eq!(status, StatusCode::OK);
        stats
    }

    /// Waits until the stats counter `name` reaches at least `value`.
    pub async fn wait_stat(&self, name: &str, value: u64) -> Value {
        let start = Instant::now();
        loop {
            let stats = self.stats().await;
            if stats[name].as_u64().is_some_and(|current| current >= value) {
                return stats;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "stat {name} never reached {value}: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
