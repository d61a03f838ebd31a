//! The per-request store data: WASI, WASI HTTP, the resource table and what
//! the component is allowed to reach.

use std::collections::BTreeSet;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::allowed_hosts::OutboundPolicy;
use crate::key_value::KeyValueStores;
use crate::outbound::OutboundHooks;
use crate::variables::Values;

/// What one component may use, shared by all its instances.
#[derive(Debug)]
pub struct ComponentContext {
    /// The component ID.
    pub id: String,
    /// Its resolved component variables.
    pub variables: Values,
    /// The key-value store labels it lists.
    pub allowed_stores: BTreeSet<String>,
    /// Its outbound HTTP policy.
    pub outbound: Arc<OutboundPolicy>,
}

/// The data of one request's `Store`.
pub struct HostState {
    pub(crate) wasi: WasiCtx,
    pub(crate) http: WasiHttpCtx,
    pub(crate) hooks: OutboundHooks,
    pub(crate) table: ResourceTable,
    pub(crate) component: Arc<ComponentContext>,
    pub(crate) key_value: Arc<KeyValueStores>,
}

impl HostState {
    /// Fresh state for one request: no environment, no files, no sockets,
    /// empty stdin, and the guest's stdout/stderr going to the host's.
    pub(crate) fn new(component: Arc<ComponentContext>, key_value: Arc<KeyValueStores>) -> Self {
        let wasi = WasiCtx::builder().inherit_stdout().inherit_stderr().build();
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks::new(Arc::clone(&component.outbound)),
            table: ResourceTable::new(),
            component,
            key_value,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
