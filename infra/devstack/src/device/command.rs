//! Lines a person types, and the upstream messages they become.
//!
//! Wherever a command takes a call ID it may be left out to mean the last
//! call the simulator has seen.

use serde_json::{json, Map, Value};

/// The help text listing every command.
pub const HELP: &str = "\
commands (<call> may be omitted to mean the last call seen):
  invite <user> [<user>...] [--audio] [--call <call>]   start a call (video unless --audio),
                                                       or with --call invite more users to it
  ringing [<call>]                                     tell the inviter this device rings
  accept [<call>]                                      join the call
  reject [<call>] [--busy]                             decline (or say busy)
  cancel [<call>]                                      withdraw unanswered invitations
  hangup [<call>]                                      leave the call
  end [<call>]                                         end the call for everyone (host)
  mute [<call>] <user> audio|video                     ask a user to stop sending (host)
  unmute [<call>] <user> audio|video                   allow it again (host)
  remove [<call>] <user>                               remove a user (host)
  renew [<call>]                                       fresh RTC join parameters
  sync                                                 pending invitations and active call
  help                                                 this text
  quit                                                 disconnect and exit";

/// Why a typed line is not a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The line has no command word.
    #[error("type a command (help lists them)")]
    Empty,
    /// The command word is unknown.
    #[error("unknown command {0:?} (help lists them)")]
    Unknown(String),
    /// The arguments do not fit the command.
    #[error("usage: {0}")]
    Usage(&'static str),
    /// No call was given and none has been seen yet.
    #[error("no call given and no call seen yet")]
    NoCall,
}

/// Media of a call or of a mute request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    /// Audio only.
    Audio,
    /// Audio and video.
    Video,
}

impl Media {
    fn as_str(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Video => "video",
        }
    }
}

/// Why an invitation is rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// The user does not want the call.
    Decline,
    /// The user is busy.
    Busy,
}

/// A request to the service; `call: None` means the last call seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `invite`: a new call, or with `call` a mid-call invite.
    Invite {
        /// Invitees' user IDs.
        to: Vec<String>,
        /// Media of a new call.
        media: Media,
        /// The call to invite more users to.
        call: Option<String>,
    },
    /// `ringing`.
    Ringing {
        /// The call.
        call: Option<String>,
    },
    /// `accept`.
    Accept {
        /// The call.
        call: Option<String>,
    },
    /// `reject`.
    Reject {
        /// The call.
        call: Option<String>,
        /// Why.
        reason: RejectReason,
    },
    /// `cancel`.
    Cancel {
        /// The call.
        call: Option<String>,
    },
    /// `leave` (typed as `hangup`).
    Leave {
        /// The call.
        call: Option<String>,
    },
    /// `end`.
    End {
        /// The call.
        call: Option<String>,
    },
    /// `mute` or `unmute`.
    Mute {
        /// The call.
        call: Option<String>,
        /// The user asked to stop or resume.
        user: String,
        /// Which media.
        media: Media,
        /// `true` for mute, `false` for unmute.
        mute: bool,
    },
    /// `remove`.
    Remove {
        /// The call.
        call: Option<String>,
        /// The user to remove.
        user: String,
    },
    /// `renew`.
    Renew {
        /// The call.
        call: Option<String>,
    },
    /// `sync`.
    Sync,
}

/// What a typed line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Send a request upstream.
    Send(Request),
    /// Print the help text.
    Help,
    /// Disconnect and exit.
    Quit,
}

/// Parses one typed line.
pub fn parse(line: &str) -> Result<Command, CommandError> {
    let mut words = line.split_whitespace();
    let verb = words.next().ok_or(CommandError::Empty)?;
    let args: Vec<&str> = words.collect();
    let request = match verb {
        "help" | "?" => return no_args(&args, "help").map(|()| Command::Help),
        "quit" | "exit" => return no_args(&args, "quit").map(|()| Command::Quit),
        "sync" => no_args(&args, "sync").map(|()| Request::Sync)?,
        "invite" => parse_invite(&args)?,
        "ringing" => Request::Ringing {
            call: optional_call(&args, "ringing [<call>]")?,
        },
        "accept" => Request::Accept {
            call: optional_call(&args, "accept [<call>]")?,
        },
        "reject" => parse_reject(&args)?,
        "cancel" => Request::Cancel {
            call: optional_call(&args, "cancel [<call>]")?,
        },
        "hangup" | "leave" => Request::Leave {
            call: optional_call(&args, "hangup [<call>]")?,
        },
        "end" => Request::End {
            call: optional_call(&args, "end [<call>]")?,
        },
        "mute" => parse_mute(&args, true)?,
        "unmute" => parse_mute(&args, false)?,
        "remove" => parse_remove(&args)?,
        "renew" => Request::Renew {
            call: optional_call(&args, "renew [<call>]")?,
        },
        other => return Err(CommandError::Unknown(other.to_owned())),
    };
    Ok(Command::Send(request))
}

impl Request {
    /// The contract op this request sends.
    pub fn op(&self) -> &'static str {
        match self {
            Self::Invite { .. } => "invite",
            Self::Ringing { .. } => "ringing",
            Self::Accept { .. } => "accept",
            Self::Reject { .. } => "reject",
            Self::Cancel { .. } => "cancel",
            Self::Leave { .. } => "leave",
            Self::End { .. } => "end",
            Self::Mute { mute: true, .. } => "mute",
            Self::Mute { mute: false, .. } => "unmute",
            Self::Remove { .. } => "remove",
            Self::Renew { .. } => "renew",
            Self::Sync => "sync",
        }
    }

    /// The upstream JSON message `{"v":1,"id":..,"ts":..,"op":..,...}`;
    /// a left-out call becomes `last_call`.
    pub fn to_message(
        &self,
        id: &str,
        ts_ms: u64,
        last_call: Option<&str>,
    ) -> Result<Value, CommandError> {
        let mut message = Map::new();
        message.insert("v".into(), json!(1));
        message.insert("id".into(), json!(id));
        message.insert("ts".into(), json!(ts_ms));
        message.insert("op".into(), json!(self.op()));
        let resolve = |call: &Option<String>| -> Result<Value, CommandError> {
            call.as_deref()
                .or(last_call)
                .map(|call| json!(call))
                .ok_or(CommandError::NoCall)
        };
        match self {
            Self::Invite {
                to,
                media,
                call: None,
            } => {
                message.insert("to".into(), json!(to));
                message.insert("media".into(), json!(media.as_str()));
            }
            Self::Invite {
                to,
                call: Some(call),
                ..
            } => {
                message.insert("call".into(), json!(call));
                message.insert("to".into(), json!(to));
            }
            Self::Ringing { call }
            | Self::Accept { call }
            | Self::Cancel { call }
            | Self::Leave { call }
            | Self::End { call }
            | Self::Renew { call } => {
                message.insert("call".into(), resolve(call)?);
            }
            Self::Reject { call, reason } => {
                message.insert("call".into(), resolve(call)?);
                let reason = match reason {
                    RejectReason::Decline => "decline",
                    RejectReason::Busy => "busy",
                };
                message.insert("reason".into(), json!(reason));
            }
            Self::Mute {
                call, user, media, ..
            } => {
                message.insert("call".into(), resolve(call)?);
                message.insert("user".into(), json!(user));
                message.insert("media".into(), json!(media.as_str()));
            }
            Self::Remove { call, user } => {
                message.insert("call".into(), resolve(call)?);
                message.insert("user".into(), json!(user));
            }
            Self::Sync => {}
        }
        Ok(Value::Object(message))
    }
}

/// A message ID unique per sender: the send time and a counter, so IDs
/// from an earlier run of the same device do not collide either.
pub fn message_id(ts_ms: u64, sequence: u64) -> String {
    format!("m-{ts_ms}-{sequence}")
}

fn no_args(args: &[&str], usage: &'static str) -> Result<(), CommandError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CommandError::Usage(usage))
    }
}

fn optional_call(args: &[&str], usage: &'static str) -> Result<Option<String>, CommandError> {
    match args {
        [] => Ok(None),
        [call] if !call.starts_with("--") => Ok(Some((*call).to_owned())),
        _ => Err(CommandError::Usage(usage)),
    }
}

fn parse_invite(args: &[&str]) -> Result<Request, CommandError> {
    const USAGE: &str = "invite <user> [<user>...] [--audio] [--call <call>]";
    let mut to = Vec::new();
    let mut media = Media::Video;
    let mut call = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match *arg {
            "--audio" => media = Media::Audio,
            "--video" => media = Media::Video,
            "--call" => {
                let value = args.next().ok_or(CommandError::Usage(USAGE))?;
                call = Some((*value).to_owned());
            }
            flag if flag.starts_with("--") => return Err(CommandError::Usage(USAGE)),
            user => to.push(user.to_owned()),
        }
    }
    if to.is_empty() {
        return Err(CommandError::Usage(USAGE));
    }
    Ok(Request::Invite { to, media, call })
}

fn parse_reject(args: &[&str]) -> Result<Request, CommandError> {
    const USAGE: &str = "reject [<call>] [--busy]";
    let busy = args.contains(&"--busy");
    let rest: Vec<&str> = args.iter().copied().filter(|a| *a != "--busy").collect();
    Ok(Request::Reject {
        call: optional_call(&rest, USAGE)?,
        reason: if busy {
            RejectReason::Busy
        } else {
            RejectReason::Decline
        },
    })
}

fn parse_mute(args: &[&str], mute: bool) -> Result<Request, CommandError> {
    const USAGE: &str = "mute|unmute [<call>] <user> audio|video";
    let (call, user, media) = match args {
        [user, media] => (None, user, media),
        [call, user, media] => (Some((*call).to_owned()), user, media),
        _ => return Err(CommandError::Usage(USAGE)),
    };
    let media = match *media {
        "audio" => Media::Audio,
        "video" => Media::Video,
        _ => return Err(CommandError::Usage(USAGE)),
    };
    Ok(Request::Mute {
        call,
        user: (*user).to_owned(),
        media,
        mute,
    })
}

fn parse_remove(args: &[&str]) -> Result<Request, CommandError> {
    match args {
        [user] => Ok(Request::Remove {
            call: None,
            user: (*user).to_owned(),
        }),
        [call, user] => Ok(Request::Remove {
            call: Some((*call).to_owned()),
            user: (*user).to_owned(),
        }),
        _ => Err(CommandError::Usage("remove [<call>] <user>")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(line: &str, last_call: Option<&str>) -> Value {
        match parse(line).expect("parses") {
            Command::Send(request) => request
                .to_message("m-1", 1_763_769_600_000, last_call)
                .expect("builds"),
            other => panic!("{line:?} is not a request: {other:?}"),
        }
    }

    #[test]
    fn invite_builds_the_contract_message() {
        assert_eq!(
            message("invite bob carol", None),
            json!({"v": 1, "id": "m-1", "ts": 1_763_769_600_000_u64, "op": "invite",
                   "to": ["bob", "carol"], "media": "video"})
        );
        assert_eq!(message("invite bob --audio", None)["media"], "audio");
    }

    #[test]
    fn mid_call_invite_names_the_call_and_no_media() {
        let msg = message("invite dave --call c-9", Some("c-1"));
        assert_eq!(msg["call"], "c-9");
        assert_eq!(msg["to"], json!(["dave"]));
        assert!(msg.get("media").is_none());
    }

    #[test]
    fn a_left_out_call_is_the_last_call_seen() {
        assert_eq!(message("accept", Some("c-7"))["call"], "c-7");
        assert_eq!(message("accept c-8", Some("c-7"))["call"], "c-8");
        let Ok(Command::Send(accept)) = parse("accept") else {
            panic!("accept parses");
        };
        assert_eq!(accept.to_message("m-1", 0, None), Err(CommandError::NoCall));
    }

    #[test]
    fn each_verb_maps_to_its_op() {
        let cases = [
            ("ringing", "ringing"),
            ("accept", "accept"),
            ("reject", "reject"),
            ("cancel", "cancel"),
            ("hangup", "leave"),
            ("end", "end"),
            ("mute bob audio", "mute"),
            ("unmute bob video", "unmute"),
            ("remove bob", "remove"),
            ("renew", "renew"),
            ("sync", "sync"),
        ];
        for (line, op) in cases {
            assert_eq!(message(line, Some("c-1"))["op"], op, "{line}");
        }
    }

    #[test]
    fn reject_mute_and_remove_carry_their_fields() {
        assert_eq!(message("reject", Some("c-1"))["reason"], "decline");
        assert_eq!(message("reject c-2 --busy", None)["reason"], "busy");
        let mute = message("mute c-3 bob video", None);
        assert_eq!(
            (&mute["call"], &mute["user"], &mute["media"]),
            (&json!("c-3"), &json!("bob"), &json!("video"))
        );
        let remove = message("remove bob", Some("c-4"));
        assert_eq!(
            (&remove["call"], &remove["user"]),
            (&json!("c-4"), &json!("bob"))
        );
        assert!(message("sync", None).get("call").is_none());
    }

    #[test]
    fn bad_lines_are_explained() {
        assert_eq!(parse("   "), Err(CommandError::Empty));
        assert_eq!(parse("dance"), Err(CommandError::Unknown("dance".into())));
        assert!(matches!(parse("invite"), Err(CommandError::Usage(_))));
        assert!(matches!(
            parse("invite --call"),
            Err(CommandError::Usage(_))
        ));
        assert!(matches!(parse("accept a b"), Err(CommandError::Usage(_))));
        assert!(matches!(
            parse("mute bob screen"),
            Err(CommandError::Usage(_))
        ));
        assert!(matches!(parse("sync now"), Err(CommandError::Usage(_))));
        assert_eq!(parse("quit"), Ok(Command::Quit));
        assert_eq!(parse("help"), Ok(Command::Help));
    }

    #[test]
    fn message_ids_follow_the_contract_charset() {
        let id = message_id(1_763_769_600_000, 42);
        assert_eq!(id, "m-1763769600000-42");
        assert!(id.len() <= 64);
        assert!(id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
