//! Key-value stores, reproducing Spin's SQLite (`type = "spin"`) and Redis
//! (`type = "redis"`) backends operation by operation, and the host side of
//! `fermyon:spin/key-value@2.0.0` and `wasi:keyvalue/*@0.2.0-draft2`.

mod host;
mod redis;
mod sqlite;

use std::collections::BTreeMap;

use thiserror::Error;

use crate::runtime_config::StoreConfig;

pub use host::{OpenBucket, OpenCas, OpenStore};

/// An error of a backend operation.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum KvError {
    /// An implementation-specific failure, reported to the guest as `other`.
    #[error("{0}")]
    Other(String),
    /// `increment` met a value that is not an 8-byte counter. Spin's SQLite
    /// backend panics here (the guest's request fails); the host traps.
    #[error("increment of key {key:?}: the stored value is {len} bytes, not an 8-byte counter")]
    NotACounter {
        /// The key.
        key: String,
        /// The length of the stored value.
        len: usize,
    },
}

/// Why a compare-and-swap did not happen.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SwapError {
    /// The backend reported a conflict (`cas-failed` for the guest).
    #[error("compare-and-swap failed: {0}")]
    CasFailed(String),
    /// Another failure (`store-error(other)` for the guest).
    #[error("{0}")]
    Other(String),
}

/// Formats a backend error the way Spin's `log_error` does.
fn other(error: impl std::fmt::Debug) -> KvError {
    KvError::Other(format!("{error:?}"))
}

/// The configured stores of the application, by label.
pub struct KeyValueStores {
    managers: BTreeMap<String, StoreManager>,
}

enum StoreManager {
    Sqlite(sqlite::SqliteManager),
    Redis(redis::RedisManager),
}

impl KeyValueStores {
    /// Sets up one backend per configured label.
    pub fn new(configs: &BTreeMap<String, StoreConfig>) -> Result<Self, KvError> {
        let managers = configs
            .iter()
            .map(|(label, config)| {
                let manager = match config {
                    StoreConfig::SqliteFile(path) => {
                        StoreManager::Sqlite(sqlite::SqliteManager::open_file(path)?)
                    }
                    StoreConfig::SqliteMemory => {
                        StoreManager::Sqlite(sqlite::SqliteManager::open_in_memory()?)
                    }
                    StoreConfig::Redis { url } => {
                        StoreManager::Redis(redis::RedisManager::new(url)?)
                    }
                };
                Ok((label.clone(), manager))
            })
            .collect::<Result<_, KvError>>()?;
        Ok(Self { managers })
    }

    /// Whether `label` is configured.
    pub fn is_defined(&self, label: &str) -> bool {
        self.managers.contains_key(label)
    }

    /// Opens the store `label`; `Ok(None)` if no such label is configured.
    pub async fn open(&self, label: &str) -> Result<Option<Store>, KvError> {
        match self.managers.get(label) {
            None => Ok(None),
            Some(StoreManager::Sqlite(manager)) => Ok(Some(Store::Sqlite(manager.store(label)))),
            Some(StoreManager::Redis(manager)) => Ok(Some(Store::Redis(manager.store().await?))),
        }
    }
}

/// An open store, bound to its label.
#[derive(Clone)]
pub enum Store {
    /// SQLite.
    Sqlite(sqlite::SqliteStore),
    /// Redis.
    Redis(redis::RedisStore),
}

impl Store {
    /// The value of `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            Self::Sqlite(s) => s.get(key).await,
            Self::Redis(s) => s.get(key).await,
        }
    }

    /// Stores `value` under `key`.
    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        match self {
            Self::Sqlite(s) => s.set(key, value).await,
            Self::Redis(s) => s.set(key, value).await,
        }
    }

    /// Removes `key` (no error if absent).
    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        match self {
            Self::Sqlite(s) => s.delete(key).await,
            Self::Redis(s) => s.delete(key).await,
        }
    }

    /// Whether `key` has a value.
    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        match self {
            Self::Sqlite(s) => s.exists(key).await,
            Self::Redis(s) => s.exists(key).await,
        }
    }

    /// All keys of the store.
    pub async fn get_keys(&self) -> Result<Vec<String>, KvError> {
        match self {
            Self::Sqlite(s) => s.get_keys().await,
            Self::Redis(s) => s.get_keys().await,
        }
    }

    /// The values of several keys.
    pub async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        match self {
            Self::Sqlite(s) => s.get_many(keys).await,
            Self::Redis(s) => s.get_many(keys).await,
        }
    }

    /// Stores several values.
    pub async fn set_many(&self, key_values: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        match self {
            Self::Sqlite(s) => s.set_many(key_values).await,
            Self::Redis(s) => s.set_many(key_values).await,
        }
    }

    /// Removes several keys.
    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), KvError> {
        match self {
            Self::Sqlite(s) => s.delete_many(keys).await,
            Self::Redis(s) => s.delete_many(keys).await,
        }
    }

    /// Adds `delta` to the counter `key` and returns the new value.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        match self {
            Self::Sqlite(s) => s.increment(key, delta).await,
            Self::Redis(s) => s.increment(key, delta).await,
        }
    }

    /// Starts a compare-and-swap on `key`.
    pub async fn new_cas(&self, key: &str) -> Result<Cas, KvError> {
        match self {
            Self::Sqlite(s) => Ok(Cas::Sqlite(s.new_cas(key))),
            Self::Redis(s) => Ok(Cas::Redis(s.new_cas(key).await?)),
        }
    }
}

/// A compare-and-swap in progress.
pub enum Cas {
    /// SQLite: remembers the value `current` read.
    Sqlite(sqlite::SqliteCas),
    /// Redis: a dedicated connection that `WATCH`es the key.
    Redis(redis::RedisCas),
}

impl Cas {
    /// Reads the current value (and, per backend, starts watching it).
    pub async fn current(&mut self) -> Result<Option<Vec<u8>>, KvError> {
        match self {
            Self::Sqlite(c) => c.current().await,
            Self::Redis(c) => c.current().await,
        }
    }

    /// Writes `value` if the backend sees no conflict.
    pub async fn swap(self, value: Vec<u8>) -> Result<(), SwapError> {
        match self {
            Self::Sqlite(c) => c.swap(value).await,
            Self::Redis(c) => c.swap(value).await,
        }
    }
}
