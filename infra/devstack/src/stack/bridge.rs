//! The MQTT-to-webhook bridge, which also serves EMQX's publish API.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::error::StackError;
use super::process::{ManagedProcess, ProcessSpec};
use super::service::Service;

/// How long the bridge gets to listen and subscribe.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything needed to (re)start the bridge the same way.
#[derive(Clone)]
pub(crate) struct BridgeSpec {
    pub program: PathBuf,
    pub mqtt_port: u16,
    pub client_id: String,
    pub username: String,
    pub password: String,
    pub upstream_parent: String,
    pub webhook_url: String,
    pub webhook_token: String,
    pub api_port: u16,
    pub api_key: String,
    pub api_secret: String,
}

impl BridgeSpec {
    /// Starts the bridge and waits until its API listens and it has
    /// subscribed to the upstream topics.
    pub fn start(&self, log_dir: &Path) -> Result<ManagedProcess, StackError> {
        let spec = ProcessSpec {
            service: Service::Bridge,
            program: self.program.clone(),
            args: self.args(),
            env: Vec::new(),
            env_remove_prefix: None,
        };
        let process = ManagedProcess::spawn(&spec, log_dir)?;
        process.wait_for_log_lines(
            START_TIMEOUT,
            &[
                "bridge api listening on http://",
                &format!("bridge subscribed to {}/+", self.upstream_parent),
            ],
        )?;
        Ok(process)
    }

    fn args(&self) -> Vec<OsString> {
        [
            ("--mqtt-host", "127.0.0.1".to_owned()),
            ("--mqtt-port", self.mqtt_port.to_string()),
            ("--mqtt-client-id", self.client_id.clone()),
            ("--mqtt-username", self.username.clone()),
            ("--mqtt-password", self.password.clone()),
            ("--upstream-parent", self.upstream_parent.clone()),
            ("--webhook-url", self.webhook_url.clone()),
            ("--webhook-token", self.webhook_token.clone()),
            ("--api-listen", format!("127.0.0.1:{}", self.api_port)),
            ("--api-key", self.api_key.clone()),
            ("--api-secret", self.api_secret.clone()),
        ]
        .into_iter()
        .flat_map(|(flag, value)| [OsString::from(flag), OsString::from(value)])
        .collect()
    }
}

impl fmt::Debug for BridgeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BridgeSpec")
            .field("program", &self.program)
            .field("mqtt_port", &self.mqtt_port)
            .field("client_id", &self.client_id)
            .field("api_port", &self.api_port)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> BridgeSpec {
        BridgeSpec {
            program: PathBuf::from("/bin/false"),
            mqtt_port: 1883,
            client_id: "switchboard-bridge".into(),
            username: "bridge".into(),
            password: "pw".into(),
            upstream_parent: "sig-up".into(),
            webhook_url: "http://127.0.0.1:3000/v1/webhooks/mqtt".into(),
            webhook_token: "tok".into(),
            api_port: 18083,
            api_key: "key".into(),
            api_secret: "sec".into(),
        }
    }

    #[test]
    fn arguments_follow_the_bridge_cli() {
        let args: Vec<String> = spec()
            .args()
            .into_iter()
            .map(|a| a.into_string().expect("utf-8"))
            .collect();
        assert_eq!(
            args.join(" "),
            "--mqtt-host 127.0.0.1 --mqtt-port 1883 --mqtt-client-id switchboard-bridge \
             --mqtt-username bridge --mqtt-password pw --upstream-parent sig-up \
             --webhook-url http://127.0.0.1:3000/v1/webhooks/mqtt --webhook-token tok \
             --api-listen 127.0.0.1:18083 --api-key key --api-secret sec"
        );
    }

    #[test]
    fn debug_shows_no_secrets() {
        let text = format!("{:?}", spec());
        assert!(!text.contains("pw") && !text.contains("tok") && !text.contains("sec\""));
    }
}
