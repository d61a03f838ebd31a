//! The one error type of the stack.

use std::io;
use std::path::PathBuf;

use super::service::Service;

/// Why a stack, or one of its services, could not be started or changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StackError {
    /// No folder holding both `Cargo.toml` and `spin.toml` was found.
    #[error(
        "cannot find the Switchboard workspace (a folder with Cargo.toml and spin.toml); \
         run from inside the checkout or set StackOptions::root"
    )]
    WorkspaceNotFound,

    /// A binary or component the stack runs has not been built.
    #[error("{what} not found at {}: build it with `{build}`", path.display())]
    MissingBuild {
        /// What is missing (binary or component name).
        what: String,
        /// Where it was looked for.
        path: PathBuf,
        /// The command that builds it.
        build: String,
    },

    /// A system program (Mosquitto, Redis) is not installed.
    #[error("`{program}` not found; install it with `{install}`")]
    MissingTool {
        /// The program that was looked for.
        program: String,
        /// The command that installs it.
        install: String,
    },

    /// An option is invalid (bad parent name, unknown variable...).
    #[error("invalid stack option: {0}")]
    InvalidOption(String),

    /// A fixed port asked for in the options is already taken.
    #[error("port {port} for {service} is already in use; pick another one")]
    PortInUse {
        /// The service that wanted the port.
        service: Service,
        /// The port.
        port: u16,
    },

    /// A service exited or did not become ready before its deadline.
    #[error("{service} did not start: {reason}\n{logs}")]
    StartFailed {
        /// The service that failed.
        service: Service,
        /// What went wrong.
        reason: String,
        /// The tails of its stdout and stderr.
        logs: String,
    },

    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },

    /// The operating system could not provide random bytes for secrets.
    #[error("cannot generate random secrets: {0}")]
    Randomness(getrandom::Error),
}

impl StackError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }

    /// True when a service failed because its port was taken between the
    /// moment it was picked and the moment the service bound it.
    pub(crate) fn is_port_race(&self) -> bool {
        match self {
            Self::StartFailed { logs, .. } => {
                let logs = logs.to_ascii_lowercase();
                logs.contains("address already in use") || logs.contains("addrinuse")
            }
            _ => false,
        }
    }
}
