//! Names of the processes a stack runs, and where their output goes.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// One of the processes a [`Stack`](super::Stack) runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// The Mosquitto broker.
    Mosquitto,
    /// `redis-server`, when the key-value backend is Redis.
    Redis,
    /// Spin or the test host, serving the Switchboard components.
    Runtime,
    /// `switchboard-bridge`: MQTT to webhook, and the EMQX publish API.
    Bridge,
}

impl Service {
    /// A short lowercase name, used in log file names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mosquitto => "mosquitto",
            Self::Redis => "redis",
            Self::Runtime => "runtime",
            Self::Bridge => "bridge",
        }
    }

    /// The file that receives the service's standard output.
    pub(crate) fn stdout_log(self, log_dir: &Path) -> PathBuf {
        log_dir.join(format!("{}.stdout.log", self.name()))
    }

    /// The file that receives the service's standard error.
    pub(crate) fn stderr_log(self, log_dir: &Path) -> PathBuf {
        log_dir.join(format!("{}.stderr.log", self.name()))
    }

    /// The last `lines` lines of both logs, labelled, for error messages.
    pub(crate) fn log_tail(self, log_dir: &Path, lines: usize) -> String {
        let mut out = String::new();
        for (label, path) in [
            ("stdout", self.stdout_log(log_dir)),
            ("stderr", self.stderr_log(log_dir)),
        ] {
            let text = fs::read(&path)
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            out.push_str(&format!(
                "--- {} {label} (last {lines} lines) ---\n",
                self.name()
            ));
            out.push_str(&tail(&text, lines));
        }
        out
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The last `lines` lines of `text`, each ending in a newline.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_only_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail("a", 5), "a\n");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn log_tail_labels_both_streams_and_survives_missing_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(Service::Bridge.stderr_log(dir.path()), "one\ntwo\n").expect("write log");
        let text = Service::Bridge.log_tail(dir.path(), 1);
        assert!(text.contains("--- bridge stdout (last 1 lines) ---\n--- bridge stderr"));
        assert!(text.ends_with("two\n"));
    }
}
