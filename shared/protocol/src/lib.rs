//! The Switchboard signaling contract (`docs/protocol.md`) as Rust types.
//!
//! Everything a device, a broker or an app backend sends to Switchboard is
//! decoded here into values that can only exist valid: a [`ClientId`] always
//! follows the `GroupID@@@DeviceID` rules, an [`Upstream`] message always has
//! a known `op` with well-typed fields. Decoding failures carry the contract's
//! stable [`ErrorCode`]. The crate has no I/O, no clock and no randomness, so
//! it runs the same natively and inside a Spin component.

#![deny(missing_docs)]

pub mod config;
pub mod downstream;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod topic;
pub mod upstream;

pub use config::{Config, ConfigError, RtcSettings};
pub use downstream::{Downstream, Event, OutboundMessage};
pub use envelope::{decode_events, Envelope};
pub use error::{ErrorCode, Refusal};
pub use ids::{CallId, ClientId, MessageId, UserId};
pub use topic::Topic;
pub use upstream::{Media, Op, Upstream};
