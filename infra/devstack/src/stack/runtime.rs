//! The runtime that serves the components: a real Spin or the test host,
//! both started as `<bin> up --from ... --listen ... --runtime-config-file
//! ... --state-dir ...`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::StackError;
use super::http;
use super::process::{ManagedProcess, ProcessSpec};
use super::service::Service;
use super::variables::spin_env;
use super::workspace::RuntimeBinary;

/// How long the runtime gets to load the components and answer.
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the runtime keeps key-value data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvConfig {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A Redis server.
    Redis(String),
}

/// Everything needed to (re)start the runtime the same way.
pub(crate) struct RuntimeSpec {
    pub binary: RuntimeBinary,
    pub manifest: PathBuf,
    pub port: u16,
    pub config_file: PathBuf,
    pub state_dir: PathBuf,
    pub variables: BTreeMap<String, String>,
}

impl RuntimeSpec {
    /// Writes the runtime config file and creates the state folder.
    pub fn prepare(&self, kv: &KvConfig) -> Result<(), StackError> {
        fs::create_dir_all(&self.state_dir).map_err(|source| {
            StackError::io(
                format!("cannot create {}", self.state_dir.display()),
                source,
            )
        })?;
        let text = runtime_config_text(kv)?;
        fs::write(&self.config_file, text).map_err(|source| {
            StackError::io(
                format!("cannot write {}", self.config_file.display()),
                source,
            )
        })
    }

    /// Starts the runtime and waits until it serves and `GET /v1/health`
    /// answers (with any status: a misconfiguration is for the caller to see).
    pub fn start(&self, log_dir: &Path) -> Result<ManagedProcess, StackError> {
        let process = ManagedProcess::spawn(&self.process_spec(), log_dir)?;
        process.wait_for_log_lines(
            START_TIMEOUT,
            &[&format!("Serving http://127.0.0.1:{}", self.port)],
        )?;
        let agent = http::agent();
        let health = format!("http://127.0.0.1:{}/v1/health", self.port);
        process.wait_until(START_TIMEOUT, "answer from GET /v1/health", || {
            http::answers(&agent, &health)
        })?;
        Ok(process)
    }

    fn process_spec(&self) -> ProcessSpec {
        ProcessSpec {
            service: Service::Runtime,
            program: self.binary.path.clone(),
            args: vec![
                "up".into(),
                "--from".into(),
                self.manifest.clone().into_os_string(),
                "--listen".into(),
                format!("127.0.0.1:{}", self.port).into(),
                "--runtime-config-file".into(),
                self.config_file.clone().into_os_string(),
                "--state-dir".into(),
                self.state_dir.clone().into_os_string(),
            ],
            env: spin_env(&self.variables),
            // Variables left in the caller's environment must not leak in.
            env_remove_prefix: Some("SPIN_VARIABLE_"),
        }
    }
}

impl fmt::Debug for RuntimeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeSpec")
            .field("binary", &self.binary)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The `--runtime-config-file` contents selecting the default store.
pub(crate) fn runtime_config_text(kv: &KvConfig) -> Result<String, StackError> {
    Ok(match kv {
        KvConfig::Sqlite(path) => {
            let path = path.to_str().ok_or_else(|| {
                StackError::InvalidOption(format!("{} is not UTF-8", path.display()))
            })?;
            format!(
                "[key_value_store.default]\ntype = \"spin\"\npath = {}\n",
                toml_string(path)?
            )
        }
        KvConfig::Redis(url) => format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = {}\n",
            toml_string(url)?
        ),
    })
}

/// A TOML basic string.
fn toml_string(value: &str) -> Result<String, StackError> {
    if value.chars().any(char::is_control) {
        return Err(StackError::InvalidOption(format!(
            "{value:?} contains control characters"
        )));
    }
    Ok(format!(
        "\"{}\"",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_and_redis_configs_are_valid_toml() {
        let sqlite = runtime_config_text(&KvConfig::Sqlite(PathBuf::from("/tmp/a \"b\"/kv.db")))
            .expect("sqlite");
        let table: toml::Table = sqlite.parse().expect("toml");
        let store = &table["key_value_store"]["default"];
        assert_eq!(store["type"].as_str(), Some("spin"));
        assert_eq!(store["path"].as_str(), Some("/tmp/a \"b\"/kv.db"));

        let redis =
            runtime_config_text(&KvConfig::Redis("redis://127.0.0.1:7000".into())).expect("redis");
        assert_eq!(
            redis,
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:7000\"\n"
        );
    }

    #[test]
    fn control_characters_are_refused() {
        assert!(toml_string("a\nb").is_err());
    }
}
