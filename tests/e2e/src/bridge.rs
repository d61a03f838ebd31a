//! The bridge's test hooks, behind the same Basic auth as its EMQX-style
//! publish API: the fault switch and the counters.

use serde_json::{json, Value};

use crate::error::Result;
use crate::http::{Credential, Endpoint};

/// Controls the bridge of one stack.
#[derive(Clone)]
pub struct BridgeControl {
    endpoint: Endpoint,
}

impl BridgeControl {
    /// A client for the bridge API at `api_base`, with the broker API
    /// credentials the service uses.
    pub fn new(api_base: &str, api_key: &str, api_secret: &str) -> Self {
        Self {
            endpoint: Endpoint::new(api_base.to_owned(), Credential::basic(api_key, api_secret)),
        }
    }

    /// `POST /_bridge/faults`: let `after` published messages through, then
    /// answer the next `failures` with 503 as if the broker were down
    /// (`failures` 0 clears the plan).
    pub fn fail_publishes(&self, failures: u32, after: u32) -> Result<()> {
        let plan = json!({"publish_failures": failures, "after": after});
        self.endpoint
            .expect("POST", "/_bridge/faults", Some(&plan), &[200])
            .map(drop)
    }

    /// `GET /_bridge/stats`: `webhook_delivered`, `webhook_retries`,
    /// `webhook_refused`, `upstream_skipped`, `published`,
    /// `publish_failures`.
    pub fn stats(&self) -> Result<Value> {
        Ok(self
            .endpoint
            .expect("GET", "/_bridge/stats", None, &[200])?
            .json)
    }

    /// One counter of [`stats`](Self::stats) (0 when absent).
    pub fn stat(&self, name: &str) -> Result<u64> {
        Ok(self.stats()?.get(name).and_then(Value::as_u64).unwrap_or(0))
    }
}

impl std::fmt::Debug for BridgeControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BridgeControl")
            .field("base", &self.endpoint.base())
            .finish_non_exhaustive()
    }
}
