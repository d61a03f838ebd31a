//! End-to-end tests of Switchboard, and the harness they are written with.
//!
//! Every test here runs the real thing: Mosquitto with the contract's ACL,
//! the bridge (MQTT → webhook, and the EMQX-style publish API), and the
//! Spin components served by the runtime, all started on free loopback
//! ports by [`switchboard_dev::stack`]. Devices are real MQTT clients.
//! Nothing is mocked, so these tests check what a phone would see.
//!
//! # The harness
//!
//! - [`TestBed`]: one stack per test ([`TestBed::run`] starts it, runs the
//!   test, and on failure prints the error with the services' logs).
//!   [`TestBed::device`] registers and connects a device.
//! - [`Device`]: a contract-abiding MQTT device (stable client ID,
//!   CleanSession=false, QoS 1, subscribed to its `sig-dn` and `sig-bulk`
//!   topics). [`Device::publish`] stamps an op with `v`, a unique `id` and
//!   `ts`; [`Device::expect`] waits for an event, [`Device::expect_none`]
//!   (or [`expect_silence`] for several devices at once) checks nothing
//!   else came. Messages are deduplicated on `id` like a
//!   device does, and [`Device::deliveries_of`] / [`Device::duplicates`]
//!   count the raw deliveries. [`Device::disconnect`] /
//!   [`Device::reconnect`] keep the broker session.
//! - [`ops`]: the contract's upstream ops as JSON; [`Device::invite`]
//!   starts a call and returns its ID.
//! - [`Admin`]: the app backend's API (register devices, read a call as
//!   [`CallState`], run the expiry task).
//! - [`BridgeControl`]: the bridge's fault switch (make the broker API fail
//!   N publishes) and counters.
//! - [`TokenVerifier`]: proves an `rtc` object's token verifies and names
//!   the call and the user.
//! - [`poll_until`]: wait for a condition with a deadline instead of
//!   sleeping. [`WAIT`] and [`QUIET`] are the usual deadlines.
//!
//! ```no_run
//! use serde_json::json;
//! use switchboard_dev::stack::StackOptions;
//! use switchboard_e2e::{TestBed, QUIET, WAIT};
//!
//! TestBed::run(StackOptions::default(), |bed| {
//!     let mut alice = bed.device("alice", "alice-phone")?;
//!     let mut bob = bed.device("bob", "bob-phone")?;
//!     alice.publish(json!({"op": "invite", "to": ["bob"], "media": "video"}))?;
//!     let created = alice.expect("call.created", WAIT)?;
//!     let call = created.call().unwrap_or_default().to_owned();
//!     bob.expect_call("call.invitation", &call, WAIT)?;
//!     bob.publish(json!({"op": "accept", "call": call}))?;
//!     alice.expect("call.accepted", WAIT)?;
//!     bob.expect("call.accepted", WAIT)?;
//!     alice.expect_none(QUIET)?;
//!     bed.admin().call(&call)?.check("active", None)
//! });
//! ```
//!
//! # Running
//!
//! The stack needs the components and the native binaries built first:
//!
//! ```sh
//! cargo build --target wasm32-wasip2 --release -p webhook -p admin -p health
//! cargo build --release -p switchboard-test-host -p switchboard-bridge
//! cargo test -p switchboard-e2e
//! ```
//!
//! A test whose stack cannot start fails with the build command to run.
#![deny(missing_docs)]

mod admin;
mod bridge;
mod device;
mod downstream;
mod error;
mod http;
pub mod ops;
mod rtc;
mod testbed;
mod upstream;

pub use admin::{Admin, CallState};
pub use bridge::BridgeControl;
pub use device::{expect_silence, Device, DeviceConfig};
pub use downstream::{Channel, Received};
pub use error::{check, HarnessError, Result};
pub use http::Answer;
pub use rtc::{Grant, TokenVerifier};
pub use testbed::{poll_until, TestBed, GROUP, QUIET, WAIT};
pub use upstream::{message, next_message_id, now_ms};
