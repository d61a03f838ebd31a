//! The stored form of a call. One key-value record per call holds all of
//! its state, so a transition is one compare-and-swap of one record.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use switchboard_protocol::downstream::EndReason;
use switchboard_protocol::upstream::RejectReason;
use switchboard_protocol::{CallId, ClientId, Media, MessageId, OutboundMessage, UserId};

/// A call and everything that happened in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// The call (also its RTC channel).
    pub id: CallId,
    /// Who started it; the only user who may end, mute or remove.
    pub host: UserId,
    /// The call's media.
    pub media: Media,
    /// Opaque app data from the invite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    /// When it was created (ms).
    pub created_at: i64,
    /// When and why it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended: Option<Ended>,
    /// Everyone ever invited, host first.
    pub participants: Vec<Participant>,
    /// Upstream messages already applied, for deduplication.
    #[serde(default)]
    pub applied: Vec<Applied>,
    /// Downstream messages the broker has not yet accepted.
    #[serde(default)]
    pub outbox: Vec<OutboundMessage>,
    /// Upstream message IDs whose publisher gave up on some of their
    /// outbox entries: a redelivery may re-send them at once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub released: Vec<String>,
    /// Incremented by every stored change.
    #[serde(default)]
    pub version: u64,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ended {
    /// Why.
    pub reason: EndReason,
    /// When (ms).
    pub at: i64,
    /// The call that replaced this one after glare.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<CallId>,
}

/// An upstream message that was applied to the call; remembered until it
/// could no longer arrive without being stale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The sender.
    pub client: ClientId,
    /// The sender's message ID.
    pub id: MessageId,
    /// Forget it after this time (ms).
    pub until: i64,
    /// A random tag of the write that applied it, so the instance that
    /// wrote it recognises its own write when reading the record back.
    #[serde(default)]
    pub by: u64,
}

/// One user's part in a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// The user.
    pub user: UserId,
    /// The user's devices when invited (the host: the inviting device).
    pub devices: Vec<ClientId>,
    /// Who invited them (the host invited themself).
    pub invited_by: UserId,
    /// Where the invitation or participation stands.
    pub state: ParticipantState,
    /// Media the host asked them not to send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub muted: Vec<Media>,
}

/// The state diagram of an invitation: `invited` → `joined` | `declined` |
/// `cancelled` | `missed`; `joined` → `left` | `removed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ParticipantState {
    /// Ringing on every device until `deadline` (ms).
    Invited {
        /// The ring deadline.
        deadline: i64,
        /// Whether a device reported ringing.
        #[serde(default)]
        ringing: bool,
    },
    /// In the call on `device`.
    Joined {
        /// The device that accepted (the host: the inviting device).
        device: ClientId,
        /// When (ms).
        at: i64,
    },
    /// Rejected the invitation.
    Declined {
        /// Why.
        reason: RejectReason,
    },
    /// The inviter withdrew the invitation (or the call ended first).
    Cancelled,
    /// Did not answer before the deadline.
    Missed,
    /// Hung up.
    Left,
    /// The host removed them.
    Removed,
}

impl ParticipantState {
    /// The state's name, as shown by the admin API.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Invited { .. } => "invited",
            Self::Joined { .. } => "joined",
            Self::Declined { .. } => "declined",
            Self::Cancelled => "cancelled",
            Self::Missed => "missed",
            Self::Left => "left",
            Self::Removed => "removed",
        }
    }
}

impl Participant {
    /// Whether they are still ringing.
    pub fn is_invited(&self) -> bool {
        matches!(self.state, ParticipantState::Invited { .. })
    }

    /// The device they joined with, if joined.
    pub fn joined_device(&self) -> Option<&ClientId> {
        match &self.state {
            ParticipantState::Joined { device, .. } => Some(device),
            _ => None,
        }
    }

    /// Whether they are ringing or joined: what makes a user busy.
    pub fn is_active(&self) -> bool {
        self.is_invited() || self.joined_device().is_some()
    }
}

impl Call {
    /// The participant record of `user`.
    pub fn participant(&self, user: &UserId) -> Option<&Participant> {
        self.participants.iter().find(|p| &p.user == user)
    }

    pub(crate) fn participant_mut(&mut self, user: &UserId) -> Option<&mut Participant> {
        self.participants.iter_mut().find(|p| &p.user == user)
    }

    /// Whether the call has ended.
    pub fn is_ended(&self) -> bool {
        self.ended.is_some()
    }

    /// Whether `user` is ringing for or joined to this (live) call.
    pub fn holds(&self, user: &UserId) -> bool {
        !self.is_ended() && self.participant(user).is_some_and(Participant::is_active)
    }

    /// The devices of joined users (each user's joined device).
    pub fn joined_devices(&self) -> Vec<ClientId> {
        self.participants
            .iter()
            .filter_map(|p| p.joined_device().cloned())
            .collect()
    }

    /// The users still in the call (joined or ringing), host first.
    pub fn active_users(&self) -> Vec<UserId> {
        self.participants
            .iter()
            .filter(|p| p.is_active())
            .map(|p| p.user.clone())
            .collect()
    }

    /// Whether `(client, id)` was already applied.
    pub fn has_applied(&self, client: &ClientId, id: &MessageId) -> bool {
        self.applied
            .iter()
            .any(|a| &a.client == client && &a.id == id)
    }

    /// The earliest ring deadline still pending, if any.
    pub fn next_deadline(&self) -> Option<i64> {
        if self.is_ended() {
            return None;
        }
        self.participants
            .iter()
            .filter_map(|p| match p.state {
                ParticipantState::Invited { deadline, .. } => Some(deadline),
                _ => None,
            })
            .min()
    }
}
