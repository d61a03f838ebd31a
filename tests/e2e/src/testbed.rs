//! One test's world: a whole stack on free ports, an admin client, the
//! bridge's test hooks, and a factory for devices.

use std::thread;
use std::time::{Duration, Instant};

use switchboard_dev::stack::{Service, Stack, StackOptions};

use crate::admin::Admin;
use crate::bridge::BridgeControl;
use crate::device::{Device, DeviceConfig};
use crate::error::{HarnessError, Result};
use crate::rtc::TokenVerifier;

/// The group ID of every test device: client IDs are `GID_e2e@@@<device>`.
pub const GROUP: &str = "GID_e2e";
/// How long a test waits for something that should happen.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a test listens to be sure something does not happen. Every
/// message of one cause is published in one go, so once the expected ones
/// arrived, a stray one would follow within milliseconds.
pub const QUIET: Duration = Duration::from_millis(400);
/// How many lines of each service's log a failure report shows.
const LOG_LINES: usize = 40;
/// How often [`poll_until`] looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A running stack and the clients a test needs. Dropping it stops every
/// process; dropped while a test panics, it first prints the services'
/// log tails (shown with the failing test's output).
pub struct TestBed {
    stack: Stack,
    admin: Admin,
    bridge: BridgeControl,
}

impl TestBed {
    /// Starts a stack with `options`.
    pub fn start(options: StackOptions) -> Result<Self> {
        let stack = Stack::start(options)?;
        let admin = Admin::new(&stack.http_base(), stack.admin_token());
        let bridge = BridgeControl::new(
            &stack.bridge_api(),
            stack.broker_api_key(),
            stack.broker_api_secret(),
        );
        Ok(Self {
            stack,
            admin,
            bridge,
        })
    }

    /// Starts a stack with `options` and runs `test` against it.
    ///
    /// # Panics
    ///
    /// This is how a test fails: when the stack does not start (the message
    /// names the build to run), or `test` returns an error (the message has
    /// the error and the services' logs).
    ///
    /// ```no_run
    /// use switchboard_dev::stack::StackOptions;
    /// use switchboard_e2e::{TestBed, WAIT};
    /// use serde_json::json;
    ///
    /// TestBed::run(StackOptions::default(), |bed| {
    ///     let mut alice = bed.device("alice", "alice-phone")?;
    ///     let mut bob = bed.device("bob", "bob-phone")?;
    ///     alice.publish(json!({"op": "invite", "to": ["bob"], "media": "audio"}))?;
    ///     let invitation = bob.expect("call.invitation", WAIT)?;
    ///     assert_eq!(invitation.str("from"), Some("alice"));
    ///     Ok(())
    /// });
    /// ```
    pub fn run(options: StackOptions, test: impl FnOnce(&mut TestBed) -> Result<()>) {
        let mut bed = match Self::start(options) {
            Ok(bed) => bed,
            Err(error) => panic!("{error}"),
        };
        if let Err(error) = test(&mut bed) {
            let logs = bed.diagnostics();
            drop(bed);
            panic!("{error}\n{logs}");
        }
    }

    /// The stack (ports, secrets, service control, logs).
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The stack, to stop or restart services.
    pub fn stack_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }

    /// The admin API client.
    pub fn admin(&self) -> &Admin {
        &self.admin
    }

    /// The bridge's fault switch and counters.
    pub fn bridge(&self) -> &BridgeControl {
        &self.bridge
    }

    /// `GID_e2e@@@<device>`.
    pub fn client_id(device: &str) -> String {
        format!("{GROUP}@@@{device}")
    }

    /// How device `device` connects to this stack.
    pub fn device_config(&self, device: &str) -> DeviceConfig {
        DeviceConfig {
            client_id: Self::client_id(device),
            mqtt_port: self.stack.mqtt_port(),
            parents: self.stack.parents().clone(),
        }
    }

    /// Registers device `device` to `user` and connects it.
    pub fn device(&self, user: &str, device: &str) -> Result<Device> {
        self.admin.register(user, &Self::client_id(device))?;
        self.connect(device)
    }

    /// Connects device `device` without registering it.
    pub fn connect(&self, device: &str) -> Result<Device> {
        Device::connect(self.device_config(device))
    }

    /// A verifier for the RTC tokens this stack's service mints.
    pub fn verifier(&self) -> TokenVerifier {
        TokenVerifier::new(self.stack.rtc_app_id(), self.stack.rtc_app_key())
    }

    /// The log tails of the runtime, the bridge and the broker, and the
    /// first service that exited unexpectedly.
    pub fn diagnostics(&self) -> String {
        let mut text = String::new();
        if let Some((_, exited)) = self.stack.exited() {
            text.push_str(&exited);
        }
        for service in [Service::Runtime, Service::Bridge, Service::Mosquitto] {
            text.push_str(&self.stack.log_tail(service, LOG_LINES));
        }
        text
    }
}

impl Drop for TestBed {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
    }
}

impl std::fmt::Debug for TestBed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestBed")
            .field("stack", &self.stack)
            .finish_non_exhaustive()
    }
}

/// Calls `probe` until it returns `Some`, or fails after `within`. `probe`
/// also returns a description of what it saw, for the timeout error.
///
/// ```
/// use std::time::Duration;
/// use switchboard_e2e::poll_until;
///
/// let mut tries = 0;
/// let found = poll_until("the third try", Duration::from_secs(5), || {
///     tries += 1;
///     Ok(if tries == 3 { Ok(tries) } else { Err(format!("try {tries}")) })
/// });
/// assert_eq!(found.ok(), Some(3));
/// ```
pub fn poll_until<T>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> Result<std::result::Result<T, String>>,
) -> Result<T> {
    let deadline = Instant::now() + within;
    loop {
        let last = match probe()? {
            Ok(found) => return Ok(found),
            Err(seen) => seen,
        };
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout {
                what: what.to_owned(),
                within,
                last,
            });
        }
        thread::sleep(POLL_INTERVAL);
    }
}
