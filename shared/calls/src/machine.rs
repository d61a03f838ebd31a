//! The transitions. Each public function takes the stored call by
//! reference and returns a new call plus its downstream messages, or a
//! refusal; the stored call is never half-changed.

use crate::emit::Emitter;
use crate::model::{Applied, Call, Ended, Participant, ParticipantState};
use serde_json::{Map, Value};
use switchboard_protocol::downstream::{CancelReason, EndReason, LeftReason};
use switchboard_protocol::upstream::RejectReason;
use switchboard_protocol::{
    CallId, ClientId, Config, ErrorCode, Event, Media, MessageId, Op, OutboundMessage, Refusal,
    Upstream, UserId,
};

/// Mints RTC join parameters (the contract's `rtc` object) for one device
/// of a user invited to a call. Implemented by the service over the
/// configured token provider, with its own randomness.
pub trait Minter {
    /// Join parameters for `user` on `device` in `call`.
    fn mint(&self, call: &CallId, user: &UserId, device: &ClientId) -> Result<Value, Refusal>;
}

/// The authenticated sender of an upstream message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The broker-authenticated client ID.
    pub client: ClientId,
    /// The user that client ID is registered to.
    pub user: UserId,
}

/// A user to ring, as the directory and the busy check found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitee {
    /// The user.
    pub user: UserId,
    /// Their registered devices; empty means unreachable.
    pub devices: Vec<ClientId>,
    /// Ringing for or joined to another call: rejected with `busy` at once.
    pub busy: bool,
    /// When busy because of glare, the call that won.
    pub replaced_by: Option<CallId>,
}

/// Everything needed to create a call from an invite.
#[derive(Debug, Clone)]
pub struct NewCall {
    /// The call's ID (see [`crate::call_id_for_invite`]).
    pub id: CallId,
    /// Who invites.
    pub sender: Sender,
    /// The inviting message.
    pub message: MessageId,
    /// The inviting message's timestamp.
    pub message_ts: i64,
    /// The call's media.
    pub media: Media,
    /// Opaque app data.
    pub meta: Option<Map<String, Value>>,
    /// Who to ring, in the order the invite named them.
    pub invitees: Vec<Invitee>,
}

type Transition = Result<(Call, Vec<OutboundMessage>), Refusal>;

fn refuse<T>(code: ErrorCode, message: &str) -> Result<T, Refusal> {
    Err(Refusal::new(code, message))
}

/// Checks an invite's `to` list before any lookup: size and self-invites.
pub fn check_invitees(to: &[UserId], sender: &UserId, config: &Config) -> Result<(), Refusal> {
    if to.len() > config.max_invitees {
        return Err(Refusal::new(
            ErrorCode::TooManyInvitees,
            format!(
                "an invite may name at most {} users, this one names {}",
                config.max_invitees,
                to.len()
            ),
        ));
    }
    if to.contains(sender) {
        return refuse(ErrorCode::InvalidMessage, "a user cannot invite themself");
    }
    Ok(())
}

fn remember(
    call: &mut Call,
    client: &ClientId,
    id: &MessageId,
    ts: i64,
    now: i64,
    config: &Config,
) {
    call.applied.retain(|a| a.until > now);
    call.applied.push(Applied {
        client: client.clone(),
        id: id.clone(),
        until: ts.max(now) + config.dedup_window_ms(),
        by: 0,
    });
}

/// Creates a call from an invite: the host joins with the inviting device,
/// every device of each reachable invitee rings with its own RTC token,
/// busy invitees are rejected at once. Refused when nobody is reachable.
pub fn create(new: NewCall, config: &Config, minter: &dyn Minter, now: i64) -> Transition {
    let to: Vec<UserId> = new.invitees.iter().map(|i| i.user.clone()).collect();
    check_invitees(&to, &new.sender.user, config)?;
    if new.invitees.iter().all(|i| i.devices.is_empty()) {
        return Err(Refusal::new(
            ErrorCode::UnknownUser,
            "none of the invited users has a registered device",
        ));
    }
    let mut out = Emitter::for_message(&new.sender.client, &new.message, now);
    let deadline = now + config.ring_timeout_ms;
    let mut call = Call {
        id: new.id.clone(),
        host: new.sender.user.clone(),
        media: new.media,
        meta: new.meta.clone(),
        created_at: now,
        ended: None,
        participants: vec![Participant {
            user: new.sender.user.clone(),
            devices: vec![new.sender.client.clone()],
            invited_by: new.sender.user.clone(),
            state: ParticipantState::Joined {
                device: new.sender.client.clone(),
                at: now,
            },
            muted: Vec::new(),
        }],
        applied: Vec::new(),
        outbox: Vec::new(),
        released: Vec::new(),
        version: 0,
    };
    let mut unreachable = Vec::new();
    let mut replaced_by = None;
    for invitee in &new.invitees {
        if invitee.devices.is_empty() {
            unreachable.push(invitee.user.clone());
            continue;
        }
        let state = if invitee.busy {
            replaced_by = replaced_by.or(invitee.replaced_by.clone());
            ParticipantState::Declined {
                reason: RejectReason::Busy,
            }
        } else {
            ParticipantState::Invited {
                deadline,
                ringing: false,
            }
        };
        call.participants.push(Participant {
            user: invitee.user.clone(),
            devices: invitee.devices.clone(),
            invited_by: new.sender.user.clone(),
            state,
            muted: Vec::new(),
        });
    }
    let ringing: Vec<UserId> = call
        .participants
        .iter()
        .filter(|p| p.is_invited())
        .map(|p| p.user.clone())
        .collect();
    let host_rtc = minter.mint(&call.id, &new.sender.user, &new.sender.client)?;
    out.send_one(
        &new.sender.client,
        Some(&call.id),
        None,
        Event::Created {
            to: ringing,
            media: new.media,
            rtc: host_rtc,
            unreachable,
        },
    );
    ring(&call, &to, &new.sender.user, &mut out, minter, deadline)?;
    for p in call
        .participants
        .iter()
        .filter(|p| matches!(p.state, ParticipantState::Declined { .. }))
    {
        out.send_one(
            &new.sender.client,
            Some(&call.id),
            None,
            Event::Rejected {
                user: p.user.clone(),
                reason: RejectReason::Busy,
            },
        );
    }
    settle(&mut call, EndReason::Rejected, replaced_by, &mut out);
    remember(
        &mut call,
        &new.sender.client,
        &new.message,
        new.message_ts,
        now,
        config,
    );
    Ok((call, out.into_messages()))
}

/// Sends `call.invitation`, valid until `deadline`, to every device of
/// each user in `users` who is ringing.
fn ring(
    call: &Call,
    users: &[UserId],
    inviter: &UserId,
    out: &mut Emitter,
    minter: &dyn Minter,
    deadline: i64,
) -> Result<(), Refusal> {
    let participants = call.active_users();
    for p in &call.participants {
        if !p.is_invited() || !users.contains(&p.user) {
            continue;
        }
        for device in &p.devices {
            let rtc = minter.mint(&call.id, &p.user, device)?;
            out.send_one(
                device,
                Some(&call.id),
                Some(deadline),
                Event::Invitation {
                    from: inviter.clone(),
                    media: call.media,
                    participants: participants.clone(),
                    rtc,
                    meta: call.meta.clone(),
                },
            );
        }
    }
    Ok(())
}

/// Ends the call if fewer than two users are joined and either nobody is
/// ringing or nobody is joined at all.
fn settle(call: &mut Call, reason: EndReason, replaced_by: Option<CallId>, out: &mut Emitter) {
    if call.is_ended() {
        return;
    }
    let joined = call
        .participants
        .iter()
        .filter(|p| p.joined_device().is_some())
        .count();
    let ringing = call.participants.iter().filter(|p| p.is_invited()).count();
    if joined < 2 && (ringing == 0 || joined == 0) {
        finish(call, reason, replaced_by, out);
    }
}

/// Ends the call: ringing devices get `call.cancelled`, joined devices
/// `call.ended`.
fn finish(call: &mut Call, reason: EndReason, replaced_by: Option<CallId>, out: &mut Emitter) {
    let cancel_reason = match reason {
        EndReason::Cancelled => CancelReason::Cancelled,
        EndReason::Timeout => CancelReason::Timeout,
        _ => CancelReason::Ended,
    };
    let id = call.id.clone();
    for p in call.participants.iter_mut().filter(|p| p.is_invited()) {
        p.state = ParticipantState::Cancelled;
        out.send(
            &p.devices,
            Some(&id),
            None,
            Event::Cancelled {
                reason: cancel_reason,
            },
        );
    }
    out.send(
        &call.joined_devices(),
        Some(&id),
        None,
        Event::Ended {
            reason,
            replaced_by: replaced_by.clone(),
        },
    );
    call.ended = Some(Ended {
        reason,
        at: out.now(),
        replaced_by,
    });
}

/// Applies passed ring deadlines: each unanswered invitee is `missed`
/// (`call.missed` to the inviter's device, `call.cancelled` `timeout` to
/// theirs), and a call left with nobody to talk to ends with `timeout`.
/// Returns `None` when no deadline has passed. Message IDs depend only on
/// the call, the user and the deadline, so every instance that applies the
/// same deadline produces the same messages.
pub fn expire(call: &Call, now: i64) -> Option<(Call, Vec<OutboundMessage>)> {
    if call.next_deadline().is_none_or(|d| d > now) {
        return None;
    }
    let mut c = call.clone();
    let mut all = Emitter::for_cause(format!("timeout/{}", c.id), now);
    let mut last_deadline = 0;
    for i in 0..c.participants.len() {
        let ParticipantState::Invited { deadline, .. } = c.participants[i].state else {
            continue;
        };
        if deadline > now {
            continue;
        }
        last_deadline = last_deadline.max(deadline);
        let (user, devices, inviter) = {
            let p = &mut c.participants[i];
            p.state = ParticipantState::Missed;
            (p.user.clone(), p.devices.clone(), p.invited_by.clone())
        };
        let mut out = Emitter::for_cause(format!("timeout/{}/{}/{}", c.id, user, deadline), now);
        if let Some(device) = c.participant(&inviter).and_then(|p| p.joined_device()) {
            out.send_one(
                device,
                Some(&c.id),
                None,
                Event::Missed { user: user.clone() },
            );
        }
        out.send(
            &devices,
            Some(&c.id),
            None,
            Event::Cancelled {
                reason: CancelReason::Timeout,
            },
        );
        all.append(out);
    }
    let mut end = Emitter::for_cause(format!("timeout/{}/end/{last_deadline}", c.id), now);
    settle(&mut c, EndReason::Timeout, None, &mut end);
    all.append(end);
    Some((c, all.into_messages()))
}

/// Ends a live call from outside (the app backend, or glare): `reason`
/// tells devices why. Refused with `invalid_state` if it already ended.
pub fn end_call(
    call: &Call,
    reason: EndReason,
    replaced_by: Option<CallId>,
    cause: &str,
    now: i64,
) -> Transition {
    if call.is_ended() {
        return refuse(ErrorCode::InvalidState, "the call has already ended");
    }
    let mut c = call.clone();
    let mut out = Emitter::for_cause(cause, now);
    finish(&mut c, reason, replaced_by, &mut out);
    Ok((c, out.into_messages()))
}

/// The sender's participant record if it is still ringing at `now`.
fn ringing_device<'a>(
    call: &'a Call,
    sender: &Sender,
    now: i64,
) -> Result<&'a Participant, Refusal> {
    let p = invited_device(call, sender)?;
    match p.state {
        ParticipantState::Invited { deadline, .. } if deadline > now => Ok(p),
        _ => refuse(
            ErrorCode::InvalidState,
            "the invitation was already answered, cancelled or missed",
        ),
    }
}

fn invited_device<'a>(call: &'a Call, sender: &Sender) -> Result<&'a Participant, Refusal> {
    match call.participant(&sender.user) {
        Some(p) if p.devices.contains(&sender.client) => Ok(p),
        _ => refuse(
            ErrorCode::Forbidden,
            "this device is not invited to the call",
        ),
    }
}

fn joined_device<'a>(call: &'a Call, sender: &Sender) -> Result<&'a Participant, Refusal> {
    let p = invited_device(call, sender)?;
    match p.joined_device() {
        Some(d) if d == &sender.client => Ok(p),
        _ => refuse(
            ErrorCode::InvalidState,
            "this device has not joined the call",
        ),
    }
}

fn require_host(call: &Call, sender: &Sender) -> Result<(), Refusal> {
    if call.host != sender.user {
        return refuse(ErrorCode::Forbidden, "only the host may do this");
    }
    invited_device(call, sender).map(drop)
}

/// Applies an upstream op to an existing call. `invitees` are the directory
/// and busy-check results for a mid-call invite (empty otherwise). Apply
/// [`expire`] first so passed deadlines count.
pub fn apply(
    call: &Call,
    sender: &Sender,
    msg: &Upstream,
    invitees: &[Invitee],
    config: &Config,
    minter: &dyn Minter,
    now: i64,
) -> Transition {
    if call.is_ended() {
        return refuse(ErrorCode::InvalidState, "the call has ended");
    }
    let mut c = call.clone();
    let mut out = Emitter::for_message(&sender.client, &msg.id, now);
    let id = c.id.clone();
    match &msg.op {
        Op::Ringing { .. } => {
            let p = ringing_device(&c, sender, now)?;
            let ParticipantState::Invited { deadline, ringing } = p.state else {
                return refuse(
                    ErrorCode::InvalidState,
                    "the invitation is no longer ringing",
                );
            };
            let inviter = p.invited_by.clone();
            if !ringing {
                if let Some(d) = c.participant(&inviter).and_then(|p| p.joined_device()) {
                    out.send_one(
                        d,
                        Some(&id),
                        Some(deadline),
                        Event::Ringing {
                            user: sender.user.clone(),
                        },
                    );
                }
                if let Some(p) = c.participant_mut(&sender.user) {
                    p.state = ParticipantState::Invited {
                        deadline,
                        ringing: true,
                    };
                }
            }
        }
        Op::Accept { .. } => {
            let p = ringing_device(&c, sender, now)?;
            let others: Vec<ClientId> = p
                .devices
                .iter()
                .filter(|d| *d != &sender.client)
                .cloned()
                .collect();
            if let Some(p) = c.participant_mut(&sender.user) {
                p.state = ParticipantState::Joined {
                    device: sender.client.clone(),
                    at: now,
                };
            }
            out.send(
                &c.joined_devices(),
                Some(&id),
                None,
                Event::Accepted {
                    user: sender.user.clone(),
                },
            );
            out.send(&others, Some(&id), None, Event::AnsweredElsewhere {});
        }
        Op::Reject { reason, .. } => {
            let p = ringing_device(&c, sender, now)?;
            let others: Vec<ClientId> = p
                .devices
                .iter()
                .filter(|d| *d != &sender.client)
                .cloned()
                .collect();
            if let Some(p) = c.participant_mut(&sender.user) {
                p.state = ParticipantState::Declined { reason: *reason };
            }
            out.send(
                &c.joined_devices(),
                Some(&id),
                None,
                Event::Rejected {
                    user: sender.user.clone(),
                    reason: *reason,
                },
            );
            out.send(&others, Some(&id), None, Event::DeclinedElsewhere {});
            settle(&mut c, EndReason::Rejected, None, &mut out);
        }
        Op::Cancel { to, .. } => {
            joined_device(&c, sender)?;
            if let Some(to) = to {
                for user in to {
                    match c.participant(user) {
                        Some(p) if p.invited_by == sender.user => {}
                        _ => {
                            return refuse(
                                ErrorCode::Forbidden,
                                "you can only cancel invitations you sent",
                            )
                        }
                    }
                }
            }
            let targets: Vec<usize> = (0..c.participants.len())
                .filter(|&i| {
                    let p = &c.participants[i];
                    p.is_invited()
                        && p.invited_by == sender.user
                        && to.as_ref().is_none_or(|to| to.contains(&p.user))
                })
                .collect();
            if targets.is_empty() {
                return refuse(
                    ErrorCode::InvalidState,
                    "no invitation of yours is still ringing",
                );
            }
            for i in targets {
                let p = &mut c.participants[i];
                p.state = ParticipantState::Cancelled;
                out.send(
                    &p.devices,
                    Some(&id),
                    None,
                    Event::Cancelled {
                        reason: CancelReason::Cancelled,
                    },
                );
            }
            settle(&mut c, EndReason::Cancelled, None, &mut out);
        }
        Op::Leave { .. } => {
            joined_device(&c, sender)?;
            if let Some(p) = c.participant_mut(&sender.user) {
                p.state = ParticipantState::Left;
            }
            out.send(
                &c.joined_devices(),
                Some(&id),
                None,
                Event::ParticipantLeft {
                    user: sender.user.clone(),
                    reason: LeftReason::Left,
                },
            );
            settle(&mut c, EndReason::AllLeft, None, &mut out);
        }
        Op::End { .. } => {
            require_host(&c, sender)?;
            finish(&mut c, EndReason::EndedByHost, None, &mut out);
        }
        Op::Mute { user, media, .. } | Op::Unmute { user, media, .. } => {
            require_host(&c, sender)?;
            let target = match c.participant(user) {
                Some(p) => p.joined_device().cloned(),
                None => None,
            };
            let Some(device) = target else {
                return refuse(ErrorCode::InvalidState, "that user has not joined the call");
            };
            let mute = matches!(msg.op, Op::Mute { .. });
            if let Some(p) = c.participant_mut(user) {
                p.muted.retain(|m| m != media);
                if mute {
                    p.muted.push(*media);
                }
            }
            let by = sender.user.clone();
            let event = if mute {
                Event::Muted { media: *media, by }
            } else {
                Event::Unmuted { media: *media, by }
            };
            out.send_one(&device, Some(&id), None, event);
        }
        Op::Remove { user, .. } => {
            require_host(&c, sender)?;
            if user == &sender.user {
                return refuse(
                    ErrorCode::InvalidMessage,
                    "the host cannot remove themself; use leave or end",
                );
            }
            let Some(p) = c.participant(user).filter(|p| p.is_active()) else {
                return refuse(ErrorCode::InvalidState, "that user is not in the call");
            };
            let targets = match p.joined_device() {
                Some(d) => vec![d.clone()],
                None => p.devices.clone(),
            };
            if let Some(p) = c.participant_mut(user) {
                p.state = ParticipantState::Removed;
            }
            out.send(
                &targets,
                Some(&id),
                None,
                Event::Removed {
                    by: sender.user.clone(),
                },
            );
            out.send(
                &c.joined_devices(),
                Some(&id),
                None,
                Event::ParticipantLeft {
                    user: user.clone(),
                    reason: LeftReason::Removed,
                },
            );
            settle(&mut c, EndReason::AllLeft, None, &mut out);
        }
        Op::Renew { .. } => {
            let p = invited_device(&c, sender)?;
            let expires_at = match &p.state {
                ParticipantState::Invited { deadline, .. } => Some(*deadline),
                ParticipantState::Joined { device, .. } if device == &sender.client => None,
                _ => {
                    return refuse(
                        ErrorCode::Forbidden,
                        "only a ringing or joined device gets join parameters",
                    )
                }
            };
            let rtc = minter.mint(&id, &sender.user, &sender.client)?;
            out.send_one(&sender.client, Some(&id), expires_at, Event::Token { rtc });
        }
        Op::Invite { to, .. } => {
            joined_device(&c, sender)?;
            check_invitees(to, &sender.user, config)?;
            let deadline = now + config.ring_timeout_ms;
            let mut added = Vec::new();
            for invitee in invitees {
                if c.participant(&invitee.user)
                    .is_some_and(Participant::is_active)
                    || invitee.devices.is_empty()
                {
                    continue;
                }
                let state = if invitee.busy {
                    out.send(
                        &c.joined_devices(),
                        Some(&id),
                        None,
                        Event::Rejected {
                            user: invitee.user.clone(),
                            reason: RejectReason::Busy,
                        },
                    );
                    ParticipantState::Declined {
                        reason: RejectReason::Busy,
                    }
                } else {
                    added.push(invitee.user.clone());
                    ParticipantState::Invited {
                        deadline,
                        ringing: false,
                    }
                };
                let record = Participant {
                    user: invitee.user.clone(),
                    devices: invitee.devices.clone(),
                    invited_by: sender.user.clone(),
                    state,
                    muted: Vec::new(),
                };
                match c.participant_mut(&invitee.user) {
                    Some(existing) => *existing = record,
                    None => c.participants.push(record),
                }
            }
            if added.is_empty() && out.messages().is_empty() {
                return refuse(
                    ErrorCode::InvalidState,
                    "everyone named is already in the call or has no registered device",
                );
            }
            ring(&c, &added, &sender.user, &mut out, minter, deadline)?;
        }
        Op::Sync => {
            return refuse(ErrorCode::InvalidMessage, "sync does not name a call");
        }
    }
    remember(&mut c, &sender.client, &msg.id, msg.ts, now, config);
    Ok((c, out.into_messages()))
}
