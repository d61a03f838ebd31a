//! Upstream operations carried out against storage: the invite that
//! creates a call (with the busy and glare checks), transitions of an
//! existing call under compare-and-swap, and `sync`.

use crate::minter::RtcMinter;
use crate::outbox;
use crate::platform::{KeyValue, Platform};
use crate::store::{self, keys, CallRef, UserRecord, Void, MAX_CAS_ATTEMPTS};
use switchboard_calls::{
    apply, call_id_for_invite, call_view, check_invitees, create, end_call, expire,
    invitation_view, Call, Emitter, Invitee, NewCall, Sender,
};
use switchboard_protocol::downstream::EndReason;
use switchboard_protocol::{
    CallId, Config, ErrorCode, Event, Op, OutboundMessage, Refusal, Upstream, UserId,
};

/// How long a claimed but not yet written call counts as an invite in
/// progress; after it, a redelivery takes the invite over.
pub const INVITE_LEASE_MS: i64 = 10_000;

/// What became of an upstream message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It took effect now.
    Processed,
    /// It had already taken effect; anything it left unpublished was re-sent.
    Duplicate,
}

/// What the operations need: the platform, the configuration, a minter, now.
pub struct Ctx<'a, P> {
    /// The host.
    pub platform: &'a P,
    /// The configuration.
    pub config: &'a Config,
    /// RTC join parameters.
    pub minter: &'a RtcMinter<'a, P>,
    /// The time of this request (ms).
    pub now: i64,
}

impl<P: Platform> Ctx<'_, P> {
    fn kv(&self) -> &P::Kv {
        self.platform.kv()
    }
}

/// Carries out one authenticated, fresh upstream message.
pub async fn handle<P: Platform>(
    ctx: &Ctx<'_, P>,
    sender: &Sender,
    msg: &Upstream,
) -> Result<Outcome, Refusal> {
    match &msg.op {
        Op::Invite { call: None, .. } => invite(ctx, sender, msg).await,
        Op::Sync => sync(ctx, sender, msg).await,
        _ => transition(ctx, sender, msg).await,
    }
}

/// A call as it stands at `now`: stored state with passed deadlines applied
/// in memory (the next write or the expiry task persists them).
pub(crate) fn current(call: Call, now: i64) -> Call {
    match expire(&call, now) {
        Some((c, _)) => c,
        None => call,
    }
}

/// The call with passed deadlines applied, and the messages that causes
/// (none when no deadline has passed): the start of every stored transition.
pub(crate) fn expired(call: &Call, now: i64) -> (Call, Vec<OutboundMessage>) {
    expire(call, now).unwrap_or_else(|| (call.clone(), Vec::new()))
}

/// Whether `reference` still holds `user` at `now`.
fn holds(
    kv: &impl KeyValue,
    reference: &CallRef,
    user: &UserId,
    now: i64,
) -> Result<bool, Refusal> {
    Ok(match store::call(kv, &reference.call)? {
        Some(stored) => current(stored.value, now).holds(user),
        None => reference.since + INVITE_LEASE_MS > now,
    })
}

/// Drops references to calls that no longer hold the user.
fn prune(
    kv: &impl KeyValue,
    record: &mut UserRecord,
    user: &UserId,
    now: i64,
) -> Result<(), Refusal> {
    let mut kept = Vec::with_capacity(record.calls.len());
    for r in record.calls.drain(..) {
        if holds(kv, &r, user, now)? {
            kept.push(r);
        }
    }
    record.calls = kept;
    Ok(())
}

/// Why an invitee can or cannot be rung.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Free,
    Busy {
        replaced_by: Option<CallId>,
    },
    /// Glare that our call wins: ring, and cancel the other call.
    WinsGlare {
        other: CallId,
    },
}

/// Whether `user` is busy for a call `ours` hosted by `host`. Glare — the
/// user is hosting a call that is ringing `host` — is resolved by the
/// Matrix rule: the call with the lower ID wins.
fn verdict(
    kv: &impl KeyValue,
    record: &UserRecord,
    user: &UserId,
    ours: &CallId,
    host: &UserId,
    now: i64,
) -> Result<Verdict, Refusal> {
    let mut glare = None;
    for r in record.calls.iter().filter(|r| &r.call != ours) {
        let (busy, is_glare) = match store::call(kv, &r.call)? {
            Some(stored) => {
                let c = current(stored.value, now);
                let rings_host = c.participant(host).is_some_and(|p| p.is_invited());
                (c.holds(user), &c.host == user && rings_host)
            }
            None if r.since + INVITE_LEASE_MS > now => {
                (true, &r.host == user && r.invitees.contains(host))
            }
            None => (false, false),
        };
        if !busy {
            continue;
        }
        if !is_glare {
            return Ok(Verdict::Busy { replaced_by: None });
        }
        glare = Some(r.call.clone());
    }
    Ok(match glare {
        Some(other) if ours < &other => Verdict::WinsGlare { other },
        Some(other) => Verdict::Busy {
            replaced_by: Some(other),
        },
        None => Verdict::Free,
    })
}

fn reference(call: &CallId, host: &UserId, invitees: &[UserId], now: i64) -> CallRef {
    CallRef {
        call: call.clone(),
        since: now,
        host: host.clone(),
        invitees: invitees.to_vec(),
        by: 0,
    }
}

/// Looks an invitee up and, unless busy, adds the call to their record so
/// concurrent invites see them busy.
fn claim_invitee(
    kv: &impl KeyValue,
    user: &UserId,
    ours: &CallId,
    host: &UserId,
    now: i64,
) -> Result<(Invitee, Option<CallId>), Refusal> {
    let mut outcome = (Vec::new(), Verdict::Free);
    let found = store::update_user(kv, user, |record| {
        prune(kv, record, user, now)?;
        let v = verdict(kv, record, user, ours, host, now)?;
        outcome = (record.devices.clone(), v.clone());
        if matches!(v, Verdict::Busy { .. }) || record.devices.is_empty() {
            return Ok(false);
        }
        if !record.calls.iter().any(|r| &r.call == ours) {
            record.calls.push(reference(ours, host, &[], now));
        }
        Ok(true)
    })?;
    let (devices, v) = if found.is_some() {
        outcome
    } else {
        (Vec::new(), Verdict::Free)
    };
    let (busy, replaced_by, cancel) = match v {
        Verdict::Free => (false, None, None),
        Verdict::Busy { replaced_by } => (true, replaced_by, None),
        Verdict::WinsGlare { other } => (false, None, Some(other)),
    };
    Ok((
        Invitee {
            user: user.clone(),
            devices,
            busy,
            replaced_by,
        },
        cancel,
    ))
}

/// Removes the references to `call` that an invite added before it was
/// refused, so those users are not held busy for the lease.
fn release_claims(kv: &impl KeyValue, users: &[UserId], call: &CallId) {
    for user in users {
        let result = store::update_user(kv, user, |record| {
            let before = record.calls.len();
            record.calls.retain(|r| &r.call != call);
            Ok(record.calls.len() != before)
        });
        if let Err(e) = result {
            eprintln!(
                "switchboard: could not release {user} from {call}: {}",
                e.message
            );
        }
    }
}

async fn invite<P: Platform>(
    ctx: &Ctx<'_, P>,
    sender: &Sender,
    msg: &Upstream,
) -> Result<Outcome, Refusal> {
    let Op::Invite {
        to, media, meta, ..
    } = &msg.op
    else {
        return Err(Refusal::new(ErrorCode::InvalidMessage, "not an invite"));
    };
    check_invitees(to, &sender.user, ctx.config)?;
    let media = media
        .ok_or_else(|| Refusal::new(ErrorCode::InvalidMessage, "a new call needs \"media\""))?;
    let kv = ctx.kv();
    let id = call_id_for_invite(&sender.client, &msg.id);
    if let Some(stored) = store::call(kv, &id)? {
        let due = outbox::due_for_redelivery(&stored.value, msg.id.as_str(), ctx.now)?;
        outbox::flush(ctx.platform, ctx.config, &id, &due).await?;
        end_if_voided(ctx, &id).await?;
        return Ok(Outcome::Duplicate);
    }
    // Refuse an invite nobody can receive before writing anything.
    let mut reachable = false;
    for user in to {
        reachable |= store::user(kv, user)?.is_some_and(|s| !s.value.devices.is_empty());
    }
    if !reachable {
        return Err(Refusal::new(
            ErrorCode::UnknownUser,
            "none of the invited users has a registered device",
        ));
    }
    // Claim the call in the sender's record: this serialises concurrent
    // deliveries of the same invite, and marks the host busy.
    let mut in_progress = false;
    let claim = store::write_nonce();
    let claimed = store::update_user(kv, &sender.user, |record| {
        if let Some(r) = record.calls.iter().find(|r| r.call == id) {
            // Our own claim, if a swap was misreported as failed.
            in_progress = r.by != claim && r.since + INVITE_LEASE_MS > ctx.now;
            return Ok(false);
        }
        prune(kv, record, &sender.user, ctx.now)?;
        let mut r = reference(&id, &sender.user, to, ctx.now);
        r.by = claim;
        record.calls.push(r);
        Ok(true)
    })?;
    if claimed.is_none() {
        return Err(Refusal::new(
            ErrorCode::UnknownDevice,
            "the sender's user has no record",
        ));
    }
    if in_progress {
        return Err(Refusal::new(
            ErrorCode::InProgress,
            "this invite is being processed by another instance; retry later",
        ));
    }
    let mut invitees = Vec::with_capacity(to.len());
    let mut losers = Vec::new();
    for user in to {
        let (invitee, cancel) = claim_invitee(kv, user, &id, &sender.user, ctx.now)?;
        invitees.push(invitee);
        losers.extend(cancel);
    }
    let created = create(
        NewCall {
            id: id.clone(),
            sender: sender.clone(),
            message: msg.id.clone(),
            message_ts: msg.ts,
            media,
            meta: meta.clone(),
            invitees,
        },
        ctx.config,
        ctx.minter,
        ctx.now,
    );
    let (mut call, mut messages) = match created {
        Ok(ok) => ok,
        Err(refusal) => {
            let mut held = to.clone();
            held.push(sender.user.clone());
            release_claims(kv, &held, &id);
            return Err(refusal);
        }
    };
    // A glare winner may have voided this call before its record existed
    // (unless it already ended: every invitee was busy).
    let void = match store::load::<Void>(kv, &keys::void(&id))? {
        Some(void) if !call.is_ended() => Some(void),
        _ => None,
    };
    if let Some(void) = void {
        let (ended, more) = end_call(
            &call,
            EndReason::Cancelled,
            Some(void.value.winner),
            &format!("glare/{id}"),
            ctx.now,
        )?;
        call = ended;
        messages.extend(more);
    }
    call.version = 1;
    call.outbox = messages.clone();
    store::save(kv, &keys::call(&id), &call)?;
    let mut result = outbox::flush(ctx.platform, ctx.config, &id, &messages).await;
    if result.is_err() {
        outbox::release(ctx.platform, &id, msg.id.as_str());
    }
    // Looked for again after the write: the winner writes its tombstone
    // before looking for this record, so one of the two sees the other.
    result = result.and(end_if_voided(ctx, &id).await);
    for other in losers {
        let cancelled = cancel_glare_loser(ctx, &other, &id).await;
        result = result.and(cancelled);
    }
    result.map(|()| Outcome::Processed)
}

/// Ends call `id` if a glare winner left a tombstone for it.
async fn end_if_voided<P: Platform>(ctx: &Ctx<'_, P>, id: &CallId) -> Result<(), Refusal> {
    match store::load::<Void>(ctx.kv(), &keys::void(id))? {
        Some(void) => cancel_glare_loser(ctx, id, &void.value.winner).await,
        None => Ok(()),
    }
}

/// Ends `other`, which lost a glare to `winner`. If its record does not
/// exist yet, leaves a tombstone its own invite will find.
async fn cancel_glare_loser<P: Platform>(
    ctx: &Ctx<'_, P>,
    other: &CallId,
    winner: &CallId,
) -> Result<(), Refusal> {
    let kv = ctx.kv();
    let key = keys::call(other);
    let mut voided = false;
    for _ in 0..MAX_CAS_ATTEMPTS {
        let Some(stored) = store::call(kv, other)? else {
            if voided {
                return Ok(());
            }
            store::save(
                kv,
                &keys::void(other),
                &Void {
                    winner: winner.clone(),
                    at: ctx.now,
                },
            )?;
            voided = true;
            continue;
        };
        let Ok((mut ended, messages)) = end_call(
            &stored.value,
            EndReason::Cancelled,
            Some(winner.clone()),
            &format!("glare/{other}"),
            ctx.now,
        ) else {
            return Ok(());
        };
        ended.version += 1;
        ended.outbox.extend(messages.iter().cloned());
        if store::swap(kv, &key, &stored, &ended)? {
            return outbox::flush(ctx.platform, ctx.config, other, &messages).await;
        }
    }
    Err(store::contention())
}

/// Looks up the invitees of a mid-call invite (no claim yet).
fn lookup_invitees(
    kv: &impl KeyValue,
    to: &[UserId],
    call: &CallId,
    host: &UserId,
    now: i64,
) -> Result<Vec<Invitee>, Refusal> {
    let mut invitees = Vec::with_capacity(to.len());
    for user in to {
        let (devices, busy) = match store::user(kv, user)? {
            Some(stored) => {
                let v = verdict(kv, &stored.value, user, call, host, now)?;
                (stored.value.devices, !matches!(v, Verdict::Free))
            }
            None => (Vec::new(), false),
        };
        invitees.push(Invitee {
            user: user.clone(),
            devices,
            busy,
            replaced_by: None,
        });
    }
    Ok(invitees)
}

/// Adds `call` to the records of the users among `to` it now holds, so
/// other callers find them busy and their `sync` lists it.
fn hold(kv: &impl KeyValue, call: &Call, to: &[UserId], now: i64) -> Result<(), Refusal> {
    for user in to.iter().filter(|u| call.holds(u)) {
        store::update_user(kv, user, |record| {
            if record.calls.iter().any(|r| r.call == call.id) {
                return Ok(false);
            }
            record.calls.push(reference(&call.id, &call.host, &[], now));
            Ok(true)
        })?;
    }
    Ok(())
}

async fn transition<P: Platform>(
    ctx: &Ctx<'_, P>,
    sender: &Sender,
    msg: &Upstream,
) -> Result<Outcome, Refusal> {
    let Some(id) = msg.op.call().cloned() else {
        return Err(Refusal::new(
            ErrorCode::InvalidMessage,
            "this op needs \"call\"",
        ));
    };
    let kv = ctx.kv();
    let key = keys::call(&id);
    let invitees = match &msg.op {
        Op::Invite { to, .. } => {
            check_invitees(to, &sender.user, ctx.config)?;
            lookup_invitees(kv, to, &id, &sender.user, ctx.now)?
        }
        _ => Vec::new(),
    };
    // What this instance stored, if a swap's success was misreported.
    let mut ours: Option<(u64, Committed)> = None;
    for _ in 0..MAX_CAS_ATTEMPTS {
        let Some(stored) = store::call(kv, &id)? else {
            return Err(Refusal::new(
                ErrorCode::UnknownCall,
                format!("no call {id}"),
            ));
        };
        let applied = stored
            .value
            .applied
            .iter()
            .find(|a| a.client == sender.client && a.id == msg.id);
        if let Some(applied) = applied {
            if let Some((_, committed)) = ours.take().filter(|(tag, _)| *tag == applied.by) {
                return committed.carry_out(ctx, &id, msg).await;
            }
            if let Op::Invite { to, .. } = &msg.op {
                // The first delivery may have failed before recording them.
                hold(kv, &current(stored.value.clone(), ctx.now), to, ctx.now)?;
            }
            let due = outbox::due_for_redelivery(&stored.value, msg.id.as_str(), ctx.now)?;
            outbox::flush(ctx.platform, ctx.config, &id, &due).await?;
            return Ok(Outcome::Duplicate);
        }
        let (mut call, mut messages) = expired(&stored.value, ctx.now);
        let refusal = match apply(
            &call, sender, msg, &invitees, ctx.config, ctx.minter, ctx.now,
        ) {
            Ok((next, more)) => {
                call = next;
                messages.extend(more);
                None
            }
            Err(refusal) if messages.is_empty() => return Err(refusal),
            Err(refusal) => Some(refusal),
        };
        let tag = store::write_nonce();
        if let Some(a) = call
            .applied
            .iter_mut()
            .find(|a| a.client == sender.client && a.id == msg.id)
        {
            a.by = tag;
        }
        let stale = outbox::due(&call, None, ctx.now);
        call.version += 1;
        call.outbox.extend(messages.iter().cloned());
        messages.extend(stale);
        let committed = Committed {
            call,
            messages,
            refusal,
        };
        if store::swap(kv, &key, &stored, &committed.call)? {
            return committed.carry_out(ctx, &id, msg).await;
        }
        ours = Some((tag, committed));
    }
    Err(store::contention())
}

/// A transition this instance stored, and the effects still to carry out.
struct Committed {
    call: Call,
    messages: Vec<OutboundMessage>,
    refusal: Option<Refusal>,
}

impl Committed {
    /// Records mid-call invitees as held, publishes, and answers.
    async fn carry_out<P: Platform>(
        self,
        ctx: &Ctx<'_, P>,
        id: &CallId,
        msg: &Upstream,
    ) -> Result<Outcome, Refusal> {
        let held = match (&self.refusal, &msg.op) {
            (None, Op::Invite { to, .. }) => hold(ctx.kv(), &self.call, to, ctx.now),
            _ => Ok(()),
        };
        let sent = match held {
            Ok(()) => outbox::flush(ctx.platform, ctx.config, id, &self.messages).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            outbox::release(ctx.platform, id, msg.id.as_str());
            return Err(e);
        }
        self.refusal.map_or(Ok(Outcome::Processed), Err)
    }
}

async fn sync<P: Platform>(
    ctx: &Ctx<'_, P>,
    sender: &Sender,
    msg: &Upstream,
) -> Result<Outcome, Refusal> {
    let kv = ctx.kv();
    let record = store::user(kv, &sender.user)?
        .map(|s| s.value)
        .unwrap_or_default();
    let mut invitations = Vec::new();
    let mut active = None;
    for r in &record.calls {
        let Some(stored) = store::call(kv, &r.call)? else {
            continue;
        };
        let call = current(stored.value, ctx.now);
        if let Some(view) = invitation_view(&call, &sender.user, &sender.client, ctx.minter)? {
            invitations.push(view);
        } else if !call.is_ended()
            && call
                .participant(&sender.user)
                .is_some_and(|p| p.joined_device().is_some())
        {
            active = Some(call_view(&call));
        }
    }
    let mut out = Emitter::for_message(&sender.client, &msg.id, ctx.now);
    out.send_one(
        &sender.client,
        None,
        None,
        Event::Sync {
            invitations,
            active,
        },
    );
    let (_, failure) = outbox::publish(ctx.platform, ctx.config, out.messages()).await;
    failure.map_or(Ok(Outcome::Processed), Err)
}
