//! The ports: what the service needs from its host.

use switchboard_broker::HttpClient;

/// The key-value store failed (unreachable, denied, full).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key-value store failed: {0}")]
pub struct StoreError(pub String);

/// A key-value store with compare-and-swap on existing keys.
///
/// `compare_and_swap` must be atomic only when `expected` is the key's
/// current value; creating a key is always a plain `set`, because Spin's
/// SQLite store turns a compare-and-swap on an absent key into an
/// unconditional write.
pub trait KeyValue {
    /// The value of `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` unconditionally.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Deletes `key` (no error if absent).
    fn delete(&self, key: &str) -> Result<(), StoreError>;
    /// Replaces `key`'s value with `new` only if it is still `expected`;
    /// `Ok(false)` when someone else changed it first.
    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError>;
    /// Every key starting with `prefix`.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError>;
}

/// Everything the service uses from its host.
pub trait Platform {
    /// The key-value store.
    type Kv: KeyValue;
    /// The outbound HTTP client.
    type Http: HttpClient;
    /// The key-value store.
    fn kv(&self) -> &Self::Kv;
    /// The outbound HTTP client (the broker's API).
    fn http(&self) -> &Self::Http;
    /// Wall-clock time, milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    /// A random number from a cryptographic source.
    fn random_u64(&self) -> u64;
    /// A configuration variable, `None` when unset.
    fn variable(&self, name: &str) -> Option<String>;
}
