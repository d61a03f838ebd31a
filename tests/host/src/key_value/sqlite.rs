//! Spin's SQLite key-value backend (`spin-key-value-spin`), statement for
//! statement: one table `spin_key_value(store, key, value)`, one connection
//! per configured store behind a mutex, every `set` an autocommitted upsert.

use std::path::Path;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use rusqlite::{named_params, params, Connection, OptionalExtension};

use super::{other, KvError, SwapError};

const UPSERT: &str = "INSERT INTO spin_key_value (store, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT(store, key) DO UPDATE SET value=$3";
const SELECT_VALUE: &str = "SELECT value FROM spin_key_value WHERE store=$1 AND key=$2";

/// One SQLite database (a file or memory) and its single connection.
pub struct SqliteManager {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteManager {
    /// Opens (creating if needed) the database file and its parent folder.
    pub fn open_file(path: &Path) -> Result<Self, KvError> {
        if let Some(parent) = path.parent().filter(|p| !p.exists()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                KvError::Other(format!(
                    "failed to create key value store's parent directory: '{}': {e}",
                    parent.display()
                ))
            })?;
        }
        Self::with_connection(Connection::open(path).map_err(other)?)
    }

    /// Opens a private in-memory database.
    pub fn open_in_memory() -> Result<Self, KvError> {
        Self::with_connection(Connection::open_in_memory().map_err(other)?)
    }

    fn with_connection(connection: Connection) -> Result<Self, KvError> {
        connection
            .execute(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                    store TEXT NOT NULL,
                    key   TEXT NOT NULL,
                    value BLOB NOT NULL,

                    PRIMARY KEY (store, key)
                )",
                [],
            )
            .map_err(other)?;
        // The array module provides `rarray` for the batch statements.
        rusqlite::vtab::array::load_module(&connection).map_err(other)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The store with this label (rows are tagged with it).
    pub fn store(&self, label: &str) -> SqliteStore {
        SqliteStore {
            label: label.to_owned(),
            connection: Arc::clone(&self.connection),
        }
    }
}

/// A store label in a SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    label: String,
    connection: Arc<Mutex<Connection>>,
}

/// Runs `work` on the locked connection in the blocking thread pool, so the
/// async runtime keeps serving while SQLite waits on the disk.
async fn on_connection<T, E>(
    connection: &Arc<Mutex<Connection>>,
    work: impl FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: Send + 'static + From<LockError>,
{
    let connection = Arc::clone(connection);
    tokio::task::spawn_blocking(move || {
        let mut guard = connection.lock().map_err(|_| LockError::Poisoned)?;
        work(&mut guard)
    })
    .await
    .map_err(|e| LockError::Task(e.to_string()))?
}

/// The connection could not be reached.
#[derive(Debug, thiserror::Error)]
enum LockError {
    #[error("the SQLite connection lock is poisoned")]
    Poisoned,
    #[error("the SQLite task failed: {0}")]
    Task(String),
}

impl From<LockError> for KvError {
    fn from(e: LockError) -> Self {
        KvError::Other(e.to_string())
    }
}

impl From<LockError> for SwapError {
    fn from(e: LockError) -> Self {
        SwapError::Other(e.to_string())
    }
}

fn select_value(
    connection: &Connection,
    label: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, rusqlite::Error> {
    connection
        .prepare_cached(SELECT_VALUE)?
        .query_row([label, key], |row| row.get::<_, Vec<u8>>(0))
        .optional()
}

impl SqliteStore {
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let (label, key) = (self.label.clone(), key.to_owned());
        on_connection(&self.connection, move |c| {
            select_value(c, &label, &key).map_err(other)
        })
        .await
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        let (label, key) = (self.label.clone(), key.to_owned());
        on_connection(&self.connection, move |c| {
            c.prepare_cached(UPSERT)
                .and_then(|mut s| s.execute(params![label, key, value]))
                .map(drop)
                .map_err(other)
        })
        .await
    }

    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        let (label, key) = (self.label.clone(), key.to_owned());
        on_connection(&self.connection, move |c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store=$1 AND key=$2")
                .and_then(|mut s| s.execute([label, key]))
                .map(drop)
                .map_err(other)
        })
        .await
    }

    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        let (label, key) = (self.label.clone(), key.to_owned());
        on_connection(&self.connection, move |c| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store=$1 AND key=$2 LIMIT 1")
                .and_then(|mut s| s.exists([label, key]))
                .map_err(other)
        })
        .await
    }

    pub async fn get_keys(&self) -> Result<Vec<String>, KvError> {
        let label = self.label.clone();
        on_connection(&self.connection, move |c| {
            let mut statement = c
                .prepare_cached("SELECT key FROM spin_key_value WHERE store=$1")
                .map_err(other)?;
            let rows = statement
                .query_map([label], |row| row.get::<_, String>(0))
                .map_err(other)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(other)
        })
        .await
    }

    /// As in Spin, only keys that exist are returned.
    pub async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        let label = self.label.clone();
        on_connection(&self.connection, move |c| {
            let keys = Rc::new(
                keys.into_iter()
                    .map(rusqlite::types::Value::from)
                    .collect::<Vec<_>>(),
            );
            let mut statement = c
                .prepare_cached(
                    "SELECT key, value FROM spin_key_value WHERE store=:name AND key IN rarray(:keys)",
                )
                .map_err(other)?;
            let rows = statement
                .query_map(named_params! {":name": label, ":keys": keys}, |row| {
                    Ok((row.get::<_, String>(0)?, row.get::<_, Option<Vec<u8>>>(1)?))
                })
                .map_err(other)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(other)
        })
        .await
    }

    pub async fn set_many(&self, key_values: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        let label = self.label.clone();
        on_connection(&self.connection, move |c| {
            let tx = c.transaction().map_err(other)?;
            for (key, value) in key_values {
                tx.prepare_cached(UPSERT)
                    .and_then(|mut s| s.execute(params![label, key, value]))
                    .map_err(other)?;
            }
            tx.commit().map_err(other)
        })
        .await
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), KvError> {
        let label = self.label.clone();
        on_connection(&self.connection, move |c| {
            let keys = Rc::new(
                keys.into_iter()
                    .map(rusqlite::types::Value::from)
                    .collect::<Vec<_>>(),
            );
            c.prepare_cached(
                "DELETE FROM spin_key_value WHERE store=:name AND key IN rarray(:keys)",
            )
            .and_then(|mut s| s.execute(named_params! {":name": label, ":keys": keys}))
            .map(drop)
            .map_err(other)
        })
        .await
    }

    /// A missing key counts as zero; counters are 8-byte little-endian
    /// integers, and the sum wraps like Spin's release build.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let (label, key) = (self.label.clone(), key.to_owned());
        on_connection(&self.connection, move |c| {
            let tx = c.transaction().map_err(other)?;
            let current = match select_value(&tx, &label, &key).map_err(other)? {
                None => 0,
                Some(bytes) => {
                    let len = bytes.len();
                    let bytes: [u8; 8] = bytes.try_into().map_err(|_| KvError::NotACounter {
                        key: key.clone(),
                        len,
                    })?;
                    i64::from_le_bytes(bytes)
                }
            };
            let new_value = current.wrapping_add(delta);
            tx.prepare_cached(UPSERT)
                .and_then(|mut s| s.execute(params![label, key, new_value.to_le_bytes()]))
                .map_err(other)?;
            tx.commit().map_err(other)?;
            Ok(new_value)
        })
        .await
    }

    pub fn new_cas(&self, key: &str) -> SqliteCas {
        SqliteCas {
            label: self.label.clone(),
            key: key.to_owned(),
            connection: Arc::clone(&self.connection),
            seen: None,
        }
    }
}

/// Spin's SQLite compare-and-swap: `current` remembers the value it read and
/// `swap` updates only a row still holding it. If nothing was remembered (no
/// value, or `current` never called), `swap` is an unconditional upsert.
pub struct SqliteCas {
    label: String,
    key: String,
    connection: Arc<Mutex<Connection>>,
    seen: Option<Vec<u8>>,
}

impl SqliteCas {
    pub async fn current(&mut self) -> Result<Option<Vec<u8>>, KvError> {
        let (label, key) = (self.label.clone(), self.key.clone());
        let value = on_connection(&self.connection, move |c| {
            select_value(c, &label, &key).map_err(other)
        })
        .await?;
        self.seen.clone_from(&value);
        Ok(value)
    }

    pub async fn swap(self, value: Vec<u8>) -> Result<(), SwapError> {
        let Self {
            label,
            key,
            connection,
            seen,
        } = self;
        let cas_error = |e: rusqlite::Error| SwapError::Other(format!("{e:?}"));
        let rows_changed = on_connection(&connection, move |c| match seen {
            Some(old_value) => c
                .prepare_cached(
                    "UPDATE spin_key_value SET value=:new_value WHERE store=:name and key=:key and value=:old_value",
                )
                .and_then(|mut s| {
                    s.execute(named_params! {
                        ":name": label,
                        ":key": key,
                        ":old_value": old_value,
                        ":new_value": value,
                    })
                })
                .map_err(cas_error),
            None => {
                let tx = c.transaction().map_err(cas_error)?;
                let rows = tx
                    .prepare_cached(UPSERT)
                    .and_then(|mut s| s.execute(params![label, key, value]))
                    .map_err(cas_error)?;
                tx.commit().map_err(cas_error)?;
                Ok(rows)
            }
        })
        .await?;
        if rows_changed == 1 {
            Ok(())
        } else {
            Err(SwapError::CasFailed("failed to update 1 row".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SqliteStore {
        SqliteManager::open_in_memory()
            .unwrap_or_else(|e| panic!("{e}"))
            .store("default")
    }

    async fn ok<T, E: std::fmt::Debug>(f: impl std::future::Future<Output = Result<T, E>>) -> T {
        f.await.unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[tokio::test]
    async fn basic_operations_and_labels() {
        let manager = SqliteManager::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (manager.store("a"), manager.store("b"));
        assert_eq!(ok(a.get("k")).await, None);
        ok(a.set("k", b"one".to_vec())).await;
        ok(a.set("k", b"two".to_vec())).await;
        assert_eq!(ok(a.get("k")).await, Some(b"two".to_vec()));
        assert!(ok(a.exists("k")).await);
        assert!(!ok(b.exists("k")).await, "labels are separate stores");
        assert_eq!(ok(a.get_keys()).await, ["k"]);
        assert!(ok(b.get_keys()).await.is_empty());
        ok(a.delete("k")).await;
        ok(a.delete("k")).await;
        assert!(!ok(a.exists("k")).await);
    }

    #[tokio::test]
    async fn batches_return_only_existing_keys() {
        let s = store();
        ok(s.set_many(vec![
            ("x".into(), b"1".to_vec()),
            ("y".into(), b"2".to_vec()),
        ]))
        .await;
        let mut got = ok(s.get_many(vec!["x".into(), "y".into(), "z".into()])).await;
        got.sort();
        assert_eq!(
            got,
            [
                ("x".into(), Some(b"1".to_vec())),
                ("y".into(), Some(b"2".to_vec()))
            ]
        );
        ok(s.delete_many(vec!["x".into(), "z".into()])).await;
        assert_eq!(ok(s.get_keys()).await, ["y"]);
    }

    #[tokio::test]
    async fn counters_are_8_byte_little_endian() {
        let s = store();
        assert_eq!(ok(s.increment("n", 1)).await, 1);
        assert_eq!(ok(s.increment("n", 2)).await, 3);
        assert_eq!(ok(s.increment("n", -10)).await, -7);
        assert_eq!(ok(s.get("n")).await, Some((-7i64).to_le_bytes().to_vec()));
        ok(s.set("text", b"12".to_vec())).await;
        assert_eq!(
            s.increment("text", 1).await,
            Err(KvError::NotACounter {
                key: "text".into(),
                len: 2
            })
        );
        assert_eq!(
            ok(s.get("text")).await,
            Some(b"12".to_vec()),
            "left unchanged"
        );
    }

    #[tokio::test]
    async fn cas_compares_the_value_read_by_current() {
        let s = store();
        ok(s.set("k", b"old".to_vec())).await;

        let mut cas = s.new_cas("k");
        assert_eq!(ok(cas.current()).await, Some(b"old".to_vec()));
        ok(cas.swap(b"new".to_vec())).await;
        assert_eq!(ok(s.get("k")).await, Some(b"new".to_vec()));

        let mut cas = s.new_cas("k");
        assert_eq!(ok(cas.current()).await, Some(b"new".to_vec()));
        ok(s.set("k", b"other".to_vec())).await;
        assert!(matches!(
            cas.swap(b"lost".to_vec()).await,
            Err(SwapError::CasFailed(_))
        ));
        assert_eq!(ok(s.get("k")).await, Some(b"other".to_vec()));

        let mut cas = s.new_cas("k");
        ok(cas.current()).await;
        ok(s.delete("k")).await;
        assert!(
            matches!(cas.swap(b"x".to_vec()).await, Err(SwapError::CasFailed(_))),
            "a deleted row is a conflict"
        );
    }

    /// Spin's quirk, kept on purpose: with no remembered value, `swap` is an
    /// unconditional upsert, even if another writer created the key meanwhile.
    #[tokio::test]
    async fn cas_without_a_remembered_value_is_an_unconditional_upsert() {
        let s = store();
        let mut cas = s.new_cas("k");
        assert_eq!(ok(cas.current()).await, None);
        ok(s.set("k", b"concurrent".to_vec())).await;
        ok(cas.swap(b"mine".to_vec())).await;
        assert_eq!(ok(s.get("k")).await, Some(b"mine".to_vec()));

        let never_read = s.new_cas("k");
        ok(never_read.swap(b"blind".to_vec())).await;
        assert_eq!(ok(s.get("k")).await, Some(b"blind".to_vec()));
    }

    #[tokio::test]
    async fn a_file_database_persists_across_managers() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("nested/kv.db");
        let first = SqliteManager::open_file(&path).unwrap_or_else(|e| panic!("{e}"));
        ok(first.store("default").set("k", b"v".to_vec())).await;
        drop(first);
        let second = SqliteManager::open_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            ok(second.store("default").get("k")).await,
            Some(b"v".to_vec())
        );
    }
}
