//! Switchboard's service logic, independent of Spin.
//!
//! A Spin component turns its HTTP request into a [`Request`], calls
//! [`handle`] with a [`Platform`] (key-value store, outbound HTTP, clock,
//! randomness and variables, implemented over `spin-sdk` in
//! `switchboard-spin`), and sends back the [`Response`]. Everything in
//! between — authentication, the webhook pipeline, the directory, call
//! transitions with compare-and-swap, the outbox and publishing — lives
//! here and is tested natively with in-process fakes of those five ports.

#![deny(missing_docs)]

mod api;
mod auth;
mod directory;
mod http;
mod minter;
mod outbox;
mod platform;
mod signaling;
mod store;
mod tasks;
mod webhook;

pub use api::{handle, Surface};
pub use http::{Request, Response};
pub use platform::{KeyValue, Platform, StoreError};
pub use store::keys;
pub use switchboard_protocol::ErrorCode;

/// Most bytes a webhook body may have (100 events of 16 KiB with envelopes
/// fit well below it).
pub const MAX_WEBHOOK_BODY_BYTES: usize = 2 * 1024 * 1024;
/// Most bytes an admin request body may have.
pub const MAX_ADMIN_BODY_BYTES: usize = 16 * 1024;
