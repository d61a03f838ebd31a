//! RTC join parameters for the devices of a Switchboard call.
//!
//! Switchboard only signals calls; the media flows through a third-party RTC
//! service (Alibaba Cloud RTC, Agora or LiveKit). When the call core invites
//! a user or answers a `renew`, it needs the `rtc` object of the signaling
//! contract (PROTOCOL.md §4): what one device must present to join the media
//! channel named after the call. This crate mints that object.
//!
//! The crate is pure and deterministic, in the sans-IO style of the rest of
//! the core: it reads no clock and draws no randomness. The caller passes the
//! current time (`now_unix`) and a random `salt` in a [`JoinRequest`], so the
//! same request always yields the same token and tests can pin vendor
//! vectors. It builds for `wasm32-wasip2` (Spin components) and natively (the
//! device simulator and end-to-end tests, which use the `verify` functions of
//! each vendor module to prove a minted token is accepted).
//!
//! Entry points:
//! - [`ProviderSettings`] → [`ProviderConfig`]: the provider chosen by the
//!   `rtc_*` Spin variables (PROTOCOL.md §7), validated once.
//! - [`TokenProvider::mint`]: a [`JoinRequest`] → an [`RtcJoin`], serialized
//!   exactly as the contract's `rtc` object.
//! - [`aliyun::apptoken`], [`aliyun::artc`], [`agora`], [`livekit`]: the
//!   vendor token formats, each with an encoder and a verifier.
#![deny(missing_docs)]

pub mod agora;
pub mod aliyun;
mod config;
mod crypto;
mod error;
mod join;
pub mod livekit;
mod request;
mod secret;
#[cfg(test)]
mod testutil;
mod wire;

pub use config::{ProviderConfig, ProviderSettings};
pub use error::RtcError;
pub use join::{AgoraJoin, AliyunJoin, LivekitJoin, RtcJoin};
pub use request::{JoinRequest, TokenProvider};
pub use secret::Secret;
