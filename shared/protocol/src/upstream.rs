//! Upstream messages (device → service), `docs/protocol.md` §3: the MQTT
//! payload, a UTF-8 JSON object of at most 16 KiB, decoded into an
//! [`Upstream`] whose [`Op`] carries exactly the fields that op needs.

use crate::envelope::json_type;
use crate::error::{ErrorCode, Refusal};
use crate::ids::{CallId, MessageId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Largest `meta` object passed through to invitees, serialized.
pub const MAX_META_BYTES: usize = 2 * 1024;
/// Hard cap on `to` entries, before the configured `max_invitees` applies.
pub const MAX_TO_ENTRIES: usize = 256;

/// A decoded upstream message.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    /// The sender's message ID (deduplication key with the client ID).
    pub id: MessageId,
    /// The sender's clock, milliseconds since the epoch.
    pub ts: i64,
    /// What the sender asks for.
    pub op: Op,
}

/// The media of a call or of a mute request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    /// Audio only.
    Audio,
    /// Audio and video.
    Video,
}

/// Why an invitee rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RejectReason {
    /// The user declined.
    Decline,
    /// The user (or their device) is busy.
    Busy,
}

/// An upstream operation with its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Start a call (`call` absent) or invite more people to one.
    Invite {
        /// The call, for a mid-call invite.
        call: Option<CallId>,
        /// The users to ring.
        to: Vec<UserId>,
        /// The media; required for a new call.
        media: Option<Media>,
        /// Opaque app data passed to invitees.
        meta: Option<Map<String, Value>>,
    },
    /// The device is ringing.
    Ringing {
        /// The call.
        call: CallId,
    },
    /// The user accepts on this device.
    Accept {
        /// The call.
        call: CallId,
    },
    /// The user rejects on all devices.
    Reject {
        /// The call.
        call: CallId,
        /// Why.
        reason: RejectReason,
    },
    /// The inviter withdraws unanswered invitations.
    Cancel {
        /// The call.
        call: CallId,
        /// Only these invitees; all when absent.
        to: Option<Vec<UserId>>,
    },
    /// The user leaves the call.
    Leave {
        /// The call.
        call: CallId,
    },
    /// The host ends the call for everyone.
    End {
        /// The call.
        call: CallId,
    },
    /// The host asks a user's devices to stop sending a medium.
    Mute {
        /// The call.
        call: CallId,
        /// The user to mute.
        user: UserId,
        /// The medium.
        media: Media,
    },
    /// The host allows a user's devices to send a medium again.
    Unmute {
        /// The call.
        call: CallId,
        /// The user to unmute.
        user: UserId,
        /// The medium.
        media: Media,
    },
    /// The host removes a user from the call.
    Remove {
        /// The call.
        call: CallId,
        /// The user to remove.
        user: UserId,
    },
    /// Fresh RTC join parameters for this device.
    Renew {
        /// The call.
        call: CallId,
    },
    /// The user's pending invitations and active call.
    Sync,
}

impl Op {
    /// The op's wire name.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Invite { .. } => "invite",
            Op::Ringing { .. } => "ringing",
            Op::Accept { .. } => "accept",
            Op::Reject { .. } => "reject",
            Op::Cancel { .. } => "cancel",
            Op::Leave { .. } => "leave",
            Op::End { .. } => "end",
            Op::Mute { .. } => "mute",
            Op::Unmute { .. } => "unmute",
            Op::Remove { .. } => "remove",
            Op::Renew { .. } => "renew",
            Op::Sync => "sync",
        }
    }

    /// The call the op names, if any.
    pub fn call(&self) -> Option<&CallId> {
        match self {
            Op::Invite { call, .. } => call.as_ref(),
            Op::Ringing { call }
            | Op::Accept { call }
            | Op::Reject { call, .. }
            | Op::Cancel { call, .. }
            | Op::Leave { call }
            | Op::End { call }
            | Op::Mute { call, .. }
            | Op::Unmute { call, .. }
            | Op::Remove { call, .. }
            | Op::Renew { call } => Some(call),
            Op::Sync => None,
        }
    }
}

/// A decoding failure, with the message ID when it could be read so the
/// device's `error` event can name the message it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// The message's `id`, if valid.
    pub id: Option<MessageId>,
    /// Why it was refused.
    pub refusal: Refusal,
}

impl Upstream {
    /// Decodes an MQTT payload.
    pub fn decode(payload: &str) -> Result<Self, DecodeFailure> {
        let value: Value = serde_json::from_str(payload).map_err(|e| DecodeFailure {
            id: None,
            refusal: Refusal::new(
                ErrorCode::InvalidJson,
                format!("payload is not valid JSON: {e}"),
            ),
        })?;
        let Value::Object(obj) = value else {
            return Err(DecodeFailure {
                id: None,
                refusal: Refusal::new(
                    ErrorCode::InvalidMessage,
                    format!("payload is a {}, not an object", json_type(&value)),
                ),
            });
        };
        let id = obj
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| MessageId::parse(s).ok());
        Fields(&obj)
            .message()
            .map_err(|refusal| DecodeFailure { id, refusal })
    }
}

struct Fields<'a>(&'a Map<String, Value>);

fn invalid(msg: String) -> Refusal {
    Refusal::new(ErrorCode::InvalidMessage, msg)
}

impl Fields<'_> {
    fn message(&self) -> Result<Upstream, Refusal> {
        match self.0.get("v") {
            None => return Err(invalid("message has no \"v\"".into())),
            Some(v) if v.as_u64() == Some(1) => {}
            Some(Value::Number(_)) => {
                return Err(Refusal::new(
                    ErrorCode::UnsupportedVersion,
                    "only \"v\": 1 is supported",
                ))
            }
            Some(other) => {
                return Err(invalid(format!(
                    "\"v\" must be a number, not a {}",
                    json_type(other)
                )))
            }
        }
        let id = MessageId::parse(&self.string("id")?)?;
        let ts = match self.0.get("ts") {
            Some(Value::Number(n)) => n.as_i64().filter(|t| *t > 0).ok_or_else(|| {
                invalid("\"ts\" must be a positive integer of milliseconds".into())
            })?,
            Some(other) => {
                return Err(invalid(format!(
                    "\"ts\" must be a number, not a {}",
                    json_type(other)
                )))
            }
            None => return Err(invalid("message has no \"ts\"".into())),
        };
        let op_name = self.string("op")?;
        let op = self.op(&op_name)?;
        Ok(Upstream { id, ts, op })
    }

    fn op(&self, name: &str) -> Result<Op, Refusal> {
        Ok(match name {
            "invite" => {
                let to = self.users("to")?;
                if to.is_empty() {
                    return Err(invalid("\"to\" must name at least one user".into()));
                }
                Op::Invite {
                    call: self.opt_call()?,
                    to,
                    media: self.opt_enum("media")?,
                    meta: self.meta()?,
                }
            }
            "ringing" => Op::Ringing { call: self.call()? },
            "accept" => Op::Accept { call: self.call()? },
            "reject" => Op::Reject {
                call: self.call()?,
                reason: self.opt_enum("reason")?.unwrap_or(RejectReason::Decline),
            },
            "cancel" => Op::Cancel {
                call: self.call()?,
                to: match self.0.get("to") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(self.users("to")?),
                },
            },
            "leave" => Op::Leave { call: self.call()? },
            "end" => Op::End { call: self.call()? },
            "mute" | "unmute" => {
                let call = self.call()?;
                let user = self.user("user")?;
                let media = self
                    .opt_enum("media")?
                    .ok_or_else(|| invalid("message has no \"media\"".into()))?;
                if name == "mute" {
                    Op::Mute { call, user, media }
                } else {
                    Op::Unmute { call, user, media }
                }
            }
            "remove" => Op::Remove {
                call: self.call()?,
                user: self.user("user")?,
            },
            "renew" => Op::Renew { call: self.call()? },
            "sync" => Op::Sync,
            other => {
                return Err(Refusal::new(
                    ErrorCode::UnknownOp,
                    format!("unknown op {}", crate::ids::preview(other)),
                ))
            }
        })
    }

    fn string(&self, name: &str) -> Result<String, Refusal> {
        match self.0.get(name) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(invalid(format!(
                "{name:?} must be a string, not a {}",
                json_type(other)
            ))),
            None => Err(invalid(format!("message has no {name:?}"))),
        }
    }

    fn call(&self) -> Result<CallId, Refusal> {
        CallId::parse(&self.string("call")?)
    }

    fn opt_call(&self) -> Result<Option<CallId>, Refusal> {
        match self.0.get("call") {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.call().map(Some),
        }
    }

    fn user(&self, name: &str) -> Result<UserId, Refusal> {
        UserId::parse(&self.string(name)?)
    }

    fn users(&self, name: &str) -> Result<Vec<UserId>, Refusal> {
        let Some(value) = self.0.get(name) else {
            return Err(invalid(format!("message has no {name:?}")));
        };
        let Value::Array(items) = value else {
            return Err(invalid(format!(
                "{name:?} must be an array of user IDs, not a {}",
                json_type(value)
            )));
        };
        if items.len() > MAX_TO_ENTRIES {
            return Err(Refusal::new(
                ErrorCode::TooManyInvitees,
                format!("{name:?} has {} entries", items.len()),
            ));
        }
        let mut users: Vec<UserId> = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(s) = item else {
                return Err(invalid(format!(
                    "{name:?} entries must be strings, not a {}",
                    json_type(item)
                )));
            };
            let user = UserId::parse(s)?;
            if !users.contains(&user) {
                users.push(user);
            }
        }
        Ok(users)
    }

    fn opt_enum<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, Refusal> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone())
                .map(Some)
                .map_err(|_| invalid(format!("{name:?} has a value this op does not accept"))),
        }
    }

    fn meta(&self) -> Result<Option<Map<String, Value>>, Refusal> {
        match self.0.get("meta") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => {
                let size = serde_json::to_vec(m).map_or(usize::MAX, |v| v.len());
                if size > MAX_META_BYTES {
                    return Err(Refusal::new(
                        ErrorCode::PayloadTooLarge,
                        format!("\"meta\" has {size} bytes, more than {MAX_META_BYTES}"),
                    ));
                }
                Ok(Some(m.clone()))
            }
            Some(other) => Err(invalid(format!(
                "\"meta\" must be an object, not a {}",
                json_type(other)
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(s: &str) -> Result<Upstream, DecodeFailure> {
        Upstream::decode(s)
    }

    fn code(s: &str) -> ErrorCode {
        decode(s).unwrap_err().refusal.code
    }

    #[test]
    fn decodes_the_contract_example() {
        let m = decode(r#"{"v": 1, "id": "m-7f3a", "ts": 1763769600000, "op": "invite", "to": ["bob"], "media": "video"}"#).unwrap();
        assert_eq!(m.id.as_str(), "m-7f3a");
        assert_eq!(m.ts, 1763769600000);
        assert_eq!(
            m.op,
            Op::Invite {
                call: None,
                to: vec![UserId::parse("bob").unwrap()],
                media: Some(Media::Video),
                meta: None
            }
        );
    }

    #[test]
    fn decodes_every_op() {
        let base = r#""v":1,"id":"m1","ts":5"#;
        let cases = [
            (r#""op":"ringing","call":"c1""#, "ringing"),
            (r#""op":"accept","call":"c1""#, "accept"),
            (r#""op":"reject","call":"c1","reason":"busy""#, "reject"),
            (r#""op":"cancel","call":"c1","to":["bob"]"#, "cancel"),
            (r#""op":"cancel","call":"c1""#, "cancel"),
            (r#""op":"leave","call":"c1""#, "leave"),
            (r#""op":"end","call":"c1""#, "end"),
            (
                r#""op":"mute","call":"c1","user":"bob","media":"audio""#,
                "mute",
            ),
            (
                r#""op":"unmute","call":"c1","user":"bob","media":"video""#,
                "unmute",
            ),
            (r#""op":"remove","call":"c1","user":"bob""#, "remove"),
            (r#""op":"renew","call":"c1""#, "renew"),
            (r#""op":"sync""#, "sync"),
            (r#""op":"invite","call":"c1","to":["carol"]"#, "invite"),
        ];
        for (fields, name) in cases {
            let m = decode(&format!("{{{base},{fields}}}")).unwrap();
            assert_eq!(m.op.name(), name);
        }
        let m = decode(&format!(r#"{{{base},"op":"reject","call":"c1"}}"#)).unwrap();
        assert_eq!(
            m.op,
            Op::Reject {
                call: CallId::parse("c1").unwrap(),
                reason: RejectReason::Decline
            }
        );
    }

    #[test]
    fn deduplicates_invitees_keeping_order() {
        let m =
            decode(r#"{"v":1,"id":"m","ts":1,"op":"invite","to":["b","a","b"],"media":"audio"}"#)
                .unwrap();
        let Op::Invite { to, .. } = m.op else {
            panic!()
        };
        assert_eq!(
            to,
            vec![UserId::parse("b").unwrap(), UserId::parse("a").unwrap()]
        );
    }

    #[test]
    fn refusals_carry_contract_codes() {
        assert_eq!(code("nope"), ErrorCode::InvalidJson);
        assert_eq!(code("[1]"), ErrorCode::InvalidMessage);
        assert_eq!(
            code(r#"{"id":"m","ts":1,"op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":2,"id":"m","ts":1,"op":"sync"}"#),
            ErrorCode::UnsupportedVersion
        );
        assert_eq!(
            code(r#"{"v":"1","id":"m","ts":1,"op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"ts":1,"op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"a b","ts":1,"op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":5,"ts":1,"op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":"1","op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1.5,"op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":-1,"op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","op":"sync"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"dance"}"#),
            ErrorCode::UnknownOp
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":7}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"invite","media":"video"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"invite","to":[],"media":"video"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"invite","to":"bob","media":"video"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"invite","to":[1],"media":"video"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"invite","to":["b/c"],"media":"video"}"#),
            ErrorCode::InvalidUserId
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"invite","to":["b"],"media":"smell"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"invite","to":["b"],"media":"audio","meta":[1]}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"accept"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"accept","call":"../etc"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"reject","call":"c","reason":"bored"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"mute","call":"c","user":"b"}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"v":1,"id":"m","ts":1,"op":"remove","call":"c"}"#),
            ErrorCode::InvalidMessage
        );
        let big_meta = format!(
            r#"{{"v":1,"id":"m","ts":1,"op":"invite","to":["b"],"media":"audio","meta":{{"x":"{}"}}}}"#,
            "y".repeat(MAX_META_BYTES)
        );
        assert_eq!(code(&big_meta), ErrorCode::PayloadTooLarge);
        let many: Vec<String> = (0..300).map(|i| format!("\"u{i}\"")).collect();
        let too_many = format!(
            r#"{{"v":1,"id":"m","ts":1,"op":"invite","to":[{}],"media":"audio"}}"#,
            many.join(",")
        );
        assert_eq!(code(&too_many), ErrorCode::TooManyInvitees);
    }

    #[test]
    fn failures_keep_the_message_id_when_valid() {
        let f = decode(r#"{"v":1,"id":"m-9","ts":1,"op":"dance"}"#).unwrap_err();
        assert_eq!(f.id.unwrap().as_str(), "m-9");
        let f = decode(r#"{"v":1,"id":"bad id","ts":1,"op":"sync"}"#).unwrap_err();
        assert!(f.id.is_none());
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(payload in "\\PC{0,200}") {
                let _ = Upstream::decode(&payload);
            }

            #[test]
            fn never_panics_on_structured_junk(op in "[a-z]{0,8}", v in any::<i64>(), ts in any::<i64>(), extra in "[\\[\\]{}\":,a-z0-9 ]{0,40}") {
                let payload = format!(r#"{{"v":{v},"id":"m","ts":{ts},"op":"{op}","x":"{extra}"}}"#);
                let _ = Upstream::decode(&payload);
            }
        }
    }
}
