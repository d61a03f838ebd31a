//! `switchboard-device`: a device simulator for playing call setup by hand.
//!
//! `register` adds a client ID to a user through the admin API; `run`
//! connects over MQTT the way the contract tells devices to (CleanSession
//! off, a stable client ID, QoS 1 subscriptions to its own downstream
//! topics), prints every downstream message on one line, and turns typed
//! commands into upstream messages. The message logic lives in
//! `switchboard_dev::device`.

use std::io::{self, BufRead};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use rumqttc::{Client, Connection, Event, MqttOptions, Outgoing, Packet, QoS, SubscribeReasonCode};
use switchboard_dev::device::command::{self, message_id, Command, CommandError, HELP};
use switchboard_dev::device::ids::{validate_client_id, validate_user_id};
use switchboard_dev::device::session::Session;
use switchboard_dev::stack::Parents;

/// Largest MQTT packet accepted or sent (downstream messages can exceed
/// rumqttc's 10 KiB default).
const MAX_PACKET_BYTES: usize = 256 * 1024;
/// Pause before reconnecting after a connection error.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);
/// Requests that may wait for the MQTT event loop.
const REQUEST_CAPACITY: usize = 64;
/// How long `register` waits for the API.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Parser)]
#[command(
    name = "switchboard-device",
    version,
    about = "Simulate a Switchboard device"
)]
struct Cli {
    #[command(subcommand)]
    command: Action,
}

#[derive(Subcommand)]
enum Action {
    /// Register a device to a user (PUT /v1/users/{user}/devices/{clientId}).
    Register {
        /// The user ID the device belongs to.
        #[arg(long)]
        user: String,
        /// The device's client ID, `GID_<group>@@@<device>`.
        #[arg(long)]
        client_id: String,
        /// Base URL of the Switchboard HTTP API.
        #[arg(long, default_value = "http://127.0.0.1:3000")]
        api: String,
        /// The admin token (printed by switchboard-dev).
        #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
    /// Connect, print downstream messages, and send typed commands.
    Run {
        /// The device's client ID, `GID_<group>@@@<device>`.
        #[arg(long)]
        client_id: String,
        /// The MQTT broker's host.
        #[arg(long, default_value = "127.0.0.1")]
        mqtt_host: String,
        /// The MQTT broker's port.
        #[arg(long, default_value_t = 1883)]
        mqtt_port: u16,
        /// First level of upstream topics.
        #[arg(long, default_value = "sig-up")]
        upstream_parent: String,
        /// First level of downstream topics.
        #[arg(long, default_value = "sig-dn")]
        downstream_parent: String,
        /// First level of bulk downstream topics.
        #[arg(long, default_value = "sig-bulk")]
        bulk_parent: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Action::Register {
            user,
            client_id,
            api,
            admin_token,
        } => register(&user, &client_id, &api, &admin_token),
        Action::Run {
            client_id,
            mqtt_host,
            mqtt_port,
            upstream_parent,
            downstream_parent,
            bulk_parent,
        } => {
            let parents = Parents {
                upstream: upstream_parent,
                downstream: downstream_parent,
                bulk: bulk_parent,
            };
            run(&client_id, &mqtt_host, mqtt_port, &parents)
        }
    }
}

fn register(user: &str, client_id: &str, api: &str, admin_token: &str) -> Result<()> {
    validate_user_id(user).with_context(|| format!("user {user:?}"))?;
    validate_client_id(client_id).with_context(|| format!("client ID {client_id:?}"))?;
    let url = format!(
        "{}/v1/users/{user}/devices/{client_id}",
        api.trim_end_matches('/')
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(HTTP_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .put(&url)
        .header("Authorization", format!("Bearer {admin_token}"))
        .send_empty()
        .with_context(|| format!("PUT {url}"))?;
    let status = response.status();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    println!("PUT {url} -> {status}\n{body}");
    if !status.is_success() {
        bail!("registration failed with {status}");
    }
    Ok(())
}

fn run(client_id: &str, host: &str, port: u16, parents: &Parents) -> Result<()> {
    validate_client_id(client_id).with_context(|| format!("client ID {client_id:?}"))?;
    parents.validate()?;
    let mut options = MqttOptions::new(client_id, host, port);
    options
        .set_clean_session(false)
        .set_keep_alive(Duration::from_secs(30))
        .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES);
    let (client, connection) = Client::new(options, REQUEST_CAPACITY);
    let session = Arc::new(Mutex::new(Session::default()));
    let quitting = Arc::new(AtomicBool::new(false));
    let receiver = {
        let listener = Listener {
            client: client.clone(),
            topics: [
                parents.downstream_topic(client_id),
                parents.bulk_topic(client_id),
            ],
            session: Arc::clone(&session),
            quitting: Arc::clone(&quitting),
        };
        thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || listener.listen(connection))
            .context("cannot start the MQTT thread")?
    };

    println!("{client_id} connecting to {host}:{port}; type `help` for commands");
    let upstream = parents.upstream_topic(client_id);
    let mut sequence = 0u64;
    for line in io::stdin().lock().lines() {
        let line = line.context("cannot read stdin")?;
        let request = match command::parse(&line) {
            Ok(Command::Send(request)) => request,
            Ok(Command::Help) => {
                println!("{HELP}");
                continue;
            }
            Ok(Command::Quit) => break,
            Err(CommandError::Empty) => continue,
            Err(error) => {
                println!("!  {error}");
                continue;
            }
        };
        sequence += 1;
        let ts = now_ms();
        let last_call = lock(&session).last_call().map(str::to_owned);
        match request.to_message(&message_id(ts, sequence), ts, last_call.as_deref()) {
            Ok(message) => {
                let payload = message.to_string();
                client
                    .publish(&upstream, QoS::AtLeastOnce, false, payload.clone())
                    .context("the MQTT connection is gone")?;
                println!("-> {upstream} {payload}");
            }
            Err(error) => println!("!  {error}"),
        }
    }
    quitting.store(true, Ordering::SeqCst);
    // A failure only means the event loop has already stopped.
    let _ = client.disconnect();
    if receiver.join().is_err() {
        bail!("the MQTT thread panicked");
    }
    println!("disconnected");
    Ok(())
}

/// Drives the MQTT connection and prints what arrives.
struct Listener {
    client: Client,
    topics: [String; 2],
    session: Arc<Mutex<Session>>,
    quitting: Arc<AtomicBool>,
}

impl Listener {
    fn listen(self, mut connection: Connection) {
        let mut pending_subscriptions = 0usize;
        for notification in connection.iter() {
            let quitting = self.quitting.load(Ordering::SeqCst);
            match notification {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    println!(
                        "connected (broker kept our session: {})",
                        ack.session_present
                    );
                    pending_subscriptions = self.subscribe();
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                        println!("!  the broker refused a subscription (check the ACL)");
                    }
                    pending_subscriptions = pending_subscriptions.saturating_sub(1);
                    if pending_subscriptions == 0 {
                        println!("ready: receiving on {}", self.topics.join(" and "));
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let bulk = publish.topic == self.topics[1];
                    let line = lock(&self.session).receive(&publish.payload, bulk, now_ms());
                    println!("{line}");
                }
                Ok(Event::Outgoing(Outgoing::Disconnect)) if quitting => break,
                Ok(_) => {}
                Err(_) if quitting => break,
                Err(error) => {
                    println!("!  connection error: {error}; reconnecting");
                    thread::sleep(RECONNECT_DELAY);
                }
            }
        }
    }

    /// Subscribes (again) to the device's own topics; returns how many
    /// SUBACKs to wait for. Never blocks the event loop it runs on.
    fn subscribe(&self) -> usize {
        let mut requested = 0;
        for topic in &self.topics {
            match self.client.try_subscribe(topic, QoS::AtLeastOnce) {
                Ok(()) => requested += 1,
                Err(error) => println!("!  cannot subscribe to {topic}: {error}"),
            }
        }
        requested
    }
}

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    session.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}
