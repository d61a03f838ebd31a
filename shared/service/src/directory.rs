//! The directory: which devices a user has (`user/<id>`) and which user a
//! device belongs to (`dev/<clientId>`), managed by the app backend.

use crate::http::Response;
use crate::platform::{KeyValue, Platform};
use crate::signaling::current;
use crate::store::{self, keys, DeviceRecord, Presence, UserRecord};
use serde_json::json;
use switchboard_protocol::{ClientId, Config, ErrorCode, Refusal, Topic, UserId};

/// Most devices one user may have.
pub const MAX_DEVICES: usize = 16;

/// Refuses a device whose upstream or P2P topics would be too long.
fn check_topics(config: &Config, client: &ClientId) -> Result<(), Refusal> {
    let max = config.max_topic_length;
    Topic::upstream(&config.upstream_parent, client, max)?;
    Topic::p2p(&config.downstream_parent, client, max)?;
    Topic::p2p(&config.bulk_parent, client, max)?;
    Ok(())
}

/// `PUT /v1/users/{user}/devices/{clientId}`: 201 when added, 200 when it
/// was already registered to that user.
pub fn register<P: Platform>(
    platform: &P,
    config: &Config,
    user: &UserId,
    client: &ClientId,
) -> Result<Response, Refusal> {
    check_topics(config, client)?;
    let kv = platform.kv();
    let existing = store::device(kv, client)?;
    if let Some(existing) = &existing {
        if &existing.user != user {
            return Err(Refusal::new(
                ErrorCode::InvalidState,
                format!("{client} is registered to another user; delete it there first"),
            ));
        }
    }
    let now = platform.now_ms();
    // The device record first: a device listed by a user always resolves.
    store::save(
        kv,
        &keys::device(client),
        &DeviceRecord {
            user: user.clone(),
            registered_at: now,
        },
    )?;
    let mut added = false;
    let updated = store::update_user(kv, user, |record| {
        if record.devices.contains(client) {
            return Ok(false);
        }
        if record.devices.len() >= MAX_DEVICES {
            return Err(Refusal::new(
                ErrorCode::TooManyDevices,
                format!("a user may have at most {MAX_DEVICES} devices"),
            ));
        }
        record.devices.push(client.clone());
        added = true;
        Ok(true)
    });
    let updated = match updated {
        Ok(updated) => updated,
        Err(refusal) => {
            // A refused device must not resolve to the user: it could
            // signal as them without being rung as one of their devices.
            if existing.is_none() && refusal.code == ErrorCode::TooManyDevices {
                kv.delete(&keys::device(client))
                    .map_err(|e| store::storage_failure(&e))?;
            }
            return Err(refusal);
        }
    };
    if updated.is_none() {
        // First device of this user. Two concurrent first registrations may
        // both write; re-read and merge until ours is listed.
        let record = UserRecord {
            devices: vec![client.clone()],
            calls: Vec::new(),
        };
        store::save(kv, &keys::user(user), &record)?;
        added = true;
        let confirmed = store::update_user(kv, user, |record| {
            if record.devices.contains(client) {
                return Ok(false);
            }
            record.devices.push(client.clone());
            Ok(true)
        })?;
        if confirmed.is_none() {
            return Err(store::contention());
        }
    }
    let status = if added { 201 } else { 200 };
    Ok(Response::json(
        status,
        &json!({"user": user, "client_id": client, "registered": true}),
    ))
}

/// `DELETE /v1/users/{user}/devices/{clientId}`.
pub fn unregister<P: Platform>(
    platform: &P,
    user: &UserId,
    client: &ClientId,
) -> Result<Response, Refusal> {
    let kv = platform.kv();
    match store::device(kv, client)? {
        Some(d) if &d.user == user => {}
        _ => {
            return Err(Refusal::new(
                ErrorCode::UnknownDevice,
                format!("{client} is not registered to {user}"),
            ))
        }
    }
    store::update_user(kv, user, |record| {
        let before = record.devices.len();
        record.devices.retain(|d| d != client);
        Ok(record.devices.len() != before)
    })?;
    kv.delete(&keys::device(client))
        .map_err(|e| store::storage_failure(&e))?;
    kv.delete(&keys::presence(client))
        .map_err(|e| store::storage_failure(&e))?;
    Ok(Response::json(
        200,
        &json!({"user": user, "client_id": client, "registered": false}),
    ))
}

/// `GET /v1/users/{user}`: devices with presence, and the user's live calls.
pub fn show<P: Platform>(platform: &P, user: &UserId) -> Result<Response, Refusal> {
    let kv = platform.kv();
    let Some(record) = store::user(kv, user)? else {
        return Err(Refusal::new(
            ErrorCode::UnknownUser,
            format!("no user {user}"),
        ));
    };
    let now = platform.now_ms();
    let mut devices = Vec::new();
    for client in &record.value.devices {
        let presence = store::load::<Presence>(kv, &keys::presence(client))?.map(|p| p.value);
        devices.push(json!({
            "client_id": client,
            "connected": presence.as_ref().map(|p| p.connected),
            "presence_at": presence.as_ref().map(|p| p.at),
        }));
    }
    let mut calls = Vec::new();
    for r in &record.value.calls {
        if let Some(stored) = store::call(kv, &r.call)? {
            let call = current(stored.value, now);
            if let Some(p) = call.participant(user).filter(|_| call.holds(user)) {
                calls.push(json!({"call": call.id, "state": p.state.name(), "host": call.host}));
            }
        }
    }
    Ok(Response::json(
        200,
        &json!({"user": user, "devices": devices, "calls": calls}),
    ))
}
