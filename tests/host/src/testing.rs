//! Helpers for tests that run the host next to real services on 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started service may take to accept connections.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1 (the OS's choice; free when returned).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Polls until something accepts TCP connections on `addr`, or the deadline.
pub fn wait_for_port(addr: SocketAddr, deadline: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A private `redis-server` (no persistence) on a free port, killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts `redis-server` and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// If `redis-server` is missing or does not come up: this is test
    /// infrastructure, and a test cannot proceed without it.
    pub fn start() -> Self {
        let port = free_port().unwrap_or_else(|e| panic!("no free port: {e}"));
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server (apt-get install redis-server): {e}")
            });
        let server = Self { child, port };
        assert!(
            wait_for_port(
                SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                STARTUP_DEADLINE
            ),
            "redis-server did not accept connections on port {port}"
        );
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // The process may already be gone; nothing else to do then.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
