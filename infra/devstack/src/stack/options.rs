//! What a caller can choose about a stack.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::error::StackError;

/// The key-value backend the runtime uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KvBackend {
    /// Spin's default: a SQLite file in the stack's folder.
    #[default]
    Sqlite,
    /// A `redis-server` started for the stack.
    Redis,
}

/// How the service authenticates webhook calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WebhookAuth {
    /// Only `Authorization: Bearer <webhook_token>` (what the bridge sends).
    #[default]
    Token,
    /// Only `X-Switchboard-Signature` with `webhook_secret`. The bridge still
    /// sends its bearer token, which the service then refuses: use this mode
    /// for tests that post signed webhooks themselves.
    Signature,
    /// Both the bearer token and the signature are accepted.
    Both,
}

/// The first topic level of each kind of signaling topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parents {
    /// Devices publish to `<upstream>/<clientId>` (default `sig-up`).
    pub upstream: String,
    /// The service publishes to `<downstream>/p2p/<clientId>` (default `sig-dn`).
    pub downstream: String,
    /// Large or low-priority messages go to `<bulk>/p2p/<clientId>` (default `sig-bulk`).
    pub bulk: String,
}

impl Default for Parents {
    fn default() -> Self {
        Self {
            upstream: "sig-up".to_owned(),
            downstream: "sig-dn".to_owned(),
            bulk: "sig-bulk".to_owned(),
        }
    }
}

impl Parents {
    /// Fails unless every parent is one topic level of `A-Z a-z 0-9 - _`
    /// (they are written into the broker's ACL file).
    pub fn validate(&self) -> Result<(), StackError> {
        for (name, value) in [
            ("upstream", &self.upstream),
            ("downstream", &self.downstream),
            ("bulk", &self.bulk),
        ] {
            let valid = !value.is_empty()
                && value
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
            if !valid {
                return Err(StackError::InvalidOption(format!(
                    "{name} parent {value:?} must be one topic level of A-Z a-z 0-9 - _"
                )));
            }
        }
        Ok(())
    }

    /// The topic a device publishes signaling to.
    pub fn upstream_topic(&self, client_id: &str) -> String {
        format!("{}/{client_id}", self.upstream)
    }

    /// The topic a device receives signaling on.
    pub fn downstream_topic(&self, client_id: &str) -> String {
        format!("{}/p2p/{client_id}", self.downstream)
    }

    /// The topic a device receives large or low-priority messages on.
    pub fn bulk_topic(&self, client_id: &str) -> String {
        format!("{}/p2p/{client_id}", self.bulk)
    }
}

/// Fixed ports; `None` picks a free one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    /// The runtime's HTTP port.
    pub http: Option<u16>,
    /// The MQTT listener.
    pub mqtt: Option<u16>,
    /// The bridge's publish API.
    pub bridge_api: Option<u16>,
}

impl Ports {
    /// True when no port is fixed, so a startup that lost a race for a
    /// picked port can simply be tried again.
    pub(crate) fn all_picked(&self) -> bool {
        self.http.is_none() && self.mqtt.is_none() && self.bridge_api.is_none()
    }
}

/// Everything [`Stack::start`](super::Stack::start) can be told.
///
/// ```no_run
/// use std::time::Duration;
/// use switchboard_dev::stack::{KvBackend, StackOptions};
///
/// let options = StackOptions::default()
///     .kv(KvBackend::Redis)
///     .variable("ring_timeout_seconds", "2")
///     .scheduler(Duration::from_secs(1));
/// ```
#[derive(Clone, Default)]
pub struct StackOptions {
    /// The key-value backend.
    pub kv: KvBackend,
    /// Spin variables to set or override, by their `spin.toml` name. They
    /// win over what the stack generates (even `broker_api_url` or the
    /// parents, which lets a test misconfigure the service on purpose).
    pub variables: BTreeMap<String, String>,
    /// Topic parents used by the broker ACL, the bridge and the service.
    pub parents: Parents,
    /// Call `POST /v1/tasks/expire` at this interval; `None` runs no scheduler.
    pub scheduler: Option<Duration>,
    /// Webhook authentication mode.
    pub webhook_auth: WebhookAuth,
    /// Fixed ports (the dev command uses 3000, 1883, 18083 when free).
    pub ports: Ports,
    /// The workspace; found automatically when `None`.
    pub root: Option<PathBuf>,
}

impl StackOptions {
    /// Chooses the key-value backend.
    pub fn kv(mut self, kv: KvBackend) -> Self {
        self.kv = kv;
        self
    }

    /// Sets or overrides one Spin variable.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.variables.insert(name.into(), value.into());
        self
    }

    /// Chooses the topic parents.
    pub fn parents(mut self, parents: Parents) -> Self {
        self.parents = parents;
        self
    }

    /// Runs the expiry scheduler at `interval`.
    pub fn scheduler(mut self, interval: Duration) -> Self {
        self.scheduler = Some(interval);
        self
    }

    /// Chooses the webhook authentication mode.
    pub fn webhook_auth(mut self, auth: WebhookAuth) -> Self {
        self.webhook_auth = auth;
        self
    }

    /// Fixes ports.
    pub fn ports(mut self, ports: Ports) -> Self {
        self.ports = ports;
        self
    }

    /// Uses the workspace at `root`.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = Some(root.into());
        self
    }
}

impl fmt::Debug for StackOptions {
    // Variable values may be secrets (an overridden admin token): only
    // their names are shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StackOptions")
            .field("kv", &self.kv)
            .field("variables", &self.variables.keys().collect::<Vec<_>>())
            .field("parents", &self.parents)
            .field("scheduler", &self.scheduler)
            .field("webhook_auth", &self.webhook_auth)
            .field("ports", &self.ports)
            .field("root", &self.root)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_must_be_single_safe_levels() {
        assert!(Parents::default().validate().is_ok());
        for bad in ["", "a/b", "sig-up\ntopic write #", "a+", "#"] {
            let parents = Parents {
                upstream: bad.to_owned(),
                ..Parents::default()
            };
            assert!(parents.validate().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn topics_follow_the_contract() {
        let parents = Parents::default();
        assert_eq!(parents.upstream_topic("GID_a@@@d"), "sig-up/GID_a@@@d");
        assert_eq!(
            parents.downstream_topic("GID_a@@@d"),
            "sig-dn/p2p/GID_a@@@d"
        );
        assert_eq!(parents.bulk_topic("GID_a@@@d"), "sig-bulk/p2p/GID_a@@@d");
    }

    #[test]
    fn debug_hides_variable_values() {
        let options = StackOptions::default().variable("admin_token", "very-secret");
        let text = format!("{options:?}");
        assert!(text.contains("admin_token"));
        assert!(!text.contains("very-secret"));
    }
}
