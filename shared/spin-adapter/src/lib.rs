//! The Spin edge of Switchboard.
//!
//! Implements the service's [`Platform`](switchboard_service::Platform)
//! with `spin-sdk` 5.2 — key-value (`fermyon:spin/key-value` for reads and
//! writes, `wasi:keyvalue/atomics` for compare-and-swap), outbound HTTP,
//! variables, WASI clocks and randomness — and [`serve`], the entry point
//! every component calls with its [`Surface`](switchboard_service::Surface).
//! Only built for `wasm32`; natively the crate is empty so the workspace's
//! tests link without Spin.

#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod platform;
#[cfg(target_arch = "wasm32")]
mod serve;

#[cfg(target_arch = "wasm32")]
pub use platform::SpinPlatform;
#[cfg(target_arch = "wasm32")]
pub use serve::serve;
