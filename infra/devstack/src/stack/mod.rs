//! A whole Switchboard stack on loopback ports, for tests and local use.
//!
//! [`Stack::start`] creates a fresh temporary folder and starts, in order:
//! Mosquitto (with the contract's ACL), `redis-server` when the key-value
//! backend is Redis, the runtime (`$SPIN_BIN` when set, else
//! `switchboard-host`) serving `spin.toml`, the bridge, and optionally a
//! thread that calls `POST /v1/tasks/expire`. Each process runs in its own
//! process group with its output in `<dir>/<service>.{stdout,stderr}.log`;
//! dropping the [`Stack`] (also while a test panics) kills every group and
//! removes the folder.
//!
//! ```no_run
//! use switchboard_dev::stack::{Stack, StackOptions};
//!
//! # fn main() -> Result<(), switchboard_dev::stack::StackError> {
//! let stack = Stack::start(StackOptions::default().variable("ring_timeout_seconds", "2"))?;
//! println!("health: {}/v1/health, MQTT on 127.0.0.1:{}", stack.http_base(), stack.mqtt_port());
//! # Ok(())
//! # }
//! ```

mod bridge;
mod error;
mod http;
mod mosquitto;
mod options;
mod ports;
mod process;
mod redis;
mod runtime;
mod scheduler;
mod secret;
mod service;
mod variables;
mod workspace;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use tempfile::TempDir;

pub use error::StackError;
pub use mosquitto::{Mosquitto, MosquittoOptions, BRIDGE_USERNAME};
pub use options::{KvBackend, Parents, Ports, StackOptions, WebhookAuth};
pub use ports::port_is_free;
pub use redis::Redis;
pub use service::Service;
pub use workspace::{
    RuntimeKind, Workspace, BRIDGE_BIN_ENV, BUILD_COMPONENTS_ARGS, BUILD_NATIVE_ARGS, HOST_BIN_ENV,
    SPIN_BIN_ENV,
};

use bridge::BridgeSpec;
use process::ManagedProcess;
use runtime::{KvConfig, RuntimeSpec};
use scheduler::Scheduler;
use variables::{effective_parents, stack_variables, Declared, Generated};

/// The MQTT client ID the bridge connects with.
pub const BRIDGE_CLIENT_ID: &str = "switchboard-bridge";
/// How often a start that lost a race for a picked port is tried.
const START_ATTEMPTS: usize = 3;
/// How many log lines [`Stack::exited`] reports.
const EXIT_LOG_LINES: usize = 30;

/// A running stack. See the [module documentation](self).
pub struct Stack {
    // Fields drop in order: the scheduler and the bridge stop before the
    // runtime, the runtime before the stores, and the folder goes last.
    scheduler: Option<Scheduler>,
    bridge: Option<ManagedProcess>,
    runtime: Option<ManagedProcess>,
    redis: Option<Redis>,
    mosquitto: Mosquitto,
    bridge_spec: BridgeSpec,
    runtime_spec: RuntimeSpec,
    secret_names: BTreeSet<String>,
    parents: Parents,
    kv: KvBackend,
    dir: TempDir,
}

impl Stack {
    /// Starts every service and waits until each is ready.
    ///
    /// Fails with [`StackError::MissingBuild`] (naming the cargo command)
    /// before starting anything when a binary or component is not built.
    /// A start that failed because another process took a picked port is
    /// retried with new ports.
    pub fn start(options: StackOptions) -> Result<Self, StackError> {
        let mut attempt = 1;
        loop {
            match Self::try_start(&options) {
                Err(error)
                    if options.ports.all_picked()
                        && error.is_port_race()
                        && attempt < START_ATTEMPTS =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn try_start(options: &StackOptions) -> Result<Self, StackError> {
        let workspace = match &options.root {
            Some(root) => Workspace::at(root)?,
            None => Workspace::locate()?,
        };
        workspace.check_components()?;
        let runtime_binary = workspace.runtime_binary()?;
        let bridge_binary = workspace.bridge_binary()?;
        let declared = Declared::read(&workspace.spin_manifest())?;
        options.parents.validate()?;

        let ports = pick_ports(options)?;
        let dir = tempfile::Builder::new()
            .prefix("switchboard-dev.")
            .tempdir()
            .map_err(|source| StackError::io("cannot create a temporary folder", source))?;
        mosquitto::make_traversable(dir.path())?;

        let generated = Generated::new()?;
        let bridge_api = format!("http://127.0.0.1:{}", ports.bridge_api);
        let variables = stack_variables(&declared, options, &generated, &bridge_api)?;
        let parents = effective_parents(&variables, &options.parents);
        parents.validate()?;

        let broker_options = MosquittoOptions {
            parents: parents.clone(),
            port: Some(ports.mqtt),
        };
        let mosquitto =
            Mosquitto::start_in(dir.path(), dir.path(), &broker_options, secret::generate()?)?;

        let (redis, kv_config) = match options.kv {
            KvBackend::Sqlite => (None, KvConfig::Sqlite(dir.path().join("kv/kv.db"))),
            KvBackend::Redis => {
                let redis = Redis::start_in(dir.path(), dir.path(), Some(ports.redis))?;
                let url = redis.url();
                (Some(redis), KvConfig::Redis(url))
            }
        };
        if let KvConfig::Sqlite(path) = &kv_config {
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(|source| {
                    StackError::io(format!("cannot create {}", folder.display()), source)
                })?;
            }
        }

        let webhook_token = variables
            .get("webhook_token")
            .filter(|token| !token.is_empty())
            .cloned()
            .unwrap_or_else(|| generated.webhook_token.clone());
        let variable = |name: &str| variables.get(name).cloned().unwrap_or_default();
        let bridge_spec = BridgeSpec {
            program: bridge_binary,
            mqtt_port: mosquitto.port(),
            client_id: BRIDGE_CLIENT_ID.to_owned(),
            username: BRIDGE_USERNAME.to_owned(),
            password: mosquitto.bridge_password().to_owned(),
            upstream_parent: parents.upstream.clone(),
            webhook_url: format!("http://127.0.0.1:{}/v1/webhooks/mqtt", ports.http),
            webhook_token,
            api_port: ports.bridge_api,
            api_key: variable("broker_api_key"),
            api_secret: variable("broker_api_secret"),
        };
        let runtime_spec = RuntimeSpec {
            binary: runtime_binary,
            manifest: workspace.spin_manifest(),
            port: ports.http,
            config_file: dir.path().join("runtime-config.toml"),
            state_dir: dir.path().join("state"),
            variables,
        };
        runtime_spec.prepare(&kv_config)?;

        let runtime = runtime_spec.start(dir.path())?;
        let bridge = bridge_spec.start(dir.path())?;
        let mut stack = Self {
            scheduler: None,
            bridge: Some(bridge),
            runtime: Some(runtime),
            redis,
            mosquitto,
            bridge_spec,
            runtime_spec,
            secret_names: declared.secret_names(),
            parents,
            kv: options.kv,
            dir,
        };
        if let Some(interval) = options.scheduler {
            stack.scheduler = Some(Scheduler::start(
                stack.http_base(),
                stack.admin_token().to_owned(),
                interval,
                stack.dir.path().join("scheduler.log"),
            )?);
        }
        Ok(stack)
    }

    /// `http://127.0.0.1:<port>` of the runtime.
    pub fn http_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.runtime_spec.port)
    }

    /// The runtime's HTTP port.
    pub fn http_port(&self) -> u16 {
        self.runtime_spec.port
    }

    /// `<http_base>/v1/webhooks/mqtt`, where the bridge posts.
    pub fn webhook_url(&self) -> String {
        self.bridge_spec.webhook_url.clone()
    }

    /// The broker's host: always `127.0.0.1`.
    pub fn mqtt_host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The broker's MQTT port.
    pub fn mqtt_port(&self) -> u16 {
        self.mosquitto.port()
    }

    /// `http://127.0.0.1:<port>` of the bridge's EMQX-style API (this is
    /// also the service's `broker_api_url` unless overridden).
    pub fn bridge_api(&self) -> String {
        format!("http://127.0.0.1:{}", self.bridge_spec.api_port)
    }

    /// The bridge API's port.
    pub fn bridge_api_port(&self) -> u16 {
        self.bridge_spec.api_port
    }

    /// The MQTT user name of the bridge (may read all upstream topics and
    /// write all downstream ones).
    pub fn bridge_mqtt_username(&self) -> &str {
        BRIDGE_USERNAME
    }

    /// The bridge user's MQTT password.
    pub fn bridge_mqtt_password(&self) -> &str {
        self.mosquitto.bridge_password()
    }

    /// `redis://127.0.0.1:<port>` when the backend is Redis.
    pub fn redis_url(&self) -> Option<String> {
        self.redis.as_ref().map(Redis::url)
    }

    /// The key-value backend.
    pub fn kv(&self) -> KvBackend {
        self.kv
    }

    /// Which runtime serves the components.
    pub fn runtime_kind(&self) -> RuntimeKind {
        self.runtime_spec.binary.kind
    }

    /// The topic parents in effect.
    pub fn parents(&self) -> &Parents {
        &self.parents
    }

    /// The admin bearer token.
    pub fn admin_token(&self) -> &str {
        self.variable("admin_token").unwrap_or_default()
    }

    /// The bearer token the bridge sends with webhooks. The service accepts
    /// it unless the mode is [`WebhookAuth::Signature`].
    pub fn webhook_token(&self) -> &str {
        &self.bridge_spec.webhook_token
    }

    /// The service's `webhook_secret` for signed webhooks (empty in
    /// [`WebhookAuth::Token`] mode).
    pub fn webhook_secret(&self) -> &str {
        self.variable("webhook_secret").unwrap_or_default()
    }

    /// The bridge API's key (HTTP Basic user name).
    pub fn broker_api_key(&self) -> &str {
        &self.bridge_spec.api_key
    }

    /// The bridge API's secret (HTTP Basic password).
    pub fn broker_api_secret(&self) -> &str {
        &self.bridge_spec.api_secret
    }

    /// The RTC app ID the service mints tokens for.
    pub fn rtc_app_id(&self) -> &str {
        self.variable("rtc_app_id").unwrap_or_default()
    }

    /// The RTC app key the service signs tokens with.
    pub fn rtc_app_key(&self) -> &str {
        self.variable("rtc_app_key").unwrap_or_default()
    }

    /// The value of one Spin variable the stack set, if it set it.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.runtime_spec.variables.get(name).map(String::as_str)
    }

    /// Every Spin variable the stack set (variables it did not set keep
    /// their `spin.toml` defaults).
    pub fn variables(&self) -> &BTreeMap<String, String> {
        &self.runtime_spec.variables
    }

    /// The stack's temporary folder (logs, broker files, key-value data).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last `lines` lines of a service's stdout and stderr, across
    /// restarts; handy in a failing test's message.
    pub fn log_tail(&self, service: Service, lines: usize) -> String {
        service.log_tail(self.dir.path(), lines)
    }

    /// True while the service's process is running (it was started and not
    /// stopped, and has not exited).
    pub fn is_running(&self, service: Service) -> bool {
        match service {
            Service::Mosquitto => self.mosquitto.exit_status().is_none(),
            Service::Redis => self
                .redis
                .as_ref()
                .is_some_and(|r| r.exit_status().is_none()),
            Service::Runtime => alive(&self.runtime),
            Service::Bridge => alive(&self.bridge),
        }
    }

    /// The first service that should be running but exited, with its exit
    /// status and log tail; `None` while all is well.
    pub fn exited(&self) -> Option<(Service, String)> {
        let statuses = [
            (Service::Mosquitto, self.mosquitto.exit_status()),
            (
                Service::Redis,
                self.redis.as_ref().and_then(Redis::exit_status),
            ),
            (
                Service::Runtime,
                self.runtime.as_ref().and_then(ManagedProcess::exit_status),
            ),
            (
                Service::Bridge,
                self.bridge.as_ref().and_then(ManagedProcess::exit_status),
            ),
        ];
        statuses.into_iter().find_map(|(service, status)| {
            status.map(|status| {
                let logs = self.log_tail(service, EXIT_LOG_LINES);
                (service, format!("{service} exited ({status})\n{logs}"))
            })
        })
    }

    /// Stops the bridge (SIGTERM, then SIGKILL after a grace period).
    /// Devices' upstream messages then wait in the broker.
    pub fn stop_bridge(&mut self) {
        self.bridge = None;
    }

    /// Starts the bridge again with the same ports, client ID and
    /// credentials; does nothing if it runs.
    pub fn start_bridge(&mut self) -> Result<(), StackError> {
        if self.bridge.is_none() {
            self.bridge = Some(self.bridge_spec.start(self.dir.path())?);
        }
        Ok(())
    }

    /// Stops and starts the bridge.
    pub fn restart_bridge(&mut self) -> Result<(), StackError> {
        self.stop_bridge();
        self.start_bridge()
    }

    /// Stops the runtime (its process group). Webhooks then fail.
    pub fn stop_runtime(&mut self) {
        self.runtime = None;
    }

    /// Starts the runtime again with the same port, variables and
    /// key-value data; does nothing if it runs.
    pub fn start_runtime(&mut self) -> Result<(), StackError> {
        if self.runtime.is_none() {
            self.runtime = Some(self.runtime_spec.start(self.dir.path())?);
        }
        Ok(())
    }

    /// Stops and starts the runtime.
    pub fn restart_runtime(&mut self) -> Result<(), StackError> {
        self.stop_runtime();
        self.start_runtime()
    }
}

impl fmt::Debug for Stack {
    // Secret variables are shown by name only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let variables: BTreeMap<&str, &str> = self
            .runtime_spec
            .variables
            .iter()
            .map(|(name, value)| {
                let shown = if self.secret_names.contains(name) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("Stack")
            .field("http_base", &self.http_base())
            .field("mqtt_port", &self.mqtt_port())
            .field("bridge_api", &self.bridge_api())
            .field("redis_url", &self.redis_url())
            .field("runtime", &self.runtime_kind())
            .field("dir", &self.dir.path())
            .field("variables", &variables)
            .finish_non_exhaustive()
    }
}

fn alive(process: &Option<ManagedProcess>) -> bool {
    process.as_ref().is_some_and(|p| p.exit_status().is_none())
}

/// The ports of one stack.
struct StackPorts {
    http: u16,
    mqtt: u16,
    bridge_api: u16,
    redis: u16,
}

/// Fixed ports (which must be free) and distinct picked ones.
fn pick_ports(options: &StackOptions) -> Result<StackPorts, StackError> {
    let fixed = [
        (Service::Runtime, options.ports.http),
        (Service::Mosquitto, options.ports.mqtt),
        (Service::Bridge, options.ports.bridge_api),
    ];
    let mut taken = Vec::new();
    for (service, port) in fixed {
        if let Some(port) = port {
            if taken.contains(&port) || !port_is_free(port) {
                return Err(StackError::PortInUse { service, port });
            }
            taken.push(port);
        }
    }
    let mut pick = |fixed: Option<u16>| -> Result<u16, StackError> {
        if let Some(port) = fixed {
            return Ok(port);
        }
        loop {
            let port = ports::free_port()?;
            if !taken.contains(&port) {
                taken.push(port);
                return Ok(port);
            }
        }
    };
    Ok(StackPorts {
        http: pick(options.ports.http)?,
        mqtt: pick(options.ports.mqtt)?,
        bridge_api: pick(options.ports.bridge_api)?,
        redis: pick(None)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picked_ports_are_distinct_and_fixed_ones_kept() {
        let options = StackOptions::default();
        let ports = pick_ports(&options).expect("ports");
        let mut all = vec![ports.http, ports.mqtt, ports.bridge_api, ports.redis];
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 4);

        let free = ports::free_port().expect("port");
        let fixed = StackOptions::default().ports(Ports {
            http: Some(free),
            ..Ports::default()
        });
        assert_eq!(pick_ports(&fixed).expect("ports").http, free);
    }

    #[test]
    fn a_busy_fixed_port_is_refused_by_name() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let options = StackOptions::default().ports(Ports {
            mqtt: Some(port),
            ..Ports::default()
        });
        assert!(matches!(
            pick_ports(&options),
            Err(StackError::PortInUse { service: Service::Mosquitto, port: p }) if p == port
        ));
    }
}
