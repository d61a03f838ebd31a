//! A throw-away `redis-server` for the Redis key-value backend.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::error::StackError;
use super::ports::{accepts_connections, free_port};
use super::process::{ManagedProcess, ProcessSpec};
use super::service::Service;

/// How long Redis gets to open its listener.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// Redis prints this once it serves.
const READY_LINE: &str = "Ready to accept connections";

/// A running `redis-server` on 127.0.0.1 that keeps nothing on disk;
/// dropping it stops the server.
#[derive(Debug)]
pub struct Redis {
    process: ManagedProcess,
    port: u16,
    // Declared last: removed after the process has stopped.
    own_dir: Option<TempDir>,
}

impl Redis {
    /// Starts a server on a free port with a temporary folder of its own.
    pub fn start() -> Result<Self, StackError> {
        let dir = tempfile::Builder::new()
            .prefix("switchboard-redis.")
            .tempdir()
            .map_err(|source| StackError::io("cannot create a temporary folder", source))?;
        let mut redis = Self::start_in(dir.path(), dir.path(), None)?;
        redis.own_dir = Some(dir);
        Ok(redis)
    }

    /// Starts a server working in `parent/redis`, logging to `log_dir`.
    pub(crate) fn start_in(
        parent: &Path,
        log_dir: &Path,
        port: Option<u16>,
    ) -> Result<Self, StackError> {
        let program = super::workspace::require_program("redis-server", "redis-server")?;
        let port = match port {
            Some(port) => port,
            None => free_port()?,
        };
        let dir = parent.join("redis");
        fs::create_dir_all(&dir)
            .map_err(|source| StackError::io(format!("cannot create {}", dir.display()), source))?;
        let spec = ProcessSpec {
            service: Service::Redis,
            program,
            args: server_args(port, &dir),
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
            own_dir: None,
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`, as Spin's runtime config wants it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// How the server exited, if it has.
    pub(crate) fn exit_status(&self) -> Option<String> {
        self.process.exit_status()
    }
}

fn server_args(port: u16, dir: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = [
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
    ]
    .iter()
    .map(Into::into)
    .collect();
    args.push(PathBuf::from(dir).into_os_string());
    args
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    #[test]
    fn the_server_answers_ping_on_loopback() {
        let redis = Redis::start().expect("redis");
        assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
        let mut stream = TcpStream::connect(("127.0.0.1", redis.port())).expect("connect");
        stream.write_all(b"PING\r\n").expect("write");
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).expect("read");
        assert_eq!(&reply, b"+PONG\r\n");
    }
}
