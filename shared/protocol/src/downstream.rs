//! Downstream messages (service → device), `docs/protocol.md` §4. Every
//! message has a unique, stable `id` (devices deduplicate on it), a `ts`,
//! and an `expires_at` after which the device discards it.

use crate::ids::{CallId, ClientId, MessageId, UserId};
use crate::upstream::{Media, RejectReason};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One downstream message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Downstream {
    /// Contract version, always 1.
    pub v: u8,
    /// Unique per message, stable per cause: a retry re-sends the same ID.
    pub id: String,
    /// When the service produced it (ms).
    pub ts: i64,
    /// When the device must discard it (ms); an invitation's ring deadline.
    pub expires_at: i64,
    /// The call it concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<CallId>,
    /// The upstream message that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<MessageId>,
    /// The event and its fields.
    #[serde(flatten)]
    pub event: Event,
}

/// Why invitations stopped ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The inviter withdrew them.
    Cancelled,
    /// Nobody answered before the ring deadline.
    Timeout,
    /// The call ended.
    Ended,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeftReason {
    /// They hung up.
    Left,
    /// The host removed them.
    Removed,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The host (or the app backend for the host) ended it.
    EndedByHost,
    /// Fewer than two participants remained.
    AllLeft,
    /// The inviter cancelled before anyone joined (or glare replaced it).
    Cancelled,
    /// Every invitee rejected.
    Rejected,
    /// Nobody answered before the ring deadline.
    Timeout,
}

/// A downstream event and its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event")]
pub enum Event {
    /// To the inviting device: the call exists; here are the host's join parameters.
    #[serde(rename = "call.created")]
    Created {
        /// The users being rung.
        to: Vec<UserId>,
        /// The call's media.
        media: Media,
        /// The host's RTC join parameters.
        rtc: Value,
        /// Invitees that have no registered device.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        unreachable: Vec<UserId>,
    },
    /// To every device of an invitee.
    #[serde(rename = "call.invitation")]
    Invitation {
        /// Who invites.
        from: UserId,
        /// The call's media.
        media: Media,
        /// Everyone in the call (joined or ringing), host first.
        participants: Vec<UserId>,
        /// This device's RTC join parameters.
        rtc: Value,
        /// Opaque app data from the invite.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        meta: Option<Map<String, Value>>,
    },
    /// To the inviter's devices: an invitee's device rings.
    #[serde(rename = "call.ringing")]
    Ringing {
        /// The ringing user.
        user: UserId,
    },
    /// To devices of joined users: a user joined.
    #[serde(rename = "call.accepted")]
    Accepted {
        /// Who joined.
        user: UserId,
    },
    /// To the accepter's other devices: stop ringing.
    #[serde(rename = "call.answered_elsewhere")]
    AnsweredElsewhere {},
    /// To devices of joined users: an invitee rejected.
    #[serde(rename = "call.rejected")]
    Rejected {
        /// Who rejected.
        user: UserId,
        /// Why.
        reason: RejectReason,
    },
    /// To the rejecter's other devices: stop ringing.
    #[serde(rename = "call.declined_elsewhere")]
    DeclinedElsewhere {},
    /// To devices still ringing: stop.
    #[serde(rename = "call.cancelled")]
    Cancelled {
        /// Why.
        reason: CancelReason,
    },
    /// To the inviter's devices: an invitee did not answer in time.
    #[serde(rename = "call.missed")]
    Missed {
        /// Who did not answer.
        user: UserId,
    },
    /// To devices of joined users: someone left.
    #[serde(rename = "call.participant_left")]
    ParticipantLeft {
        /// Who left.
        user: UserId,
        /// Why.
        reason: LeftReason,
    },
    /// To devices of everyone still in the call.
    #[serde(rename = "call.ended")]
    Ended {
        /// Why.
        reason: EndReason,
        /// For a call that lost a glare, the call that replaced it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        replaced_by: Option<CallId>,
    },
    /// To the target user's devices: stop sending `media`.
    #[serde(rename = "call.muted")]
    Muted {
        /// The medium.
        media: Media,
        /// The host who asked.
        by: UserId,
    },
    /// To the target user's devices: `media` is allowed again.
    #[serde(rename = "call.unmuted")]
    Unmuted {
        /// The medium.
        media: Media,
        /// The host who asked.
        by: UserId,
    },
    /// To the removed user's devices.
    #[serde(rename = "call.removed")]
    Removed {
        /// The host who removed them.
        by: UserId,
    },
    /// To the requesting device: fresh join parameters.
    #[serde(rename = "call.token")]
    Token {
        /// The RTC join parameters.
        rtc: Value,
    },
    /// To the requesting device: its user's pending invitations and active call.
    #[serde(rename = "sync")]
    Sync {
        /// Invitations still ringing for the user.
        invitations: Vec<Value>,
        /// The call the user is joined to, if any.
        active: Option<Value>,
    },
    /// To the sending device: its message was refused.
    #[serde(rename = "error")]
    Error {
        /// The machine-readable code.
        code: String,
        /// What went wrong.
        message: String,
    },
}

impl Event {
    /// The event's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Created { .. } => "call.created",
            Event::Invitation { .. } => "call.invitation",
            Event::Ringing { .. } => "call.ringing",
            Event::Accepted { .. } => "call.accepted",
            Event::AnsweredElsewhere {} => "call.answered_elsewhere",
            Event::Rejected { .. } => "call.rejected",
            Event::DeclinedElsewhere {} => "call.declined_elsewhere",
            Event::Cancelled { .. } => "call.cancelled",
            Event::Missed { .. } => "call.missed",
            Event::ParticipantLeft { .. } => "call.participant_left",
            Event::Ended { .. } => "call.ended",
            Event::Muted { .. } => "call.muted",
            Event::Unmuted { .. } => "call.unmuted",
            Event::Removed { .. } => "call.removed",
            Event::Token { .. } => "call.token",
            Event::Sync { .. } => "sync",
            Event::Error { .. } => "error",
        }
    }

    /// Low-priority events go to the bulk parent topic so they never delay
    /// call control: a `sync` answer can be large and is not time-critical.
    pub fn is_low_priority(&self) -> bool {
        matches!(self, Event::Sync { .. })
    }
}

/// A downstream message addressed to one device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The target device.
    pub to: ClientId,
    /// The message.
    pub message: Downstream,
}

impl OutboundMessage {
    /// The message as the JSON bytes the device receives.
    pub fn payload(&self) -> Vec<u8> {
        // Serializing these types cannot fail: every map key is a string.
        serde_json::to_vec(&self.message).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_flat_with_event_tag() {
        let m = Downstream {
            v: 1,
            id: "e-1".into(),
            ts: 10,
            expires_at: 20,
            call: Some(CallId::parse("c-1").unwrap()),
            in_reply_to: Some(MessageId::parse("m-1").unwrap()),
            event: Event::Rejected {
                user: UserId::parse("bob").unwrap(),
                reason: RejectReason::Busy,
            },
        };
        let json: Value = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"v":1,"id":"e-1","ts":10,"expires_at":20,"call":"c-1","in_reply_to":"m-1",
                "event":"call.rejected","user":"bob","reason":"busy"})
        );
        let back: Downstream = serde_json::from_value(json).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn empty_events_round_trip() {
        let m = Downstream {
            v: 1,
            id: "e".into(),
            ts: 1,
            expires_at: 2,
            call: None,
            in_reply_to: None,
            event: Event::AnsweredElsewhere {},
        };
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(
            text,
            r#"{"v":1,"id":"e","ts":1,"expires_at":2,"event":"call.answered_elsewhere"}"#
        );
        assert_eq!(serde_json::from_str::<Downstream>(&text).unwrap(), m);
        assert_eq!(m.event.name(), "call.answered_elsewhere");
    }
}
