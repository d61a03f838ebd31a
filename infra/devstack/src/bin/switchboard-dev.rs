//! `switchboard-dev`: build everything and run a local Switchboard stack.
//!
//! `cargo run --release -p switchboard-dev` builds the components, the test
//! host and the bridge, starts Mosquitto, the runtime, the bridge and an
//! expiry scheduler on loopback ports, prints where everything listens and
//! the generated development tokens, and stops it all on Ctrl-C.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use switchboard_dev::stack::{
    port_is_free, KvBackend, Ports, RuntimeKind, Stack, StackOptions, Workspace,
    BUILD_COMPONENTS_ARGS, BUILD_NATIVE_ARGS,
};

/// Ports used when they are free.
const DEFAULT_HTTP_PORT: u16 = 3000;
const DEFAULT_MQTT_PORT: u16 = 1883;
const DEFAULT_API_PORT: u16 = 18083;
/// How often the scheduler calls `POST /v1/tasks/expire`.
const SCHEDULER_INTERVAL: Duration = Duration::from_secs(2);
/// How often the running stack is checked for a crashed service.
const WATCH_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Parser)]
#[command(
    name = "switchboard-dev",
    version,
    about = "Run a local Switchboard stack"
)]
struct Cli {
    /// HTTP port of the service [default: 3000 when free, else any free port].
    #[arg(long)]
    http_port: Option<u16>,
    /// MQTT port of the broker [default: 1883 when free, else any free port].
    #[arg(long)]
    mqtt_port: Option<u16>,
    /// Port of the bridge's EMQX-style publish API [default: 18083 when free, else any free port].
    #[arg(long)]
    api_port: Option<u16>,
    /// Key-value backend of the service.
    #[arg(long, value_enum, default_value_t = Kv::Sqlite)]
    kv: Kv,
    /// Seconds an invitation rings before it is missed [service default: 30].
    #[arg(long, value_name = "SECONDS")]
    ring_timeout: Option<u32>,
    /// Do not build; use what is already in target/.
    #[arg(long)]
    no_build: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kv {
    Sqlite,
    Redis,
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    let workspace = Workspace::locate()?;
    if !cli.no_build {
        cargo(workspace.root(), BUILD_COMPONENTS_ARGS)?;
        cargo(workspace.root(), BUILD_NATIVE_ARGS)?;
    }
    let ports = Ports {
        http: choose_port(cli.http_port, DEFAULT_HTTP_PORT, "HTTP"),
        mqtt: choose_port(cli.mqtt_port, DEFAULT_MQTT_PORT, "MQTT"),
        bridge_api: choose_port(cli.api_port, DEFAULT_API_PORT, "bridge API"),
    };
    let mut options = StackOptions::default()
        .root(workspace.root())
        .ports(ports)
        .scheduler(SCHEDULER_INTERVAL)
        .kv(match cli.kv {
            Kv::Sqlite => KvBackend::Sqlite,
            Kv::Redis => KvBackend::Redis,
        });
    if let Some(seconds) = cli.ring_timeout {
        options = options.variable("ring_timeout_seconds", seconds.to_string());
    }

    println!("starting the stack...");
    let stack = Stack::start(options).context("the stack did not start")?;
    print!("{}", summary(&stack));

    let (stop, stopped) = mpsc::channel();
    ctrlc::set_handler(move || {
        // The receiver only disappears when main is already leaving.
        let _ = stop.send(());
    })
    .context("cannot install the Ctrl-C handler")?;
    loop {
        match stopped.recv_timeout(WATCH_INTERVAL) {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if let Some((_, report)) = stack.exited() {
                    eprintln!("{report}");
                    eprintln!("stopping the rest of the stack");
                    drop(stack);
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    println!("\nstopping...");
    drop(stack);
    println!("stopped; nothing left running");
    Ok(ExitCode::SUCCESS)
}

/// Runs `cargo <args>` in the workspace. The outputs must land in
/// `<root>/target`, where `spin.toml` and the stack look for them, so a
/// `CARGO_TARGET_DIR` from the environment is not passed on.
fn cargo(root: &Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    println!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(root)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The port asked for, else `default` when it is free, else any free port.
fn choose_port(asked: Option<u16>, default: u16, what: &str) -> Option<u16> {
    if asked.is_some() {
        return asked;
    }
    if port_is_free(default) {
        Some(default)
    } else {
        println!("{what} port {default} is taken; using a free port instead");
        None
    }
}

/// The table printed once the stack is up.
fn summary(stack: &Stack) -> String {
    let http = stack.http_base();
    let runtime = match stack.runtime_kind() {
        RuntimeKind::Spin => "Spin ($SPIN_BIN)",
        RuntimeKind::TestHost => "switchboard-host (test host)",
    };
    let kv = match stack.redis_url() {
        Some(url) => format!("Redis at {url}"),
        None => format!("SQLite in {}", stack.dir().join("kv").display()),
    };
    let token = stack.admin_token();
    let device = "cargo run --release -q -p switchboard-dev --bin switchboard-device --";
    let mqtt_port = stack.mqtt_port();
    let terminal = |number: u8, user: &str| {
        let client_id = format!("GID_demo@@@{user}-phone");
        format!(
            "  terminal {number} ({user}):\n\
             \x20   {device} register --user {user} --client-id {client_id} --api {http} --admin-token {token}\n\
             \x20   {device} run --client-id {client_id} --mqtt-port {mqtt_port}\n"
        )
    };
    format!(
        "\n\
         Switchboard dev stack is up\n\
         \n\
         \x20 HTTP API     {http}   (GET /v1/health, admin API under /v1/users, /v1/calls)\n\
         \x20 Webhook      {webhook}   (the bridge posts upstream messages here)\n\
         \x20 MQTT         127.0.0.1:{mqtt_port}   (devices: anonymous, client ID GID_<group>@@@<device>)\n\
         \x20 Bridge API   {bridge}   (EMQX POST /api/v5/publish, HTTP Basic)\n\
         \x20 Runtime      {runtime}\n\
         \x20 Key-value    {kv}\n\
         \x20 Scheduler    POST /v1/tasks/expire every {interval} s\n\
         \x20 Logs         {logs}\n\
         \n\
         Development secrets (new every run):\n\
         \x20 admin_token        {token}\n\
         \x20 webhook_token      {webhook_token}\n\
         \x20 broker_api_key     {api_key}\n\
         \x20 broker_api_secret  {api_secret}\n\
         \x20 rtc_app_id         {app_id}\n\
         \x20 rtc_app_key        {app_key}\n\
         \n\
         Play a call from two terminals:\n\
         {alice}{bob}\
         \x20 then type `invite bob` in alice's terminal and `accept` in bob's.\n\
         \n\
         Press Ctrl-C to stop everything.\n",
        webhook = stack.webhook_url(),
        bridge = stack.bridge_api(),
        interval = SCHEDULER_INTERVAL.as_secs(),
        logs = stack.dir().display(),
        webhook_token = stack.webhook_token(),
        api_key = stack.broker_api_key(),
        api_secret = stack.broker_api_secret(),
        app_id = stack.rtc_app_id(),
        app_key = stack.rtc_app_key(),
        alice = terminal(1, "alice"),
        bob = terminal(2, "bob"),
    )
}
