//! The call state machine of Switchboard, without I/O.
//!
//! A call is one record ([`Call`]) holding every participant's state. Each
//! upstream operation is a pure function of (stored call, message, now,
//! configuration) returning the new call and the downstream messages to
//! publish ([`OutboundMessage`]), or a [`Refusal`] that leaves the call
//! unchanged. Time comes in as `now` (milliseconds) and RTC join parameters
//! through the [`Minter`] trait, so every transition is deterministic and
//! tested natively; the service crate does the storage and publishing.
//!
//! Two state diagrams live here (see `docs/protocol.md`): the call's
//! (ringing → active → ended) and each invitation's (invited → joined |
//! declined | cancelled | missed; joined → left | removed).
//!
//! [`Refusal`]: switchboard_protocol::Refusal
//! [`OutboundMessage`]: switchboard_protocol::OutboundMessage

#![deny(missing_docs)]

mod emit;
mod ids;
mod machine;
mod model;
mod views;

pub use emit::{Emitter, EVENT_TTL_MS};
pub use ids::{call_id_for_invite, derive_id};
pub use machine::{
    apply, check_invitees, create, end_call, expire, Invitee, Minter, NewCall, Sender,
};
pub use model::{Applied, Call, Participant, ParticipantState};
pub use views::{call_view, invitation_view};
