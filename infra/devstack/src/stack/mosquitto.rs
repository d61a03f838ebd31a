//! The Mosquitto broker with the ACL the signaling contract relies on.
//!
//! Devices connect anonymously and are told apart by their client ID: the
//! ACL patterns let each one publish only to `<upstream>/<its id>` and read
//! only its own downstream topics. The bridge logs in as user `bridge` and
//! may read every upstream topic and write every downstream one.

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use nix::unistd::{chown, Uid, User};
use tempfile::TempDir;

use super::error::StackError;
use super::options::Parents;
use super::ports::{accepts_connections, free_port};
use super::process::{ManagedProcess, ProcessSpec};
use super::secret;
use super::service::Service;

/// The MQTT user name of the bridge.
pub const BRIDGE_USERNAME: &str = "bridge";

/// How long the broker gets to open its listener.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Mosquitto prints this once its listeners are open.
const READY_LINE: &str = " running";
/// How often a standalone start is tried when it loses a port race.
const START_ATTEMPTS: usize = 3;

/// What the broker is configured with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MosquittoOptions {
    /// Topic parents for the ACL.
    pub parents: Parents,
    /// The listener port; `None` picks a free one.
    pub port: Option<u16>,
}

/// A running Mosquitto; dropping it stops the broker (and removes its
/// folder when it owns one).
pub struct Mosquitto {
    process: ManagedProcess,
    port: u16,
    bridge_password: String,
    log_dir: PathBuf,
    // Declared last: removed after the process has stopped.
    own_dir: Option<TempDir>,
}

impl Mosquitto {
    /// Starts a broker in a fresh temporary folder of its own.
    pub fn start(options: &MosquittoOptions) -> Result<Self, StackError> {
        options.parents.validate()?;
        let mut attempt = 1;
        loop {
            let dir = tempfile::Builder::new()
                .prefix("switchboard-mosquitto.")
                .tempdir()
                .map_err(|source| StackError::io("cannot create a temporary folder", source))?;
            make_traversable(dir.path())?;
            let secret = secret::generate()?;
            match Self::start_in(dir.path(), dir.path(), options, secret) {
                Ok(mut broker) => {
                    broker.own_dir = Some(dir);
                    return Ok(broker);
                }
                Err(error)
                    if options.port.is_none()
                        && error.is_port_race()
                        && attempt < START_ATTEMPTS =>
                {
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Starts a broker whose files go under `parent/mosquitto` and whose
    /// output goes to `log_dir`. `parent` must be traversable by the
    /// `mosquitto` user (see [`make_traversable`]).
    pub(crate) fn start_in(
        parent: &Path,
        log_dir: &Path,
        options: &MosquittoOptions,
        bridge_password: String,
    ) -> Result<Self, StackError> {
        let program = super::workspace::require_program("mosquitto", "mosquitto")?;
        let passwd_tool =
            super::workspace::require_program("mosquitto_passwd", "mosquitto-clients")?;
        let port = match options.port {
            Some(port) => port,
            None => free_port()?,
        };
        let dir = parent.join("mosquitto");
        let data = dir.join("data");
        fs::create_dir_all(&data).map_err(|source| {
            StackError::io(format!("cannot create {}", data.display()), source)
        })?;
        let config = dir.join("mosquitto.conf");
        write_file(&config, &config_text(port, &dir))?;
        write_file(&dir.join("acl"), &acl_text(&options.parents))?;
        write_password_file(&passwd_tool, &dir.join("passwd"), &bridge_password)?;
        hand_to_broker_user(&dir)?;

        let spec = ProcessSpec {
            service: Service::Mosquitto,
            program,
            args: vec!["-c".into(), config.into_os_string()],
            env: Vec::new(),
            env_remove_prefix: None,
        };
        let process = ManagedProcess::spawn(&spec, log_dir)?;
        process.wait_until(START_TIMEOUT, "listener", || {
            process.output_contains(READY_LINE) && accepts_connections(port)
        })?;
        Ok(Self {
            process,
            port,
            bridge_password,
            log_dir: log_dir.to_path_buf(),
            own_dir: None,
        })
    }

    /// The MQTT port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The user name the bridge logs in with.
    pub fn bridge_username(&self) -> &str {
        BRIDGE_USERNAME
    }

    /// The bridge user's password.
    pub fn bridge_password(&self) -> &str {
        &self.bridge_password
    }

    /// The last `lines` lines of the broker's output.
    pub fn log_tail(&self, lines: usize) -> String {
        Service::Mosquitto.log_tail(&self.log_dir, lines)
    }

    /// How the broker exited, if it has.
    pub(crate) fn exit_status(&self) -> Option<String> {
        self.process.exit_status()
    }
}

impl fmt::Debug for Mosquitto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mosquitto")
            .field("port", &self.port)
            .field("bridge_password", &"<redacted>")
            .field("log_dir", &self.log_dir)
            .finish_non_exhaustive()
    }
}

/// Lets the `mosquitto` user reach files below `dir` without listing it.
pub(crate) fn make_traversable(dir: &Path) -> Result<(), StackError> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o711))
        .map_err(|source| StackError::io(format!("cannot chmod {}", dir.display()), source))
}

fn config_text(port: u16, dir: &Path) -> String {
    let dir = dir.display();
    format!(
        "# Generated by switchboard-dev for one local stack.\n\
         per_listener_settings false\n\
         listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         password_file {dir}/passwd\n\
         acl_file {dir}/acl\n\
         persistence true\n\
         persistence_location {dir}/data/\n\
         # Queue generously for offline devices and the bridge's session:\n\
         # the default of 1000 would drop messages under load.\n\
         max_queued_messages 100000\n\
         max_inflight_messages 100\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n\
         log_type notice\n\
         log_type information\n\
         connection_messages true\n"
    )
}

fn acl_text(parents: &Parents) -> String {
    let Parents {
        upstream,
        downstream,
        bulk,
    } = parents;
    format!(
        "# Devices (anonymous) may publish only to their own upstream topic and\n\
         # read only their own downstream topics; %c is the client ID.\n\
         pattern write {upstream}/%c\n\
         pattern read {downstream}/p2p/%c\n\
         pattern read {bulk}/p2p/%c\n\
         \n\
         # The bridge reads all upstream signaling and writes all downstream.\n\
         user {BRIDGE_USERNAME}\n\
         topic read {upstream}/#\n\
         topic write {downstream}/#\n\
         topic write {bulk}/#\n"
    )
}

fn write_file(path: &Path, text: &str) -> Result<(), StackError> {
    fs::write(path, text)
        .map_err(|source| StackError::io(format!("cannot write {}", path.display()), source))
}

fn write_password_file(tool: &Path, path: &Path, password: &str) -> Result<(), StackError> {
    let output = Command::new(tool)
        .arg("-c")
        .arg("-b")
        .arg(path)
        .arg(BRIDGE_USERNAME)
        .arg(password)
        .output()
        .map_err(|source| StackError::io(format!("cannot run {}", tool.display()), source))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(StackError::StartFailed {
            service: Service::Mosquitto,
            reason: format!("mosquitto_passwd failed ({})", output.status),
            logs: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// Started as root, Mosquitto switches to the `mosquitto` user before it
/// reads the password and ACL files and writes persistence: give it the
/// folder. As another user it keeps running as that user, who owns it.
fn hand_to_broker_user(dir: &Path) -> Result<(), StackError> {
    if !Uid::effective().is_root() {
        return Ok(());
    }
    let Ok(Some(user)) = User::from_name("mosquitto") else {
        return Ok(());
    };
    let entries = fs::read_dir(dir)
        .map_err(|source| StackError::io(format!("cannot list {}", dir.display()), source))?;
    let mut paths = vec![dir.to_path_buf()];
    for entry in entries {
        let entry = entry
            .map_err(|source| StackError::io(format!("cannot list {}", dir.display()), source))?;
        paths.push(entry.path());
    }
    for path in paths {
        chown(&path, Some(user.uid), Some(user.gid)).map_err(|errno| {
            StackError::io(format!("cannot chown {}", path.display()), errno.into())
        })?;
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .map_err(|source| StackError::io(format!("cannot chmod {}", path.display()), source))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_confines_devices_and_lets_the_bridge_through() {
        let parents = Parents {
            upstream: "up".to_owned(),
            downstream: "dn".to_owned(),
            bulk: "bulk".to_owned(),
        };
        let acl = acl_text(&parents);
        let lines: Vec<&str> = acl.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "pattern write up/%c",
                "pattern read dn/p2p/%c",
                "pattern read bulk/p2p/%c",
                "",
                "user bridge",
                "topic read up/#",
                "topic write dn/#",
                "topic write bulk/#",
            ]
        );
    }

    #[test]
    fn config_listens_on_loopback_only_with_persistence() {
        let text = config_text(18830, Path::new("/tmp/x/mosquitto"));
        assert!(text.contains("listener 18830 127.0.0.1\n"));
        assert!(text.contains("persistence true\npersistence_location /tmp/x/mosquitto/data/\n"));
        assert!(text.contains("acl_file /tmp/x/mosquitto/acl\n"));
        assert!(text.contains("password_file /tmp/x/mosquitto/passwd\n"));
        assert!(text.contains("allow_anonymous true\n"));
    }

    #[test]
    fn debug_redacts_the_bridge_password() {
        let broker = Mosquitto::start(&MosquittoOptions::default()).expect("broker");
        let text = format!("{broker:?}");
        assert!(!text.contains(broker.bridge_password()));
        assert!(text.contains("<redacted>"));
        assert!(accepts_connections(broker.port()));
    }
}
