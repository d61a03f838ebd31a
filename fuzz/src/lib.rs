//! Fuzz targets for Switchboard's untrusted-input boundaries.
//!
//! Each target is a plain function of arbitrary bytes that panics when an
//! invariant breaks, so the same checks run under libFuzzer (`cargo fuzz`,
//! nightly, through the thin entry points in `fuzz_targets/`) and under the
//! stable-Rust smoke runner in `tests/smoke.rs` that CI runs.
//!
//! - [`envelope`]: the broker's webhook body decoder,
//!   `switchboard_protocol::decode_events`.
//! - [`upstream`]: the device message decoder,
//!   `switchboard_protocol::Upstream::decode`.
//! - [`state_machine`]: sequences of operations applied with
//!   `switchboard_calls::{create, apply, expire}` as the service applies
//!   them, checking the call invariants after every step.

#![deny(missing_docs)]

mod decoders;
mod machine;

pub use decoders::{envelope, upstream};
pub use machine::state_machine;
