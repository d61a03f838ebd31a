//! Local development and test stack for Switchboard.
//!
//! Switchboard in production is three moving parts: an MQTT broker that
//! devices talk to, a bridge (or EMQX itself) that turns upstream MQTT
//! publishes into webhooks and offers an HTTP publish API, and the Spin
//! application (`functions/*`) that runs the signaling logic. This crate
//! starts all of them on one machine, on loopback ports, so that
//!
//! - the end-to-end tests get a real stack per test through
//!   [`stack::Stack::start`], torn down when the value is dropped;
//! - a person gets the same stack with one command (`cargo run --release -p
//!   switchboard-dev`), and plays call setup from two terminals with the
//!   `switchboard-device` simulator, whose message building and printing
//!   lives in [`device`].
//!
//! Nothing here is used by the deployed service.
#![deny(missing_docs)]

pub mod device;
pub mod stack;
