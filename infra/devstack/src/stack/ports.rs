//! Loopback ports: picking free ones and waiting for listeners.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use super::error::StackError;

/// The only address the stack ever listens on or connects to.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// How long one connection attempt during readiness polling may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(200);

/// A port on 127.0.0.1 that was free a moment ago.
///
/// Another process can still take it before the service binds it; the stack
/// retries startup when that race happens.
pub(crate) fn free_port() -> Result<u16, StackError> {
    TcpListener::bind((LOOPBACK, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|source| StackError::io("cannot pick a free port on 127.0.0.1", source))
}

/// True when nothing listens on `127.0.0.1:port` and it can be bound.
pub fn port_is_free(port: u16) -> bool {
    TcpListener::bind((LOOPBACK, port)).is_ok()
}

/// True when something accepts TCP connections on `127.0.0.1:port`.
pub(crate) fn accepts_connections(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((LOOPBACK, port)), CONNECT_TIMEOUT).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_neither_free_nor_silent() {
        let listener = TcpListener::bind((LOOPBACK, 0)).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert!(!port_is_free(port));
        assert!(accepts_connections(port));
        // Whether the port is free again right after the drop is up to the
        // OS (TIME_WAIT) and to parallel tests picking ports: not asserted.
        drop(listener);
    }

    #[test]
    fn free_port_can_be_bound() {
        let port = free_port().expect("free port");
        assert!(TcpListener::bind((LOOPBACK, port)).is_ok());
    }
}
