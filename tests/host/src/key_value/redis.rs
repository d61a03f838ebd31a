//! Spin's Redis key-value backend (`spin-key-value-redis`), command for
//! command, with the same `redis` crate.
//!
//! Every label configured with the same URL shares one keyspace (`KEYS *`
//! lists all of it). Two behaviours of Spin are reproduced on purpose because
//! applications running on Spin get them:
//!
//! * `swap` ends with `UNWATCH <key>`, which Redis rejects (`UNWATCH` takes no
//!   argument); Spin maps that error to `cas-failed`, so on Redis a swap is
//!   always reported as failed, whether or not its `EXEC` wrote the value.
//! * `get-many` sends `KEYS <k1> <k2> ...` and so does not return values.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Client, RedisError};
use tokio::sync::OnceCell;
use url::Url;

use super::{other, KvError, SwapError};

/// One Redis server; the shared connection is made on first use.
pub struct RedisManager {
    url: Url,
    connection: OnceCell<ConnectionManager>,
}

impl RedisManager {
    /// Validates the URL like Spin (`Invalid Redis URL` stops the host).
    pub fn new(address: &str) -> Result<Self, KvError> {
        let url = redis::parse_redis_url(address)
            .ok_or_else(|| KvError::Other(format!("Invalid Redis URL: {address:?}")))?;
        Ok(Self {
            url,
            connection: OnceCell::new(),
        })
    }

    pub async fn store(&self) -> Result<RedisStore, KvError> {
        let connection = self
            .connection
            .get_or_try_init(|| connect(&self.url))
            .await?
            .clone();
        Ok(RedisStore {
            url: self.url.clone(),
            connection,
        })
    }
}

async fn connect(url: &Url) -> Result<ConnectionManager, KvError> {
    Client::open(url.clone())
        .map_err(other)?
        .get_connection_manager()
        .await
        .map_err(other)
}

/// A store on the shared connection.
#[derive(Clone)]
pub struct RedisStore {
    url: Url,
    connection: ConnectionManager,
}

impl RedisStore {
    fn conn(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.conn().get(key).await.map_err(other)
    }

    pub async fn set(&self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        self.conn().set(key, value).await.map_err(other)
    }

    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        self.conn().del(key).await.map_err(other)
    }

    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        self.conn().exists(key).await.map_err(other)
    }

    pub async fn get_keys(&self) -> Result<Vec<String>, KvError> {
        self.conn().keys("*").await.map_err(other)
    }

    /// Spin sends `KEYS` with the keys as arguments; reproduced as is.
    pub async fn get_many(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, KvError> {
        self.conn().keys(keys).await.map_err(other)
    }

    pub async fn set_many(&self, key_values: Vec<(String, Vec<u8>)>) -> Result<(), KvError> {
        self.conn().mset(&key_values).await.map_err(other)
    }

    pub async fn delete_many(&self, keys: Vec<String>) -> Result<(), KvError> {
        self.conn().del(keys).await.map_err(other)
    }

    /// `INCRBY`: Redis keeps counters as decimal strings.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        self.conn().incr(key, delta).await.map_err(other)
    }

    /// Each compare-and-swap gets its own connection, since `WATCH` is
    /// scoped to a connection.
    pub async fn new_cas(&self, key: &str) -> Result<RedisCas, KvError> {
        Ok(RedisCas {
            key: key.to_owned(),
            connection: connect(&self.url).await?,
        })
    }
}

/// `WATCH` + `GET`, then `MULTI`/`SET`/`EXEC` and `UNWATCH <key>`.
pub struct RedisCas {
    key: String,
    connection: ConnectionManager,
}

impl RedisCas {
    pub async fn current(&mut self) -> Result<Option<Vec<u8>>, KvError> {
        redis::cmd("WATCH")
            .arg(&self.key)
            .exec_async(&mut self.connection)
            .await
            .map_err(other)?;
        self.connection.get(&self.key).await.map_err(other)
    }

    pub async fn swap(mut self, value: Vec<u8>) -> Result<(), SwapError> {
        let transaction: Result<(), RedisError> = redis::pipe()
            .atomic()
            .set(&self.key, value)
            .query_async(&mut self.connection)
            .await;

        redis::cmd("UNWATCH")
            .arg(&self.key)
            .exec_async(&mut self.connection)
            .await
            .map_err(|err| SwapError::CasFailed(format!("{err:?}")))?;

        transaction.map_err(|err| SwapError::CasFailed(format!("{err:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::RedisServer;

    async fn ok<T, E: std::fmt::Debug>(f: impl std::future::Future<Output = Result<T, E>>) -> T {
        f.await.unwrap_or_else(|e| panic!("{e:?}"))
    }

    async fn store(server: &RedisServer) -> RedisStore {
        let manager = RedisManager::new(&server.url()).unwrap_or_else(|e| panic!("{e}"));
        ok(manager.store()).await
    }

    #[tokio::test]
    async fn basic_operations_share_one_keyspace() {
        let server = RedisServer::start();
        let manager = RedisManager::new(&server.url()).unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (ok(manager.store()).await, ok(manager.store()).await);
        assert_eq!(ok(a.get("k")).await, None);
        ok(a.set("k", b"v".to_vec())).await;
        assert_eq!(ok(b.get("k")).await, Some(b"v".to_vec()));
        assert!(ok(a.exists("k")).await);
        assert_eq!(ok(b.get_keys()).await, ["k"]);
        ok(a.set_many(vec![("x".into(), b"1".to_vec())])).await;
        ok(a.delete_many(vec!["x".into()])).await;
        ok(a.delete("k")).await;
        assert!(ok(a.get_keys()).await.is_empty());
    }

    #[tokio::test]
    async fn counters_are_decimal_strings() {
        let server = RedisServer::start();
        let s = store(&server).await;
        assert_eq!(ok(s.increment("n", 5)).await, 5);
        assert_eq!(ok(s.increment("n", -7)).await, -2);
        assert_eq!(ok(s.get("n")).await, Some(b"-2".to_vec()));
        ok(s.set("text", b"abc".to_vec())).await;
        assert!(s.increment("text", 1).await.is_err());
    }

    #[tokio::test]
    async fn get_many_sends_keys_like_spin() {
        let server = RedisServer::start();
        let s = store(&server).await;
        ok(s.set("a", b"1".to_vec())).await;
        ok(s.set("b", b"2".to_vec())).await;
        assert!(
            s.get_many(vec!["a".into(), "b".into()]).await.is_err(),
            "`KEYS a b` is a wrong-arity error, as on Spin"
        );
    }

    /// Without a concurrent writer the `EXEC` writes the value, yet the swap
    /// reports `cas-failed` because Redis rejects `UNWATCH <key>`.
    #[tokio::test]
    async fn swap_writes_but_reports_cas_failed() {
        let server = RedisServer::start();
        let s = store(&server).await;
        ok(s.set("k", b"old".to_vec())).await;
        let mut cas = ok(s.new_cas("k")).await;
        assert_eq!(ok(cas.current()).await, Some(b"old".to_vec()));
        match cas.swap(b"new".to_vec()).await {
            Err(SwapError::CasFailed(message)) => {
                assert!(message.contains("unwatch"), "{message}");
            }
            other => panic!("expected cas-failed, got {other:?}"),
        }
        assert_eq!(ok(s.get("k")).await, Some(b"new".to_vec()));
    }

    /// A real conflict: another connection writes between `current` and
    /// `swap`, so `EXEC` aborts and the other writer's value stays.
    #[tokio::test]
    async fn concurrent_write_aborts_the_transaction() {
        let server = RedisServer::start();
        let s = store(&server).await;
        let other_writer = store(&server).await;
        ok(s.set("k", b"old".to_vec())).await;
        let mut cas = ok(s.new_cas("k")).await;
        assert_eq!(ok(cas.current()).await, Some(b"old".to_vec()));
        ok(other_writer.set("k", b"theirs".to_vec())).await;
        assert!(matches!(
            cas.swap(b"mine".to_vec()).await,
            Err(SwapError::CasFailed(_))
        ));
        assert_eq!(ok(s.get("k")).await, Some(b"theirs".to_vec()));
    }

    #[test]
    fn invalid_urls_are_refused() {
        assert!(RedisManager::new("http://127.0.0.1:6379").is_err());
        assert!(RedisManager::new("redis://127.0.0.1:6379").is_ok());
    }
}
