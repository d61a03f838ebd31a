//! The key layout (`docs/storage.md`) and typed access to records.
//!
//! Records are JSON. Updates are optimistic: read the record with its raw
//! bytes, compute the new value, compare-and-swap against those bytes, and
//! retry on conflict. New records are created with a plain `set` only where
//! the caller already owns the key (see [`crate::KeyValue`]).

use crate::platform::{KeyValue, StoreError};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchboard_protocol::{CallId, ClientId, ErrorCode, Refusal, UserId};

/// How many times an optimistic update is retried before giving up with
/// `storage_unavailable` (the caller's client retries later).
pub const MAX_CAS_ATTEMPTS: usize = 16;

/// Key names. Prefixes keep record kinds apart; IDs are validated, so they
/// never contain `/`.
pub mod keys {
    use switchboard_protocol::{CallId, ClientId, UserId};

    /// Prefix of call records.
    pub const CALL_PREFIX: &str = "call/";
    /// Prefix of glare tombstones.
    pub const VOID_PREFIX: &str = "void/";

    /// `dev/<clientId>` → [`super::DeviceRecord`].
    pub fn device(client: &ClientId) -> String {
        format!("dev/{client}")
    }
    /// `user/<userId>` → [`super::UserRecord`].
    pub fn user(user: &UserId) -> String {
        format!("user/{user}")
    }
    /// `call/<callId>` → `switchboard_calls::Call`.
    pub fn call(call: &CallId) -> String {
        format!("{CALL_PREFIX}{call}")
    }
    /// `void/<callId>` → [`super::Void`].
    pub fn void(call: &CallId) -> String {
        format!("{VOID_PREFIX}{call}")
    }
    /// `presence/<clientId>` → [`super::Presence`].
    pub fn presence(client: &ClientId) -> String {
        format!("presence/{client}")
    }
}

/// Which user a device belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The owner.
    pub user: UserId,
    /// When it was registered (ms).
    pub registered_at: i64,
}

/// A user's devices and the calls that may hold them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// Registered devices, at most 16.
    pub devices: Vec<ClientId>,
    /// Calls the user was put in; a hint checked against the call records.
    #[serde(default)]
    pub calls: Vec<CallRef>,
}

/// A user's reference to a call they host or were invited to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRef {
    /// The call.
    pub call: CallId,
    /// When the reference was added (ms); a reference to a call record that
    /// does not exist yet counts as an invite in progress until a lease passes.
    pub since: i64,
    /// The call's host.
    pub host: UserId,
    /// Who the host invited (for glare detection before the call record exists).
    #[serde(default)]
    pub invitees: Vec<UserId>,
    /// A random tag of the claim that added it, so the claiming instance
    /// recognises its own claim when a swap's outcome was misreported.
    #[serde(default)]
    pub by: u64,
}

/// Whether a device is connected, from the broker's presence events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    /// Connected or not.
    pub connected: bool,
    /// The event's time (ms); older events are ignored.
    pub at: i64,
}

/// Marks a call that lost a glare before its record was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Void {
    /// The call that won.
    pub winner: CallId,
    /// When (ms).
    pub at: i64,
}

/// A record with the exact bytes it was read as, for compare-and-swap.
#[derive(Debug, Clone)]
pub struct Stored<T> {
    /// The decoded record.
    pub value: T,
    /// The stored bytes.
    pub raw: Vec<u8>,
}

/// `storage_unavailable`, logging the backend's detail (never sent).
pub fn storage_failure(e: &StoreError) -> Refusal {
    eprintln!("switchboard: key-value store failed: {}", e.0);
    Refusal::new(
        ErrorCode::StorageUnavailable,
        "the key-value store is unavailable; retry later",
    )
}

/// Reads and decodes `key`.
pub fn load<T: DeserializeOwned>(
    kv: &impl KeyValue,
    key: &str,
) -> Result<Option<Stored<T>>, Refusal> {
    let Some(raw) = kv.get(key).map_err(|e| storage_failure(&e))? else {
        return Ok(None);
    };
    match serde_json::from_slice(&raw) {
        Ok(value) => Ok(Some(Stored { value, raw })),
        Err(e) => {
            eprintln!("switchboard: record {key} does not decode: {e}");
            Err(Refusal::new(
                ErrorCode::StorageUnavailable,
                "a stored record is unreadable",
            ))
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Records are plain data with string keys: serializing cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Writes `key` unconditionally.
pub fn save<T: Serialize>(kv: &impl KeyValue, key: &str, value: &T) -> Result<(), Refusal> {
    kv.set(key, &encode(value)).map_err(|e| storage_failure(&e))
}

/// The field every swapped record carries with a fresh random value, so
/// that reading a record back identifies the write that stored it.
/// Record types ignore it when decoding.
pub const WRITE_TAG: &str = "_w";

/// A random value unique to this write: std's per-thread random hash keys
/// (seeded from the platform's randomness, WASI's in a component) change
/// with every `RandomState`.
pub fn write_nonce() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

/// `value` encoded with a fresh [`WRITE_TAG`].
fn encode_tagged<T: Serialize>(value: &T) -> Vec<u8> {
    let mut v = serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut v {
        map.insert(WRITE_TAG.to_owned(), write_nonce().into());
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// Replaces `key` with `value` if it still holds `previous`.
///
/// A swap reported as failed is checked by reading the key back: Spin's
/// Redis backend reports every swap as failed, whether or not its `EXEC`
/// wrote the value (it ends with `UNWATCH <key>`, which Redis rejects). The
/// written bytes carry a random [`WRITE_TAG`], so finding them proves this
/// very write stored them — two instances computing the same record in the
/// same millisecond cannot both take the other's write for their own.
pub fn swap<T: Serialize>(
    kv: &impl KeyValue,
    key: &str,
    previous: &Stored<T>,
    value: &T,
) -> Result<bool, Refusal> {
    let new = encode_tagged(value);
    if kv
        .compare_and_swap(key, &previous.raw, &new)
        .map_err(|e| storage_failure(&e))?
    {
        return Ok(true);
    }
    let now = kv.get(key).map_err(|e| storage_failure(&e))?;
    Ok(now.as_deref() == Some(new.as_slice()))
}

/// The device's record.
pub fn device(kv: &impl KeyValue, client: &ClientId) -> Result<Option<DeviceRecord>, Refusal> {
    Ok(load(kv, &keys::device(client))?.map(|s: Stored<DeviceRecord>| s.value))
}

/// The user's record.
pub fn user(kv: &impl KeyValue, user: &UserId) -> Result<Option<Stored<UserRecord>>, Refusal> {
    load(kv, &keys::user(user))
}

/// The call's record.
pub fn call(
    kv: &impl KeyValue,
    call: &CallId,
) -> Result<Option<Stored<switchboard_calls::Call>>, Refusal> {
    load(kv, &keys::call(call))
}

/// Applies `change` to the user's record with compare-and-swap, retrying on
/// conflict. `change` returns `Ok(false)` to leave the record as it is.
/// Returns the record as finally stored (or left).
pub fn update_user(
    kv: &impl KeyValue,
    id: &UserId,
    mut change: impl FnMut(&mut UserRecord) -> Result<bool, Refusal>,
) -> Result<Option<UserRecord>, Refusal> {
    let key = keys::user(id);
    for _ in 0..MAX_CAS_ATTEMPTS {
        let Some(stored) = load::<UserRecord>(kv, &key)? else {
            return Ok(None);
        };
        let mut record = stored.value.clone();
        if !change(&mut record)? {
            return Ok(Some(stored.value));
        }
        if swap(kv, &key, &stored, &record)? {
            return Ok(Some(record));
        }
    }
    Err(contention())
}

/// Too many concurrent updates of one record.
pub fn contention() -> Refusal {
    Refusal::new(
        ErrorCode::StorageUnavailable,
        "too many concurrent updates of one record; retry later",
    )
}
