//! The guest-facing key-value interfaces, with Spin's checks and error
//! mapping (`crates/factor-key-value/src/host.rs` in Spin).

use std::future::Future;
use std::sync::Arc;

use wasmtime::component::Resource;

use super::{Cas, KvError, Store, SwapError};
use crate::bindings::fermyon::spin2_0_0::key_value as spin_kv;
use crate::bindings::wasi::keyvalue::{atomics, batch, store as wasi_store};
use crate::state::HostState;

/// A store opened through `fermyon:spin/key-value`.
pub struct OpenStore(Store);

/// A bucket opened through `wasi:keyvalue/store`.
pub struct OpenBucket(Store);

/// A compare-and-swap handle of `wasi:keyvalue/atomics`, with what Spin needs
/// to hand out a fresh handle after a conflict.
pub struct OpenCas {
    cas: Cas,
    store: Store,
    key: String,
}

/// Why a store label cannot be opened.
enum OpenError {
    AccessDenied,
    NoSuchStore,
    Other(String),
}

impl HostState {
    /// Spin first checks the component's `key_value_stores`, then the
    /// configured labels. (The future owns what it needs, so it stays `Send`.)
    fn open_store(&self, label: &str) -> impl Future<Output = Result<Store, OpenError>> + use<> {
        let allowed = self.component.allowed_stores.contains(label);
        let stores = Arc::clone(&self.key_value);
        let label = label.to_owned();
        async move {
            if !allowed {
                return Err(OpenError::AccessDenied);
            }
            match stores.open(&label).await {
                Ok(Some(store)) => Ok(store),
                Ok(None) => Err(OpenError::NoSuchStore),
                Err(e) => Err(OpenError::Other(e.to_string())),
            }
        }
    }

    fn bucket(&self, bucket: &Resource<OpenBucket>) -> wasmtime::Result<Store> {
        Ok(self.table.get(bucket)?.0.clone())
    }
}

/// Converts a backend result: ordinary errors go to the guest, a corrupt
/// counter traps (Spin panics there).
fn guest_result<T, E>(
    result: Result<T, KvError>,
    to_guest: impl FnOnce(String) -> E,
) -> wasmtime::Result<Result<T, E>> {
    match result {
        Ok(value) => Ok(Ok(value)),
        Err(KvError::Other(message)) => Ok(Err(to_guest(message))),
        Err(trap @ KvError::NotACounter { .. }) => {
            eprintln!("switchboard-host: key-value: {trap} (Spin's SQLite backend panics here)");
            Err(wasmtime::Error::msg(trap.to_string()))
        }
    }
}

fn spin_error(message: String) -> spin_kv::Error {
    spin_kv::Error::Other(message)
}

fn wasi_error(message: String) -> wasi_store::Error {
    wasi_store::Error::Other(message)
}

impl spin_kv::Host for HostState {}

impl spin_kv::HostStore for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<OpenStore>, spin_kv::Error>> {
        match self.open_store(&label).await {
            Ok(store) => Ok(Ok(self.table.push(OpenStore(store))?)),
            Err(OpenError::AccessDenied) => Ok(Err(spin_kv::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => Ok(Err(spin_kv::Error::NoSuchStore)),
            Err(OpenError::Other(message)) => Ok(Err(spin_kv::Error::Other(message))),
        }
    }

    async fn get(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let store = self.table.get(&store)?.0.clone();
        guest_result(store.get(&key).await, spin_error)
    }

    async fn set(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let store = self.table.get(&store)?.0.clone();
        guest_result(store.set(&key, value).await, spin_error)
    }

    async fn delete(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let store = self.table.get(&store)?.0.clone();
        guest_result(store.delete(&key).await, spin_error)
    }

    async fn exists(
        &mut self,
        store: Resource<OpenStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let store = self.table.get(&store)?.0.clone();
        guest_result(store.exists(&key).await, spin_error)
    }

    async fn get_keys(
        &mut self,
        store: Resource<OpenStore>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let store = self.table.get(&store)?.0.clone();
        guest_result(store.get_keys().await, spin_error)
    }

    async fn drop(&mut self, store: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl wasi_store::Host for HostState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<OpenBucket>, wasi_store::Error>> {
        match self.open_store(&identifier).await {
            Ok(store) => Ok(Ok(self.table.push(OpenBucket(store))?)),
            Err(OpenError::AccessDenied) => Ok(Err(wasi_store::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => Ok(Err(wasi_store::Error::NoSuchStore)),
            Err(OpenError::Other(message)) => Ok(Err(wasi_store::Error::Other(message))),
        }
    }
}

impl wasi_store::HostBucket for HostState {
    async fn get(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        guest_result(store.get(&key).await, wasi_error)
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        guest_result(store.set(&key, value).await, wasi_error)
    }

    async fn delete(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        guest_result(store.delete(&key).await, wasi_error)
    }

    async fn exists(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        guest_result(store.exists(&key).await, wasi_error)
    }

    /// Spin returns every key at once and refuses cursors.
    async fn list_keys(
        &mut self,
        bucket: Resource<OpenBucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        if cursor.is_some() {
            return Ok(Err(wasi_store::Error::Other(
                "list_keys: cursor not supported".to_owned(),
            )));
        }
        let store = self.bucket(&bucket)?;
        let keys = guest_result(store.get_keys().await, wasi_error)?;
        Ok(keys.map(|keys| wasi_store::KeyResponse { keys, cursor: None }))
    }

    async fn drop(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl batch::Host for HostState {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(Vec::new()));
        }
        guest_result(store.get_many(keys).await, wasi_error)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        if key_values.is_empty() {
            return Ok(Ok(()));
        }
        guest_result(store.set_many(key_values).await, wasi_error)
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        if keys.is_empty() {
            return Ok(Ok(()));
        }
        guest_result(store.delete_many(keys).await, wasi_error)
    }
}

impl atomics::HostCas for HostState {
    async fn new(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<OpenCas>, wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        match guest_result(store.new_cas(&key).await, wasi_error)? {
            Ok(cas) => Ok(Ok(self.table.push(OpenCas { cas, store, key })?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn current(
        &mut self,
        cas: Resource<OpenCas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        let open = self.table.get_mut(&cas)?;
        guest_result(open.cas.current().await, wasi_error)
    }

    async fn drop(&mut self, cas: Resource<OpenCas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl atomics::Host for HostState {
    async fn increment(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        let store = self.bucket(&bucket)?;
        guest_result(store.increment(&key, delta).await, wasi_error)
    }

    /// On a conflict Spin opens a new handle for the same key, calls
    /// `current` on it, and returns it inside `cas-failed`.
    async fn swap(
        &mut self,
        cas: Resource<OpenCas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let OpenCas { cas, store, key } = self.table.delete(cas)?;
        match cas.swap(value).await {
            Ok(()) => Ok(Ok(())),
            Err(SwapError::Other(message)) => Ok(Err(atomics::CasError::StoreError(
                wasi_store::Error::Other(message),
            ))),
            Err(SwapError::CasFailed(_)) => {
                let mut retry = match guest_result(store.new_cas(&key).await, wasi_error)? {
                    Ok(retry) => retry,
                    Err(e) => return Ok(Err(atomics::CasError::StoreError(e))),
                };
                if let Err(e) = guest_result(retry.current().await, wasi_error)? {
                    return Ok(Err(atomics::CasError::StoreError(e)));
                }
                let handle = self.table.push(OpenCas {
                    cas: retry,
                    store,
                    key,
                })?;
                Ok(Err(atomics::CasError::CasFailed(handle)))
            }
        }
    }
}
