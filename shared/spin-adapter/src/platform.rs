//! The service's ports over spin-sdk.

use spin_sdk::http::{Method, Request, Response};
use spin_sdk::key_value::Store;
use spin_sdk::wit::wasi::keyvalue::{atomics, store as wasi_store};
use std::cell::OnceCell;
use switchboard_broker::{HttpClient, HttpRequest, HttpResponse, TransportError};
use switchboard_service::{KeyValue, Platform, StoreError};

/// The key-value store label every component uses.
const STORE: &str = "default";

/// Spin's key-value store. The `wasi:keyvalue` bucket (for compare-and-swap)
/// is opened only when first needed.
pub struct SpinKv {
    store: Result<Store, StoreError>,
    bucket: OnceCell<Result<wasi_store::Bucket, StoreError>>,
}

fn failed(e: impl std::fmt::Debug) -> StoreError {
    StoreError(format!("{e:?}"))
}

impl SpinKv {
    fn open() -> Self {
        Self {
            store: Store::open(STORE).map_err(failed),
            bucket: OnceCell::new(),
        }
    }

    fn store(&self) -> Result<&Store, StoreError> {
        self.store.as_ref().map_err(Clone::clone)
    }

    fn bucket(&self) -> Result<&wasi_store::Bucket, StoreError> {
        self.bucket
            .get_or_init(|| wasi_store::open(STORE).map_err(failed))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl KeyValue for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.store()?.get(key).map_err(failed)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.store()?.set(key, value).map_err(failed)
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.store()?.delete(key).map_err(failed)
    }

    fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8]) -> Result<bool, StoreError> {
        let cas = atomics::Cas::new(self.bucket()?, key).map_err(failed)?;
        // `current` makes the host remember the value the swap is
        // conditional on; compare it with what the caller read.
        match cas.current().map_err(failed)? {
            Some(current) if current == expected => {}
            _ => return Ok(false),
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(failed(e)),
        }
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = self.store()?.get_keys().map_err(failed)?;
        keys.retain(|k| k.starts_with(prefix));
        Ok(keys)
    }
}

/// Spin's outbound HTTP (subject to `allowed_outbound_hosts`).
pub struct SpinHttp;

impl HttpClient for SpinHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let method = match request.method {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            _ => Method::Post,
        };
        let outgoing = Request::builder()
            .method(method)
            .uri(request.url)
            .headers(request.headers)
            .body(request.body)
            .build();
        let response: Response = spin_sdk::http::send(outgoing)
            .await
            .map_err(|e| TransportError(e.to_string()))?;
        Ok(HttpResponse {
            status: *response.status(),
            body: response.into_body(),
        })
    }
}

/// Everything the service needs, for one request.
pub struct SpinPlatform {
    kv: SpinKv,
    http: SpinHttp,
}

impl SpinPlatform {
    /// Opens the default store; a failure surfaces on first use as
    /// `storage_unavailable`.
    pub fn new() -> Self {
        Self {
            kv: SpinKv::open(),
            http: SpinHttp,
        }
    }
}

impl Default for SpinPlatform {
    fn default() -> Self {
        Self::new()
    }
}

impl Platform for SpinPlatform {
    type Kv = SpinKv;
    type Http = SpinHttp;

    fn kv(&self) -> &SpinKv {
        &self.kv
    }

    fn http(&self) -> &SpinHttp {
        &self.http
    }

    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    fn random_u64(&self) -> u64 {
        spin_sdk::wit::wasi::random0_2_6::random::get_random_u64()
    }

    fn variable(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).ok()
    }
}
