//! A child process in its own process group, with its output in files.
//!
//! Spin's `spin up` forks `spin trigger http`, and the child keeps serving
//! if only the parent dies, so every service is started as the leader of a
//! new process group and stopped by signalling the whole group. The leader
//! is only reaped after the group has been killed: until then its pid (and so
//! the group id) cannot be reused by an unrelated process.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::error::StackError;
use super::service::Service;

/// How often readiness conditions are polled.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a service gets to exit after SIGTERM before the group is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How many log lines go into a startup error.
const ERROR_LOG_LINES: usize = 40;

/// What to run for a service.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSpec {
    /// Which service this is (names the log files).
    pub service: Service,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Environment variables to set on top of the inherited ones.
    pub env: Vec<(String, String)>,
    /// Inherited environment variables starting with this prefix are removed.
    pub env_remove_prefix: Option<&'static str>,
}

/// A running service; dropping it stops its whole process group.
#[derive(Debug)]
pub(crate) struct ManagedProcess {
    service: Service,
    child: Child,
    log_dir: PathBuf,
    /// Lengths of the stdout and stderr logs when this process started: the
    /// logs are appended to across restarts, and readiness must only look
    /// at this run's output.
    log_offsets: [u64; 2],
    stopped: bool,
}

impl ManagedProcess {
    /// Starts `spec` as a new process group leader, appending its output to
    /// the service's log files in `log_dir`.
    pub fn spawn(spec: &ProcessSpec, log_dir: &Path) -> Result<Self, StackError> {
        let stdout = open_log(&spec.service.stdout_log(log_dir))?;
        let stderr = open_log(&spec.service.stderr_log(log_dir))?;
        let log_offsets = [log_len(&stdout)?, log_len(&stderr)?];
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0);
        if let Some(prefix) = spec.env_remove_prefix {
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with(prefix) {
                    command.env_remove(&key);
                }
            }
        }
        command.envs(spec.env.iter().map(|(k, v)| (k, v)));
        let child = command.spawn().map_err(|source| {
            StackError::io(
                format!("cannot start {} ({})", spec.service, spec.program.display()),
                source,
            )
        })?;
        Ok(Self {
            service: spec.service,
            child,
            log_dir: log_dir.to_path_buf(),
            log_offsets,
            stopped: false,
        })
    }

    /// True when this run's stdout or stderr contains `needle`.
    pub fn output_contains(&self, needle: &str) -> bool {
        let logs = [
            self.service.stdout_log(&self.log_dir),
            self.service.stderr_log(&self.log_dir),
        ];
        logs.iter()
            .zip(self.log_offsets)
            .any(|(path, offset)| read_from(path, offset).contains(needle))
    }

    /// How the leader exited, if it has; the process is not reaped.
    pub fn exit_status(&self) -> Option<String> {
        if self.stopped {
            return Some("stopped".to_owned());
        }
        let pid = Pid::from_raw(i32::try_from(self.child.id()).ok()?);
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        match waitid(Id::Pid(pid), flags) {
            Ok(WaitStatus::StillAlive) => None,
            Ok(WaitStatus::Exited(_, code)) => Some(format!("exit code {code}")),
            Ok(WaitStatus::Signaled(_, signal, _)) => Some(format!("killed by {signal}")),
            Ok(other) => Some(format!("{other:?}")),
            Err(errno) => Some(format!("cannot be waited for ({errno})")),
        }
    }

    /// Polls `ready` until it answers true, failing if the process exits or
    /// `timeout` passes first. `what` names the condition in errors.
    pub fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut ready: impl FnMut() -> bool,
    ) -> Result<(), StackError> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(status) = self.exit_status() {
                return Err(self.start_failed(format!("exited ({status}) before {what}")));
            }
            if Instant::now() >= deadline {
                return Err(self.start_failed(format!("no {what} within {} s", timeout.as_secs())));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits until the service's output contains every one of `needles`.
    pub fn wait_for_log_lines(
        &self,
        timeout: Duration,
        needles: &[&str],
    ) -> Result<(), StackError> {
        let what = format!("log line(s) {needles:?}");
        self.wait_until(timeout, &what, || {
            needles.iter().all(|needle| self.output_contains(needle))
        })
    }

    /// A startup error carrying the service's log tails.
    pub fn start_failed(&self, reason: String) -> StackError {
        StackError::StartFailed {
            service: self.service,
            reason,
            logs: self.service.log_tail(&self.log_dir, ERROR_LOG_LINES),
        }
    }

    /// Stops the whole process group: SIGTERM, a grace period, then SIGKILL
    /// for whatever is left, and finally reaps the leader. Idempotent.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        let group = i32::try_from(self.child.id()).ok().map(Pid::from_raw);
        if let Some(group) = group {
            // ESRCH only means the group is already gone.
            let _ = killpg(group, Signal::SIGTERM);
            let deadline = Instant::now() + STOP_GRACE;
            while self.exit_status().is_none() && Instant::now() < deadline {
                thread::sleep(POLL_INTERVAL);
            }
            // Also reaches children the leader forked, which survive it.
            let _ = killpg(group, Signal::SIGKILL);
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        self.stopped = true;
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn open_log(path: &Path) -> Result<File, StackError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| StackError::io(format!("cannot open log {}", path.display()), source))
}

fn log_len(file: &File) -> Result<u64, StackError> {
    file.metadata()
        .map(|meta| meta.len())
        .map_err(|source| StackError::io("cannot inspect a log file", source))
}

/// The text of `path` from byte `offset` on; empty if it cannot be read.
fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    let read = fs::File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut bytes)
    });
    match read {
        Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(script: &str) -> ProcessSpec {
        ProcessSpec {
            service: Service::Bridge,
            program: PathBuf::from("/bin/sh"),
            args: vec!["-c".into(), script.into()],
            env: vec![("DEVSTACK_TEST_VALUE".into(), "hello".into())],
            env_remove_prefix: None,
        }
    }

    #[test]
    fn readiness_is_read_from_the_log_and_the_group_is_stopped() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The background `sleep` is a grandchild in the same group, like
        // Spin's forked trigger process.
        let mut process = ManagedProcess::spawn(
            &shell("sleep 300 & echo \"ready $DEVSTACK_TEST_VALUE $!\"; wait"),
            dir.path(),
        )
        .expect("spawn");
        process
            .wait_for_log_lines(Duration::from_secs(10), &["ready hello"])
            .expect("ready");
        let log = std::fs::read_to_string(Service::Bridge.stdout_log(dir.path())).expect("log");
        let grandchild: i32 = log
            .split_whitespace()
            .nth(2)
            .and_then(|pid| pid.parse().ok())
            .expect("grandchild pid");
        process.stop();
        assert_eq!(process.exit_status().as_deref(), Some("stopped"));
        // The grandchild was killed with the group. Its parent is gone, so it
        // may linger as a zombie until a reaper collects it: that is dead too.
        let deadline = Instant::now() + Duration::from_secs(10);
        while is_alive(grandchild) {
            assert!(
                Instant::now() < deadline,
                "grandchild {grandchild} survived"
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn is_alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // The state follows the parenthesised command name.
            Ok(stat) => stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|state| state != "Z" && state != "X"),
            Err(_) => false,
        }
    }

    #[test]
    fn readiness_ignores_output_of_an_earlier_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut first =
            ManagedProcess::spawn(&shell("echo first-run-ready"), dir.path()).expect("spawn");
        first
            .wait_for_log_lines(Duration::from_secs(10), &["first-run-ready"])
            .expect("first run");
        first.stop();
        let second = ManagedProcess::spawn(&shell("sleep 300"), dir.path()).expect("spawn");
        assert!(!second.output_contains("first-run-ready"));
        assert!(Service::Bridge
            .log_tail(dir.path(), 5)
            .contains("first-run-ready"));
    }

    #[test]
    fn an_exit_before_readiness_is_an_error_with_the_log_tail() {
        let dir = tempfile::tempdir().expect("temp dir");
        let process =
            ManagedProcess::spawn(&shell("echo boom >&2; exit 3"), dir.path()).expect("spawn");
        let error = process
            .wait_for_log_lines(Duration::from_secs(10), &["never printed"])
            .expect_err("must fail");
        let text = error.to_string();
        assert!(text.contains("exit code 3"), "{text}");
        assert!(text.contains("boom"), "{text}");
    }
}
