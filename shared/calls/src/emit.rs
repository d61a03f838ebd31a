//! Building downstream messages with stable IDs.

use crate::ids::derive_id;
use switchboard_protocol::{CallId, ClientId, Downstream, Event, MessageId, OutboundMessage};

/// How long a downstream message stays valid when nothing sooner applies
/// (an invitation expires at its ring deadline instead): one hour.
pub const EVENT_TTL_MS: i64 = 3_600_000;

/// Collects the downstream messages of one cause. Each message's ID is
/// derived from the cause, a sequence number and the target device, so the
/// same cause applied to the same state yields the same IDs.
#[derive(Debug)]
pub struct Emitter {
    cause: String,
    in_reply_to: Option<MessageId>,
    now: i64,
    seq: u32,
    messages: Vec<OutboundMessage>,
}

impl Emitter {
    /// An emitter for messages caused by upstream message `id` from `client`.
    pub fn for_message(client: &ClientId, id: &MessageId, now: i64) -> Self {
        Self::new(format!("{client}/{id}"), Some(id.clone()), now)
    }

    /// An emitter for the `error` event refusing upstream message `id` from
    /// `client`: in reply to it, with IDs apart from the message's own
    /// effects, so a message refused on one delivery and carried out on
    /// another never sends two different events under one ID.
    pub fn for_refusal(client: &ClientId, id: &MessageId, now: i64) -> Self {
        Self::new(format!("refused/{client}/{id}"), Some(id.clone()), now)
    }

    /// An emitter for messages with no upstream cause (deadlines, the app
    /// backend); `cause` must name the event uniquely and deterministically.
    pub fn for_cause(cause: impl Into<String>, now: i64) -> Self {
        Self::new(cause.into(), None, now)
    }

    fn new(cause: String, in_reply_to: Option<MessageId>, now: i64) -> Self {
        Self {
            cause,
            in_reply_to,
            now,
            seq: 0,
            messages: Vec::new(),
        }
    }

    /// The time the messages are stamped with.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Sends `event` to each device in `to`, valid until `expires_at`
    /// (default: now + [`EVENT_TTL_MS`]).
    pub fn send<'a>(
        &mut self,
        to: impl IntoIterator<Item = &'a ClientId>,
        call: Option<&CallId>,
        expires_at: Option<i64>,
        event: Event,
    ) {
        self.seq += 1;
        let seq = self.seq.to_string();
        for device in to {
            let id = derive_id("e", &[&self.cause, &seq, device.as_str()]);
            self.messages.push(OutboundMessage {
                to: device.clone(),
                message: Downstream {
                    v: 1,
                    id,
                    ts: self.now,
                    expires_at: expires_at.unwrap_or(self.now + EVENT_TTL_MS),
                    call: call.cloned(),
                    in_reply_to: self.in_reply_to.clone(),
                    event: event.clone(),
                },
            });
        }
    }

    /// Sends one message to one device.
    pub fn send_one(
        &mut self,
        to: &ClientId,
        call: Option<&CallId>,
        expires_at: Option<i64>,
        event: Event,
    ) {
        self.send(std::iter::once(to), call, expires_at, event);
    }

    /// Moves another emitter's messages after this one's.
    pub fn append(&mut self, other: Emitter) {
        self.messages.extend(other.messages);
    }

    /// The messages, in the order they were produced.
    pub fn into_messages(self) -> Vec<OutboundMessage> {
        self.messages
    }

    /// The messages so far.
    pub fn messages(&self) -> &[OutboundMessage] {
        &self.messages
    }
}
