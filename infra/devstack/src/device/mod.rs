//! The logic of `switchboard-device`, a device simulator for people.
//!
//! Everything here is pure (no sockets, no clock): [`command`] turns a
//! line typed by a person into a contract upstream message, [`display`]
//! turns a downstream message into one readable line, [`session`] keeps
//! what a device remembers between messages (the last call, the IDs seen),
//! and [`ids`] checks IDs before they are used. The binary only adds MQTT,
//! HTTP, stdin and the clock.

pub mod command;
pub mod display;
pub mod ids;
pub mod session;
