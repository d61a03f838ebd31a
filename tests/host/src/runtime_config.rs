//! The subset of Spin's runtime configuration file (`--runtime-config-file`)
//! this host supports, and the state directory rules of `spin up`.
//!
//! ```toml
//! state_dir = ".spin"                 # optional
//!
//! [key_value_store.default]
//! type = "spin"                       # SQLite
//! path = "data/kv.db"                 # optional; relative to this file
//!
//! [key_value_store.cache]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//! ```
//!
//! As in Spin, a `type = "spin"` store without `path` is an in-memory
//! database, and the `default` label, unless configured, is a SQLite file
//! `sqlite_key_value.db` in the state directory (in memory if there is none).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// The file name of the default store inside the state directory.
pub const DEFAULT_SQLITE_FILE: &str = "sqlite_key_value.db";

/// The label of the store every application gets.
pub const DEFAULT_STORE_LABEL: &str = "default";

/// Why the runtime configuration cannot be used.
#[derive(Debug, Error)]
pub enum RuntimeConfigError {
    /// The file could not be read.
    #[error("failed to read runtime config file '{path}'")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid runtime config file '{path}': {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A path could not be made absolute.
    #[error("cannot resolve path '{path}'")]
    Path {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// How `--state-dir` was given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StateDirArg {
    /// Not given: the runtime config's `state_dir`, else `.spin` next to the manifest.
    #[default]
    Default,
    /// Given as an empty string: no state directory.
    Unset,
    /// Given as a path.
    Path(PathBuf),
}

impl From<Option<PathBuf>> for StateDirArg {
    fn from(arg: Option<PathBuf>) -> Self {
        match arg {
            None => Self::Default,
            Some(path) if path.as_os_str().is_empty() => Self::Unset,
            Some(path) => Self::Path(path),
        }
    }
}

/// Where a key-value store keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreConfig {
    /// SQLite in a file.
    SqliteFile(PathBuf),
    /// SQLite in memory, for the life of the host.
    SqliteMemory,
    /// A Redis server.
    Redis {
        /// `redis://host:port[/db]`.
        url: String,
    },
}

/// The resolved runtime configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// The state directory, if any.
    pub state_dir: Option<PathBuf>,
    /// Key-value stores by label (always includes `default`).
    pub key_value_stores: BTreeMap<String, StoreConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
}

#[derive(Deserialize)]
#[serde(tag = "type", deny_unknown_fields)]
enum RawStore {
    #[serde(rename = "spin")]
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    #[serde(rename = "redis")]
    Redis { url: String },
}

impl RuntimeConfig {
    /// Resolves the configuration from an optional runtime config file, the
    /// `--state-dir` argument and the manifest folder, as `spin up` does.
    pub fn load(
        file: Option<&Path>,
        state_dir: &StateDirArg,
        manifest_dir: &Path,
    ) -> Result<Self, RuntimeConfigError> {
        let raw = match file {
            None => RawRuntimeConfig {
                state_dir: None,
                key_value_store: BTreeMap::new(),
            },
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| RuntimeConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?;
                toml::from_str(&text).map_err(|e| RuntimeConfigError::Invalid {
                    path: path.to_owned(),
                    message: format!(
                        "{} (switchboard-host supports `state_dir` and `[key_value_store.<label>]` of type \"spin\" or \"redis\")",
                        e.message()
                    ),
                })?
            }
        };

        let absolute = |path: &Path| {
            std::path::absolute(path).map_err(|source| RuntimeConfigError::Path {
                path: path.to_owned(),
                source,
            })
        };
        let state_dir = match (state_dir, raw.state_dir.as_deref()) {
            (StateDirArg::Path(path), _) => Some(absolute(path)?),
            (StateDirArg::Unset, _) | (StateDirArg::Default, Some("")) => None,
            (StateDirArg::Default, Some(path)) => Some(absolute(Path::new(path))?),
            (StateDirArg::Default, None) => Some(manifest_dir.join(".spin")),
        };

        let config_dir = file.and_then(Path::parent);
        let mut key_value_stores = BTreeMap::new();
        for (label, store) in raw.key_value_store {
            let config = match store {
                RawStore::Spin { path: None } => StoreConfig::SqliteMemory,
                RawStore::Spin { path: Some(path) } => StoreConfig::SqliteFile(match config_dir {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                }),
                RawStore::Redis { url } => StoreConfig::Redis { url },
            };
            key_value_stores.insert(label, config);
        }
        key_value_stores
            .entry(DEFAULT_STORE_LABEL.to_owned())
            .or_insert_with(|| match &state_dir {
                Some(dir) => StoreConfig::SqliteFile(dir.join(DEFAULT_SQLITE_FILE)),
                None => StoreConfig::SqliteMemory,
            });

        Ok(Self {
            state_dir,
            key_value_stores,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, state_dir: StateDirArg) -> Result<RuntimeConfig, RuntimeConfigError> {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("rc.toml");
        std::fs::write(&file, toml).unwrap_or_else(|e| panic!("{e}"));
        let config = RuntimeConfig::load(Some(&file), &state_dir, Path::new("/app"));
        config.map(|mut c| {
            // Make paths inside the temporary folder comparable.
            for store in c.key_value_stores.values_mut() {
                if let StoreConfig::SqliteFile(path) = store {
                    if let Ok(rest) = path.strip_prefix(dir.path()) {
                        *path = Path::new("<dir>").join(rest);
                    }
                }
            }
            c
        })
    }

    #[test]
    fn defaults_follow_spin_up() {
        let config = RuntimeConfig::load(None, &StateDirArg::Default, Path::new("/app"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.state_dir.as_deref(), Some(Path::new("/app/.spin")));
        assert_eq!(
            config.key_value_stores["default"],
            StoreConfig::SqliteFile("/app/.spin/sqlite_key_value.db".into())
        );
        let config = RuntimeConfig::load(None, &StateDirArg::Unset, Path::new("/app"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.state_dir, None);
        assert_eq!(
            config.key_value_stores["default"],
            StoreConfig::SqliteMemory
        );
    }

    #[test]
    fn stores_are_configured_like_spin() {
        let config = load(
            r#"
[key_value_store.default]
type = "spin"
path = "kv/data.db"
[key_value_store.memory]
type = "spin"
[key_value_store.cache]
type = "redis"
url = "redis://127.0.0.1:6379"
"#,
            StateDirArg::Path("/state".into()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.state_dir.as_deref(), Some(Path::new("/state")));
        assert_eq!(
            config.key_value_stores["default"],
            StoreConfig::SqliteFile("<dir>/kv/data.db".into())
        );
        assert_eq!(config.key_value_stores["memory"], StoreConfig::SqliteMemory);
        assert_eq!(
            config.key_value_stores["cache"],
            StoreConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
    }

    #[test]
    fn unsupported_settings_are_refused() {
        for toml in [
            "[key_value_store.x]\ntype = \"azure_cosmos\"",
            "[key_value_store.x]\ntype = \"spin\"\nfoo = 1",
            "[sqlite_database.default]\ntype = \"spin\"",
            "log_dir = \"logs\"",
        ] {
            assert!(load(toml, StateDirArg::Default).is_err(), "{toml}");
        }
    }
}
