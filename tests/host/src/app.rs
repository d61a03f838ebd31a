//! Preparing an application the way `spin up` does before it listens:
//! manifest, runtime configuration, variables, key-value stores, outbound
//! policies, and one pre-instantiated component per component ID.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::allowed_hosts::{AllowedHostConfig, OutboundPolicy};
use crate::bindings;
use crate::compile::{load_component, CompileError, CACHE_DIR_ENV};
use crate::key_value::{KeyValueStores, KvError};
use crate::manifest::{AllowedHostEntry, ComponentDecl, Manifest, ManifestError};
use crate::routing::{RouteError, RouteInfo, Router};
use crate::runtime_config::{RuntimeConfig, RuntimeConfigError, StateDirArg};
use crate::state::{ComponentContext, HostState};
use crate::variables::{self, Values, VariablesError};

/// What `switchboard-host up` is asked to run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AppOptions {
    /// `--from`: the `spin.toml` file.
    pub manifest: PathBuf,
    /// `--runtime-config-file`.
    pub runtime_config_file: Option<PathBuf>,
    /// `--state-dir`.
    pub state_dir: StateDirArg,
}

/// Why an application cannot start.
#[derive(Debug, Error)]
pub enum AppError {
    /// The manifest is unusable.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// The runtime configuration is unusable.
    #[error(transparent)]
    RuntimeConfig(#[from] RuntimeConfigError),
    /// A variable has no value.
    #[error(transparent)]
    Variables(#[from] VariablesError),
    /// A route is invalid.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// A component lists a key-value store label that is not configured.
    #[error("unknown key_value_stores label {label:?} for component {component:?}")]
    UnknownStore {
        /// The component.
        component: String,
        /// The label.
        label: String,
    },
    /// A key-value store cannot be set up.
    #[error("could not configure key-value stores: {0}")]
    KeyValue(#[from] KvError),
    /// A component cannot be loaded.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// The host's own linker could not be set up (a bug in this crate).
    #[error("cannot set up the host interfaces: {0}")]
    Linker(String),
    /// A component needs an import this host does not provide, or does not
    /// export `wasi:http/incoming-handler`.
    #[error("cannot prepare component {component:?}: {message}")]
    Link {
        /// The component.
        component: String,
        /// Wasmtime's error, with its causes.
        message: String,
    },
}

pub(crate) struct LoadedComponent {
    pub(crate) pre: ProxyPre<HostState>,
    pub(crate) context: Arc<ComponentContext>,
}

/// An application ready to serve.
pub struct App {
    pub(crate) engine: Engine,
    pub(crate) router: Router,
    pub(crate) components: BTreeMap<String, LoadedComponent>,
    pub(crate) key_value: Arc<KeyValueStores>,
    descriptions: BTreeMap<String, String>,
}

impl App {
    /// Loads and checks everything `spin up` checks before listening.
    /// `env` looks up environment variables (`SPIN_VARIABLE_*` and
    /// [`CACHE_DIR_ENV`]); the binary passes the process environment.
    pub fn prepare(
        options: &AppOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, AppError> {
        let manifest = Manifest::load(&options.manifest)?;
        let runtime_config = RuntimeConfig::load(
            options.runtime_config_file.as_deref(),
            &options.state_dir,
            &manifest.dir,
        )?;
        let app_values = variables::resolve_application(&manifest, env)?;
        let (router, duplicates) = Router::build(&manifest.http_triggers)?;
        for (route, replaced, effective) in duplicates {
            eprintln!(
                "switchboard-host: route {route} of component {replaced} is a duplicate of {effective}'s and will never be used"
            );
        }

        let key_value = KeyValueStores::new(&runtime_config.key_value_stores)?;
        for component in manifest.components.values() {
            if let Some(label) = component
                .key_value_stores
                .iter()
                .find(|label| !key_value.is_defined(label))
            {
                return Err(AppError::UnknownStore {
                    component: component.id.clone(),
                    label: label.clone(),
                });
            }
        }

        let engine = Engine::default();
        let linker = linker(&engine).map_err(|e| AppError::Linker(format!("{e:#}")))?;
        let cache_dir = env(CACHE_DIR_ENV)
            .map(PathBuf::from)
            .or_else(|| runtime_config.state_dir.map(|d| d.join("compiled")));

        let mut components = BTreeMap::new();
        let mut descriptions = BTreeMap::new();
        for component in manifest.components.values() {
            let context = component_context(&manifest, component, &app_values)?;
            let wasm = load_component(&engine, &component.source, cache_dir.as_deref())?;
            let link_error = |e: wasmtime::Error| AppError::Link {
                component: component.id.clone(),
                message: format!("{e:#}"),
            };
            let pre = ProxyPre::new(linker.instantiate_pre(&wasm).map_err(link_error)?)
                .map_err(link_error)?;
            components.insert(
                component.id.clone(),
                LoadedComponent {
                    pre,
                    context: Arc::new(context),
                },
            );
            descriptions.insert(component.id.clone(), component.description.clone());
        }

        Ok(Self {
            engine,
            router,
            components,
            key_value: Arc::new(key_value),
            descriptions,
        })
    }

    /// The routes, in matching order.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.router.routes()
    }

    /// What `spin up` prints once listening on `addr`.
    pub fn startup_message(&self, addr: SocketAddr) -> String {
        let base = format!("http://{addr}");
        let mut message = format!("Serving {base}\nAvailable Routes:\n");
        for route in self.routes() {
            message.push_str(&format!(
                "  {}: {base}{}\n",
                route.component_id, route.display
            ));
            if let Some(description) = self
                .descriptions
                .get(&route.component_id)
                .filter(|d| !d.is_empty())
            {
                message.push_str(&format!("    {description}\n"));
            }
        }
        message
    }
}

/// The interfaces a spin-sdk 5.2 component may import.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    fn get(state: &mut HostState) -> &mut HostState {
        state
    }
    bindings::fermyon::spin2_0_0::key_value::add_to_linker::<_, HasSelf<HostState>>(
        &mut linker,
        get,
    )?;
    bindings::fermyon::spin2_0_0::variables::add_to_linker::<_, HasSelf<HostState>>(
        &mut linker,
        get,
    )?;
    bindings::wasi::keyvalue::store::add_to_linker::<_, HasSelf<HostState>>(&mut linker, get)?;
    bindings::wasi::keyvalue::atomics::add_to_linker::<_, HasSelf<HostState>>(&mut linker, get)?;
    bindings::wasi::keyvalue::batch::add_to_linker::<_, HasSelf<HostState>>(&mut linker, get)?;
    Ok(linker)
}

fn component_context(
    manifest: &Manifest,
    component: &ComponentDecl,
    app_values: &Values,
) -> Result<ComponentContext, AppError> {
    Ok(ComponentContext {
        id: component.id.clone(),
        variables: variables::resolve_component(manifest, &component.id, app_values)?,
        allowed_stores: component
            .key_value_stores
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>(),
        outbound: Arc::new(outbound_policy(component, app_values)),
    })
}

/// Resolves templated `allowed_outbound_hosts`; like Spin, an entry that does
/// not resolve to a valid value denies every request of the component (with
/// one error line) instead of stopping the host.
fn outbound_policy(component: &ComponentDecl, app_values: &Values) -> OutboundPolicy {
    let resolved: Result<Vec<AllowedHostConfig>, String> = component
        .allowed_outbound_hosts
        .iter()
        .map(|entry| match entry {
            AllowedHostEntry::Literal(config) => Ok(config.clone()),
            AllowedHostEntry::Templated(template) => template
                .resolve(app_values.as_map())
                .map_err(|e| e.to_string())
                .and_then(|value| AllowedHostConfig::parse(&value).map_err(|e| e.to_string())),
        })
        .collect();
    match resolved {
        Ok(hosts) => OutboundPolicy::Allow(hosts),
        Err(message) => {
            eprintln!(
                "switchboard-host: error parsing allowed outbound hosts of component {:?}: {message}; every outbound request of this component will be denied",
                component.id
            );
            OutboundPolicy::DenyAll
        }
    }
}
