//! A Spin-compatible test host for Switchboard.
//!
//! Switchboard's functions are Spin components (spin-sdk 5.2, WASI 0.2). The
//! Spin CLI cannot be installed on the development and CI machines, so this
//! crate runs the *built* components the way `spin up` (Spin 3.x/4.x) would:
//! same manifest, same variables, same routing and `spin-*` headers, same
//! `allowed_outbound_hosts` enforcement, and key-value backends that repeat
//! Spin's SQLite and Redis implementations statement for statement. Whatever
//! it does not implement, it refuses loudly rather than approximating.
//!
//! # The binary
//!
//! ```text
//! switchboard-host up --from <spin.toml> --listen 127.0.0.1:<port>
//!     [--runtime-config-file <file.toml>] [--state-dir <dir>]
//! ```
//!
//! is a drop-in subset of `spin up` (`-f` works for `--from`), so the
//! end-to-end tests and the development stack can swap in a real `spin`
//! binary unchanged. It prints `Serving http://127.0.0.1:<port>` and the
//! routes once listening, exits non-zero with a message when the manifest,
//! the runtime configuration or a required variable is missing or invalid,
//! and stops cleanly on SIGINT/SIGTERM. Application variables come from
//! `SPIN_VARIABLE_<NAME>`. Compiled components are cached in
//! `<state-dir>/compiled`, or in `$SWITCHBOARD_HOST_CACHE_DIR` if set (point
//! it at a stable folder when each run uses a fresh state directory).
//!
//! The runtime configuration file accepts `state_dir` and
//! `[key_value_store.<label>]` tables of `type = "spin"` (optional `path`)
//! or `type = "redis"` (`url`); see [`RuntimeConfig`].
//!
//! # The library
//!
//! [`Manifest::load`], [`RuntimeConfig::load`], and the two steps of the
//! binary: [`App::prepare`] (everything `spin up` checks before listening)
//! and [`App::serve`] (serve until a shutdown future completes).
//! [`testing`] has helpers for tests (free ports, a private redis-server).
//!
//! # Differences from Spin
//!
//! * Only the interfaces spin-sdk 5.2 components use are provided (WASI 0.2,
//!   `wasi:http`, `fermyon:spin/key-value@2.0.0`, `fermyon:spin/variables@2.0.0`,
//!   `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`); a component
//!   importing anything else is refused at start.
//! * Requests to the application itself (relative URLs, `self`, service
//!   chaining) are denied instead of being routed internally.
//! * `increment` on a non-counter traps the request; Spin's SQLite backend
//!   panics there and also poisons its connection for later requests.
//! * No `.env` file, no variable providers other than the environment, no
//!   `/.well-known/spin/info`, no TLS, no `spin up` flags beyond the above.

#![deny(missing_docs)]

mod allowed_hosts;
mod app;
mod bindings;
mod compile;
mod identifiers;
mod key_value;
mod manifest;
mod outbound;
mod routing;
mod runtime_config;
mod server;
mod state;
mod template;
pub mod testing;
mod variables;

pub use allowed_hosts::{AllowedHostConfig, AllowedHostsError};
pub use app::{App, AppError, AppOptions};
pub use compile::{CompileError, CACHE_DIR_ENV};
pub use key_value::KvError;
pub use manifest::{
    AllowedHostEntry, ComponentDecl, HttpTrigger, Manifest, ManifestError, VariableDecl,
};
pub use routing::{RouteError, RouteInfo};
pub use runtime_config::{RuntimeConfig, RuntimeConfigError, StateDirArg, StoreConfig};
pub use server::ServeError;
pub use template::{Template, TemplateError};
pub use variables::{Values, VariablesError, ENV_PREFIX};
