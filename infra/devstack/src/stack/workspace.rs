//! Where the workspace, its built binaries and components, and the system
//! programs are.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::error::StackError;

/// `cargo` arguments that build the three Spin components.
pub const BUILD_COMPONENTS_ARGS: &[&str] = &[
    "build",
    "--target",
    "wasm32-wasip2",
    "--release",
    "-p",
    "webhook",
    "-p",
    "admin",
    "-p",
    "health",
];

/// `cargo` arguments that build the test host and the bridge.
pub const BUILD_NATIVE_ARGS: &[&str] = &[
    "build",
    "--release",
    "-p",
    "switchboard-test-host",
    "-p",
    "switchboard-bridge",
];

/// The components `spin.toml` points at, relative to the workspace root.
const COMPONENTS: &[&str] = &["webhook", "admin", "health"];

/// Environment variable naming a real Spin binary to run instead of the test host.
pub const SPIN_BIN_ENV: &str = "SPIN_BIN";
/// Environment variable overriding the test host binary.
pub const HOST_BIN_ENV: &str = "SWITCHBOARD_HOST_BIN";
/// Environment variable overriding the bridge binary.
pub const BRIDGE_BIN_ENV: &str = "SWITCHBOARD_BRIDGE_BIN";

/// Which runtime serves the components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// A real Spin, from `$SPIN_BIN`.
    Spin,
    /// `switchboard-host`, the wasmtime test host of this workspace.
    TestHost,
}

/// The runtime binary chosen for a stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuntimeBinary {
    pub kind: RuntimeKind,
    pub path: PathBuf,
}

/// The Switchboard checkout: the folder holding `Cargo.toml` and `spin.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// Finds the workspace from `CARGO_MANIFEST_DIR` (at run time, then at
    /// this crate's build time), then from `git rev-parse --show-toplevel`.
    pub fn locate() -> Result<Self, StackError> {
        let candidates = [
            env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR"))),
            git_toplevel(),
        ];
        candidates
            .into_iter()
            .flatten()
            .find_map(|start| {
                start
                    .ancestors()
                    .find(|dir| is_root(dir))
                    .map(Path::to_path_buf)
            })
            .map(|root| Self { root })
            .ok_or(StackError::WorkspaceNotFound)
    }

    /// The workspace at `root`, which must hold `Cargo.toml` and `spin.toml`.
    pub fn at(root: impl Into<PathBuf>) -> Result<Self, StackError> {
        let root = root.into();
        if is_root(&root) {
            Ok(Self { root })
        } else {
            Err(StackError::WorkspaceNotFound)
        }
    }

    /// The workspace folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/spin.toml`.
    pub fn spin_manifest(&self) -> PathBuf {
        self.root.join("spin.toml")
    }

    /// `switchboard-bridge`: `$SWITCHBOARD_BRIDGE_BIN`, else
    /// `<root>/target/release/switchboard-bridge`, which must exist.
    pub fn bridge_binary(&self) -> Result<PathBuf, StackError> {
        self.built_binary(BRIDGE_BIN_ENV, "switchboard-bridge", "switchboard-bridge")
    }

    /// `switchboard-host`: `$SWITCHBOARD_HOST_BIN`, else
    /// `<root>/target/release/switchboard-host`, which must exist.
    pub fn host_binary(&self) -> Result<PathBuf, StackError> {
        self.built_binary(HOST_BIN_ENV, "switchboard-host", "switchboard-test-host")
    }

    /// Fails with the build command when a component `spin.toml` points at
    /// (`target/wasm32-wasip2/release/<name>.wasm`) is missing.
    pub fn check_components(&self) -> Result<(), StackError> {
        for name in COMPONENTS {
            let path = self
                .root
                .join("target/wasm32-wasip2/release")
                .join(format!("{name}.wasm"));
            if !path.is_file() {
                return Err(StackError::MissingBuild {
                    what: format!("component {name}.wasm"),
                    path,
                    build: format!("cargo {}", BUILD_COMPONENTS_ARGS.join(" ")),
                });
            }
        }
        Ok(())
    }

    /// `$SPIN_BIN` when set, else the test host.
    pub(crate) fn runtime_binary(&self) -> Result<RuntimeBinary, StackError> {
        match env::var_os(SPIN_BIN_ENV).filter(|value| !value.is_empty()) {
            Some(spin) => {
                let path = find_program(&spin).ok_or_else(|| StackError::MissingBuild {
                    what: format!("Spin (${SPIN_BIN_ENV})"),
                    path: PathBuf::from(&spin),
                    build: format!("unset {SPIN_BIN_ENV} to use the test host"),
                })?;
                Ok(RuntimeBinary {
                    kind: RuntimeKind::Spin,
                    path,
                })
            }
            None => Ok(RuntimeBinary {
                kind: RuntimeKind::TestHost,
                path: self.host_binary()?,
            }),
        }
    }

    fn built_binary(
        &self,
        env_name: &str,
        binary: &str,
        package: &str,
    ) -> Result<PathBuf, StackError> {
        let path = env::var_os(env_name)
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| self.root.join("target/release").join(binary));
        if path.is_file() {
            Ok(path)
        } else {
            Err(StackError::MissingBuild {
                what: binary.to_owned(),
                path,
                build: format!("cargo build --release -p {package}"),
            })
        }
    }
}

/// Finds a system program: a path as given, else on `PATH`, else in the
/// `sbin` folders that are often missing from a non-root `PATH`.
pub(crate) fn find_program(name: impl AsRef<OsStr>) -> Option<PathBuf> {
    let name = Path::new(name.as_ref());
    if name.components().count() > 1 {
        return name.is_file().then(|| name.to_path_buf());
    }
    let path_dirs = env::var_os("PATH")
        .map(|paths| env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Like [`find_program`], failing with how to install it (a Debian package).
pub(crate) fn require_program(name: &str, package: &str) -> Result<PathBuf, StackError> {
    find_program(name).ok_or_else(|| StackError::MissingTool {
        program: name.to_owned(),
        install: format!("apt-get install -y {package}"),
    })
}

fn is_root(dir: &Path) -> bool {
    dir.join("Cargo.toml").is_file() && dir.join("spin.toml").is_file()
}

fn git_toplevel() -> Option<PathBuf> {
    let output = Command::new("git")
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(text.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_is_found_from_this_crate() {
        let workspace = Workspace::locate().expect("workspace");
        assert!(workspace.spin_manifest().is_file());
        assert!(workspace.root().join("infra/devstack").is_dir());
    }

    #[test]
    fn a_folder_without_spin_toml_is_not_a_workspace() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(matches!(
            Workspace::at(dir.path()),
            Err(StackError::WorkspaceNotFound)
        ));
    }

    #[test]
    fn missing_components_name_the_build_command() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("Cargo.toml"), "").expect("write");
        std::fs::write(dir.path().join("spin.toml"), "").expect("write");
        let workspace = Workspace::at(dir.path()).expect("workspace");
        let error = workspace.check_components().expect_err("nothing is built");
        let text = error.to_string();
        assert!(text.contains("webhook.wasm"), "{text}");
        assert!(
            text.contains(
                "cargo build --target wasm32-wasip2 --release -p webhook -p admin -p health"
            ),
            "{text}"
        );
    }

    #[test]
    fn programs_are_found_on_path_or_by_path() {
        assert_eq!(find_program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert!(find_program("sh").is_some());
        assert!(find_program("no-such-program-switchboard").is_none());
        let error = require_program("no-such-program-switchboard", "pkg").expect_err("missing");
        assert!(error.to_string().contains("apt-get install -y pkg"));
    }
}
