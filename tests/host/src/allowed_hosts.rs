//! `allowed_outbound_hosts` parsing and matching, following Spin's
//! `spin-outbound-networking-config` rules.
//!
//! Each entry is `scheme://host[:port]`: `*` may stand for the scheme, the
//! host or the port, `*.example.com` allows subdomains, `a..b` is a port
//! range, and `ip/prefix` is a CIDR block. An entry with a path is invalid;
//! when a templated entry resolves to an invalid value, Spin still starts but
//! denies every outbound request of that component, and so does this host.

use std::net::IpAddr;
use std::ops::Range;

use thiserror::Error;

/// An `allowed_outbound_hosts` entry that is not valid.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct AllowedHostsError(String);

/// One parsed `allowed_outbound_hosts` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedHostConfig {
    scheme: SchemeConfig,
    host: HostConfig,
    port: PortConfig,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum SchemeConfig {
    Any,
    Exact(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostConfig {
    Any,
    AnySubdomain(String),
    ToSelf,
    Exact(String),
    Cidr { network: IpAddr, prefix: u8 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PortConfig {
    Any,
    Exact(u16),
    Range(Range<u16>),
}

fn error(message: String) -> AllowedHostsError {
    AllowedHostsError(message)
}

impl AllowedHostConfig {
    /// Parses one entry exactly as Spin's `AllowedHostConfig::parse` does.
    pub fn parse(entry: &str) -> Result<Self, AllowedHostsError> {
        let url = entry.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(match url {
                "*" | ":" | "" | "?" => error(format!(
                    "{url:?} is not an allowed outbound host format. Hosts must be in the form <scheme>://<host>[:<port>], with '*' wildcards allowed for each."
                )),
                _ => error(format!(
                    "{url:?} does not contain a scheme (e.g., 'http://' or '*://')"
                )),
            });
        };
        let (host, rest) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match rest.split_once('/') {
            Some((_, path)) if !path.is_empty() => {
                return Err(error(format!("{url:?} has a path but is not allowed to")));
            }
            Some((port, _)) => port,
            None => rest,
        };
        Ok(Self {
            scheme: SchemeConfig::parse(scheme)?,
            host: HostConfig::parse(host)?,
            port: PortConfig::parse(port, scheme)?,
        })
    }

    fn allows(&self, url: &OutboundUrl) -> bool {
        self.scheme.allows(&url.scheme)
            && self.host.allows(&url.host)
            && self.port.allows(url.port, &url.scheme)
    }

    /// Whether this entry allows requests to the application itself.
    fn allows_self(&self) -> bool {
        ["http", "https"].iter().any(|s| self.scheme.allows(s))
            && matches!(self.host, HostConfig::Any | HostConfig::ToSelf)
    }
}

impl SchemeConfig {
    fn parse(scheme: &str) -> Result<Self, AllowedHostsError> {
        if scheme == "*" {
            Ok(Self::Any)
        } else if scheme.starts_with('{') {
            Err(error("scheme lists are not yet supported".to_owned()))
        } else if scheme.chars().any(|c| !c.is_alphabetic()) {
            Err(error(format!(
                "scheme {scheme:?} contains non alphabetic character"
            )))
        } else {
            Ok(Self::Exact(scheme.to_owned()))
        }
    }

    fn allows(&self, scheme: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(s) => s == scheme,
        }
    }
}

impl HostConfig {
    fn parse(host: &str) -> Result<Self, AllowedHostsError> {
        let host = host.trim();
        if host == "*" {
            return Ok(Self::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(Self::ToSelf);
        }
        if host.starts_with('{') {
            return Err(error("host lists are not yet supported".to_owned()));
        }
        if let Some(cidr) = parse_cidr(host) {
            return Ok(cidr);
        }
        if matches!(host.split('/').nth(1), Some(path) if !path.is_empty()) {
            return Err(error("hosts must not contain paths".to_owned()));
        }
        if let Some(domain) = host.strip_prefix("*.") {
            if domain.contains('*') {
                return Err(error(format!(
                    "Invalid allowed host {host}: wildcards are allowed only as prefixes"
                )));
            }
            return Ok(Self::AnySubdomain(format!(".{domain}")));
        }
        if host.contains('*') {
            return Err(error(format!(
                "Invalid allowed host {host}: wildcards are allowed only as subdomains"
            )));
        }
        Ok(Self::Exact(host.trim_end_matches('/').to_owned()))
    }

    fn allows(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::AnySubdomain(suffix) => host.ends_with(suffix.as_str()),
            Self::Exact(h) => h == host,
            Self::ToSelf => false,
            Self::Cidr { network, prefix } => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| truncate(ip, *prefix) == Some(*network)),
        }
    }
}

/// Parses `address/prefix` (Spin uses `IpNetwork::from_str_truncate`, which
/// requires the prefix and clears host bits).
fn parse_cidr(host: &str) -> Option<HostConfig> {
    let (address, prefix) = host.split_once('/')?;
    let address: IpAddr = address.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    let network = truncate(address, prefix)?;
    Some(HostConfig::Cidr { network, prefix })
}

/// Clears the bits of `ip` beyond `prefix`, or `None` if `prefix` is too long.
fn truncate(ip: IpAddr, prefix: u8) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(v4) if prefix <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::from((u32::from(v4) & mask).to_be_bytes()))
        }
        IpAddr::V6(v6) if prefix <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            Some(IpAddr::from((u128::from(v6) & mask).to_be_bytes()))
        }
        _ => None,
    }
}

impl PortConfig {
    fn parse(port: &str, scheme: &str) -> Result<Self, AllowedHostsError> {
        if port.is_empty() {
            return well_known_port(scheme).map(Self::Exact).ok_or_else(|| {
                error(format!(
                    "no port was provided and the scheme {scheme:?} does not have a known default port number"
                ))
            });
        }
        if port == "*" {
            return Ok(Self::Any);
        }
        if port.starts_with('{') {
            return Err(error("port lists are not yet supported".to_owned()));
        }
        if let Some((start, end)) = port.split_once("..") {
            let parse = |n: &str| {
                n.parse::<u16>()
                    .map_err(|_| error(format!("port range {port:?} contains non-number")))
            };
            return Ok(Self::Range(parse(start)?..parse(end)?));
        }
        port.parse()
            .map(Self::Exact)
            .map_err(|_| error(format!("port {port:?} is not a number")))
    }

    fn allows(&self, port: Option<u16>, scheme: &str) -> bool {
        let Some(port) = port.or_else(|| well_known_port(scheme)) else {
            return matches!(self, Self::Any);
        };
        match self {
            Self::Any => true,
            Self::Exact(p) => *p == port,
            Self::Range(r) => r.contains(&port),
        }
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// The scheme, host and port of an outbound request, as Spin extracts them.
#[derive(Debug, PartialEq, Eq)]
struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OutboundUrl {
    /// Parses `url`, retrying with `default_scheme://` prepended like Spin.
    fn parse(url: &str, default_scheme: &str) -> Option<Self> {
        let parsed = match url::Url::parse(url) {
            Ok(parsed) if parsed.has_host() => parsed,
            _ => url::Url::parse(&format!("{default_scheme}://{url}")).ok()?,
        };
        Some(Self {
            scheme: parsed.scheme().to_owned(),
            host: parsed.host_str()?.to_owned(),
            port: parsed.port(),
        })
    }
}

/// The outbound policy of one component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutboundPolicy {
    /// The resolved `allowed_outbound_hosts` entries.
    Allow(Vec<AllowedHostConfig>),
    /// An entry did not resolve to a valid value: every request is denied.
    DenyAll,
}

impl OutboundPolicy {
    /// Whether a request to the absolute `url` is allowed.
    pub fn allows_url(&self, url: &str) -> bool {
        match (self, OutboundUrl::parse(url, "https")) {
            (Self::Allow(hosts), Some(url)) => hosts.iter().any(|h| h.allows(&url)),
            _ => false,
        }
    }

    /// Whether a request to the application itself (a relative URL) is allowed.
    pub fn allows_self_request(&self) -> bool {
        match self {
            Self::Allow(hosts) => hosts.iter().any(AllowedHostConfig::allows_self),
            Self::DenyAll => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(entries: &[&str]) -> OutboundPolicy {
        OutboundPolicy::Allow(
            entries
                .iter()
                .map(|e| AllowedHostConfig::parse(e).unwrap_or_else(|err| panic!("{e}: {err}")))
                .collect(),
        )
    }

    #[test]
    fn exact_hosts_and_default_ports() {
        let p = policy(&["http://127.0.0.1:18083", "https://api.example.com"]);
        assert!(p.allows_url("http://127.0.0.1:18083/api/v5/publish"));
        assert!(!p.allows_url("http://127.0.0.1:18084/"));
        assert!(!p.allows_url("https://127.0.0.1:18083/"));
        assert!(!p.allows_url("http://localhost:18083/"));
        assert!(p.allows_url("https://api.example.com/x"));
        assert!(p.allows_url("https://api.example.com:443/x"));
        assert!(!p.allows_url("https://api.example.com:8443/x"));
        assert!(!p.allows_url("http://api.example.com/x"));
    }

    #[test]
    fn wildcards_ranges_and_cidr() {
        let p = policy(&[
            "*://*.example.com:*",
            "http://localhost:8000..8002",
            "http://10.1.0.0/16:*",
        ]);
        assert!(p.allows_url("ftp://a.example.com:21/"));
        assert!(!p.allows_url("http://example.com/"));
        assert!(p.allows_url("http://localhost:8001/"));
        assert!(!p.allows_url("http://localhost:8002/"));
        assert!(p.allows_url("http://10.1.200.3:9/"));
        assert!(!p.allows_url("http://10.2.0.1:9/"));
        assert!(policy(&["*://*:*"]).allows_url("http://anything:1/"));
    }

    #[test]
    fn paths_and_bad_entries_are_invalid() {
        for bad in [
            "http://127.0.0.1:18083/api/v5",
            "http://host/api",
            "host:80",
            "*",
            "http://a*b.com",
            "http://*.a*.com",
            "ftp://host",
            "http://host:port",
            "ht1p://host",
        ] {
            assert!(AllowedHostConfig::parse(bad).is_err(), "{bad}");
        }
        for trailing_slash in ["http://host:80/", "http://host/"] {
            assert!(
                AllowedHostConfig::parse(trailing_slash).is_ok(),
                "{trailing_slash}"
            );
        }
    }

    #[test]
    fn deny_all_denies_everything() {
        assert!(!OutboundPolicy::DenyAll.allows_url("http://127.0.0.1/"));
        assert!(!OutboundPolicy::Allow(Vec::new()).allows_url("http://127.0.0.1/"));
        assert!(policy(&["http://self"]).allows_self_request());
        assert!(!policy(&["http://127.0.0.1"]).allows_self_request());
    }
}
