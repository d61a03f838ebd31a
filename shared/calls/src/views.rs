//! Read-only JSON views of a call: what `GET /v1/calls/{call}`, the `sync`
//! event and the admin API show.

use crate::machine::Minter;
use crate::model::{Call, ParticipantState};
use serde_json::{json, Value};
use switchboard_protocol::{ClientId, Refusal, UserId};

/// The call's overall state: `ringing` until an invitee joins, then
/// `active`, and `ended`.
fn call_state(call: &Call) -> &'static str {
    if call.is_ended() {
        "ended"
    } else if call
        .participants
        .iter()
        .any(|p| p.user != call.host && p.joined_device().is_some())
    {
        "active"
    } else {
        "ringing"
    }
}

/// The whole call as the admin API and `sync` show it (no tokens).
pub fn call_view(call: &Call) -> Value {
    let participants: Vec<Value> = call
        .participants
        .iter()
        .map(|p| {
            let mut v = json!({
                "user": p.user,
                "state": p.state.name(),
                "invited_by": p.invited_by,
                "devices": p.devices,
            });
            match &p.state {
                ParticipantState::Invited { deadline, ringing } => {
                    v["deadline"] = json!(deadline);
                    v["ringing"] = json!(ringing);
                }
                ParticipantState::Joined { device, at } => {
                    v["device"] = json!(device);
                    v["joined_at"] = json!(at);
                }
                ParticipantState::Declined { reason } => v["reason"] = json!(reason),
                _ => {}
            }
            if !p.muted.is_empty() {
                v["muted"] = json!(p.muted);
            }
            v
        })
        .collect();
    json!({
        "call": call.id,
        "state": call_state(call),
        "host": call.host,
        "media": call.media,
        "created_at": call.created_at,
        "ended": call.ended,
        "participants": participants,
        "version": call.version,
    })
}

/// A pending invitation of `user` as the `sync` event lists it, with fresh
/// join parameters for `device`; `None` if the user is not ringing.
pub fn invitation_view(
    call: &Call,
    user: &UserId,
    device: &ClientId,
    minter: &dyn Minter,
) -> Result<Option<Value>, Refusal> {
    let Some(p) = call.participant(user).filter(|_| !call.is_ended()) else {
        return Ok(None);
    };
    let ParticipantState::Invited { deadline, .. } = p.state else {
        return Ok(None);
    };
    if !p.devices.contains(device) {
        return Ok(None);
    }
    Ok(Some(json!({
        "call": call.id,
        "from": p.invited_by,
        "media": call.media,
        "participants": call.active_users(),
        "expires_at": deadline,
        "rtc": minter.mint(&call.id, user, device)?,
        "meta": call.meta,
    })))
}
